package settings

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const testSecret = "S3cr3tV4lu3S3cr3tV4lu3S3cr3tV4lu3S3cr3tX"

func TestSecretFormats(t *testing.T) {
	t.Parallel()
	set := Secret(testSecret)
	var empty Secret
	tests := []struct {
		name string
		got  func() string
		want string
	}{
		{"String", func() string { return set.String() }, "[redacted]"},
		{"String empty", func() string { return empty.String() }, ""},
		{"GoString", func() string { return set.GoString() }, `settings.Secret("[redacted]")`},
		{"GoString empty", func() string { return empty.GoString() }, `settings.Secret("")`},
		{"%v", func() string { return fmt.Sprintf("%v", set) }, "[redacted]"},
		{"%+v", func() string { return fmt.Sprintf("%+v", set) }, "[redacted]"},
		{"%#v", func() string { return fmt.Sprintf("%#v", set) }, `settings.Secret("[redacted]")`},
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
		{"%T", func() string { return fmt.Sprintf("%T", set) }, "settings.Secret"},
		{"Sprint", func() string { return fmt.Sprint(set) }, "[redacted]"},
		{"Sprintln", func() string { return fmt.Sprintln(set) }, "[redacted]\n"},
		{"pointer %v", func() string { return fmt.Sprintf("%v", &set) }, "[redacted]"},
		{"slice %v", func() string { return fmt.Sprintf("%v", []Secret{set, empty}) }, "[[redacted] ]"},
		{"map %v", func() string { return fmt.Sprintf("%v", map[string]Secret{"k": set}) }, "map[k:[redacted]]"},
		{"errorf %v", func() string { return fmt.Errorf("sign: %v", set).Error() }, "sign: [redacted]"},
		{"struct %v", func() string { return fmt.Sprintf("%v", struct{ S Secret }{set}) }, "{[redacted]}"},
		{"struct %+v", func() string { return fmt.Sprintf("%+v", struct{ S Secret }{set}) }, "{S:[redacted]}"},
		{"struct %#v", func() string { return fmt.Sprintf("%#v", struct{ S Secret }{set}) }, `struct { S settings.Secret }{S:settings.Secret("[redacted]")}`},
		{"Duo %+v", func() string {
			return fmt.Sprintf("%+v", Duo{ClientID: "DIABCDEFGHIJ01234567", ClientSecret: set, APIHostname: "api-x.duosecurity.com"})
		}, "{ClientID:DIABCDEFGHIJ01234567 ClientSecret:[redacted] APIHostname:api-x.duosecurity.com FailMode: UsernameFormat: LoginTimeout:0s CAFile:}"},
		{"Duo pointer %+v", func() string { return fmt.Sprintf("%+v", &Duo{ClientSecret: set}) }, "&{ClientID: ClientSecret:[redacted] APIHostname: FailMode: UsernameFormat: LoginTimeout:0s CAFile:}"},
		{"Duo %#v", func() string { return fmt.Sprintf("%#v", Duo{ClientSecret: set}) }, `settings.Duo{ClientID:"", ClientSecret:settings.Secret("[redacted]"), APIHostname:"", FailMode:"", UsernameFormat:"", LoginTimeout:0, CAFile:""}`},
		{"Reveal", func() string { return set.Reveal() }, testSecret},
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

func TestSecretEncodings(t *testing.T) {
	t.Parallel()
	set := Secret(testSecret)
	type holder struct {
		Secret Secret `json:"secret" xml:"secret"`
		Empty  Secret `json:"empty" xml:"empty"`
	}
	tests := []struct {
		name string
		enc  func() ([]byte, error)
		want string
	}{
		{"json value", func() ([]byte, error) { return json.Marshal(set) }, `"[redacted]"`},
		{"json empty", func() ([]byte, error) { return json.Marshal(Secret("")) }, `""`},
		{"json struct", func() ([]byte, error) {
			return json.Marshal(holder{Secret: set})
		}, `{"secret":"[redacted]","empty":""}`},
		{"json Duo", func() ([]byte, error) { return json.Marshal(Duo{ClientSecret: set}) },
			`{"ClientID":"","ClientSecret":"[redacted]","APIHostname":"","FailMode":"","UsernameFormat":"","LoginTimeout":0,"CAFile":""}`},
		{"text", func() ([]byte, error) { return set.MarshalText() }, "[redacted]"},
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

func TestSecretSlog(t *testing.T) {
	t.Parallel()
	set := Secret(testSecret)
	d := Duo{ClientID: "DIABCDEFGHIJ01234567", ClientSecret: set, APIHostname: "api-x.duosecurity.com", FailMode: FailClosed, UsernameFormat: FormatEmail, LoginTimeout: 300 * time.Second}
	tests := []struct {
		name string
		json bool
		args []any
		want string
	}{
		{"json attr", true, []any{"secret", set}, `{"msg":"m","secret":"[redacted]"}`},
		{"json empty", true, []any{"secret", Secret("")}, `{"msg":"m","secret":""}`},
		{"json any struct", true, []any{slog.Any("h", struct{ S Secret }{set})}, `{"msg":"m","h":{"S":"[redacted]"}}`},
		{"json Duo", true, []any{"duo", d}, `{"msg":"m","duo":{"client_id":"DIABCDEFGHIJ01234567","client_secret_set":true,"api_hostname":"api-x.duosecurity.com","fail_mode":"closed","username_format":"email","login_timeout":300000000000,"ca_file":""}}`},
		{"text attr", false, []any{"secret", set}, `msg=m secret=[redacted]`},
		{"text any struct", false, []any{slog.Any("h", struct{ S Secret }{set})}, `msg=m h={S:[redacted]}`},
		{"text Duo", false, []any{"duo", d}, `msg=m duo.client_id=DIABCDEFGHIJ01234567 duo.client_secret_set=true duo.api_hostname=api-x.duosecurity.com duo.fail_mode=closed duo.username_format=email duo.login_timeout=5m0s duo.ca_file=""`},
	}
	dropTimeLevel := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
			return slog.Attr{}
		}
		return a
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			opts := &slog.HandlerOptions{ReplaceAttr: dropTimeLevel}
			var h slog.Handler = slog.NewTextHandler(&buf, opts)
			if tt.json {
				h = slog.NewJSONHandler(&buf, opts)
			}
			slog.New(h).Info("m", tt.args...)
			got := strings.TrimSuffix(buf.String(), "\n")
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if strings.Contains(got, testSecret) {
				t.Errorf("log output contains the secret: %s", got)
			}
		})
	}
}

