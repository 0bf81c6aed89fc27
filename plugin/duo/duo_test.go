package duo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
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
	d.ClientID, d.ClientSecret, d.APIHostname, d.CAFile = app.ClientID, secret.Value(app.ClientSecret), sim.APIHost(), sim.CAFile()
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

func TestDiagnose(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	rt := settings.Runtime{AllowTestDuoHost: true, DuoTimeout: 2 * time.Second}
	wrong := simSettings(sim)
	wrong.ClientSecret = secret.Value(strings.Repeat("x", 40))
	pinned := simSettings(sim)
	pinned.CAFile = ""
	closed := simSettings(sim)
	closed.APIHostname = "127.0.0.1:1"
	untrusted := "Duo's TLS certificate could not be verified for this API hostname"
	cases := []struct {
		name     string
		rt       settings.Runtime
		d        settings.Duo
		testMode bool
		failure  contract.DuoFailure
		detail   string
	}{
		{"ok", rt, simSettings(sim), true, "", ""},
		{"wrong secret", rt, wrong, true, contract.DuoCredentialsRejected, "Duo rejected the Client ID or Client secret (invalid_client)"},
		{"untrusted certificate", settings.Runtime{DuoTimeout: 2 * time.Second}, pinned, false, contract.DuoCertificateUntrusted, untrusted},
		{"untrusted certificate in test mode names the CA setting", settings.Runtime{DuoTimeout: 2 * time.Second}, pinned, true, contract.DuoCertificateUntrusted,
			untrusted + `; against a Duo simulator, set "Trusted CA file (testing only)" to the simulator's CA file`},
		{"nothing listening", rt, closed, true, contract.DuoUnreachable, "nothing answers at the API hostname"},
		{"incomplete", rt, settings.Defaults(), true, contract.DuoNotConfigured, "the Duo settings are incomplete"},
	}
	for _, tc := range cases {
		err := NewFactory(tc.rt).Check(ctx, tc.d)
		if f, d := Diagnose(err, tc.testMode); f != tc.failure || d != tc.detail {
			t.Errorf("%s: Diagnose(%v) = %q, %q; want %q, %q", tc.name, err, f, d, tc.failure, tc.detail)
		}
	}

	sim.SetHealthy(false)
	if f, d := Diagnose(NewFactory(rt).Check(ctx, simSettings(sim)), true); f != contract.DuoUnreachable || d != "Duo reported a server error (HTTP 503)" {
		t.Errorf("unhealthy: %q, %q", f, d)
	}
	sim.SetHealthy(true)

	// A Duo that accepts the connection and never answers: a timeout.
	sim.SetUnresponsive(true)
	defer sim.SetUnresponsive(false)
	short := settings.Runtime{AllowTestDuoHost: true, DuoTimeout: 300 * time.Millisecond}
	if f, d := Diagnose(NewFactory(short).Check(ctx, simSettings(sim)), true); f != contract.DuoUnreachable || d != "Duo did not answer in time" {
		t.Errorf("unresponsive: %q, %q", f, d)
	}
}

func TestDiagnoseErrorShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		err     error
		failure contract.DuoFailure
	}{
		{"502", fmt.Errorf("duo health check: %w", &statusError{502, "502 Bad Gateway"}), contract.DuoUnreachable},
		{"401", fmt.Errorf("duo token exchange: %w", &statusError{401, "401 Unauthorized"}), contract.DuoCredentialsRejected},
		{"404", &statusError{404, "404 Not Found"}, contract.DuoUnexpected},
		{"a status line in an error's text is no answer from Duo", errors.New("503 Service Unavailable"), contract.DuoUnexpected},
		{"connection reset", fmt.Errorf("post: %w", syscall.ECONNRESET), contract.DuoUnreachable},
		{"eof", fmt.Errorf("post: %w", io.EOF), contract.DuoUnreachable},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), contract.DuoUnreachable},
		{"plain http", ErrPlainHTTP, contract.DuoCertificateUntrusted},
		{"garbage", errors.New("Error unmarshaling value"), contract.DuoUnexpected},
		{"a number that is not a status", errors.New("1234 things"), contract.DuoUnexpected},
	}
	for _, tc := range cases {
		if f, _ := Diagnose(tc.err, false); f != tc.failure {
			t.Errorf("%s: %q, want %q", tc.name, f, tc.failure)
		}
	}
}
