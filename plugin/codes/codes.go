// Package codes makes, reads and hashes the secrets of second-factor
// recovery: backup codes, bypass codes, recovery-link tokens and the
// tickets that confirm a new set of backup codes.
//
// Everything random comes from crypto/rand. What people type is forgiven
// (spaces, dashes, case) and junk is refused before anything is looked up.
// The store keeps only keyed hashes (HMAC-SHA256 under a key derived from
// the plugin's secrets key file with HKDF): a copy of the database without
// the key file holds nothing that signs anyone in, and not even enough to
// test guesses offline.
package codes

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

// Code lengths and alphabets.
const (
	// CodeLen is the number of characters of a backup or bypass code,
	// without its dash.
	CodeLen = 10
	// BackupAlphabet has no characters people confuse when they copy a
	// code by hand (0/o, 1/l/i) and no upper case: 31 symbols, so a backup
	// code holds about 49 bits.
	BackupAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"
	// bypassAlphabet: bypass codes are read out over the phone by the help
	// desk, so digits only (about 33 bits; they live an hour by default).
	bypassAlphabet = "0123456789"
	// TokenBytes is the randomness of a recovery-link token or a ticket.
	TokenBytes = 32
	// maxTyped bounds what Parse looks at: a code with generous spacing
	// fits, a pasted essay does not.
	maxTyped = 64
)

// ErrMalformed means the input cannot be a code or token of this plugin;
// nothing needs to be looked up to refuse it.
var ErrMalformed = errors.New("not a code of the expected shape")

// Code is a backup or bypass code in its canonical form: CodeLen
// characters, lower case, no separators. One made here is of one kind; one
// typed may be either (digits 2-9 only fit both alphabets). No printed,
// logged or encoded form shows the code (see redact); Shown does, for the
// one time it is handed out.
type Code struct {
	canonical secret.Value
	backup    bool
	bypass    bool
}

// NewBackupCode returns a fresh backup code.
func NewBackupCode() (Code, error) {
	s, err := random(BackupAlphabet)
	return Code{canonical: secret.Value(s), backup: true}, err
}

// NewBypassCode returns a fresh bypass code.
func NewBypassCode() (Code, error) {
	s, err := random(bypassAlphabet)
	return Code{canonical: secret.Value(s), bypass: true}, err
}

// random draws CodeLen symbols uniformly from alphabet: rejection
// sampling, so no symbol is likelier than another.
func random(alphabet string) (string, error) {
	// The largest multiple of len(alphabet) that fits a byte: bytes at or
	// above it would favour the first symbols, so they are drawn again.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, CodeLen)
	buf := make([]byte, 2*CodeLen)
	for len(out) < CodeLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("codes: read random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < CodeLen {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// Shown is the code as the operator is shown it: two groups of five
// joined by a dash, xxxxx-xxxxx. Call it only to hand the code out.
func (c Code) Shown() string {
	s := c.canonical.Reveal()
	if len(s) != CodeLen {
		return ""
	}
	return s[:CodeLen/2] + "-" + s[CodeLen/2:]
}

// MayBeBackup reports whether c has the shape of a backup code.
func (c Code) MayBeBackup() bool { return c.backup }

// MayBeBypass reports whether c has the shape of a bypass code.
func (c Code) MayBeBypass() bool { return c.bypass }

// String keeps the code out of logs and error messages.
func (c Code) String() string { return "[code]" }

// GoString keeps the code out of %#v.
func (c Code) GoString() string { return "codes.Code{[code]}" }

// Format keeps the code out of every fmt verb (%d, %x… would otherwise
// print its fields).
func (c Code) Format(f fmt.State, verb rune) { redact(f, verb, c.String(), c.GoString()) }

// LogValue keeps the code out of slog, whatever the handler.
func (c Code) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalText keeps the code out of JSON and other text encodings.
func (c Code) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// redact prints shown (goSyntax for %#v) in place of a secret, honouring
// the width and flags of the verb. Code and Token implement fmt.Formatter
// with it because fmt calls String only for %v, %s, %q, %x and %X: any
// other verb would print their fields.
func redact(f fmt.State, verb rune, shown, goSyntax string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, goSyntax)
	case verb == 'q':
		_, _ = fmt.Fprintf(f, fmt.FormatString(f, 'q'), shown)
	default:
		_, _ = fmt.Fprintf(f, fmt.FormatString(f, 's'), shown)
	}
}

// Parse normalises what an operator typed: it removes spaces and dashes of
// any kind, folds ASCII case, and fails with ErrMalformed unless what is
// left is CodeLen characters of one code alphabet.
func Parse(typed string) (Code, error) {
	if len(typed) > maxTyped {
		return Code{}, ErrMalformed
	}
	var b strings.Builder
	for _, r := range typed {
		switch {
		case isSeparator(r):
			continue
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case r >= 0x80:
			// Letters outside ASCII never fold into a code: "ſ" must not
			// become "s", nor a full-width digit a digit.
			return Code{}, ErrMalformed
		}
		b.WriteRune(r)
	}
	s := b.String()
	if len(s) != CodeLen {
		return Code{}, ErrMalformed
	}
	c := Code{canonical: secret.Value(s), backup: only(s, BackupAlphabet), bypass: only(s, bypassAlphabet)}
	if !c.backup && !c.bypass {
		return Code{}, ErrMalformed
	}
	return c, nil
}

// isSeparator reports the characters people put between the groups of a
// code: spaces and tabs of any kind, and dashes of any kind (a word
// processor turns "-" into "‐" or "–").
func isSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '-', '\u00a0', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212', '\u202f', '\u2009', '\u3000':
		return true
	}
	return false
}

func only(s, alphabet string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Token is a recovery-link token or a ticket: TokenBytes of randomness,
// handed out in base64url without padding (43 characters, safe in a URL
// and a session), and kept in that form. No printed, logged or encoded
// form shows it; Encoded does, for the one time it is handed out.
type Token struct{ encoded secret.Value }

// NewToken returns a fresh token.
func NewToken() (Token, error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return Token{}, fmt.Errorf("codes: read random bytes: %w", err)
	}
	return Token{encoded: secret.Value(base64.RawURLEncoding.EncodeToString(b))}, nil
}

// Encoded is the token as handed out. Call it only to hand the token out.
func (t Token) Encoded() string { return t.encoded.Reveal() }

// raw is the token's randomness, which is what is hashed; nil for the
// zero Token (NewToken and ParseToken make only well-formed ones).
func (t Token) raw() []byte {
	b, _ := base64.RawURLEncoding.DecodeString(t.encoded.Reveal())
	return b
}

// String keeps the token out of logs and error messages.
func (t Token) String() string { return "[token]" }

// GoString keeps the token out of %#v.
func (t Token) GoString() string { return "codes.Token{[token]}" }

// Format keeps the token out of every fmt verb.
func (t Token) Format(f fmt.State, verb rune) { redact(f, verb, t.String(), t.GoString()) }

// LogValue keeps the token out of slog, whatever the handler.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// MarshalText keeps the token out of JSON and other text encodings.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// ParseToken checks that s has the shape of Encoded's answer, or fails
// with ErrMalformed.
func ParseToken(s string) (Token, error) {
	if len(s) != base64.RawURLEncoding.EncodedLen(TokenBytes) {
		return Token{}, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(raw) != TokenBytes {
		return Token{}, ErrMalformed
	}
	return Token{encoded: secret.Value(s)}, nil
}
