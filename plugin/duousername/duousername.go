// Package duousername turns the name a helpdesk knows an operator by into the
// username sent to Duo: one canonical form (RFC 8265 UsernameCaseMapped), or a
// clear refusal.
//
// Canonical is the only way a Duo username should be derived. It replaces the
// old ad-hoc strings.ToLower(strings.TrimSpace(name)), which let names that
// differ only by an invisible character, a compatibility form or a special
// case mapping become another operator's Duo username.
//
// # Rules
//
// The PRECIS UsernameCaseMapped profile (golang.org/x/text/secure/precis,
// RFC 8265 §3.3) decides what is accepted and what the canonical form is. It
// maps fullwidth and halfwidth forms to their ordinary forms, lower-cases with
// the Unicode default (locale-independent) mapping, normalises to NFC, and
// then refuses anything outside the PRECIS IdentifierClass or breaking the
// Bidi Rule (RFC 5893). On top of the profile this package applies only these
// rules, in this order, so that the same input always gets the same answer:
//
//  1. The empty string is refused.
//  2. Input longer than 4*MaxLen bytes is refused as too long without being
//     examined further. (Canonicalisation shrinks text by less than a factor
//     of four: a fullwidth letter plus two combining marks, 7 bytes, composing
//     to one 2-byte letter is about the worst, so this refuses nothing that
//     could fit.)
//  3. Input that is not valid UTF-8 is refused.
//  4. Nothing is trimmed. Any space or separator anywhere in the name,
//     ASCII or not (U+0020, tab, newline, U+00A0 NO-BREAK SPACE, U+2003 EM
//     SPACE, U+3000 IDEOGRAPHIC SPACE, U+2028 LINE SEPARATOR, …), is refused
//     with "contains a space or invisible separator". A silent trim is what
//     once let "alice\u00a0" become "alice". RFC 8265 §3.5 lets an
//     application accept space-separated userparts; Duo usernames are single
//     identifiers in practice, so this package accepts none.
//  5. Control characters (Unicode Cc) and format characters (Unicode Cf:
//     U+200B ZERO WIDTH SPACE, U+200D ZERO WIDTH JOINER, U+FEFF, U+202E
//     RIGHT-TO-LEFT OVERRIDE, U+00AD SOFT HYPHEN, …) are refused. This is
//     stricter than the profile only for U+200C and U+200D after a virama,
//     which RFC 8264 would allow; invisible joiners in an identifier make
//     look-alikes too easily.
//  6. The profile is applied; whatever it refuses (symbols, emoji, ligatures,
//     circled or mathematical letters, private-use and unassigned code
//     points, misplaced context characters such as U+00B7, Bidi Rule
//     violations) is refused with a sentence naming the problem.
//  7. A canonical form longer than MaxLen bytes is refused.
//  8. The canonical form must be a fixed point of the profile (it always has
//     been in testing); if it were not, the name would be refused rather than
//     given a form that changes on the next pass. So Canonical is idempotent:
//     Canonical(Canonical(x)) == Canonical(x) for every accepted x.
//
// Consequences worth knowing (all asserted in the tests):
//
//   - "Alice", "ALICE" and fullwidth "ＡＬＩＣＥ" are all "alice".
//   - E-mail addresses and usual usernames (dots, dashes, underscores, plus
//     signs, digits, other printable ASCII) are accepted, lower-cased:
//     "Alice.Smith@Example.COM" is "alice.smith@example.com".
//   - The Kelvin sign: "\u212Aelly" is "kelly", the same Duo username as
//     "Kelly". Likewise U+2126 OHM SIGN is "ω".
//   - "İ" (U+0130) is "i\u0307" (i followed by COMBINING DOT ABOVE), not "i":
//     "İnci" and "Inci" are different usernames.
//   - "ß" is kept: "Straße" is "straße", different from "strasse"; capital
//     "ẞ" (U+1E9E) is also "ß".
//   - Greek capital sigma always becomes "σ", never the final "ς":
//     "ΟΔΥΣΣΕΥΣ" is "οδυσσευσ", which is not the same username as
//     "οδυσσευς".
//
// # Collisions and uniqueness
//
// Canonicalisation deliberately makes different spellings collide ("Kelly"
// and "\u212Aelly", "alice" and "ALICE"): that is the point, the collision
// becomes visible instead of being two silently different Duo users, or one
// operator silently becoming another. Canonical does not know which operators
// exist; keeping canonical usernames unique, and refusing to link a second
// operator to a username another operator already resolves to, is the
// caller's job (for instance a unique index on the canonical form).
//
// # Unicode version
//
// The answers depend on the Unicode tables compiled in (precis.UnicodeVersion,
// which follows the Go toolchain). A code point unassigned today, and so
// refused, may be accepted after an upgrade; store the canonical form rather
// than re-deriving it from a stored raw name.
package duousername

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// MaxLen is the longest canonical username accepted, in bytes (Duo's own
// limit is generous; 256 keeps the database bounded).
//
// It bounds the canonical form returned by Canonical, not the raw input,
// except that input longer than 4*MaxLen bytes is refused unexamined.
const MaxLen = 256

