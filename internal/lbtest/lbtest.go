// Package lbtest puts a real HAProxy in front of a test's backends, as the
// scale-out tests run the reference helpdesk: HTTP mode, round robin with
// no stickiness of any kind (no cookie, no prefer-last-server), so that
// consecutive requests, even on one keep-alive client connection, go to
// the backends in turn. Every response names the backend that served it
// in X-Served-By (ServerName). Backends are health-checked every 100 ms
// (GET HealthPath, default /healthz, the helpdesk's) and taken out after
// two failures; a request whose connection to a dead backend fails is
// sent to another one (retries, option redispatch 1), so once a backend
// dies every request still gets an answer from a living one.
//
// HAProxy is found on PATH or at /usr/sbin/haproxy (Debian's package;
// .ci/run installs it). Without it a test skips and says why, loudly;
// under CI=true it fails instead: CI must never skip them (as pgtest).
package lbtest

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
)

// Header names the backend that served a response (ServerName).
const Header = "X-Served-By"

// ServerName is the name HAProxy gives backend i (0-based, in the order
// Start got them): what Header carries for the responses it served.
func ServerName(i int) string { return fmt.Sprintf("be%d", i) }

// Options tune Start; the zero value is what the helpdesk needs.
type Options struct {
	// HealthPath is the path the health check GETs; a backend is up while
	// it answers 2xx or 3xx. Default /healthz.
	HealthPath string
}

// Balancer is one running HAProxy.
type Balancer struct {
	// URL is the balancer's base URL, http://127.0.0.1:PORT (no slash at
	// the end).
	URL string
	// Addr is its host:port.
	Addr string

	t       testing.TB
	socket  string
	cmd     *exec.Cmd
	log     *testlog.Buffer
	done    chan struct{}
	stopped sync.Once
	waitErr error
}

// Binary returns HAProxy's path, or skips the test (fails it under
// CI=true) when it is not installed.
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	const debian = "/usr/sbin/haproxy"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	why := "haproxy is neither on PATH nor at " + debian + " (apt-get install haproxy)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("load-balancer test cannot run under CI=true: %s", why)
	}
	t.Skipf("SKIPPED: needs haproxy: %s", why)
	return ""
}

// The configuration. Numbers:
//   - check every 100 ms (inter, fastinter, downinter), down after 2
//     failures, up after 1 success: a dead backend leaves the rotation
//     within about 200 ms plus the check timeout (a refused connection
//     fails at once);
//   - retries 2 with redispatch on every retry: a request whose connection
//     fails (refused: the backend died and the checks have not noticed
//     yet) is sent to another server; only connection failures are
//     retried (retry-on's default), never a request a backend has begun
//     to answer, so a POST is never sent twice;
//   - timeout connect 500 ms (loopback); client 60 s (a browser journey
//     idles between steps); server 70 s, beyond the helpdesk's own write
//     timeout (60 s), so that the helpdesk's limits decide, not ours;
//     keep-alive 10 s.
var config = template.Must(template.New("haproxy.cfg").Parse(`global
	log stderr format raw local0 info
	maxconn 512
	stats socket {{.Socket}} mode 600 level user

defaults
	mode http
	log global
	# httplog's fields, but the request's path without its query string:
	# Duo's callback carries the sign-in's state and Duo's code there,
	# which no log may hold (docs/SECURITY.md), the balancer's included.
	log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq \"%HM %HP %HV\""
	option dontlognull
	option redispatch 1
	retries 2
	timeout connect 500ms
	timeout client 60s
	timeout server 70s
	timeout http-request 10s
	timeout http-keep-alive 10s
	timeout queue 2s
	timeout check 500ms
	default-server check inter 100ms fastinter 100ms downinter 100ms fall 2 rise 1

frontend lb
	bind fd@3
	default_backend helpdesks

backend helpdesks
	balance roundrobin
	option httpchk GET {{.HealthPath}}
	http-check expect status 200-399
	http-response set-header {{.Header}} %[srv_name]
{{- range .Servers}}
	server {{.Name}} {{.Addr}}
{{- end}}
`))

type server struct{ Name, Addr string }

