package duousername

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// seeds are the inputs of the tables below, reused as FuzzCanonical seeds.
var seeds []string

type acceptCase struct {
	name string
	in   string
	want string
}

var acceptCases = []acceptCase{
	{"lower ascii", "alice", "alice"},
	{"title case", "Alice", "alice"},
	{"upper case", "ALICE", "alice"},
	{"fullwidth upper", "ＡＬＩＣＥ", "alice"},
	{"fullwidth lower a", "\uff41lice", "alice"},
	{"kelvin sign", "\u212Aelly", "kelly"},
	{"plain Kelly", "Kelly", "kelly"},
	{"ohm sign", "\u2126", "ω"},
	{"dotted capital I alone", "\u0130", "i\u0307"},
	{"dotted capital I in word", "\u0130nci", "i\u0307nci"},
	{"dotless small i kept", "ınci", "ınci"},
	{"sharp s kept", "Straße", "straße"},
	{"capital sharp s", "STRA\u1E9EE", "straße"},
	{"double s stays double s", "STRASSE", "strasse"},
	{"greek capital sigmas all become medial sigma", "ΟΔΥΣΣΕΥΣ", "οδυσσευσ"},
	{"greek final sigma kept", "οδυσσευς", "οδυσσευς"},
	{"greek lone capital sigma", "Σ", "σ"},
	{"email", "Alice.Smith@Example.COM", "alice.smith@example.com"},
	{"email plus tag", "alice+duo@example.com", "alice+duo@example.com"},
	{"dots dashes underscores digits", "J.Doe-Smith_2", "j.doe-smith_2"},
	{"leading digit", "1alice", "1alice"},
	{"digits only", "123456", "123456"},
	{"leading underscore", "_svc", "_svc"},
	{"apostrophe", "O'Brien", "o'brien"},
	{"decomposed e acute composed by NFC", "Jose\u0301", "josé"},
	{"precomposed e acute", "José", "josé"},
	{"catalan middle dot between l", "col·lega", "col·lega"},
	{"hebrew", "אבג", "אבג"},
	{"arabic letter and arabic-indic digit", "\u0627\u0661", "\u0627\u0661"},
	{"cjk", "山田", "山田"},
	{"halfwidth katakana with voiced mark", "ｶﾞ", "ガ"},
	{"exactly MaxLen bytes", strings.Repeat("a", MaxLen), strings.Repeat("a", MaxLen)},
	{"exactly MaxLen bytes upper", strings.Repeat("A", MaxLen), strings.Repeat("a", MaxLen)},
	{"MaxLen fullwidth letters fit once folded", strings.Repeat("Ａ", MaxLen), strings.Repeat("a", MaxLen)},
}

type refuseCase struct {
	name string
	in   string
	msg  string // substring of the error message
}

