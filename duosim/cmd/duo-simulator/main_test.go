package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"

	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
)

// startRun runs the command with args until the returned cancel, and
// returns the settings it printed and a channel that gets run's result.
func startRun(t *testing.T, args []string, stderr io.Writer) (got map[string]string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, stderr)
		pw.Close()
		errc <- err
	}()

	got = map[string]string{}
	var keys []string
	sc := bufio.NewScanner(pr)
	for len(keys) < 5 && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		keys = append(keys, k)
		got[k] = v
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // drain until run returns
	if want := "api_host ca_file client_id client_secret spki_sha256"; strings.Join(keys, " ") != want {
		t.Fatalf("printed keys %q, want %q", keys, want)
	}
	return got, cancel, errc
}

// duoClient is Duo's own client for the printed settings, trusting only
// the printed CA file.
func duoClient(t *testing.T, got map[string]string, timeout time.Duration) *duouniversal.Client {
	t.Helper()
	pem, err := os.ReadFile(got["ca_file"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(transport.CloseIdleConnections)
	client, err := duouniversal.NewClient(got["client_id"], got["client_secret"], got["api_host"], "https://app.example/cb",
		duouniversal.WithHTTPClient(&http.Client{Transport: transport, Timeout: timeout}))
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// waitRun waits up to limit for run to return after cancel.
func waitRun(t *testing.T, done <-chan error, limit time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(limit):
		t.Fatalf("run did not return within %v after cancel", limit)
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	got, cancel, done := startRun(t, []string{"-addr", "127.0.0.1:0", "-ca-file", caFile, "-scripted",
		"-client-id", "DIABCDEFGHIJKLMNOPQR", "-outcome", "bob=deny"}, io.Discard)
	if got["ca_file"] != caFile || got["client_id"] != "DIABCDEFGHIJKLMNOPQR" || len(got["client_secret"]) != 40 {
		t.Errorf("printed %v", got)
	}
	if _, err := duoClient(t, got, 5*time.Second).HealthCheck(); err != nil {
		t.Errorf("HealthCheck: %v", err)
	}
	cancel()
	waitRun(t, done, 10*time.Second)
}

func TestRunUnresponsive(t *testing.T) {
	t.Parallel()
	var logs testlog.Buffer
	got, cancel, done := startRun(t, []string{"-addr", "127.0.0.1:0", "-ca-file", filepath.Join(t.TempDir(), "ca.pem"),
		"-unresponsive", "-v"}, &logs)
	held := func() int { return strings.Count(logs.String(), `msg="request held unanswered"`) }

	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := duoClient(t, got, timeout).HealthCheck()
	if elapsed := time.Since(start); elapsed < timeout {
		t.Errorf("HealthCheck gave up after %v, want at least %v", elapsed, timeout)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("HealthCheck error = %v, want a net.Error with Timeout() true", err)
	}

	// A request still held when the simulator stops must not delay it.
	patientClient := duoClient(t, got, 30*time.Second)
	patient := make(chan error, 1)
	go func() { _, err := patientClient.HealthCheck(); patient <- err }()
	for deadline := time.Now().Add(5 * time.Second); held() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("held %d requests, want 2; logs:\n%s", held(), logs.String())
		}
	}
	cancel()
	waitRun(t, done, 2*time.Second)
	select {
	case err := <-patient:
		if err == nil {
			t.Error("held HealthCheck succeeded, want the dropped connection's error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held HealthCheck still blocked after the simulator stopped")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"bad outcome", []string{"-outcome", "bob=maybe"}, `invalid value "bob=maybe" for flag -outcome: unknown outcome "maybe"`},
		{"outcome without user", []string{"-outcome", "allow"}, `invalid value "allow" for flag -outcome: want user=outcome, got "allow"`},
		{"short client id", []string{"-addr", "127.0.0.1:0", "-client-id", "DI123", "-ca-file", filepath.Join(t.TempDir(), "ca.pem")},
			"Apps[0].ClientID: must be 20 ASCII letters or digits"},
		{"stray argument", []string{"extra"}, `unexpected arguments: ["extra"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("run error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	err := run(t.Context(), []string{"-h"}, io.Discard, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h error = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: duo-simulator", "-outcome", "wrong_user", "spki_sha256", "-unresponsive", "never answers"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
