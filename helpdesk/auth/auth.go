// Package auth holds the helpdesk's credential primitives: password hashes
// (bcrypt), random tokens and their hashes, the built-in TOTP second factor
// (pquerna/otp) and the check that keeps a post-login redirect local.
package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"
)

// DefaultBcryptCost is the work factor of new password hashes.
const DefaultBcryptCost = 12

// MinPasswordLength is the shortest password the helpdesk accepts.
const MinPasswordLength = 8

// HashPassword returns the bcrypt hash of password at cost (DefaultBcryptCost
// when 0).
func HashPassword(password string, cost int) (string, error) {
	if len(password) < MinPasswordLength {
		return "", fmt.Errorf("password must have at least %d characters", MinPasswordLength)
	}
	if len(password) > 72 {
		// bcrypt ignores everything after 72 bytes; refuse rather than
		// silently accept a different password.
		return "", errors.New("password must have at most 72 bytes")
	}
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when the username does not exist, so that
// an unknown username costs as much time as a wrong password.
// It is computed on first use: hashing at package init would slow every
// start of the binary.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such operator, no such password"), DefaultBcryptCost)
	return h
})

// CheckPassword reports whether password matches hash. An empty hash (an
// unknown operator) is compared against a dummy hash and never matches.
func CheckPassword(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// NewToken returns 32 random bytes, base64url-encoded without padding.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken returns the SHA-256 of a token: what the database keeps of a
// session id.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// TokensEqual compares two tokens in constant time; empty tokens never
// match.
func TokensEqual(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// TOTP parameters: the ones every authenticator app understands.
const (
	totpPeriod = 30
	totpSkew   = 1 // accept the previous and the next code too (clock drift)
)

// TOTPKey is a newly generated TOTP secret with what an authenticator app
// needs to add it.
type TOTPKey struct {
	Secret string // base32
	URI    string // otpauth://totp/...
	// QRCodePNG is a data: URL of a QR code of URI, for the setup page.
	QRCodePNG string
}

// NewTOTPKey generates a TOTP secret for account at issuer.
func NewTOTPKey(issuer, account string) (TOTPKey, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod, SecretSize: 20})
	if err != nil {
		return TOTPKey{}, fmt.Errorf("generate totp secret: %w", err)
	}
	return describeKey(k)
}

// DescribeTOTP rebuilds the URI and QR code of an existing secret.
func DescribeTOTP(issuer, account, secret string) (TOTPKey, error) {
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account}
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", issuer)
	q.Set("period", fmt.Sprint(totpPeriod))
	q.Set("digits", "6")
	q.Set("algorithm", "SHA1")
	u.RawQuery = q.Encode()
	k, err := otp.NewKeyFromURL(u.String())
	if err != nil {
		return TOTPKey{}, fmt.Errorf("describe totp secret: %w", err)
	}
	return describeKey(k)
}

func describeKey(k *otp.Key) (TOTPKey, error) {
	out := TOTPKey{Secret: k.Secret(), URI: k.URL()}
	img, err := k.Image(200, 200)
	if err != nil {
		return out, nil // the QR code is a convenience; the secret and URI are enough
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err == nil {
		out.QRCodePNG = "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	return out, nil
}

// VerifyTOTP checks code against secret at now, allowing one step of clock
// drift each way, and returns the time step it matched. A code of a step at
// or before lastStep is refused, so that a code is never accepted twice;
// the caller must record the returned step.
func VerifyTOTP(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 || secret == "" {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	var matched int64
	ok := 0
	// Every step is computed and compared, so the time taken does not say
	// which one matched.
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if step <= 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > lastStep {
			matched, ok = step, 1
		}
	}
	return matched, ok == 1
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// notASCII: a lookalike slash (U+FF0F, U+2215, U+29F5…) turns into "/" or
// "\" under the Unicode normalisation (NFKC) that some proxies and servers
// apply, so "/\uFF0Fevil.example" may be read as "//evil.example". The
// helpdesk's own paths are ASCII, so a next that is not loses nothing.
func notASCII(r rune) bool { return r >= 0x80 }

// percentDecode decodes every valid %XX escape of s and leaves anything
// else as it is, as a lenient browser or proxy would.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(fromHex(s[i+1])<<4 | fromHex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func fromHex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// SafeNext returns next if it is a local path to send the operator to after
// signing in, and "" otherwise. A local path starts with a single "/" and
// has no "//" at its start, no backslash, no control character, nothing but
// ASCII, no scheme and no host, also once percent-decoded (any number of
// times).
func SafeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return ""
	}
	if strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return ""
	}
	if strings.ContainsFunc(next, isControl) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	// Browsers and proxies may percent-decode the path, once or more, drop
	// tabs and newlines and read a backslash as a slash: "/%09/evil" or
	// "/%252F/evil" would then be "//evil". So every decoding must still
	// start with a single "/" and hold no backslash or control character.
	for d, i := next, 0; i < 8; i++ {
		if strings.HasPrefix(d, "//") || strings.ContainsRune(d, '\\') || strings.ContainsFunc(d, isControl) || strings.ContainsFunc(d, notASCII) {
			return ""
		}
		dd := percentDecode(d)
		if dd == d {
			break
		}
		if i == 7 { // Still decoding after eight rounds: not a plain path.
			return ""
		}
		d = dd
	}
	return next
}
