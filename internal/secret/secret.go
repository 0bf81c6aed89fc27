package settings

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Redacted is what every printed, logged or encoded form of a non-empty
// Secret shows instead of its value.
const Redacted = "[redacted]"

// Secret is a credential (the Duo client secret). Every way of printing,
// logging or encoding it shows Redacted, or "" when it is empty, so that an
// unset secret stays distinguishable from a set one; Reveal is the only way to
// read the value.
//
// The redaction relies on fmt, slog and the encoders calling these methods,
// and three uses bypass them, so avoid them:
//   - an unexported struct field of type Secret: fmt cannot call its methods
//     and prints the value when the struct is printed;
//   - %p with a Secret or a struct holding one (not a pointer): fmt's
//     bad-verb output prints the raw value; go vet reports this misuse;
//   - a Secret as a map key with encoding/json, which uses the string itself
//     for keys of string kind.
type Secret string

// Reveal returns the secret's value. Call it only where the value is handed
// to what needs it (signing a Duo request, encrypting it for the store).
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s != "" }

// String returns Redacted, or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString returns the %#v form: settings.Secret("[redacted]").
func (s Secret) GoString() string {
	return "settings.Secret(" + strconv.Quote(s.String()) + ")"
}

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q,
// %x, %X, %d …) prints the redacted form; only the width and the '-' flag are
// honoured. Without it %x would hex-encode the value itself.
func (s Secret) Format(f fmt.State, verb rune) {
	var out string
	switch {
	case verb == 'v' && f.Flag('#'):
		out = s.GoString()
	case verb == 'q':
		out = strconv.Quote(s.String())
	default:
		out = s.String()
	}
	if w, ok := f.Width(); ok && w > len(out) {
		pad := strings.Repeat(" ", w-len(out))
		if f.Flag('-') {
			out += pad
		} else {
			out = pad + out
		}
	}
	_, _ = io.WriteString(f, out)
}

// MarshalJSON encodes the redacted form as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText returns the redacted form; encoding/json uses it for map keys,
// and other text encoders (XML, YAML …) for values.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer with the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
