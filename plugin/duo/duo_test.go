package duo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// TestPinnedRootsMatchLibrary: duo_roots.pem must be the bundle the Duo
// library pins, so replacing its HTTP client keeps the same trust.
func TestPinnedRootsMatchLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/duosecurity/duo_universal_golang").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "duouniversal", "client.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)const duoPinnedCert string = `\n(.*?)`").FindSubmatch(src)
	if m == nil {
		t.Fatal("duoPinnedCert not found in the library")
	}
	if !bytes.Equal(bytes.TrimSpace(m[1]), bytes.TrimSpace(duoRootsPEM)) {
		t.Fatal("duo_roots.pem differs from the library's pinned bundle; copy it again")
	}
}

func simSettings(sim *duosim.Server) settings.Duo {
	app := sim.Apps()[0]
	d := settings.Defaults()
	d.ClientID, d.ClientSecret, d.APIHostname, d.CAFile = app.ClientID, settings.Secret(app.ClientSecret), sim.APIHost(), sim.CAFile()
	return d
}

func TestTrust(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	testRT := settings.Runtime{AllowTestDuoHost: true, DuoTimeout: 2 * time.Second}
	prodRT := settings.Runtime{DuoTimeout: 2 * time.Second}

	if err := NewFactory(testRT).Check(ctx, simSettings(sim)); err != nil {
		t.Fatalf("test mode with the simulator's CA: %v", err)
	}
	// Production trust: the pinned Duo roots do not vouch for the simulator.
	d := simSettings(sim)
	d.CAFile = ""
	if err := NewFactory(prodRT).Check(ctx, d); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("pinned roots accepted the simulator: %v", err)
	}
	// A CA file outside test mode is refused outright.
	if err := NewFactory(prodRT).Check(ctx, simSettings(sim)); err == nil || !strings.Contains(err.Error(), "test mode") {
		t.Fatalf("CA file outside test mode: %v", err)
	}
}

func TestPlainHTTPRefused(t *testing.T) {
	t.Parallel()
	hc, err := NewHTTPClient(settings.Runtime{}, settings.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	_, err = hc.Get("http://127.0.0.1:1/")
	if !errors.Is(err, ErrPlainHTTP) {
		t.Fatalf("plain HTTP: %v", err)
	}
}

func TestResultAllowed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		r    *Result
		want bool
	}{
		{nil, false},
		{&Result{Result: "allow"}, true},
		{&Result{Result: "deny"}, false},
		{&Result{Result: "fraud"}, false},
		{&Result{Result: "Allow"}, false},
		{&Result{}, false},
	}
	for _, tc := range cases {
		if got := tc.r.Allowed(); got != tc.want {
			t.Errorf("%+v.Allowed() = %v", tc.r, got)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	rt := settings.Runtime{AllowTestDuoHost: true, DuoTimeout: 2 * time.Second}
	wrong := simSettings(sim)
	wrong.ClientSecret = settings.Secret(strings.Repeat("x", 40))
	pinned := simSettings(sim)
	pinned.CAFile = ""
	closed := simSettings(sim)
	closed.APIHostname = "127.0.0.1:1"
	cases := []struct {
		name string
		rt   settings.Runtime
		d    settings.Duo
		want string
	}{
		{"wrong secret", rt, wrong, "Duo rejected the Client ID or Client secret (invalid_client)"},
		{"untrusted certificate", settings.Runtime{DuoTimeout: 2 * time.Second}, pinned, "Duo's TLS certificate could not be verified for this API hostname"},
		{"nothing listening", rt, closed, "nothing answers at the API hostname"},
	}
	for _, tc := range cases {
		err := NewFactory(tc.rt).Check(ctx, tc.d)
		if got := Explain(err); got != tc.want {
			t.Errorf("%s: Explain(%v) = %q, want %q", tc.name, err, got, tc.want)
		}
	}
	sim.SetHealthy(false)
	if got := Explain(NewFactory(rt).Check(ctx, simSettings(sim))); got != "Duo reported a server error" {
		t.Errorf("unhealthy: %q", got)
	}
}
