package demo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	urlLine    = regexp.MustCompile(`Open (http://\S+) and sign in`)
	csrfHidden = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

// TestDemo runs the README's main command end to end, with -preconfigure,
// and signs in as the seeded admin.
func TestDemo(t *testing.T) {
	if _, err := pluginbuild.RepoRoot(); err != nil {
		t.Skip("not inside the repository")
	}
	dataDir := filepath.Join(t.TempDir(), ".data")
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Addr: "127.0.0.1:0", DuoAddr: "127.0.0.1:0", DataDir: dataDir, Preconfigure: true,
			Out: out, BcryptCost: bcrypt.MinCost, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop")
		}
	})

	var base string
	deadline := time.Now().Add(4 * time.Minute)
	for base == "" {
		if m := urlLine.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("demo stopped: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner:\n%s", out.String())
		}
	}
	banner := out.String()
	for _, want := range []string{"admin-demo-pass", "alice", "bob", "carol", "Client ID", "Client secret", "API hostname", "self-signed", "settings are saved (-preconfigure)"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	for _, f := range []string{"helpdesk.db", "duo-simulator-ca.pem", "plugins/duo-security/plugin.json", "plugin-data/duo-security/duo.db"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path string) string {
		t.Helper()
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page := get("/login")
	m := csrfHidden.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login form:\n%s", page)
	}
	resp, err := hc.PostForm(base+"/login", url.Values{"csrf_token": {m[1]}, "username": {"admin"}, "password": {"admin-demo-pass"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	plugins := get("/admin/plugins")
	for _, want := range []string{`id="plugin-state">Active`, `b-on">configured</span>`, `id="settings"`} {
		if !strings.Contains(plugins, want) {
			t.Fatalf("Plugins page lacks %q:\n%s", want, plugins)
		}
	}
}
