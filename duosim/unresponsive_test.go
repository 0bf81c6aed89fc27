package duosim_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
)

// patience bounds waiting for the simulator's side of an exchange; it
// never times one.
const patience = 5 * time.Second

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// apiCall is one of the endpoints SetUnresponsive holds, driven through
// Duo's Go client. prepare runs before the call, with the mode already on.
type apiCall struct {
	name    string
	prepare func(t *testing.T, f *fixture) (call func(*duouniversal.Client) error)
}

var unresponsiveCalls = []apiCall{
	{name: "health check", prepare: func(*testing.T, *fixture) func(*duouniversal.Client) error {
		return func(c *duouniversal.Client) error { _, err := c.HealthCheck(); return err }
	}},
	{name: "token exchange", prepare: func(t *testing.T, f *fixture) func(*duouniversal.Client) error {
		// Logging in while unresponsive shows the browser leg is spared.
		code := f.mustLogin(t, "ursula")
		return func(c *duouniversal.Client) error {
			_, err := c.ExchangeAuthorizationCodeFor2faResult(code, "ursula")
			return err
		}
	}},
}

func TestUnresponsiveTripsClientTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range unresponsiveCalls {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs testlog.Buffer
			f := startSim(t, duosim.Config{Scripted: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			f.sim.SetUnresponsive(true)
			call := tc.prepare(t, f)
			before := f.sim.Stats()

			const timeout = 300 * time.Millisecond
			start := time.Now()
			err := call(newDuoClient(t, f.sim, f.app, redirectURI, timeout))
			if elapsed := time.Since(start); elapsed < timeout {
				t.Errorf("call gave up after %v, want at least %v", elapsed, timeout)
			}
			if !isTimeout(err) {
				t.Fatalf("call error = %v, want a net.Error with Timeout() true", err)
			}
			waitfor.Until(t, patience, "the simulator notices the client left", func() bool {
				return strings.Contains(logs.String(), `msg="held request abandoned by client"`)
			})
			want := before
			want.Held++
			if tc.name == "health check" {
				want.HealthChecks++
			} else {
				want.TokenExchanges++
			}
			got := f.sim.Stats()
			// Whether the call opened a connection depends on the shared
			// transport's idle pool; TestStatsCountAcceptedConnections
			// checks the count.
			want.Connections = got.Connections
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}

			// A dropped request consumed nothing: the same code still works.
			f.sim.SetUnresponsive(false)
			if err := call(f.duo); err != nil {
				t.Fatalf("call after SetUnresponsive(false): %v", err)
			}
			if got := f.sim.Stats().Held; got != 1 {
				t.Errorf("Stats.Held = %d after switching off, want 1", got)
			}
		})
	}
}

func TestUnresponsiveReleasedWhenSwitchedOff(t *testing.T) {
	t.Parallel()
	for _, tc := range unresponsiveCalls {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startSim(t, duosim.Config{Scripted: true})
			f.sim.SetUnresponsive(true)
			call := tc.prepare(t, f)
			done := make(chan error, 1)
			go func() { done <- call(f.duo) }()
			waitfor.Until(t, patience, "the request is held", func() bool { return f.sim.Stats().Held == 1 })
			select {
			case err := <-done:
				t.Fatalf("call returned while held: %v", err)
			default:
			}
			f.sim.SetUnresponsive(false)
			if err := <-done; err != nil {
				t.Errorf("released call: %v", err)
			}
		})
	}
}

func TestCloseDropsHeldRequests(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	f.sim.SetUnresponsive(true)
	patient := newDuoClient(t, f.sim, f.app, redirectURI, 30*time.Second)
	done := make(chan error, len(unresponsiveCalls))
	for _, tc := range unresponsiveCalls {
		call := tc.prepare(t, f)
		go func() { done <- call(patient) }()
	}
	waitfor.Until(t, patience, "every request is held", func() bool { return f.sim.Stats().Held == int64(len(unresponsiveCalls)) })

	start := time.Now()
	if err := f.sim.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Close took %v with requests held, want under a second", elapsed)
	}
	for range unresponsiveCalls {
		select {
		case err := <-done:
			if err == nil || isTimeout(err) {
				t.Errorf("held call error = %v, want the dropped connection's error", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a held call was still blocked after Close")
		}
	}
}

// TestUnresponsiveWritesNoBytes watches the raw connection: nothing comes
// back while the request is held, and Close ends it without a response.
func TestUnresponsiveWritesNoBytes(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	f.sim.SetUnresponsive(true)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", f.sim.APIHost(),
		&tls.Config{RootCAs: f.sim.CertPool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer conn.Close()
	body := url.Values{"client_id": {f.app.ClientID}}.Encode()
	if _, err := fmt.Fprintf(conn, "POST /oauth/v1/health_check HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		f.sim.APIHost(), len(body), body); err != nil {
		t.Fatalf("write request: %v", err)
	}
	waitfor.Until(t, patience, "the request is held", func() bool { return f.sim.Stats().Held == 1 })

	buf := make([]byte, 1)
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := conn.Read(buf); n != 0 || !isTimeout(err) {
		t.Fatalf("read while held = %d bytes, %v; want 0 bytes and a timeout", n, err)
	}
	if err := f.sim.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(buf); n != 0 || err == nil || isTimeout(err) {
		t.Errorf("read after Close = %d bytes, %v; want 0 bytes and the connection closed", n, err)
	}
}

// TestUnresponsiveSparesOtherRequests checks that only POSTs to the two
// API endpoints are held.
func TestUnresponsiveSparesOtherRequests(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	f.sim.SetUnresponsive(true)
	tests := []struct {
		name, method, path string
		wantStatus         int
	}{
		{"health check by GET", http.MethodGet, "/oauth/v1/health_check", http.StatusMethodNotAllowed},
		{"token by GET", http.MethodGet, "/oauth/v1/token", http.StatusMethodNotAllowed},
		{"unknown path", http.MethodPost, "/oauth/v1/nope", http.StatusNotFound},
		{"prompt without transaction", http.MethodPost, "/frame/prompt", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "https://"+f.sim.APIHost()+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := do(f.browser, req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			if resp.status != tc.wantStatus {
				t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.status, tc.wantStatus)
			}
		})
	}
	if _, pages, err := f.login("victor"); err != nil || len(pages) != 0 {
		t.Errorf("scripted login while unresponsive: pages %q, error %v; want a direct redirect", pages, err)
	}
	if got := f.sim.Stats().Held; got != 0 {
		t.Errorf("Stats.Held = %d, want 0", got)
	}
}