var refuseCases = []refuseCase{
	{"empty", "", "it is empty"},
	{"MaxLen+1 bytes", strings.Repeat("a", MaxLen+1), "too long (257 bytes once canonicalised; the limit is 256 bytes)"},
	{"MaxLen+1 fullwidth letters", strings.Repeat("Ａ", MaxLen+1), "too long (257 bytes once canonicalised"},
	{"over input bound", strings.Repeat("a", 4*MaxLen+1), "too long (1025 bytes; the limit is 256 bytes)"},
	{"invalid utf8 alone", "\xff", "not valid UTF-8 text (byte 0xFF at byte 1"},
	{"truncated utf8", "alice\xc3", "not valid UTF-8 text (byte 0xC3 at byte 6"},
	{"surrogate half", "a\xed\xa0\x80", "not valid UTF-8"},
	{"inner space", "a b", "contains a space or invisible separator (U+0020 SPACE at position 2)"},
	{"leading space", " alice", "contains a space or invisible separator (U+0020 SPACE at position 1)"},
	{"trailing space", "alice ", "contains a space or invisible separator (U+0020 SPACE at position 6)"},
	{"leading tab", "\talice", "contains a space or invisible separator (U+0009 TAB at position 1)"},
	{"trailing newline", "alice\n", "contains a space or invisible separator (U+000A LINE FEED at position 6)"},
	{"trailing CR", "alice\r", "contains a space or invisible separator (U+000D CARRIAGE RETURN"},
	{"trailing no-break space", "alice\u00a0", "contains a space or invisible separator (U+00A0 NO-BREAK SPACE at position 6)"},
	{"leading ideographic space", "\u3000alice", "contains a space or invisible separator (U+3000 IDEOGRAPHIC SPACE at position 1)"},
	{"trailing em space", "alice\u2003", "contains a space or invisible separator (U+2003 EM SPACE at position 6)"},
	{"narrow no-break space", "alice\u202f", "contains a space or invisible separator (U+202F NARROW NO-BREAK SPACE"},
	{"line separator", "alice\u2028", "contains a space or invisible separator (U+2028 LINE SEPARATOR"},
	{"next line", "alice\u0085", "contains a space or invisible separator (U+0085 NEXT LINE"},
	{"only spaces", "   ", "contains a space or invisible separator"},
	{"NUL", "ali\x00ce", "contains a control character (U+0000 at position 4)"},
	{"escape sequence", "alice\x1b[31m", "contains a control character (U+001B at position 6)"},
	{"DEL", "alice\x7f", "contains a control character (U+007F at position 6)"},
	{"zero width space", "ali\u200bce", "contains an invisible formatting character (U+200B ZERO WIDTH SPACE at position 4)"},
	{"zero width joiner", "a\u200db", "contains an invisible formatting character (U+200D ZERO WIDTH JOINER at position 2)"},
	{"zero width joiner after virama", "क्\u200dष", "contains an invisible formatting character (U+200D ZERO WIDTH JOINER at position 3)"},
	{"byte order mark", "\ufeffalice", "contains an invisible formatting character (U+FEFF ZERO WIDTH NO-BREAK SPACE (byte order mark) at position 1)"},
	{"right-to-left override", "\u202ealice", "contains an invisible formatting character (U+202E RIGHT-TO-LEFT OVERRIDE at position 1)"},
	{"soft hyphen", "ali\u00adce", "contains an invisible formatting character (U+00AD SOFT HYPHEN at position 4)"},
	{"unassigned", "a\u0378", "contains a code point that is not an assigned character in Unicode"},
	{"noncharacter", "a\uffff", "contains a code point that is not an assigned character in Unicode"},
	{"private use", "a\ue000", "contains a private-use character (U+E000 at position 2)"},
	{"symbol", "alice♥", "contains '♥' (U+2665 at position 6), which usernames may not contain"},
	{"emoji", "alice😀", "contains '😀' (U+1F600 at position 6), which usernames may not contain"},
	{"ligature", "\ufb01sh", "contains 'ﬁ' (U+FB01 at position 1), which usernames may not contain"},
	{"circled letter", "Ⓐlice", "contains 'Ⓐ' (U+24B6 at position 1), which usernames may not contain"},
	{"superscript two", "x²", "contains '²' (U+00B2 at position 2), which usernames may not contain"},
	{"mathematical bold letter", "\U0001D400lice", "contains '𝐀' (U+1D400 at position 1), which usernames may not contain"},
	{"long s", "\u017fam", "contains 'ſ' (U+017F at position 1), which usernames may not contain"},
	{"dz digraph", "\u01c4", "contains 'Ǆ' (U+01C4 at position 1), which usernames may not contain"},
	{"hangul filler", "a\u3164b", "contains 'ㅤ' (U+3164 at position 2), which usernames may not contain"},
	{"combining grapheme joiner", "a\u034fb", "(U+034F at position 2), which usernames may not contain"},
	{"variation selector", "a\ufe0fb", "(U+FE0F at position 2), which usernames may not contain"},
	{"misplaced middle dot", "a·b", "contains '·' (U+00B7 at position 2) where it is not allowed: usernames may use it only between two letters l"},
	{"misplaced geresh", "a\u05f3", "contains '׳' (U+05F3 at position 2) where it is not allowed: usernames may use it only after a Hebrew letter"},
	{"hebrew then latin", "אa", "breaks the Bidi Rule of RFC 5893"},
	{"latin then hebrew", "aא", "breaks the Bidi Rule of RFC 5893"},
	{"leading combining mark", "\u0301a", "breaks the Bidi Rule of RFC 5893"},
	{"mixed arabic-indic digit sets", "\u0661\u06f1", "contains a combination of characters that usernames may not contain"},
}

func init() {
	for _, c := range acceptCases {
		seeds = append(seeds, c.in)
	}
	for _, c := range refuseCases {
		seeds = append(seeds, c.in)
	}
}

