package codes

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/internal/secret/secrettest"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		typed          string
		want           string // canonical; "" for ErrMalformed
		backup, bypass bool
	}{
		{"backup as shown", "abcde-fghjk", "abcdefghjk", true, false},
		{"backup without dash", "abcdefghjk", "abcdefghjk", true, false},
		{"backup upper case", "ABCDE-FGHJK", "abcdefghjk", true, false},
		{"backup mixed case and spaces", " aBcDe  FgHjK ", "abcdefghjk", true, false},
		{"backup in small groups", "ab-cd-ef-gh-jk", "abcdefghjk", true, false},
		{"backup with a tab", "abcde\tfghjk", "abcdefghjk", true, false},
		{"backup with a typographic dash", "abcde\u2013fghjk", "abcdefghjk", true, false},
		{"backup with a no-break space", "abcde\u00a0fghjk", "abcdefghjk", true, false},
		{"bypass as shown", "01234-56789", "0123456789", false, true},
		{"bypass with spaces", "012 345 6789", "0123456789", false, true},
		{"digits 2-9 fit both", "23456-78923", "2345678923", true, true},
		{"letters and digits 2-9", "a2b3c-4d5e6", "a2b3c4d5e6", true, false},
		{"empty", "", "", false, false},
		{"only separators", " - - ", "", false, false},
		{"nine characters", "abcde-fghj", "", false, false},
		{"eleven characters", "abcde-fghjkm", "", false, false},
		{"confusable o", "abcde-fghjo", "", false, false},
		{"confusable l", "labcd-efghj", "", false, false},
		{"confusable i", "iabcd-efghj", "", false, false},
		{"0 with letters", "0abcd-efghj", "", false, false},
		{"1 with letters", "1abcd-efghj", "", false, false},
		{"punctuation", "abcde.fghjk", "", false, false},
		{"underscore", "abcde_fghjk", "", false, false},
		{"full-width digits", "０１２３４５６７８９", "", false, false},
		{"long s does not fold to s", "\u017fbcde-fghjk", "", false, false},
		{"Kelvin sign does not fold to k", "abcde-fghj\u212a", "", false, false},
		{"control character", "abcde\x00fghjk", "", false, false},
		{"newline", "abcde\nfghjk", "", false, false},
		{"invalid UTF-8", "abcde\xfffghjk", "", false, false},
		{"pasted essay", strings.Repeat("a", 1000), "", false, false},
		{"generous spacing still fits", strings.Repeat(" ", 50) + "abcdefghjk", "abcdefghjk", true, false},
		{"too much spacing", strings.Repeat(" ", 60) + "abcdefghjk", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse(tt.typed)
			if tt.want == "" {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse = %v, %v; want ErrMalformed", c, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.canonical.Reveal(); got != tt.want || c.MayBeBackup() != tt.backup || c.MayBeBypass() != tt.bypass {
				t.Fatalf("Parse = %q backup=%v bypass=%v; want %q backup=%v bypass=%v",
					got, c.MayBeBackup(), c.MayBeBypass(), tt.want, tt.backup, tt.bypass)
			}
		})
	}
}

func TestNewCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		make  func() (Code, error)
		shown *regexp.Regexp
		kind  func(Code) bool
	}{
		{"backup", NewBackupCode, regexp.MustCompile(`^[` + BackupAlphabet + `]{5}-[` + BackupAlphabet + `]{5}$`), Code.MayBeBackup},
		{"bypass", NewBypassCode, regexp.MustCompile(`^[0-9]{5}-[0-9]{5}$`), Code.MayBeBypass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen := map[string]bool{}
			for range 2000 {
				c, err := tt.make()
				if err != nil {
					t.Fatal(err)
				}
				shown := c.Shown()
				if !tt.shown.MatchString(shown) || !tt.kind(c) {
					t.Fatalf("code shown as %q (kind ok: %v)", shown, tt.kind(c))
				}
				// What the operator is shown parses back to the same code,
				// however they type it.
				for _, typed := range []string{shown, strings.ToUpper(shown), strings.ReplaceAll(shown, "-", " "), c.canonical.Reveal()} {
					back, err := Parse(typed)
					if err != nil || back.canonical != c.canonical {
						t.Fatalf("Parse(%q) = %q, %v; want %q", typed, back.canonical.Reveal(), err, c.canonical.Reveal())
					}
				}
				if seen[shown] {
					t.Fatalf("the same code twice in 2000: %q", shown)
				}
				seen[shown] = true
			}
		})
	}
}

