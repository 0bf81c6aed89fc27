package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// rewriteManifest edits the bundle's plugin.json in place.
func rewriteManifest(t *testing.T, path string, edit func(exe map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	exe := m["executables"].(map[string]any)[pluginbuild.Target()].(map[string]any)
	edit(exe)
	out, _ := json.Marshal(m)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestChecksumMismatchIsRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(t *testing.T, manifest string)
		want  error
	}{
		{"manifest sha256 differs", func(t *testing.T, manifest string) {
			rewriteManifest(t, manifest, func(exe map[string]any) { exe["sha256"] = strings.Repeat("ab", 32) })
		}, host.ErrChecksumMismatch},
		{"binary tampered after bundling", func(t *testing.T, manifest string) {
			bin := filepath.Join(filepath.Dir(manifest), "bin", pluginbuild.Target(), "duo-plugin")
			f, err := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.Write([]byte{0})
			_ = f.Close()
		}, host.ErrChecksumMismatch},
		{"no checksum, not allowed", func(t *testing.T, manifest string) {
			rewriteManifest(t, manifest, func(exe map[string]any) { delete(exe, "sha256") })
		}, host.ErrUnverified},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			manifest := pluginbuild.ForTest(t)
			tc.setup(t, manifest)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p, err := host.Start(ctx, host.Options{ManifestPath: manifest})
			if err == nil {
				_ = p.Close()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMissingChecksumAllowedInDevelopmentMode(t *testing.T) {
	t.Parallel()
	manifest := pluginbuild.ForTest(t)
	rewriteManifest(t, manifest, func(exe map[string]any) { delete(exe, "sha256") })
	s := startPlugin(t, manifest, func(o *host.Options) { o.AllowUnverified = true })
	if st, err := s.p.Status(ctxT(t), contract.StatusRequest{}); err != nil || st.PluginVersion == "" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	// The SDK's own warning (no @module: not forwarded from the plugin).
	const warning = "STARTING AN UNVERIFIED PLUGIN BINARY: the manifest has no sha256 and AllowUnverified is set. Never do this in production."
	if !testlog.Logged(s.logs.String(), func(l testlog.Record) bool { return l.Level == "WARN" && l.Module == "" && l.Msg == warning }) {
		t.Fatalf("no WARN %q from the SDK in the log:\n%s", warning, s.logs.String())
	}
}

// TestKilledPluginFailsClosedAndComesBack: SIGKILL the plugin between the
// redirect to Duo and Duo's callback. The SDK notices, both login calls fail
// closed while it is down, the supervisor restarts it, and the new process
// is as the host's record says: active again when Options.Activation says
// so (the SDK remembers no activation of its own), else inactive and
// refusing logins until the host activates it. Either way the data is in
// the files, and the pending login's state completes exactly once.
func TestKilledPluginFailsClosedAndComesBack(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		hostRecord bool // Options.Activation set
	}{
		{"host record says active", true},
		{"no Activation", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newLoginEnvWith(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "closed", tweak: func(o *host.Options) {
				o.PingInterval = 100 * time.Millisecond
				o.RestartBackoffMin = 1500 * time.Millisecond // leaves a window to observe the outage
				o.RestartBackoffMax = 2 * time.Second
				if !tc.hostRecord {
					o.Activation = nil
				}
			}}, alice)
			p := e.p
			ctx := ctxT(t)

			// The operator is at Duo's prompt when the plugin dies.
			b := e.begin(alice)
			if b.Decision != contract.DecisionRedirect {
				t.Fatalf("BeginLogin = %+v, want REDIRECT", b)
			}
			q := e.browser(b.RedirectURL)
			if q == nil {
				t.Fatal("Duo did not send the browser back")
			}
			asked := e.record.timesAsked()

			pid := p.State().PID
			if pid <= 0 {
				t.Fatalf("no PID in state %+v", p.State())
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitfor.Until(t, 5*time.Second, "the SDK notices the crash", func() bool {
				ph := p.State().Phase
				return ph == host.PhaseDown || ph == host.PhaseRestarting
			})
			// Fail closed: a login that needs Duo is refused while the plugin is down.
			res, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: contract.ClientInfo{IP: "127.0.0.1"}})
			if !errors.Is(err, host.ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonPluginUnavailable {
				t.Fatalf("BeginLogin while down = %+v, %v (reason %q); want ErrUnavailable, %s", res, err, contract.ReasonOf(err), contract.ReasonPluginUnavailable)
			}
			if !reflect.DeepEqual(res, contract.BeginLoginResponse{}) {
				t.Fatalf("BeginLogin while down returned a decision: %+v", res)
			}
			// The callback too; it never reaches the plugin, so the state is not spent.
			cres, err := p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: b.State,
				CallbackState: q.Get("state"), DuoCode: q.Get("duo_code")})
			if !errors.Is(err, host.ErrUnavailable) || !reflect.DeepEqual(cres, contract.CompleteLoginResponse{}) {
				t.Fatalf("CompleteLogin while down = %+v, %v; want ErrUnavailable and no decision", cres, err)
			}

			waitfor.Until(t, 15*time.Second, "the supervisor restarts the plugin", func() bool {
				st := p.State()
				return st.Phase == host.PhaseRunning && st.PID != pid
			})
			if p.State().Restarts < 1 {
				t.Fatalf("restarts = %d", p.State().Restarts)
			}
			st, err := p.Status(ctx, contract.StatusRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.hostRecord {
				if n := e.record.timesAsked(); n <= asked {
					t.Fatalf("the SDK asked the host's record %d times before the crash and %d after: not on restart", asked, n)
				}
				if !st.Active || !st.Configured {
					t.Fatalf("after restart Status = %+v; want active and configured, as the host's record says", st)
				}
			} else {
				if st.Active {
					t.Fatalf("after restart without Activation Status = %+v; want inactive (the SDK replays nothing)", st)
				}
				_, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice})
				if contract.ReasonOf(err) != contract.ReasonInactive || errors.Is(err, host.ErrUnavailable) {
					t.Fatalf("BeginLogin on the inactive new process = %v (reason %q); want the plugin's %s", err, contract.ReasonOf(err), contract.ReasonInactive)
				}
				// The host activates it, as an administrator would.
				act, err := p.Activate(ctx, e.activation)
				if err != nil || !act.Status.Active || !act.Status.Configured {
					t.Fatalf("Activate after restart = %+v, %v", act, err)
				}
			}
			got, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{alice.ID}, Actor: admin})
			if err != nil || len(got.States) != 1 || !got.States[0].Enabled {
				t.Fatalf("after restart alice = %+v, %v", got, err)
			}

			// The pending login survived in the store, and is spent once.
			if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionAllowed {
				t.Fatalf("CompleteLogin after restart = %+v, want ALLOWED", res)
			}
			wantDenied(t, "second callback after restart", e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")), contract.LoginReasonStateUsed)
		})
	}
}

