// Package secret holds Value, the project's one type for a value that must
// never reach a log, an error message or an encoded form: the Duo client
// secret in the plugin, and password hashes, TOTP secrets, Duo states and
// CSRF tokens in the reference helpdesk.
package secret

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Redacted is what every printed, logged or encoded form of a non-empty
// Value shows instead of the value.
const Redacted = "[redacted]"

// Value is a string that must never reach a log, an error message or an
// encoded form. Every way of printing, logging or encoding it shows Redacted,
// or "" when it is empty, so that an unset value stays distinguishable from a
// set one; Reveal is the only way to read it. Each method closes one path
// that would otherwise print the raw string:
//   - Format: fmt, for every verb (without it %x would hex-encode the value
//     and %q quote it);
//   - String and GoString: callers of fmt.Stringer and fmt.GoStringer outside
//     fmt (Format prints their results too);
//   - MarshalJSON and MarshalText: encoding/json, encoding/xml and other text
//     encoders, which would otherwise encode a string kind as it is;
//   - LogValue: slog, so that every handler, not only the standard ones,
//     sees the redacted string.
//
// The redaction relies on fmt, slog and the encoders calling these methods,
// and three uses bypass them, so avoid them:
//   - an unexported struct field of type Value: fmt cannot call its methods
//     and prints the value when the struct is printed;
//   - %p with a Value or a struct holding one (not a pointer): fmt's
//     bad-verb output prints the raw value; go vet reports this misuse;
//   - a Value as a map key with encoding/json, which uses the string itself
//     for keys of string kind.
type Value string

// Reveal returns the value. Call it only where the value is handed to what
// needs it (signing a Duo request, encrypting it for the store, comparing a
// token, writing it to the database).
func (v Value) Reveal() string { return string(v) }

// IsSet reports whether the value is non-empty.
func (v Value) IsSet() bool { return v != "" }

// String returns Redacted, or "" for an empty value.
func (v Value) String() string {
	if v == "" {
		return ""
	}
	return Redacted
}

// GoString returns the %#v form: secret.Value("[redacted]"), or
// secret.Value("") for an empty value.
func (v Value) GoString() string {
	return "secret.Value(" + strconv.Quote(v.String()) + ")"
}

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q,
// %x, %X, %d …) prints the redacted form; only the width and the '-' flag are
// honoured. Without it %x would hex-encode the value itself.
func (v Value) Format(f fmt.State, verb rune) {
	var out string
	switch {
	case verb == 'v' && f.Flag('#'):
		out = v.GoString()
	case verb == 'q':
		out = strconv.Quote(v.String())
	default:
		out = v.String()
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
func (v Value) MarshalJSON() ([]byte, error) { return json.Marshal(v.String()) }

// MarshalText returns the redacted form; encoding/json uses it for map keys,
// and other text encoders (XML, YAML …) for values.
func (v Value) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// LogValue implements slog.LogValuer with the redacted form.
func (v Value) LogValue() slog.Value { return slog.StringValue(v.String()) }
