package lbtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
)

// backend is an httptest server that answers its name, and counts its
// health checks.
func backend(t *testing.T, name string, checks *atomic.Int32) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			checks.Add(1)
		}
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

// get sends one request on client (one keep-alive connection) and returns
// the status, X-Served-By and body.
func get(t *testing.T, ctx context.Context, client *http.Client, url string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get(Header), string(body)
}

// TestRoundRobinThenFailover: consecutive requests on one keep-alive
// connection alternate between the backends, each response naming the one
// that served it; once one backend is gone, every request succeeds on the
// other, and does so within a bounded time.
func TestRoundRobinThenFailover(t *testing.T) {
	t.Parallel()
	var checks0, checks1 atomic.Int32
	b0 := backend(t, "zero", &checks0)
	b1 := backend(t, "one", &checks1)
	lb := Start(t, []string{b0.Listener.Addr().String(), b1.Listener.Addr().String()}, Options{})
	if got := lb.States(t); len(got) != 2 || got[ServerName(0)] != "UP" || got[ServerName(1)] != "UP" {
		t.Fatalf("states at start %v, want both UP", got)
	}

	// One client connection: keep-alive, at most one idle connection.
	tr := &http.Transport{MaxIdleConns: 1, MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var conns atomic.Int32
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		if !ci.Reused {
			conns.Add(1)
		}
	}}
	served := make([]string, 8)
	ctx := httptrace.WithClientTrace(t.Context(), trace)
	for i := range served {
		status, by, body := get(t, ctx, client, lb.URL+"/page")
		if status != http.StatusOK {
			t.Fatalf("request %d: status %d", i, status)
		}
		want := map[string]string{ServerName(0): "zero", ServerName(1): "one"}[by]
		if want == "" || body != want {
			t.Fatalf("request %d: %s %q, body %q", i, Header, by, body)
		}
		served[i] = by
	}
	for i := 1; i < len(served); i++ {
		if served[i] == served[i-1] {
			t.Fatalf("consecutive requests on one connection went to the same backend: %v", served)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d client connections for %d requests, want one kept alive", n, len(served))
	}
	t.Logf("served by %v, on one client connection", served)

	// Both are health-checked, fast.
	waitfor.Until(t, 5*time.Second, "health checks on both backends", func() bool {
		return checks0.Load() >= 2 && checks1.Load() >= 2
	})

	// One dies. At once (before the checks notice), and then for good,
	// every request is answered by the other.
	b1.Close()
	died := time.Now()
	for i := range 20 {
		status, by, body := get(t, ctx, client, lb.URL+"/page")
		if status != http.StatusOK || by != ServerName(0) || body != "zero" {
			t.Fatalf("request %d after %s died: status %d, %s %q, body %q", i, ServerName(1), status, Header, by, body)
		}
	}
	t.Logf("20 requests after a backend died all served by the living one, in %v", time.Since(died).Round(time.Millisecond))
	lb.WaitState(t, 1, "DOWN", 5*time.Second)
	t.Logf("%s marked DOWN %v after it died", ServerName(1), time.Since(died).Round(time.Millisecond))
	if !strings.Contains(lb.Log(), ServerName(1)+" is DOWN") {
		t.Errorf("haproxy's log does not say %s is DOWN:\n%s", ServerName(1), lb.Log())
	}
	if got := lb.States(t); got[ServerName(0)] != "UP" {
		t.Errorf("states %v, want %s UP", got, ServerName(0))
	}
}

// TestAllDownAnswers503: with its only backend gone, the balancer answers
// 503 itself.
func TestAllDownAnswers503(t *testing.T) {
	t.Parallel()
	var checks atomic.Int32
	b := backend(t, "only", &checks)
	lb := Start(t, []string{b.Listener.Addr().String()}, Options{})
	client := &http.Client{Timeout: 5 * time.Second}
	ctx := t.Context()
	if status, by, _ := get(t, ctx, client, lb.URL+"/"); status != http.StatusOK || by != ServerName(0) {
		t.Fatalf("status %d, %s %q", status, Header, by)
	}
	b.Close()
	start := time.Now()
	if status, _, _ := get(t, ctx, client, lb.URL+"/"); status != http.StatusServiceUnavailable {
		t.Fatalf("with the only backend dead: status %d, want 503", status)
	}
	t.Logf("503 after %v before the checks noticed (a retry on the same server waits out timeout connect)", time.Since(start).Round(time.Millisecond))
	lb.WaitState(t, 0, "DOWN", 5*time.Second)
	start = time.Now()
	if status, _, _ := get(t, ctx, client, lb.URL+"/"); status != http.StatusServiceUnavailable {
		t.Fatalf("with the only backend DOWN: status %d, want 503", status)
	}
	t.Logf("503 after %v once it is DOWN", time.Since(start).Round(time.Millisecond))
}