// TestPluginSpeaksNothingBeforeHandshake runs the binary as go-plugin does
// and checks that the first line on stdout is the handshake and that
// stderr carries JSON log lines only.
func TestPluginSpeaksNothingBeforeHandshake(t *testing.T) {
	t.Parallel()
	manifest := pluginbuild.ForTest(t)
	bin := filepath.Join(filepath.Dir(manifest), "bin", pluginbuild.Target(), "duo-plugin")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(),
		contract.Handshake.MagicCookieKey+"="+contract.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1", "DUO_PLUGIN_LOG_LEVEL=debug")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testlog.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read handshake: %v", err)
	}
	handshake := regexp.MustCompile(`^1\|1\|(unix|tcp)\|[^|]+\|grpc\|?`)
	if !handshake.MatchString(line) {
		t.Fatalf("first stdout line %q is not a go-plugin gRPC handshake for protocol 1", line)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if l == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("stderr line is not JSON: %q", l)
		}
	}
}

const (
	hostHelperEnv      = "DUO_TEST_HOST_HELPER_MANIFEST"
	hostHelperDataEnv  = "DUO_TEST_HOST_HELPER_DATA"
	hostHelperPIDLabel = "plugin-pid="
)

// runHostHelper is a minimal host in its own process: it starts the plugin,
// activates it, prints the plugin's PID and waits to be killed.
func runHostHelper() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	p, err := host.Start(ctx, host.Options{ManifestPath: os.Getenv(hostHelperEnv)})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// The host's own start-up activation acts as the system.
	system := contract.Actor{ID: "host", Username: "host", Role: contract.RoleSystem}
	if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: os.Getenv(hostHelperDataEnv), Actor: system}); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	cancel()
	fmt.Printf("%s%d\n", hostHelperPIDLabel, p.State().PID)
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestPluginExitsWhenHostDies kills a host process with SIGKILL (no chance
// to stop its plugin) and checks that the orphaned plugin exits by itself
// within 5 s and leaves its database closed cleanly.
func TestPluginExitsWhenHostDies(t *testing.T) {
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
		t.Fatalf("host helper said %q, %v", line, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, hostHelperPIDLabel)))
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	waitfor.Until(t, 5*time.Second, fmt.Sprintf("orphaned plugin (pid %d) exits", pid), func() bool {
		return syscall.Kill(pid, 0) != nil
	})
	// The store was closed: no WAL left to replay.
	if fi, err := os.Stat(filepath.Join(dir, "duo.db-wal")); err == nil && fi.Size() > 0 {
		t.Fatalf("WAL of %d bytes left behind: the plugin did not close its database", fi.Size())
	}
}