func TestCanonicalAccepts(t *testing.T) {
	t.Parallel()
	for _, c := range acceptCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Canonical(c.in)
			if err != nil {
				t.Fatalf("Canonical(%+q) error: %v", c.in, err)
			}
			if got != c.want {
				t.Fatalf("Canonical(%+q) = %+q, want %+q", c.in, got, c.want)
			}
			again, err := Canonical(got)
			if err != nil || again != got {
				t.Fatalf("Canonical(%+q) = %+q, %v; want it unchanged (idempotence)", got, again, err)
			}
		})
	}
}

func TestCanonicalRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range refuseCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Canonical(c.in)
			if err == nil {
				t.Fatalf("Canonical(%+q) = %+q, want an error containing %q", c.in, got, c.msg)
			}
			if got != "" {
				t.Errorf("Canonical(%+q) returned %+q along with its error, want \"\"", c.in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Canonical(%+q) error %v does not match ErrInvalid", c.in, err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("Canonical(%+q) error\n  %q\nwant it to contain\n  %q", c.in, err.Error(), c.msg)
			}
			checkMessage(t, err)
		})
	}
}

// checkMessage asserts what every refusal has in common: it starts with the
// sentinel's text, is valid UTF-8, carries no control or format character
// (so it is safe in a log line), and does not echo a long input.
func checkMessage(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "invalid Duo username: it ") {
		t.Errorf("message %q does not start with %q", msg, "invalid Duo username: it ")
	}
	if !utf8.ValidString(msg) {
		t.Errorf("message %q is not valid UTF-8", msg)
	}
	for _, r := range msg {
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			t.Errorf("message %q contains control or format character %U", msg, r)
		}
	}
	if len(msg) > 400 {
		t.Errorf("message is %d bytes long, want a short sentence: %q", len(msg), msg)
	}
}

// TestDottedCapitalI pins the special case mapping of U+0130: the profile's
// locale-independent lower-casing keeps the dot as U+0307, so İ is not i.
func TestDottedCapitalI(t *testing.T) {
	t.Parallel()
	got, err := Canonical("\u0130")
	if err != nil {
		t.Fatal(err)
	}
	if got == "i" {
		t.Fatalf("Canonical(\"\\u0130\") = \"i\": İ would collide with I and i")
	}
	if got != "i\u0307" {
		t.Fatalf("Canonical(\"\\u0130\") = %+q, want \"i\\u0307\"", got)
	}
}

// same reports whether a and b are the same Duo username once
// canonicalised: both valid, with equal canonical forms. A refused name is
// the same as nothing, not even itself.
func same(a, b string) bool {
	ca, err := Canonical(a)
	if err != nil {
		return false
	}
	cb, err := Canonical(b)
	return err == nil && ca == cb
}

// Which names Canonical makes one, and which it keeps apart.
func TestSame(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		a, b string
		want bool
	}{
		{"identical", "alice", "alice", true},
		{"case", "alice", "ALICE", true},
		{"fullwidth", "alice", "ＡＬＩＣＥ", true},
		{"kelvin sign is K", "Kelly", "\u212Aelly", true},
		{"email case", "Alice.Smith@Example.COM", "alice.smith@example.com", true},
		{"nfc vs nfd", "Jose\u0301", "José", true},
		{"ohm sign is omega", "\u2126", "Ω", true},
		{"trailing no-break space is not trimmed", "alice", "alice\u00a0", false},
		{"trailing space is not trimmed", "alice", "alice ", false},
		{"zero width space is not removed", "alice", "ali\u200bce", false},
		{"dotted I is not i", "\u0130", "i", false},
		{"dotted I is not I", "\u0130", "I", false},
		{"dotted I is i with combining dot", "\u0130", "i\u0307", true},
		{"sharp s is not ss", "Straße", "strasse", false},
		{"capital sharp s is sharp s", "STRA\u1E9EE", "straße", true},
		{"capital sigma is medial sigma", "ΟΔΥΣΣΕΥΣ", "οδυσσευσ", true},
		{"capital sigma is not final sigma", "ΟΔΥΣΣΕΥΣ", "οδυσσευς", false},
		{"different names", "alice", "bob", false},
		{"both empty", "", "", false},
		{"invalid is not the same as itself", "a b", "a b", false},
		{"invalid utf8 is not the same as itself", "\xff", "\xff", false},
		{"one invalid", "alice", "\xff", false},
		{"other invalid", "\xff", "alice", false},
		{"too long is not the same as itself", strings.Repeat("a", MaxLen+1), strings.Repeat("a", MaxLen+1), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := same(c.a, c.b); got != c.want {
				t.Errorf("same(%+q, %+q) = %v, want %v", c.a, c.b, got, c.want)
			}
			if got := same(c.b, c.a); got != c.want {
				t.Errorf("same(%+q, %+q) = %v, want %v (symmetry)", c.b, c.a, got, c.want)
			}
		})
	}
}

