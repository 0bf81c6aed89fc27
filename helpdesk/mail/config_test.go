package mail_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		env      map[string]string
		want     mail.Config
		problems []string
	}{
		{name: "nothing set: not configured", env: nil, want: mail.Config{}},
		{name: "blank counts as unset", env: map[string]string{mail.EnvAddr: "  ", mail.EnvStartTLS: " "}, want: mail.Config{}},
		{
			name: "relay without credentials",
			env:  map[string]string{mail.EnvAddr: "smtp.example.com:25", mail.EnvFrom: "helpdesk@example.com"},
			want: mail.Config{Addr: "smtp.example.com:25", From: "helpdesk@example.com", StartTLS: mail.StartTLSRequired},
		},
		{
			name: "submission with credentials, values trimmed, mode in any case",
			env: map[string]string{
				mail.EnvAddr: " smtp.example.com:587 ", mail.EnvFrom: " Helpdesk <helpdesk@example.com> ",
				mail.EnvUsername: " mailer ", mail.EnvPassword: " pass word ", mail.EnvStartTLS: " Required ",
			},
			want: mail.Config{
				Addr: "smtp.example.com:587", From: "Helpdesk <helpdesk@example.com>",
				Username: "mailer", Password: " pass word ", StartTLS: mail.StartTLSRequired,
			},
		},
		{
			name: "IPv6 literal",
			env:  map[string]string{mail.EnvAddr: "[2001:db8::25]:587", mail.EnvFrom: "helpdesk@example.com"},
			want: mail.Config{Addr: "[2001:db8::25]:587", From: "helpdesk@example.com", StartTLS: mail.StartTLSRequired},
		},
		{
			name: "no STARTTLS without credentials",
			env:  map[string]string{mail.EnvAddr: "relay.internal:25", mail.EnvFrom: "helpdesk@example.com", mail.EnvStartTLS: "NONE"},
			want: mail.Config{Addr: "relay.internal:25", From: "helpdesk@example.com", StartTLS: mail.StartTLSNone},
		},
		{
			name: "no STARTTLS with credentials",
			env: map[string]string{
				mail.EnvAddr: "smtp.example.com:587", mail.EnvFrom: "helpdesk@example.com",
				mail.EnvUsername: "mailer", mail.EnvPassword: "pw", mail.EnvStartTLS: "none",
			},
			problems: []string{"HELPDESK_SMTP_STARTTLS: none would send the password in clear; use required"},
		},
		{
			name: "no STARTTLS with credentials, even on loopback",
			env: map[string]string{
				mail.EnvAddr: "127.0.0.1:25", mail.EnvFrom: "helpdesk@example.com",
				mail.EnvUsername: "mailer", mail.EnvPassword: "pw", mail.EnvStartTLS: "none",
			},
			problems: []string{"HELPDESK_SMTP_STARTTLS: none would send the password in clear; use required"},
		},
		{
			name: "every problem at once",
			env: map[string]string{
				mail.EnvAddr: "smtp.example.com", mail.EnvFrom: "not an address",
				mail.EnvUsername: "mailer", mail.EnvStartTLS: "maybe",
			},
			problems: []string{
				"HELPDESK_SMTP_ADDR: want host:port, such as smtp.example.com:587",
				"HELPDESK_SMTP_FROM: not one e-mail address",
				"HELPDESK_SMTP_PASSWORD: required with HELPDESK_SMTP_USERNAME",
				`HELPDESK_SMTP_STARTTLS: want required or none, not "maybe"`,
			},
		},
		{
			name: "only a password",
			env:  map[string]string{mail.EnvPassword: "pw"},
			problems: []string{
				"HELPDESK_SMTP_ADDR: required (host:port of the SMTP server)",
				"HELPDESK_SMTP_FROM: required (the sender's address)",
				"HELPDESK_SMTP_USERNAME: required with HELPDESK_SMTP_PASSWORD",
			},
		},
		{
			name:     "port out of range",
			env:      map[string]string{mail.EnvAddr: "smtp.example.com:70000", mail.EnvFrom: "helpdesk@example.com"},
			problems: []string{"HELPDESK_SMTP_ADDR: want host:port with a port from 1 to 65535, such as smtp.example.com:587"},
		},
		{
			name:     "no host",
			env:      map[string]string{mail.EnvAddr: ":587", mail.EnvFrom: "helpdesk@example.com"},
			problems: []string{"HELPDESK_SMTP_ADDR: want host:port with a port from 1 to 65535, such as smtp.example.com:587"},
		},
		{
			name:     "port by name",
			env:      map[string]string{mail.EnvAddr: "smtp.example.com:submission", mail.EnvFrom: "helpdesk@example.com"},
			problems: []string{"HELPDESK_SMTP_ADDR: want host:port with a port from 1 to 65535, such as smtp.example.com:587"},
		},
		{
			name: "injection in From and Username, NUL in the password",
			env: map[string]string{
				mail.EnvAddr: "smtp.example.com:587", mail.EnvFrom: "helpdesk@example.com\r\nBcc: eve@example.com",
				mail.EnvUsername: "mailer\x00admin", mail.EnvPassword: "p\x00w",
			},
			problems: []string{
				"HELPDESK_SMTP_FROM: contains a line break or another control character",
				"HELPDESK_SMTP_USERNAME: contains a control character",
				"HELPDESK_SMTP_PASSWORD: contains a NUL character, which AUTH PLAIN cannot carry",
			},
		},
		{
			name:     "non-ASCII From",
			env:      map[string]string{mail.EnvAddr: "smtp.example.com:587", mail.EnvFrom: "zoë@example.com"},
			problems: []string{"HELPDESK_SMTP_FROM: the address must be ASCII (internationalised addresses are not supported)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := mail.ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.problems != nil {
				var ce *mail.ConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("ConfigFromEnv = %+v, %v; want a *ConfigError", got, err)
				}
				if !reflect.DeepEqual(ce.Problems, tc.problems) {
					t.Errorf("problems:\n%s\nwant\n%s", strings.Join(ce.Problems, "\n"), strings.Join(tc.problems, "\n"))
				}
				if want := "invalid mail configuration: " + strings.Join(tc.problems, "; "); err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
				if got != (mail.Config{}) {
					t.Errorf("config with an error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("config %+v, want %+v", got, tc.want)
			}
			if got.Configured() != (tc.want.Addr != "") {
				t.Errorf("Configured() = %t", got.Configured())
			}
			if got.Configured() {
				if _, err := mail.NewSMTP(got); err != nil {
					t.Errorf("NewSMTP refuses what ConfigFromEnv accepted: %v", err)
				}
			}
		})
	}
}

