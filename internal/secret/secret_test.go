package secret

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/internal/secret/secrettest"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
)

const testSecret = "S3cr3tV4lu3S3cr3tV4lu3S3cr3tV4lu3S3cr3tX"

func TestValueFormats(t *testing.T) {
	t.Parallel()
	set := Value(testSecret)
	var empty Value
	tests := []struct {
		name string
		got  func() string
		want string
	}{
		{"String", func() string { return set.String() }, "[redacted]"},
		{"String empty", func() string { return empty.String() }, ""},
		{"GoString", func() string { return set.GoString() }, `secret.Value("[redacted]")`},
		{"GoString empty", func() string { return empty.GoString() }, `secret.Value("")`},
		{"%v", func() string { return fmt.Sprintf("%v", set) }, "[redacted]"},
		{"%+v", func() string { return fmt.Sprintf("%+v", set) }, "[redacted]"},
		{"%#v", func() string { return fmt.Sprintf("%#v", set) }, `secret.Value("[redacted]")`},
		{"%s", func() string { return fmt.Sprintf("%s", set) }, "[redacted]"},
		{"%q", func() string { return fmt.Sprintf("%q", set) }, `"[redacted]"`},
		{"%x", func() string { return fmt.Sprintf("%x", set) }, "[redacted]"},
		{"%X", func() string { return fmt.Sprintf("%X", set) }, "[redacted]"},
		{"%d", func() string { return fmt.Sprintf("%d", set) }, "[redacted]"},
		{"%12s", func() string { return fmt.Sprintf("%12s", set) }, "  [redacted]"},
		{"%-12s|", func() string { return fmt.Sprintf("%-12s|", set) }, "[redacted]  |"},
		{"%.3s", func() string { return fmt.Sprintf("%.3s", set) }, "[redacted]"},
		{"%v empty", func() string { return fmt.Sprintf("%v", empty) }, ""},
		{"%q empty", func() string { return fmt.Sprintf("%q", empty) }, `""`},
		{"%x empty", func() string { return fmt.Sprintf("%x", empty) }, ""},
		{"%#v empty", func() string { return fmt.Sprintf("%#v", empty) }, `secret.Value("")`},
		{"%T", func() string { return fmt.Sprintf("%T", set) }, "secret.Value"},
		{"Sprint", func() string { return fmt.Sprint(set) }, "[redacted]"},
		{"Sprintln", func() string { return fmt.Sprintln(set) }, "[redacted]\n"},
		{"pointer %v", func() string { return fmt.Sprintf("%v", &set) }, "[redacted]"},
		{"slice %v", func() string { return fmt.Sprintf("%v", []Value{set, empty}) }, "[[redacted] ]"},
		{"map %v", func() string { return fmt.Sprintf("%v", map[string]Value{"k": set}) }, "map[k:[redacted]]"},
		{"errorf %v", func() string { return fmt.Errorf("sign: %v", set).Error() }, "sign: [redacted]"},
		{"struct %v", func() string { return fmt.Sprintf("%v", struct{ S Value }{set}) }, "{[redacted]}"},
		{"struct %+v", func() string { return fmt.Sprintf("%+v", struct{ S Value }{set}) }, "{S:[redacted]}"},
		{"struct %#v", func() string { return fmt.Sprintf("%#v", struct{ S Value }{set}) }, `struct { S secret.Value }{S:secret.Value("[redacted]")}`},
		{"Reveal", func() string { return set.Reveal() }, testSecret},
		{"Reveal empty", func() string { return empty.Reveal() }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.got(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValueIsSet(t *testing.T) {
	t.Parallel()
	if !Value(testSecret).IsSet() {
		t.Error("IsSet() = false for a non-empty value")
	}
	if Value("").IsSet() {
		t.Error("IsSet() = true for the empty value")
	}
}

func TestValueEncodings(t *testing.T) {
	t.Parallel()
	set := Value(testSecret)
	type holder struct {
		Secret Value `json:"secret" xml:"secret"`
		Empty  Value `json:"empty" xml:"empty"`
	}
	tests := []struct {
		name string
		enc  func() ([]byte, error)
		want string
	}{
		{"json value", func() ([]byte, error) { return json.Marshal(set) }, `"[redacted]"`},
		{"json empty", func() ([]byte, error) { return json.Marshal(Value("")) }, `""`},
		{"json struct", func() ([]byte, error) {
			return json.Marshal(holder{Secret: set})
		}, `{"secret":"[redacted]","empty":""}`},
		{"json map value", func() ([]byte, error) { return json.Marshal(map[string]Value{"k": set}) }, `{"k":"[redacted]"}`},
		{"text", func() ([]byte, error) { return set.MarshalText() }, "[redacted]"},
		{"text empty", func() ([]byte, error) { return Value("").MarshalText() }, ""},
		{"xml struct", func() ([]byte, error) { return xml.Marshal(holder{Secret: set}) }, "<holder><secret>[redacted]</secret><empty></empty></holder>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.enc()
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestValueSlog(t *testing.T) {
	t.Parallel()
	set := Value(testSecret)
	tests := []struct {
		name string
		json bool
		args []any
		want string
	}{
		{"json attr", true, []any{"secret", set}, `{"msg":"m","secret":"[redacted]"}`},
		{"json empty", true, []any{"secret", Value("")}, `{"msg":"m","secret":""}`},
		{"json any struct", true, []any{slog.Any("h", struct{ S Value }{set})}, `{"msg":"m","h":{"S":"[redacted]"}}`},
		{"text attr", false, []any{"secret", set}, `msg=m secret=[redacted]`},
		{"text empty", false, []any{"secret", Value("")}, `msg=m secret=""`},
		{"text any struct", false, []any{slog.Any("h", struct{ S Value }{set})}, `msg=m h={S:[redacted]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := testlog.Line(tt.json, tt.args...)
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if strings.Contains(got, testSecret) {
				t.Errorf("log output contains the secret: %s", got)
			}
		})
	}
}

// TestValueNeverLeaks sweeps fmt verbs over values holding a secret. %p is
// tried only with pointers: with a non-pointer, fmt's bad-verb path prints
// the raw value without consulting any method (go vet reports that misuse).
func TestValueNeverLeaks(t *testing.T) {
	t.Parallel()
	type holder struct {
		Name  string
		Token Value
	}
	h := holder{Name: "n", Token: Value(testSecret)}
	secrettest.NoLeakThroughFmt(t, testSecret,
		[]any{h, &h, h.Token, &h.Token, []holder{h}, map[string]holder{"k": h}, []Value{h.Token}, errors.New("x")},
		[]any{&h, &h.Token})
	noVerb := strings.Repeat("x", 1) // not a constant, so vet lets the extra argument through
	if got, want := fmt.Sprintf(noVerb, h.Token), "x%!(EXTRA secret.Value=[redacted])"; got != want {
		t.Errorf("extra argument: got %q, want %q", got, want)
	}
}
