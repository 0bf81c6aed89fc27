package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
)

var (
	urlLine      = regexp.MustCompile(`Open (http://\S+) and sign in`)
	startingLine = regexp.MustCompile(`Starting the reference helpdesk at (http://\S+) `)
	csrfHidden   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

// TestDemo runs the README's main command end to end, with -preconfigure,
// and signs in as the seeded admin. While the plugin builds, the port
// answers with a "starting" page instead of hanging.
func TestDemo(t *testing.T) {
	if _, err := pluginbuild.RepoRoot(); err != nil {
		t.Skip("not inside the repository")
	}
	dataDir := filepath.Join(t.TempDir(), ".data")
	out := &testlog.Buffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	building, release := make(chan struct{}), make(chan struct{})
	build := func(ctx context.Context, root, dir string) (string, error) {
		close(building)
		<-release
		return pluginbuild.Bundle(ctx, root, dir)
	}
	metricsAddr := freeAddr(t)
	go func() {
		done <- Run(ctx, Config{
			Addr: "127.0.0.1:0", DuoAddr: "127.0.0.1:0", DataDir: dataDir, Preconfigure: true, MetricsAddr: metricsAddr,
			Out: out, BcryptCost: bcrypt.MinCost, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Build: build,
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

	select {
	case <-building:
	case err := <-done:
		t.Fatalf("demo stopped before building: %v\n%s", err, out.String())
	}
	m := startingLine.FindStringSubmatch(out.String())
	if m == nil {
		close(release)
		t.Fatalf("the URL was not printed before the build:\n%s", out.String())
	}
	resp, err := http.Get(m[1] + "/login")
	if err != nil {
		close(release)
		t.Fatalf("the port does not answer while the plugin builds: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "Starting: building the Duo Security plugin") {
		close(release)
		t.Fatalf("while building: %d %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	close(release)

	// No deadline of its own: the build takes what it takes on a cold
	// machine, and go test's -timeout bounds the whole run.
	var base string
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
	}
	banner := out.String()
	for _, want := range []string{"admin-demo-pass", "alice", "bob", "carol", "Client ID", "Client secret", "API hostname", "self-signed", "settings are saved (-preconfigure)"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	// The simulator's secret is printed in full, on purpose: the admin
	// pastes it into Settings.
	var saved struct {
		ClientSecret string `json:"client_secret"`
	}
	if raw, err := os.ReadFile(filepath.Join(dataDir, "duo-simulator-app.json")); err != nil || json.Unmarshal(raw, &saved) != nil || saved.ClientSecret == "" {
		t.Fatalf("simulator app file: %v", err)
	}
	if !strings.Contains(banner, saved.ClientSecret) {
		t.Errorf("banner lacks the simulator's client secret:\n%s", banner)
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
	m = csrfHidden.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login form:\n%s", page)
	}
	resp, err = hc.PostForm(base+"/login", url.Values{"csrf_token": {m[1]}, "username": {"admin"}, "password": {"admin-demo-pass"}})
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
	// -metrics-addr: the plugin's metrics, through the SDK, apart from the site.
	resp, err = hc.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("-metrics-addr %s: %v", metricsAddr, err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "duo_plugin_up 1") {
		t.Fatalf("/metrics on %s lacks duo_plugin_up 1:\n%.2000s", metricsAddr, metrics)
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