// Start runs HAProxy in front of backends (host:port each; at least one)
// on a free port of 127.0.0.1, and stops it when the test ends. Its
// configuration is written to t.TempDir(); its log (one line per request,
// and every health change) goes into the test's log if the test fails.
func Start(t testing.TB, backends []string, opts Options) *Balancer {
	t.Helper()
	bin := Binary(t)
	if len(backends) == 0 {
		t.Fatal("lbtest.Start: no backends")
	}
	if opts.HealthPath == "" {
		opts.HealthPath = "/healthz"
	}
	data := struct {
		HealthPath, Header, Socket string
		Servers                    []server
	}{HealthPath: opts.HealthPath, Header: Header}
	for i, addr := range backends {
		data.Servers = append(data.Servers, server{ServerName(i), addr})
	}
	// The runtime API's socket, in a directory with a short name: a unix
	// socket's path has at most 107 bytes, and t.TempDir's hold the test's
	// name.
	sockDir, err := os.MkdirTemp("", "lbtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	data.Socket = filepath.Join(sockDir, "haproxy.sock")
	var cfg bytes.Buffer
	if err := config.Execute(&cfg, data); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	// The listening socket is made here and handed down as fd 3 (bind
	// fd@3): no port is chosen and then lost to someone else, and
	// connections queue from this moment, before HAProxy runs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lnFile, err := ln.(*net.TCPListener).File()
	_ = ln.Close() // the duplicate in lnFile keeps the socket open
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close()

	b := &Balancer{
		Addr:   ln.Addr().String(),
		t:      t,
		socket: data.Socket,
		log:    &testlog.Buffer{},
		done:   make(chan struct{}),
	}
	b.URL = "http://" + b.Addr
	// -db: stay in the foreground, one process, no daemon.
	b.cmd = exec.Command(bin, "-db", "-f", cfgPath)
	b.cmd.Stdout = b.log
	b.cmd.Stderr = b.log
	b.cmd.ExtraFiles = []*os.File{lnFile}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("haproxy configuration:\n%s\nhaproxy log:\n%s", cfg.String(), b.Log())
		}
	})
	b.waitReady(cfgPath)
	return b
}

// waitReady waits until HAProxy answers on its socket (any HTTP answer:
// a 503 while no backend is up yet is an answer), or fails the test if it
// exits first.
func (b *Balancer) waitReady(cfgPath string) {
	b.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-b.done:
			b.t.Fatalf("haproxy exited at start (%v); its log:\n%s", b.waitErr, b.Log())
		default:
		}
		resp, err := client.Get(b.URL + "/lbtest-ready")
		if err == nil {
			_ = resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("haproxy (%s) does not answer after 10s: %v; its log:\n%s", cfgPath, err, b.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// States asks HAProxy's runtime API what it thinks of each backend now:
// ServerName → "UP" (in the rotation) or "DOWN" (out of it), the first
// word of "show stat"'s status: its "UP 1/2" (up, not yet confirmed by a
// check, or one failure from down) is "UP", its "DOWN 1/1" "DOWN".
func (b *Balancer) States(t testing.TB) map[string]string {
	t.Helper()
	conn, err := net.DialTimeout("unix", b.socket, 5*time.Second)
	if err != nil {
		t.Fatalf("haproxy runtime API: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "show stat\n"); err != nil {
		t.Fatalf("haproxy runtime API: %v", err)
	}
	raw, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("haproxy runtime API: %v", err)
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(raw), "# "))).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("haproxy runtime API: show stat: %v\n%s", err, raw)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	states := map[string]string{}
	for _, r := range rows[1:] {
		if len(r) > col["status"] && r[col["pxname"]] == "helpdesks" && r[col["svname"]] != "BACKEND" {
			state, _, _ := strings.Cut(r[col["status"]], " ")
			states[r[col["svname"]]] = state
		}
	}
	return states
}

// WaitState waits until HAProxy holds backend i (ServerName) to be in
// state ("UP", "DOWN"), and returns how long that took; it fails the test
// after timeout.
func (b *Balancer) WaitState(t testing.TB, i int, state string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	name := ServerName(i)
	waitfor.Until(t, timeout, "haproxy to hold "+name+" "+state, func() bool {
		return b.States(t)[name] == state
	})
	return time.Since(start)
}

// Log is what HAProxy has logged so far.
func (b *Balancer) Log() string { return b.log.String() }

// Stop stops HAProxy (SIGTERM, its hard stop; SIGKILL after 5 s) and
// waits for it. Cleanup calls it; calling it again does nothing.
func (b *Balancer) Stop() {
	b.stopped.Do(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
}
