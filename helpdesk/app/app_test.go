package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// idle is a plugin process that is never called.
type idle struct{ contract.Plugin }

func (idle) State() host.State { return host.State{Phase: host.PhaseRunning} }
func (idle) Close() error      { return nil }

// A typo in the mail configuration is reported before the helpdesk opens
// its database or starts the plugin process; without it, the same
// helpdesk starts the plugin.
func TestMailConfigurationIsCheckedBeforeThePluginStarts(t *testing.T) {
	t.Parallel()
	bundle := t.TempDir()
	manifest := `{"id":"duo-security","name":"Duo Security","version":"0.1.0","protocol_version":1,"executables":{"linux-amd64":{"path":"bin/duo-plugin"}}}`
	if err := os.WriteFile(filepath.Join(bundle, plugins.ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string // a variable the error names; "" for none
	}{
		{"a typo", map[string]string{mail.EnvAddr: "smtp.example.com:587", mail.EnvFrom: "helpdesk@example.com", mail.EnvStartTLS: "requried"}, mail.EnvStartTLS},
		{"half a login", map[string]string{mail.EnvAddr: "smtp.example.com:587", mail.EnvFrom: "helpdesk@example.com", mail.EnvUsername: "u"}, mail.EnvPassword},
		{"SMTP", map[string]string{mail.EnvAddr: "smtp.example.com:587", mail.EnvFrom: "helpdesk@example.com"}, ""},
		{"no SMTP: the outbox", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			started := 0
			a, err := app.New(t.Context(), app.Config{
				Addr: "127.0.0.1:0", DataDir: dataDir, PluginDir: bundle,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Getenv: func(k string) string { return tc.env[k] },
				Start: func(context.Context, string, plugins.Activation) (plugins.Plugin, error) {
					started++
					return idle{}, nil
				},
			})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				a.Close()
				if started != 1 {
					t.Fatalf("plugin started %d times, want 1", started)
				}
				return
			}
			var cerr *mail.ConfigError
			if !errors.As(err, &cerr) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New = %v; want a *mail.ConfigError naming %s", err, tc.wantErr)
			}
			if started != 0 {
				t.Fatalf("plugin started %d times despite the mail configuration error", started)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("data dir created despite the mail configuration error: %v", err)
			}
		})
	}
}

// MailFromEnv is SMTP when the environment names a server, else the outbox,
// which the Outbox page reads.
func TestMailFromEnv(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), app.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := app.MailFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if s, outbox := m.Sender(st); outbox != web.OutboxReader(st) {
		t.Fatalf("no SMTP: sender %T, outbox reader %v; want the store's", s, outbox)
	} else if _, ok := s.(*mail.Outbox); !ok {
		t.Fatalf("no SMTP: sender %T, want the outbox", s)
	}
	env := map[string]string{mail.EnvAddr: "smtp.example.com:587", mail.EnvFrom: "helpdesk@example.com"}
	if m, err = app.MailFromEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if s, outbox := m.Sender(st); outbox != nil {
		t.Fatalf("SMTP keeps no copy, yet an outbox reader %T", outbox)
	} else if _, ok := s.(*mail.SMTP); !ok {
		t.Fatalf("SMTP configured: sender %T", s)
	}
}