// Config.Validate, for configurations built in code, names the fields; the
// loopback allowance holds only for a loopback address.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	base := mail.Config{Addr: "127.0.0.1:2525", From: "helpdesk@example.com", Username: "u", Password: "p", StartTLS: mail.StartTLSNone}
	with := func(f func(*mail.Config)) mail.Config { c := base; f(&c); return c }
	for _, tc := range []struct {
		name     string
		c        mail.Config
		problems []string
	}{
		{"credentials in clear refused", base, []string{"StartTLS: none would send the password in clear; use required"}},
		{"allowed on 127.0.0.1", with(func(c *mail.Config) { c.AllowLoopbackPlainAuth = true }), nil},
		{"allowed on localhost", with(func(c *mail.Config) { c.AllowLoopbackPlainAuth = true; c.Addr = "localhost:2525" }), nil},
		{"allowed on ::1", with(func(c *mail.Config) { c.AllowLoopbackPlainAuth = true; c.Addr = "[::1]:2525" }), nil},
		{"not on another host", with(func(c *mail.Config) { c.AllowLoopbackPlainAuth = true; c.Addr = "smtp.example.com:25" }),
			[]string{"StartTLS: none would send the password in clear; use required"}},
		{"zero value", mail.Config{}, []string{"Addr: required (host:port of the SMTP server)", "From: required (the sender's address)"}},
		{"field names, not variables", mail.Config{Addr: "x:1", From: "a@example.com", Password: "p", StartTLS: "tls"},
			[]string{"Username: required with Password", `StartTLS: want required or none, not "tls"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.c.Validate()
			if tc.problems == nil {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var ce *mail.ConfigError
			if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Problems, tc.problems) {
				t.Fatalf("Validate = %v, want %q", err, tc.problems)
			}
			if _, err := mail.NewSMTP(tc.c); !errors.As(err, &ce) {
				t.Errorf("NewSMTP = %v, want the same *ConfigError", err)
			}
		})
	}
}