// Every symbol of the backup alphabet turns up, none far more often than
// the others: the rejection sampling has no favourite.
func TestBackupAlphabetIsUniform(t *testing.T) {
	t.Parallel()
	counts := map[rune]int{}
	const n = 3000
	for range n {
		c, err := NewBackupCode()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range c.canonical.Reveal() {
			counts[r]++
		}
	}
	want := float64(n*CodeLen) / float64(len(BackupAlphabet)) // ≈ 968
	for _, r := range BackupAlphabet {
		if got := float64(counts[r]); got < want*0.8 || got > want*1.2 {
			t.Errorf("symbol %q drawn %v times, want about %.0f", r, got, want)
		}
	}
	if len(counts) != len(BackupAlphabet) {
		t.Errorf("%d distinct symbols, want %d", len(counts), len(BackupAlphabet))
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	enc := tok.Encoded()
	if len(enc) != 43 || !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(enc) {
		t.Fatalf("token %q is not 43 characters of base64url", enc)
	}
	back, err := ParseToken(enc)
	if err != nil || back != tok || !bytes.Equal(back.raw(), tok.raw()) || len(tok.raw()) != TokenBytes {
		t.Fatalf("ParseToken(Encoded()) = %v", err)
	}
	other, err := NewToken()
	if err != nil || other.Encoded() == enc {
		t.Fatalf("two tokens alike (%v)", err)
	}
	// 32 bytes leave 2 bits of the last symbol unused: a symbol whose
	// index is a multiple of 4 ('A', 'E' …) keeps them zero and parses,
	// one that sets them ('B') is refused.
	if _, err := ParseToken(enc[:42] + "E"); err != nil {
		t.Fatalf("a canonical last symbol: %v", err)
	}
	malformed := []struct{ name, s string }{
		{"empty", ""},
		{"short", enc[:42]},
		{"long", enc + "A"},
		{"padded", enc + "="},
		{"standard base64 alphabet", "+" + enc[1:]},
		{"space", " " + enc[1:]},
		{"non-canonical last symbol", enc[:42] + "B"},
		{"multibyte", "é" + enc[2:]},
	}
	for _, m := range malformed {
		if _, err := ParseToken(m.s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseToken = %v, want ErrMalformed", m.name, err)
		}
	}
}

// Codes and tokens never print themselves, whatever the verb, nor reach a
// log line or an encoding: alone, behind a pointer, in slices and structs.
func TestSecretsDoNotPrint(t *testing.T) {
	t.Parallel()
	c, err := NewBackupCode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBypassCode()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	typed, err := Parse("23456-78923") // fits both alphabets
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		C Code
		P *Code
		T Token
		Q *Token
	}
	values := []any{c, &c, b, &b, typed, &typed, tok, &tok,
		[]Code{c, b}, []*Code{&c, &b}, []Token{tok}, []*Token{&tok},
		holder{c, &c, tok, &tok}, &holder{b, &b, tok, &tok}, map[string]Code{"c": c}, map[string]Token{"t": tok}}
	pointers := []any{&c, &b, &typed, &tok, &holder{c, &c, tok, &tok}}
	var secrets []string
	for _, code := range []Code{c, b, typed} {
		s := code.canonical.Reveal()
		secrets = append(secrets, s, s[:5], s[5:], code.Shown())
	}
	secrets = append(secrets, tok.Encoded(), string(tok.raw()))
	for _, s := range secrets {
		secrettest.NoLeakThroughFmt(t, s, values, pointers)
	}

	// The redacted forms honour what fmt asked for.
	for verb, want := range map[string]string{"%v": "[code]", "%d": "[code]", "%q": `"[code]"`, "%#v": "codes.Code{[code]}", "%8s": "  [code]", "%-8v|": "[code]  |"} {
		if got := fmt.Sprintf(verb, c); got != want {
			t.Errorf("Sprintf(%q, code) = %q, want %q", verb, got, want)
		}
	}
	if got := fmt.Sprintf("%x", tok); got != "[token]" {
		t.Errorf("Sprintf(%%x, token) = %q", got)
	}

	// JSON and slog, with both standard handlers.
	var out bytes.Buffer
	if err := json.NewEncoder(&out).Encode(values); err != nil {
		t.Fatal(err)
	}
	for _, h := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		slog.New(h).Info("codes", "code", c, "ptr", &b, "token", tok, "typed", typed, "all", values)
	}
	if !strings.Contains(out.String(), "[code]") || !strings.Contains(out.String(), "[token]") {
		t.Fatalf("the encoded forms hold no redaction: the check would prove nothing:\n%s", out.String())
	}
	for _, s := range secrets {
		if strings.Contains(out.String(), s) || strings.Contains(strings.ToLower(out.String()), fmt.Sprintf("%x", s)) {
			t.Errorf("JSON or slog output holds a secret:\n%s", out.String())
		}
	}
}

