package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

// The reference helpdesk as a process of its own, `helpdesk serve`, for
// the tests that run several behind a load balancer (internal/lbtest) and
// kill one: what a deployment runs, started the way an operator starts it.

// helpdeskBinary builds the helpdesk command once per test binary (TestMain
// calls it before any test's clock runs) and returns its path.
func helpdeskBinary() (string, error) { return pluginbuild.Binary("./helpdesk/cmd/helpdesk") }

// hdConfig is what every helpdesk process of a deployment shares, and what
// `helpdesk user add` needs to reach the same database.
type hdConfig struct {
	// DataDir is the data directory (-data-dir): with SQLite the database
	// itself, so one per instance.
	DataDir string
	// PluginDir is the plugin bundle (-plugin-dir), such as f.bundleDir.
	PluginDir string
	// BaseURL is the helpdesk's external URL (-base-url): the load
	// balancer's, so that Duo's callback comes back through it.
	BaseURL string
	// Env is more environment, for serve and user add alike, such as
	// HELPDESK_DATABASE_URL=….
	Env []string
	// Args are more flags for serve.
	Args []string
}

// env is the environment of a helpdesk command: the test's own without
// any HELPDESK_* or DUO_PLUGIN_* the machine has (so no SMTP: mail goes to
// the Outbox), the plugin's test settings (pluginEnv), then c.Env.
func (c hdConfig) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HELPDESK_") && !strings.HasPrefix(kv, "DUO_PLUGIN_") {
			env = append(env, kv)
		}
	}
	env = append(env, pluginEnv...)
	return append(env, c.Env...)
}

// freeAddr returns a loopback host:port nothing listens on now, for a
// helpdesk process to listen on (the balancer must know it before the
// helpdesk starts). The port is free, not reserved: the process binds it
// within milliseconds.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// addOperator adds an operator (e-mail username@example.com) through the
// real command line, `helpdesk user add -password-stdin`, and adds the
// password to the secrets the logs must not show. It needs no running
// helpdesk; with SQLite it creates the database when there is none.
func (f *fixture) addOperator(c hdConfig, username, password, role string) {
	f.t.Helper()
	bin, err := helpdeskBinary()
	if err != nil {
		f.t.Fatalf("build helpdesk: %v", err)
	}
	cmd := exec.CommandContext(f.t.Context(), bin, "user", "add", "-data-dir", c.DataDir,
		"-username", username, "-email", username+"@example.com", "-role", role, "-password-stdin")
	cmd.Env = c.env()
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("helpdesk user add %s: %v\n%s", username, err, out)
	}
	f.secret(username+"'s password", password)
}

// hdProc is one `helpdesk serve` process.
type hdProc struct {
	t    *testing.T
	name string
	// addr is the host:port it listens on; URL its own base URL, past the
	// balancer.
	addr, URL string
	// logPath holds everything it (and its plugin) wrote, stdout and
	// stderr: also on the fixture's list for checkLog.
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when it has exited
	waitErr error
	stop    sync.Once
}

// hdStartTimeout bounds a helpdesk's start (migrations, listen): it never
// times the start, only stops a broken test hanging.
const hdStartTimeout = 30 * time.Second

// startHelpdesk runs `helpdesk serve` on addr (freeAddr) with c, waits
// until GET /healthz answers 200 there, and stops it (and anything left in
// its process group, such as a plugin) when the test ends. Its output goes
// to <artifacts>/<name>.log, appended, so an instance started again under
// the same name keeps one log. It serves with debug logging and, without
// -plugin-keys, the unsigned bundle in c.PluginDir (whose manifest carries
// the binary's sha256: no -allow-unverified-plugin needed).
func (f *fixture) startHelpdesk(name, addr string, c hdConfig) *hdProc {
	f.t.Helper()
	bin, err := helpdeskBinary()
	if err != nil {
		f.t.Fatalf("build helpdesk: %v", err)
	}
	p := &hdProc{t: f.t, name: name, addr: addr, URL: "http://" + addr,
		logPath: filepath.Join(f.artifacts, name+".log"), done: make(chan struct{})}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	defer logFile.Close() // the child has its own copy
	if !containsString(f.logPaths, p.logPath) {
		f.logPaths = append(f.logPaths, p.logPath)
	}
	args := append([]string{"serve", "-addr", addr, "-data-dir", c.DataDir, "-plugin-dir", c.PluginDir,
		"-base-url", c.BaseURL, "-log-level", "debug"}, c.Args...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = c.env()
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	// A group of its own: at cleanup, whatever it started and left behind
	// goes too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	started := time.Now()
	if err := p.cmd.Start(); err != nil {
		f.t.Fatalf("start helpdesk %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	f.t.Cleanup(func() {
		p.shutdown()
		// Its plugin exits by itself when it dies (plugin/process:
		// WatchParent); this only catches a leftover of a failed test.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	})
	p.waitHealthy()
	f.t.Logf("helpdesk %s (pid %d) serving on %s after %v", name, p.cmd.Process.Pid, addr, time.Since(started).Round(time.Millisecond))
	return p
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// waitHealthy waits until the process answers GET /healthz with 200, or
// fails the test (with its log) if it exits first or takes too long.
func (p *hdProc) waitHealthy() {
	p.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(hdStartTimeout)
	for {
		select {
		case <-p.done:
			p.t.Fatalf("helpdesk %s exited at start (%v):\n%s", p.name, p.waitErr, p.log())
		default:
		}
		resp, err := client.Get(p.URL + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("helpdesk %s not healthy after %v (last: %v):\n%s", p.name, hdStartTimeout, err, p.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// log is what the process has logged so far (its whole log file).
func (p *hdProc) log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	return string(b)
}

// pid is the helpdesk's process id.
func (p *hdProc) pid() int { return p.cmd.Process.Pid }

// kill kills the helpdesk with SIGKILL, as a crash or an OOM kill does
// (no shutdown of any kind), and waits until it has exited. Its plugin, if
// it runs one, is left to notice by itself (pluginsOf).
func (p *hdProc) kill() {
	p.t.Helper()
	p.stop.Do(func() {
		if err := p.cmd.Process.Kill(); err != nil {
			p.t.Errorf("kill helpdesk %s: %v", p.name, err)
		}
		<-p.done
	})
}

// shutdown stops the helpdesk as an operator does (SIGTERM: it closes its
// plugin and its store), waits for it, and kills it after 10 s. Cleanup
// calls it; after kill it does nothing.
func (p *hdProc) shutdown() {
	p.stop.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.t.Errorf("helpdesk %s still running 10s after SIGTERM: killed", p.name)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// pluginsOf returns the process ids of ppid's living children (a
// helpdesk's: its plugin), from /proc. It fails the test where there is no
// /proc.
func pluginsOf(t *testing.T, ppid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	var kids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if parent, ok := parentOf(pid); ok && parent == ppid {
			kids = append(kids, pid)
		}
	}
	return kids
}

// parentOf reads pid's parent and state from /proc/PID/stat; a zombie
// (exited, not yet reaped) counts as gone.
func parentOf(pid int) (int, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid …: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 2 || fields[0] == "Z" {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// alive reports whether pid is a living process (not a zombie).
func alive(pid int) bool {
	_, ok := parentOf(pid)
	return ok
}
