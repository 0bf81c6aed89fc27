package trust

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The host of case 27, in a process of its own: this test binary run with
// hostHelperEnv set to the bundle's manifest and hostHelperDataEnv to the
// plugin's data directory.
const (
	hostHelperEnv      = "DUO_TRUST_HOST_HELPER_MANIFEST"
	hostHelperDataEnv  = "DUO_TRUST_HOST_HELPER_DATA"
	hostHelperPIDLabel = "plugin-pid="
)

// runHostHelper starts the plugin through the SDK, activates it, enables
// alice (so the database has been written), prints the plugin's PID and
// waits to be killed.
func runHostHelper(manifest string) {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	p, err := host.Start(ctx, host.Options{ManifestPath: manifest})
	if err != nil {
		fail(err)
	}
	system := contract.Actor{ID: "host", Username: "host", Role: contract.RoleSystem}
	if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: os.Getenv(hostHelperDataEnv), Actor: system}); err != nil {
		fail(err)
	}
	if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: alice, Enabled: true, Actor: system}); err != nil {
		fail(err)
	}
	cancel()
	fmt.Printf("%s%d\n", hostHelperPIDLabel, p.State().PID)
	time.Sleep(time.Minute)
	os.Exit(0)
}

// running reports whether pid is a live process: not gone, and not a
// zombie its new parent has yet to reap.
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) state …: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Case 27: the host dies by SIGKILL, with no chance to stop its plugin.
// The orphaned plugin notices and exits within 5 s, and it has released
// its database: another process then opens it, takes the write lock at
// once (BEGIN IMMEDIATE with no busy timeout) and finds what the host
// wrote, and no WAL is left to replay.
func TestCase27PluginExitsAndReleasesDatabaseWhenHostKilled(t *testing.T) {
	t.Parallel()
	manifest := pluginbuild.ForTest(t)
	dir := filepath.Join(t.TempDir(), "plugin-data")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), hostHelperEnv+"="+manifest, hostHelperDataEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, hostHelperPIDLabel) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("host helper said %q, %v", line, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, hostHelperPIDLabel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if running(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !running(pid) {
		t.Fatalf("the plugin (pid %d) is not running while its host is", pid)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	waitfor.Until(t, 5*time.Second, fmt.Sprintf("the orphaned plugin (pid %d) exits", pid), func() bool { return !running(pid) })
	t.Logf("the plugin exited %v after its host was killed", time.Since(killed).Round(time.Millisecond))

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "duo.db")+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatalf("another process cannot take the write lock after the plugin exited: %v", err)
	}
	var enabled int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM operators WHERE enabled = 1`).Scan(&enabled); err != nil || enabled != 1 {
		t.Fatalf("enabled operators = %d, %v; want alice, as the host left her", enabled, err)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "duo.db-wal")); err == nil && fi.Size() > 0 {
		t.Fatalf("a WAL of %d bytes was left behind: the plugin did not close its database", fi.Size())
	}
}

// Case 28: a hung plugin (SIGSTOP: the process is there, its socket
// accepts, nothing answers) cannot hang the host. Every call returns by
// its deadline (Options.CallTimeout, or the caller's when it is sooner),
// the login calls with an error matching host.ErrUnavailable and no
// decision, so a host denies; calls at once do not queue behind each
// other; and Close returns within Options.ShutdownTimeout plus a second,
// the process gone. Then, with pings on, the supervisor replaces a hung
// process and logins work again.
func TestCase28HungPluginCallsAndCloseReturnInTime(t *testing.T) {
	t.Parallel()
	const (
		callTimeout     = 2 * time.Second
		shutdownTimeout = time.Second
		slack           = 1500 * time.Millisecond // a loaded CI machine
	)
	within := func(t *testing.T, what string, limit time.Duration, f func()) {
		t.Helper()
		start := time.Now()
		f()
		took := time.Since(start)
		if took > limit+slack {
			t.Errorf("%s took %v; its bound is %v", what, took.Round(time.Millisecond), limit)
		}
		t.Logf("%s took %v (bound %v)", what, took.Round(time.Millisecond), limit)
	}
	stop := func(t *testing.T, pid int) {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// Let it go at the end, whatever happened, so that nothing stays
		// stopped behind the test.
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	}
	failsClosed := func(t *testing.T, what string, d contract.LoginDecision, err error) {
		t.Helper()
		if !errors.Is(err, host.ErrUnavailable) || d != contract.DecisionUnspecified {
			t.Errorf("%s on the hung plugin = decision %v, error %v; want ErrUnavailable and no decision", what, d, err)
		}
	}

	t.Run("calls and Close", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "open", tweak: func(o *host.Options) {
			o.CallTimeout = callTimeout
			o.ShutdownTimeout = shutdownTimeout
			o.PingInterval = time.Hour // no supervisor to the rescue: the calls alone must end
		}}, alice)
		pid := e.p.State().PID
		stop(t, pid)

		// All at once, while the hung process is still the current one:
		// the first call to time out makes the supervisor ping it, which
		// takes another CallTimeout before it is declared down.
		var wg sync.WaitGroup
		wg.Go(func() {
			within(t, "BeginLogin without a deadline of its own", callTimeout, func() {
				res, err := e.p.BeginLogin(context.Background(), contract.BeginLoginRequest{Operator: alice, Client: client})
				failsClosed(t, "BeginLogin", res.Decision, err)
			})
		})
		wg.Go(func() {
			within(t, "CompleteLogin with the caller's 300 ms", 300*time.Millisecond, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				res, err := e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: "s", CallbackState: "s", DuoCode: "c", Client: client})
				failsClosed(t, "CompleteLogin", res.Decision, err)
			})
		})
		for i := range 5 {
			wg.Go(func() {
				within(t, fmt.Sprintf("RedeemCode %d of 5 at once", i+1), callTimeout, func() {
					res, err := e.p.RedeemCode(context.Background(), contract.RedeemCodeRequest{Operator: alice, Code: "12345678", Client: client})
					failsClosed(t, "RedeemCode", res.Decision, err)
				})
			})
		}
		wg.Go(func() {
			within(t, "Status", callTimeout, func() {
				if _, err := e.p.Status(context.Background(), contract.StatusRequest{}); !errors.Is(err, host.ErrUnavailable) {
					t.Errorf("Status on the hung plugin: %v; want ErrUnavailable", err)
				}
			})
		})
		wg.Go(func() {
			within(t, "ExportAuthEvents with the caller's 300 ms", 300*time.Millisecond, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				err := e.p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Actor: admin},
					func(contract.ExportChunk) error { return nil })
				if err == nil {
					t.Error("ExportAuthEvents from the hung plugin succeeded")
				}
			})
		})
		wg.Go(func() {
			within(t, "a metrics scrape", min(host.DefaultMetricsTimeout, callTimeout), func() {
				reg := prometheus.NewRegistry()
				reg.MustRegister(e.p.Collector())
				families, err := reg.Gather()
				if err != nil {
					t.Errorf("scrape: %v", err)
					return
				}
				for _, f := range families {
					if f.GetName() == "duo_plugin_up" && len(f.GetMetric()) == 1 && f.GetMetric()[0].GetGauge().GetValue() == 0 {
						return
					}
				}
				t.Errorf("the scrape of the hung plugin has no duo_plugin_up 0: %v", families)
			})
		})
		wg.Wait()
		if t.Failed() {
			return
		}
		// Close meets the hung process itself, not a replacement.
		if st := e.p.State(); st.Phase != host.PhaseRunning || st.PID != pid {
			t.Fatalf("before Close the state is %+v; want the hung process (pid %d) still current", st, pid)
		}
		within(t, "Close", shutdownTimeout+time.Second, func() { _ = e.p.Close() })
		if running(pid) {
			t.Fatalf("the hung plugin (pid %d) still runs after Close", pid)
		}
		if ph := e.p.State().Phase; ph != host.PhaseClosed {
			t.Fatalf("phase after Close = %v", ph)
		}
	})

	t.Run("Close while the supervisor disposes of it", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, tweak: func(o *host.Options) {
			o.CallTimeout = callTimeout
			o.ShutdownTimeout = shutdownTimeout
			o.PingInterval = 100 * time.Millisecond
			o.RestartBackoffMin = 5 * time.Second // the restart waits: Close meets the disposal
		}}, alice)
		pid := e.p.State().PID
		stop(t, pid)
		waitfor.Until(t, 2*callTimeout+5*time.Second, "the supervisor finds the plugin hung", func() bool {
			return e.p.State().Phase != host.PhaseRunning
		})
		within(t, "Close", shutdownTimeout+time.Second, func() { _ = e.p.Close() })
		waitfor.Until(t, 2*time.Second, "the hung process is gone", func() bool { return !running(pid) })
	})

	t.Run("the supervisor replaces it", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, tweak: func(o *host.Options) {
			o.CallTimeout = callTimeout
			o.ShutdownTimeout = shutdownTimeout
			o.PingInterval = 200 * time.Millisecond
			o.RestartBackoffMin = 50 * time.Millisecond
		}}, alice)
		pid := e.p.State().PID
		stop(t, pid)
		waitfor.Until(t, 3*callTimeout+5*time.Second, "the supervisor replaces the hung plugin", func() bool {
			st := e.p.State()
			return st.Phase == host.PhaseRunning && st.PID != pid
		})
		if running(pid) {
			t.Fatalf("the hung plugin (pid %d) was left running beside its replacement", pid)
		}
		e.redirect(alice)
	})
}