func TestHasher(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	h, err := NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err1 := Parse("abcde-fghjk")
	same, err2 := Parse("ABCDEFGHJK")
	other, err3 := Parse("abcde-fghjm")
	tok, err4 := NewToken()
	h2, err5 := NewHasher(key)
	otherKey, err6 := NewHasher(bytes.Repeat([]byte{8}, 32))
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		t.Fatal(err)
	}
	base := h.Code(PurposeBackupCode, "op-1", c)
	if len(base) != HashLen {
		t.Fatalf("hash of %d bytes", len(base))
	}
	differs := []struct {
		name string
		sum  []byte
	}{
		{"another code", h.Code(PurposeBackupCode, "op-1", other)},
		{"another operator", h.Code(PurposeBackupCode, "op-2", c)},
		{"another purpose", h.Code(PurposeBypassCode, "op-1", c)},
		{"another key", otherKey.Code(PurposeBackupCode, "op-1", c)},
		// Length prefixes: moving bytes between operator and value changes
		// the hash.
		{"operator and value run together", h.sum(PurposeBackupCode, "op-1a", []byte("bcdefghjk"))},
		{"a token", h.Token(PurposeRecoveryLink, "op-1", tok)},
	}
	for _, d := range differs {
		if bytes.Equal(d.sum, base) {
			t.Errorf("%s: same hash", d.name)
		}
	}
	if !bytes.Equal(h.Code(PurposeBackupCode, "op-1", same), base) || !bytes.Equal(h2.Code(PurposeBackupCode, "op-1", c), base) {
		t.Fatal("the same code, operator, purpose and key hash differently")
	}
	if bytes.Equal(h.Token(PurposeRecoveryLink, "op-1", tok), h.Token(PurposeTicket, "op-1", tok)) {
		t.Fatal("a ticket hashes like a recovery link")
	}
	// A token is hashed by its randomness, as ParseToken reads it back.
	back, err := ParseToken(tok.Encoded())
	if err != nil || !bytes.Equal(h.Token(PurposeTicket, "op-1", back), h.Token(PurposeTicket, "op-1", tok)) ||
		!bytes.Equal(h.Token(PurposeTicket, "op-1", tok), h.sum(PurposeTicket, "op-1", tok.raw())) {
		t.Fatalf("a token parsed back hashes differently (%v)", err)
	}
	// The key file itself is not the HMAC key: it is derived, for this use
	// only.
	raw := hmac.New(sha256.New, key)
	raw.Write([]byte("abcdefghjk"))
	if bytes.Equal(raw.Sum(nil), base) || bytes.Equal(h.key[:], key) {
		t.Fatal("the hashing key is the secrets key itself")
	}
	if _, err := NewHasher(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte secrets key was accepted")
	}
}