// TestSecretNeverLeaks sweeps fmt verbs over values holding a secret. %p is
// tried only with pointers: with a non-pointer, fmt's bad-verb path prints
// the raw value without consulting any method (go vet reports that misuse).
func TestSecretNeverLeaks(t *testing.T) {
	t.Parallel()
	d := Duo{ClientSecret: Secret(testSecret)}
	hexed := fmt.Sprintf("%x", testSecret)
	check := func(verb string, args ...any) {
		t.Helper()
		got := fmt.Sprintf(verb, args...)
		if strings.Contains(got, testSecret) || strings.Contains(strings.ToLower(got), hexed) {
			t.Errorf("Sprintf(%q, %T) leaks the secret: %s", verb, args[0], got)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.4v", "%#x", "% x", "%!", "%[2]v", "no verb"} {
		for _, arg := range []any{d, &d, d.ClientSecret, &d.ClientSecret, []Duo{d}, map[string]Duo{"k": d}, errors.New("x")} {
			check(verb, arg)
		}
	}
	check("%p", &d)
	check("%p", &d.ClientSecret)
	noVerb := strings.Repeat("x", 1) // not a constant, so vet lets the extra argument through
	if got, want := fmt.Sprintf(noVerb, d.ClientSecret), "x%!(EXTRA settings.Secret=[redacted])"; got != want {
		t.Errorf("extra argument: got %q, want %q", got, want)
	}
}