// TestConcurrent runs Canonical from many goroutines over the same inputs;
// under -race it checks the shared profiles hold no mutable state, and it
// checks the same input always gets the same answer.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	type result struct {
		out string
		err string
	}
	want := make([]result, len(seeds))
	for i, s := range seeds {
		out, err := Canonical(s)
		want[i] = result{out: out}
		if err != nil {
			want[i].err = err.Error()
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, s := range seeds {
				out, err := Canonical(s)
				got := result{out: out}
				if err != nil {
					got.err = err.Error()
				}
				if got != want[i] {
					t.Errorf("Canonical(%+q) = %+v, earlier %+v", s, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

func FuzzCanonical(f *testing.F) {
	for _, s := range seeds {
		// Long seeds are covered by the tables; as fuzz seeds they only make
		// the fuzzer spend its time minimising kilobyte inputs.
		if len(s) <= 64 {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Canonical(in)
		out2, err2 := Canonical(in)
		if out != out2 || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("Canonical(%+q) not deterministic: %+q, %v then %+q, %v", in, out, err, out2, err2)
		}
		if err != nil {
			if out != "" {
				t.Fatalf("Canonical(%+q) returned %+q with error %v", in, out, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Canonical(%+q) error %v does not match ErrInvalid", in, err)
			}
			checkMessage(t, err)
			if same(in, in) {
				t.Fatalf("same(%+q, itself) = true for a refused name", in)
			}
			return
		}
		if out == "" || len(out) > MaxLen || !utf8.ValidString(out) {
			t.Fatalf("Canonical(%+q) = %+q: empty, over MaxLen or invalid UTF-8", in, out)
		}
		for _, r := range out {
			if unicode.IsSpace(r) || unicode.In(r, unicode.Z, unicode.Cc, unicode.Cf) {
				t.Fatalf("Canonical(%+q) = %+q contains space, control or format character %U", in, out, r)
			}
		}
		again, err := Canonical(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: Canonical(%+q) = %+q, Canonical(%+q) = %+q, %v", in, out, out, again, err)
		}
		if !same(in, out) || !same(out, in) {
			t.Fatalf("same(%+q, %+q) = false for a name and its canonical form", in, out)
		}
		// PRECIS itself says the name and its canonical form are the same
		// username.
		if !precis.UsernameCaseMapped.Compare(in, out) {
			t.Fatalf("precis.UsernameCaseMapped.Compare(%+q, %+q) = false for a name and its canonical form", in, out)
		}
	})
}

// FuzzCanonicalCollisions: two names Canonical accepts get the same
// canonical name exactly when PRECIS (UsernameCaseMapped.Compare) says they
// are the same username, and a name Canonical refuses is never the same
// username as one it accepts. So the collisions Canonical makes are exactly
// RFC 8265's equalities, no more (two people merged) and no fewer (one
// person twice); the unique index on operators.duo_username then refuses
// the second operator who maps to a taken name.
func FuzzCanonicalCollisions(f *testing.F) {
	for _, p := range [][2]string{
		{"Kelly", "\u212Aelly"}, {"alice", "ALICE"}, {"\uff21\uff2c\uff29\uff23\uff25", "alice"},
		{"\u0130nci", "Inci"}, {"Stra\u00dfe", "strasse"}, {"\u1e9e", "\u00df"},
		{"\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2"},
		{"a\u0301", "\u00e1"}, {"alice", "alice\u00a0"}, {"\u0915\u094d\u200d", "\u0915\u094d"},
		{"\u2126", "\u03c9"}, {"bob", "b\u200bob"}, {"", ""},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ca, errA := Canonical(a)
		cb, errB := Canonical(b)
		precisSame := precis.UsernameCaseMapped.Compare(a, b)
		switch {
		case errA == nil && errB == nil:
			if (ca == cb) != precisSame {
				t.Fatalf("Canonical(%+q) = %+q, Canonical(%+q) = %+q, but PRECIS Compare = %v", a, ca, b, cb, precisSame)
			}
		case (errA == nil) != (errB == nil):
			if precisSame {
				t.Fatalf("PRECIS says %+q and %+q are the same username, but Canonical accepts one (%v, %v)", a, b, errA, errB)
			}
		}
	})
}