// parseOracle normalises typed as the documentation of Parse says, written
// out independently: drop every space and dash people type (the list in the
// package doc), fold ASCII A-Z; ok when CodeLen characters remain that are
// all in BackupAlphabet or all digits. Anything else (a character outside
// both alphabets, "ſ", a full-width digit) makes it refuse.
func parseOracle(typed string) (string, bool) {
	var b strings.Builder
	for _, r := range typed {
		if strings.ContainsRune(" \t-\u00a0\u2010\u2011\u2012\u2013\u2014\u2212\u202f\u2009\u3000", r) {
			continue
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		if !strings.ContainsRune(BackupAlphabet+bypassAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	s := b.String()
	return s, len(s) == CodeLen && (only(s, BackupAlphabet) || only(s, bypassAlphabet))
}

// FuzzParse: whatever is typed, Parse either refuses it or returns a code
// of CodeLen symbols of the alphabets it claims, that parses back to itself
// from its shown form, and never panics. It accepts exactly the inputs that
// are a code once spaces and dashes are dropped and case folded (up to
// maxTyped bytes): a character outside the alphabets is always refused.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"abcde-fghjk", "01234-56789", "ABCDE FGHJK", "", "-", "abcde\u2013fghjk", "ſ", "\xff", strings.Repeat("9", 64), "ABCDE\u3000fghj\u212a", "01234-5678a", "abcde_fghjk", "abcde-fghjkk"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		c, err := Parse(typed)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q): error %v is not ErrMalformed", typed, err)
			}
			if want, ok := parseOracle(typed); ok && len(typed) <= maxTyped {
				t.Fatalf("Parse(%q) refused a code that normalises to %q", typed, want)
			}
			return
		}
		canonical := c.canonical.Reveal()
		if len(canonical) != CodeLen || !utf8.ValidString(canonical) {
			t.Fatalf("Parse(%q) = %q: not %d symbols", typed, canonical, CodeLen)
		}
		if !c.MayBeBackup() && !c.MayBeBypass() {
			t.Fatalf("Parse(%q) accepted a code of neither kind", typed)
		}
		if c.MayBeBackup() != only(canonical, BackupAlphabet) || c.MayBeBypass() != only(canonical, bypassAlphabet) {
			t.Fatalf("Parse(%q) = %q with kinds backup=%v bypass=%v", typed, canonical, c.MayBeBackup(), c.MayBeBypass())
		}
		again, err := Parse(c.Shown())
		if err != nil || again != c {
			t.Fatalf("Parse(Shown()) of %q = %q, %v", typed, again.canonical.Reveal(), err)
		}
		// What was accepted is exactly what is left of the input once the
		// separators are dropped and ASCII upper case folded.
		if want, ok := parseOracle(typed); !ok || want != canonical {
			t.Fatalf("Parse(%q) = %q, but the input normalises to %q (valid %v)", typed, canonical, want, ok)
		}
		// Normalising is idempotent and ignores case.
		if up, err := Parse(strings.ToUpper(canonical)); err != nil || up != c {
			t.Fatalf("upper case of %q parses to %q, %v", canonical, up.canonical.Reveal(), err)
		}
	})
}

// codeFrom makes a code of the kind asked for from fuzzed bytes, the way
// random does from crypto/rand (each byte picks a symbol).
func codeFrom(b []byte, bypass bool) Code {
	alphabet := BackupAlphabet
	if bypass {
		alphabet = bypassAlphabet
	}
	out := make([]byte, CodeLen)
	for i := range out {
		var x byte
		if len(b) > 0 {
			x = b[i%len(b)] + byte(i/len(b))
		}
		out[i] = alphabet[int(x)%len(alphabet)]
	}
	return Code{canonical: secret.Value(string(out)), backup: !bypass, bypass: bypass}
}

