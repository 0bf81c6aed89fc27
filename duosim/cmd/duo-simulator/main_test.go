package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"
)

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-ca-file", caFile, "-scripted",
			"-client-id", "DIABCDEFGHIJKLMNOPQR", "-outcome", "bob=deny"}, pw, io.Discard)
		pw.Close()
		done <- err
	}()

	got := map[string]string{}
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
	if got["ca_file"] != caFile || got["client_id"] != "DIABCDEFGHIJKLMNOPQR" || len(got["client_secret"]) != 40 {
		t.Errorf("printed %v", got)
	}

	pem, err := os.ReadFile(got["ca_file"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer transport.CloseIdleConnections()
	client, err := duouniversal.NewClient(got["client_id"], got["client_secret"], got["api_host"], "https://app.example/cb",
		duouniversal.WithHTTPClient(&http.Client{Transport: transport, Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.HealthCheck(); err != nil {
		t.Errorf("HealthCheck: %v", err)
	}
	transport.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
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
	for _, want := range []string{"Usage: duo-simulator", "-outcome", "wrong_user", "spki_sha256"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
