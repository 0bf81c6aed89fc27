package codes

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

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

// FuzzParse: whatever is typed, Parse either refuses it or returns a code
// of CodeLen symbols of the alphabets it claims, that parses back to itself
// from its shown form, and never panics.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"abcde-fghjk", "01234-56789", "ABCDE FGHJK", "", "-", "abcde\u2013fghjk", "ſ", "\xff", strings.Repeat("9", 64)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		c, err := Parse(typed)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q): error %v is not ErrMalformed", typed, err)
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
		// Normalising is idempotent and ignores case.
		if up, err := Parse(strings.ToUpper(canonical)); err != nil || up != c {
			t.Fatalf("upper case of %q parses to %q, %v", canonical, up.canonical.Reveal(), err)
		}
	})
}