// FuzzCodeRoundTrip: a generated code parses back from its shown form, and
// from every way people retype it (upper case, spaces or other dashes
// instead of the dash, no dash, spaces around), to the same canonical code
// of the kind it was made as (a backup code of digits 2-9 only may also be
// read as a bypass code: the store tries both).
func FuzzCodeRoundTrip(f *testing.F) {
	f.Add([]byte("0123456789"), false)
	f.Add([]byte{0xff, 0, 31, 30}, false)
	f.Add([]byte{9, 8, 7}, true)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, b []byte, bypass bool) {
		c := codeFrom(b, bypass)
		shown := c.Shown()
		want := c.canonical.Reveal()
		for _, typed := range []string{
			shown, strings.ToUpper(shown), strings.ReplaceAll(shown, "-", " "),
			strings.ReplaceAll(shown, "-", "\u2013"), strings.ReplaceAll(shown, "-", ""),
			" \t" + shown + "\u00a0", shown[:2] + " " + shown[2:],
		} {
			got, err := Parse(typed)
			if err != nil || got.canonical.Reveal() != want {
				t.Fatalf("Parse(%q) of the code %q = %q, %v", typed, want, got.canonical.Reveal(), err)
			}
			if (bypass && !got.MayBeBypass()) || (!bypass && !got.MayBeBackup()) {
				t.Fatalf("Parse(%q) lost the code's kind (bypass %v): backup %v bypass %v", typed, bypass, got.MayBeBackup(), got.MayBeBypass())
			}
			if again, err := Parse(got.Shown()); err != nil || again != got {
				t.Fatalf("Parse(Shown()) of %q differs: %v", want, err)
			}
		}
	})
}

// FuzzParseToken: ParseToken accepts exactly the unpadded base64url
// encodings of TokenBytes bytes (one spelling each: no padding, no other
// alphabet, no stray bits) and returns them unchanged; a token made from any
// TokenBytes bytes parses back to the same bytes. Never panics.
func FuzzParseToken(f *testing.F) {
	f.Add("", []byte{})
	f.Add(strings.Repeat("A", 43), bytes.Repeat([]byte{0xff}, TokenBytes))
	f.Add(strings.Repeat("A", 42)+"B", []byte("0123456789abcdef0123456789abcdef"))
	f.Add(strings.Repeat("_", 43), []byte{1})
	f.Add(strings.Repeat("+", 43), []byte{2})
	f.Add(strings.Repeat("A", 43)+"=", []byte{3})
	f.Fuzz(func(t *testing.T, s string, b []byte) {
		tok, err := ParseToken(s)
		raw, decErr := base64.RawURLEncoding.DecodeString(s)
		canonical := decErr == nil && len(raw) == TokenBytes && base64.RawURLEncoding.EncodeToString(raw) == s
		switch {
		case err != nil && !errors.Is(err, ErrMalformed):
			t.Fatalf("ParseToken(%q): error %v is not ErrMalformed", s, err)
		case err != nil && canonical:
			t.Fatalf("ParseToken(%q) refused the encoding of %d bytes: %v", s, TokenBytes, err)
		case err == nil && !canonical:
			t.Fatalf("ParseToken(%q) accepted what is not the one encoding of %d bytes", s, TokenBytes)
		case err == nil && (tok.Encoded() != s || !bytes.Equal(tok.raw(), raw)):
			t.Fatalf("ParseToken(%q) changed the token", s)
		}
		if len(b) < TokenBytes {
			return
		}
		enc := base64.RawURLEncoding.EncodeToString(b[:TokenBytes])
		back, err := ParseToken(enc)
		if err != nil || !bytes.Equal(back.raw(), b[:TokenBytes]) || back.Encoded() != enc {
			t.Fatalf("a token made from %x does not parse back: %v", b[:TokenBytes], err)
		}
	})
}
