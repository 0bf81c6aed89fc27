package duosim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

func encodeStd(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestCAFileLifecycle(t *testing.T) {
	t.Parallel()
	named := filepath.Join(t.TempDir(), "ca.pem")
	tests := []struct {
		name         string
		caFile       string
		wantAfterEnd bool
	}{
		{name: "temporary file removed on Close", caFile: "", wantAfterEnd: false},
		{name: "named file kept on Close", caFile: named, wantAfterEnd: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, err := duosim.Start(startCtx(t), duosim.Config{CAFile: tc.caFile})
			if err != nil {
				t.Fatal(err)
			}
			path := sim.CAFile()
			if tc.caFile != "" && path != tc.caFile {
				t.Errorf("CAFile() = %q, want %q", path, tc.caFile)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, sim.CACertPEM()) || !bytes.HasPrefix(got, []byte("-----BEGIN CERTIFICATE-----\n")) {
				t.Errorf("CA file differs from CACertPEM")
			}
			if err := sim.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = os.Stat(path)
			if exists := err == nil; exists != tc.wantAfterEnd {
				t.Errorf("CA file exists after Close = %v, want %v", exists, tc.wantAfterEnd)
			}
			if err := sim.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestCertificate(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	_, port, _ := net.SplitHostPort(f.sim.APIHost())
	if !strings.HasPrefix(f.sim.APIHost(), "127.0.0.1:") {
		t.Errorf("APIHost = %q, want 127.0.0.1:PORT", f.sim.APIHost())
	}
	tests := []struct {
		name, dial, serverName string
	}{
		{"IPv4 loopback", "127.0.0.1", "127.0.0.1"},
		{"localhost name", "127.0.0.1", "localhost"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
				Config: &tls.Config{RootCAs: f.sim.CertPool(), ServerName: tc.serverName, MinVersion: tls.VersionTLS12}}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(tc.dial, port))
			if err != nil {
				t.Fatalf("TLS dial: %v", err)
			}
			defer conn.Close()
			leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
			sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
			if got := base64.StdEncoding.EncodeToString(sum[:]); got != f.sim.SPKIHash() {
				t.Errorf("SPKIHash() = %q, leaf has %q", f.sim.SPKIHash(), got)
			}
			if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
				t.Errorf("leaf IPs = %v, want 127.0.0.1 and ::1", leaf.IPAddresses)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     duosim.Config
		wantErr []string // substrings; all must appear
	}{
		{name: "short id and secret", cfg: duosim.Config{Apps: []duosim.App{{ClientID: "DI123", ClientSecret: "abc"}}},
			wantErr: []string{"Apps[0].ClientID: must be 20 ASCII letters or digits", "Apps[0].ClientSecret: must be 40 ASCII letters or digits"}},
		{name: "duplicate client", cfg: duosim.Config{Apps: []duosim.App{
			{ClientID: "DIAAAAAAAAAAAAAAAAAA", ClientSecret: secret.Value(strings.Repeat("a", 40))},
			{ClientID: "DIAAAAAAAAAAAAAAAAAA", ClientSecret: secret.Value(strings.Repeat("b", 40))}}},
			wantErr: []string{`Apps[1].ClientID: duplicate client id "DIAAAAAAAAAAAAAAAAAA"`}},
		{name: "negative durations and bad outcome", cfg: duosim.Config{CodeTTL: -1, SlowDelay: -1, Outcomes: map[string]duosim.Outcome{"x": "maybe"}},
			wantErr: []string{"CodeTTL: must not be negative", "SlowDelay: must not be negative", `Outcomes["x"]: unknown outcome "maybe"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, err := duosim.Start(startCtx(t), tc.cfg)
			if err == nil {
				sim.Close()
				t.Fatal("Start succeeded, want an error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestGeneratedApp(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	apps := f.sim.Apps()
	if len(apps) != 1 {
		t.Fatalf("Apps() = %d apps, want 1", len(apps))
	}
	if !regexp.MustCompile(`^DI[A-Z0-9]{18}$`).MatchString(apps[0].ClientID) ||
		!regexp.MustCompile(`^[A-Za-z0-9]{40}$`).MatchString(apps[0].ClientSecret.Reveal()) {
		t.Errorf("generated app has id %q and a %d-character secret", apps[0].ClientID, len(apps[0].ClientSecret))
	}
	apps[0].ClientID = "changed"
	if f.sim.Apps()[0].ClientID == "changed" {
		t.Error("Apps() shares its slice with the server")
	}
}

func TestAppRedactsSecret(t *testing.T) {
	t.Parallel()
	app := mustApp(t)
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("app", "app", app)
	js, _ := json.Marshal(app)
	tests := map[string]string{
		"%v": fmt.Sprintf("%v", app), "%+v": fmt.Sprintf("%+v", app), "%#v": fmt.Sprintf("%#v", app),
		"%s": fmt.Sprintf("%s", app), "slog": logBuf.String(), "JSON": string(js),
		"pointer %v": fmt.Sprintf("%v", &app),
	}
	for name, out := range tests {
		if strings.Contains(out, app.ClientSecret.Reveal()) || !strings.Contains(out, app.ClientID) || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s form = %q, want the id and a redacted secret", name, out)
		}
	}
}

func TestParseOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    duosim.Outcome
		wantErr bool
	}{
		{"allow", duosim.OutcomeAllow, false},
		{"locked_out", duosim.OutcomeLockedOut, false},
		{"enroll_required", duosim.OutcomeEnrollRequired, false},
		{"interactive", duosim.OutcomeInteractive, false},
		{"Allow", "", true},
		{"", "", true},
	}
	for _, tc := range tests {
		got, err := duosim.ParseOutcome(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseOutcome(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestSetOutcomePanicsOnUnknown(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	defer func() {
		if recover() == nil {
			t.Error("SetOutcome with an unknown outcome did not panic")
		}
	}()
	f.sim.SetOutcome("x", duosim.Outcome("maybe"))
}

// TestCloseLeaksNoGoroutines is deliberately not parallel: top-level
// parallel tests are paused while it runs, so the goroutine count is
// stable.
func TestCloseLeaksNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	sim, err := duosim.Start(startCtx(t), duosim.Config{SlowDelay: time.Minute,
		Outcomes: map[string]duosim.Outcome{"slow": duosim.OutcomeSlow}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sim: sim, app: sim.Apps()[0], browser: browserClient(sim)}
	f.duo = newDuoClient(t, sim, f.app, redirectURI, 5*time.Second)
	for _, user := range []string{"olga", "pete"} {
		if _, err := f.duo.HealthCheck(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.duo.ExchangeAuthorizationCodeFor2faResult(f.mustLogin(t, user), user); err != nil {
			t.Fatal(err)
		}
	}
	slowCode := f.mustLogin(t, "slow")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = f.duo.ExchangeAuthorizationCodeFor2faResult(slowCode, "slow")
	}()
	for deadline := time.Now().Add(5 * time.Second); sim.Stats().TokenExchanges < 3 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	var after int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
	}
	buf := make([]byte, 1<<20)
	t.Errorf("goroutines: %d before, %d after Close\n%s", before, after, buf[:runtime.Stack(buf, true)])
}