// maxInputLen bounds the work done on a raw name before it is refused as too
// long. Width folding, the Kelvin sign and NFC composition shrink text by
// less than a factor of four, so no input above this bound can canonicalise
// to MaxLen bytes or less.
const maxInputLen = 4 * MaxLen

// ErrInvalid is matched (with errors.Is, never ==) by every error Canonical
// returns. The returned error's message starts with "invalid Duo username: "
// and says in plain words what is wrong; it never repeats the name itself, so
// a caller that wants the name in a log line must add it (quoted).
var ErrInvalid = errors.New("invalid Duo username")

// profile is the one profile that decides; diagnose is the same profile
// without the Bidi Rule, used only to explain a refusal.
var (
	profile  = precis.UsernameCaseMapped
	diagnose = precis.NewIdentifier(precis.FoldWidth, precis.LowerCase(), precis.Norm(norm.NFC))
)

// Canonical returns the canonical Duo username of name, or an error (matching
// ErrInvalid) that says in plain words what is wrong, for an admin: empty, too
// long, not valid UTF-8, contains spaces or control characters, or a character
// PRECIS does not allow.
//
// Precondition: none; any string may be passed and Canonical is safe for
// concurrent use. Pass the name exactly as the helpdesk holds it: do not trim
// or lower-case it first, since a trim is precisely what the refusal of
// spaces guards against. On success the result is non-empty, valid UTF-8, at
// most MaxLen bytes, free of spaces and control or format characters, and
// Canonical(result) returns result unchanged. The result is equal for names
// that are the same username; whether two operators may share it is for the
// caller to decide (see the package documentation).
func Canonical(name string) (string, error) {
	if name == "" {
		return "", refuse("it is empty")
	}
	if len(name) > maxInputLen {
		return "", refuse("it is too long (%d bytes; the limit is %d bytes)", len(name), MaxLen)
	}
	if !utf8.ValidString(name) {
		i := firstInvalidByte(name)
		return "", refuse("it is not valid UTF-8 text (byte 0x%02X at byte %d is not part of a valid character)", name[i], i+1)
	}
	pos := 0
	for _, r := range name {
		pos++
		switch {
		case unicode.IsSpace(r) || unicode.Is(unicode.Z, r):
			return "", refuse("it contains a space or invisible separator (%s at position %d); names are never trimmed, so remove it where the name is stored", describe(r), pos)
		case unicode.Is(unicode.Cc, r):
			return "", refuse("it contains a control character (%s at position %d)", describe(r), pos)
		case unicode.Is(unicode.Cf, r):
			return "", refuse("it contains an invisible formatting character (%s at position %d), such as a zero-width space, joiner or text-direction override", describe(r), pos)
		}
	}
	out, err := profile.String(name)
	if err != nil {
		return "", explain(name)
	}
	if out == "" { // Not reachable with today's profile; kept as a guard.
		return "", refuse("it is empty once canonicalised")
	}
	if len(out) > MaxLen {
		return "", refuse("it is too long (%d bytes once canonicalised; the limit is %d bytes)", len(out), MaxLen)
	}
	if again, err := profile.String(out); err != nil || again != out {
		return "", refuse("it has no stable canonical form (canonicalising it twice gives different results)")
	}
	return out, nil
}

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// firstInvalidByte returns the byte offset of the first byte of s that does
// not start a valid UTF-8 encoding. s must not be valid UTF-8.
func firstInvalidByte(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return 0
}

// contextRunes are the characters RFC 8264 (CONTEXTO rules) allows only next
// to particular characters. U+200C and U+200D are refused earlier as format
// characters, and the Arabic-Indic digits are valid on their own.
var contextRunes = map[rune]string{
	0x00B7: "only between two letters l, as in Catalan \"l·l\"",
	0x0375: "only before a Greek letter",
	0x05F3: "only after a Hebrew letter",
	0x05F4: "only after a Hebrew letter",
	0x30FB: "only in a name that also has Hiragana, Katakana or Han characters",
}

// explain turns a refusal by the profile into a sentence. name has already
// passed the UTF-8, space, control and format checks. The precis errors are
// terse and not always about the first problem (the Bidi Rule is checked
// before the character class), so explain works the cause out again itself.
func explain(name string) error {
	if _, err := diagnose.String(name); err == nil {
		// The only difference between diagnose and profile is the Bidi Rule.
		return refuse("it breaks the Bidi Rule of RFC 5893: right-to-left letters (such as Hebrew or Arabic) cannot be mixed with left-to-right letters, and a name cannot start with a combining mark or with a character of no direction")
	}
	pos := 0
	for _, r := range name {
		pos++
		if _, ok := contextRunes[r]; ok {
			continue
		}
		switch {
		case unicode.Is(unicode.Co, r):
			return refuse("it contains a private-use character (U+%04X at position %d), which has no agreed meaning", r, pos)
		case !assigned(r):
			return refuse("it contains a code point that is not an assigned character in Unicode %s (U+%04X at position %d)", unicode.Version, r, pos)
		}
		if _, err := diagnose.String(string(r)); err != nil {
			return refuse("it contains %q (U+%04X at position %d), which usernames may not contain (RFC 8265 refuses symbols, emoji, ligatures, and circled, superscript or styled letters)", r, r, pos)
		}
	}
	pos = 0
	for _, r := range name {
		pos++
		if where, ok := contextRunes[r]; ok {
			return refuse("it contains %q (U+%04X at position %d) where it is not allowed: usernames may use it %s", r, r, pos, where)
		}
	}
	return refuse("it contains a combination of characters that usernames may not contain (RFC 8264 context rules, for example Arabic-Indic digits mixed with Extended Arabic-Indic digits)")
}

// assigned reports whether r is an assigned character in the unicode
// package's tables: it has a general category other than Cn. (unicode.C
// cannot be used: recent Go releases include Cn in it.)
func assigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z,
		unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// knownNames names the spaces and invisible characters most often met in
// pasted names, so the admin can find them; others are shown by code point.
var knownNames = map[rune]string{
	'\t':   "TAB",
	'\n':   "LINE FEED",
	'\v':   "VERTICAL TAB",
	'\f':   "FORM FEED",
	'\r':   "CARRIAGE RETURN",
	' ':    "SPACE",
	0x0085: "NEXT LINE",
	0x00A0: "NO-BREAK SPACE",
	0x00AD: "SOFT HYPHEN",
	0x1680: "OGHAM SPACE MARK",
	0x180E: "MONGOLIAN VOWEL SEPARATOR",
	0x2000: "EN QUAD",
	0x2001: "EM QUAD",
	0x2002: "EN SPACE",
	0x2003: "EM SPACE",
	0x2004: "THREE-PER-EM SPACE",
	0x2005: "FOUR-PER-EM SPACE",
	0x2006: "SIX-PER-EM SPACE",
	0x2007: "FIGURE SPACE",
	0x2008: "PUNCTUATION SPACE",
	0x2009: "THIN SPACE",
	0x200A: "HAIR SPACE",
	0x200B: "ZERO WIDTH SPACE",
	0x200C: "ZERO WIDTH NON-JOINER",
	0x200D: "ZERO WIDTH JOINER",
	0x200E: "LEFT-TO-RIGHT MARK",
	0x200F: "RIGHT-TO-LEFT MARK",
	0x2028: "LINE SEPARATOR",
	0x2029: "PARAGRAPH SEPARATOR",
	0x202A: "LEFT-TO-RIGHT EMBEDDING",
	0x202B: "RIGHT-TO-LEFT EMBEDDING",
	0x202C: "POP DIRECTIONAL FORMATTING",
	0x202D: "LEFT-TO-RIGHT OVERRIDE",
	0x202E: "RIGHT-TO-LEFT OVERRIDE",
	0x202F: "NARROW NO-BREAK SPACE",
	0x205F: "MEDIUM MATHEMATICAL SPACE",
	0x2060: "WORD JOINER",
	0x2066: "LEFT-TO-RIGHT ISOLATE",
	0x2067: "RIGHT-TO-LEFT ISOLATE",
	0x2068: "FIRST STRONG ISOLATE",
	0x2069: "POP DIRECTIONAL ISOLATE",
	0x3000: "IDEOGRAPHIC SPACE",
	0xFEFF: "ZERO WIDTH NO-BREAK SPACE (byte order mark)",
}

// describe shows an invisible character as its code point and, when known,
// its Unicode name; it never writes the character itself.
func describe(r rune) string {
	if n, ok := knownNames[r]; ok {
		return fmt.Sprintf("U+%04X %s", r, n)
	}
	return fmt.Sprintf("U+%04X", r)
}
