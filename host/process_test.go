package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host/internal/logbridge"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// These tests cross the process boundary: the SDK starts this test binary,
// which serves the fake plugin (see TestMain), through a real manifest with
// the binary's real sha256, and kills it to watch the supervisor.

var self struct {
	once      sync.Once
	path, sum string
	err       error
}

// selfBinary returns the test binary and its SHA-256. Computing the sum here
// is what a release pipeline does when it writes the manifest; the SDK itself
// only ever takes the sum from the manifest.
func selfBinary(t *testing.T) (string, string) {
	t.Helper()
	self.once.Do(func() {
		if self.path, self.err = os.Executable(); self.err != nil {
			return
		}
		f, err := os.Open(self.path)
		if err != nil {
			self.err = err
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			self.err = err
			return
		}
		self.sum = hex.EncodeToString(h.Sum(nil))
	})
	if self.err != nil {
		t.Fatalf("test binary: %v", self.err)
	}
	return self.path, self.sum
}

// syncBuffer collects logs from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recorder keeps every state OnStateChange reported.
type recorder struct {
	mu     sync.Mutex
	states []State
}

func (r *recorder) add(s State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

func (r *recorder) phases() []Phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Phase, len(r.states))
	for i, s := range r.states {
		out[i] = s.Phase
	}
	return out
}

// harness is one plugin bundle in a temp dir: plugin.json and a link to the
// test binary.
type harness struct {
	t        *testing.T
	manifest string
	markers  string // the plugin writes one file per process started
	logs     *syncBuffer
	rec      *recorder
}

type bundle struct {
	sha            string // "" for none; "self" for the binary's real sum
	minHostVersion string
	protocol       int
	noBinary       bool
}

func newHarness(t *testing.T, b bundle) *harness {
	t.Helper()
	bin, sum := selfBinary(t)
	dir := t.TempDir()
	h := &harness{t: t, markers: filepath.Join(dir, "markers"), logs: &syncBuffer{}, rec: &recorder{}}
	if err := os.Mkdir(h.markers, 0o755); err != nil {
		t.Fatal(err)
	}
	rel := filepath.ToSlash(filepath.Join("bin", runtime.GOOS+"-"+runtime.GOARCH, "duo-plugin"))
	if !b.noBinary {
		link := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(bin, link); err != nil {
			t.Fatal(err)
		}
	}
	if b.sha == "self" {
		b.sha = sum
	}
	if b.protocol == 0 {
		b.protocol = contract.ProtocolVersion
	}
	m := map[string]any{
		"id": contract.PluginID, "name": "Duo Security (test)", "version": "0.1.0",
		"protocol_version": b.protocol,
		"executables": map[string]any{
			runtime.GOOS + "-" + runtime.GOARCH: map[string]any{"path": rel, "sha256": b.sha},
		},
	}
	if b.minHostVersion != "" {
		m["min_host_version"] = b.minHostVersion
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h.manifest = writeFile(t, dir, "plugin.json", data, 0o644)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", h.logs.String())
		}
	})
	return h
}

// options are fast settings for tests; mutate adjusts them.
func (h *harness) options(mutate func(*Options)) Options {
	opts := Options{
		ManifestPath:      h.manifest,
		Logger:            slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: logbridge.LevelTrace})),
		Env:               []string{envTestPlugin + "=1", envMarkerDir + "=" + h.markers},
		CallTimeout:       5 * time.Second,
		StartTimeout:      time.Minute, // a race-enabled binary can be slow to start on a busy machine
		PingInterval:      50 * time.Millisecond,
		RestartBackoffMin: 10 * time.Millisecond,
		RestartBackoffMax: 50 * time.Millisecond,
		ShutdownTimeout:   3 * time.Second,
		OnStateChange:     h.rec.add,
	}
	if mutate != nil {
		mutate(&opts)
	}
	return opts
}

func (h *harness) start(mutate func(*Options)) (*Plugin, error) {
	h.t.Helper()
	p, err := Start(context.Background(), h.options(mutate))
	if p != nil {
		h.t.Cleanup(func() { _ = p.Close() })
	}
	return p, err
}

func (h *harness) mustStart(mutate func(*Options)) *Plugin {
	h.t.Helper()
	p, err := h.start(mutate)
	if err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	return p
}

// started counts the plugin processes that got as far as main.
func (h *harness) started() int {
	h.t.Helper()
	entries, err := os.ReadDir(h.markers)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(entries)
}

// eventually waits for cond. The bound only keeps a broken test from
// hanging; nothing is asserted about how long it takes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestProcessRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, bundle{sha: "self"})
	p := h.mustStart(nil)

	st := p.State()
	if st.Phase != PhaseRunning || st.PID <= 0 || st.Restarts != 0 {
		t.Fatalf("State = %+v, want running with a pid", st)
	}
	if _, err := os.Stat(filepath.Join(h.markers, fmt.Sprint(st.PID))); err != nil {
		t.Fatalf("the running pid is not the process the plugin reported: %v", err)
	}

	status, err := p.Activate(ctx, activate)
	if err != nil || !status.Active || status.PluginVersion != fakeVersion {
		t.Fatalf("Activate = %+v, %v", status, err)
	}
	const secret = "s3cr3t-VALUE-never-logged"
	if res, err := p.UpdateSettings(ctx, UpdateSettingsRequest{
		Values: map[string]string{"client_id": "DIXXXXXXXXXXXXXXXXXX", fakeSecretKey: secret}, SkipDuoCheck: true, Actor: admin,
	}); err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	if _, err := p.SetOperatorEnabled(ctx, alice, true, admin); err != nil {
		t.Fatalf("SetOperatorEnabled: %v", err)
	}
	begin, err := p.BeginLogin(ctx, alice, browser)
	if err != nil || begin.Decision != DecisionRedirect || begin.State != "state-42" {
		t.Fatalf("BeginLogin = %+v, %v; want a redirect", begin, err)
	}
	done, err := p.CompleteLogin(ctx, CompleteLoginRequest{
		Operator: alice, SessionState: begin.State, CallbackState: begin.State, DuoCode: fakeGoodCode, Client: browser,
	})
	if err != nil || done.Decision != DecisionAllowed {
		t.Fatalf("CompleteLogin = %+v, %v; want allowed", done, err)
	}
	if _, err := p.BeginLogin(ctx, Operator{ID: "7"}, browser); err != nil {
		t.Fatalf("BeginLogin for an operator without Duo: %v", err)
	}
	if err := p.Deactivate(ctx, admin); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if _, err := p.BeginLogin(ctx, alice, browser); ReasonOf(err) != contract.ReasonInactive {
		t.Fatalf("BeginLogin after Deactivate: reason %q (%v), want %q", ReasonOf(err), err, contract.ReasonInactive)
	}

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := p.State().Phase; got != PhaseClosed {
		t.Fatalf("phase after Close = %v, want closed", got)
	}
	if !processGone(st.PID) {
		t.Fatalf("plugin process %d still exists after Close", st.PID)
	}
	_, err = p.Status(ctx)
	if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Status after Close = %v, want ErrClosed and ErrUnavailable", err)
	}
	eventually(t, "the closed state to be reported", func() bool { return len(h.rec.phases()) == 3 })
	if got, want := h.rec.phases(), []Phase{PhaseStarting, PhaseRunning, PhaseClosed}; !slices.Equal(got, want) {
		t.Fatalf("reported phases %v, want %v", got, want)
	}
	if strings.Contains(h.logs.String(), secret) {
		t.Fatal("a secret setting reached the logs")
	}
}

func TestStartRefuses(t *testing.T) {
	t.Parallel()
	wrong := sha256.Sum256([]byte("not the plugin"))
	tests := []struct {
		name    string
		bundle  bundle
		mutate  func(*Options)
		wantIs  error
		wantMsg string
	}{
		{
			name:   "checksum mismatch",
			bundle: bundle{sha: hex.EncodeToString(wrong[:])},
			wantIs: ErrChecksumMismatch,
		},
		{
			name:    "missing checksum",
			bundle:  bundle{},
			wantIs:  ErrUnverified,
			wantMsg: "refusing to run it (Options.AllowUnverified is for development only)",
		},
		{
			name:   "missing checksum, AllowUnverified does not excuse a wrong one",
			bundle: bundle{sha: hex.EncodeToString(wrong[:])},
			mutate: func(o *Options) { o.AllowUnverified = true },
			wantIs: ErrChecksumMismatch,
		},
		{
			name:   "missing binary",
			bundle: bundle{sha: "self", noBinary: true},
			wantIs: ErrNoExecutable,
		},
		{
			name:    "host too old",
			bundle:  bundle{sha: "self", minHostVersion: "2.0.0"},
			mutate:  func(o *Options) { o.HostVersion = "1.9.9" },
			wantIs:  ErrHostTooOld,
			wantMsg: "needs host version 2.0.0 or newer; this host is 1.9.9",
		},
		{
			name:    "wrong protocol version",
			bundle:  bundle{sha: "self", protocol: 2},
			wantMsg: "protocol_version: the plugin speaks protocol version 2, this host SDK speaks 1",
		},
		{
			name:    "no manifest",
			bundle:  bundle{sha: "self"},
			mutate:  func(o *Options) { o.ManifestPath = "" },
			wantMsg: "Options.ManifestPath or Options.Manifest is required",
		},
		{
			name:   "both manifests",
			bundle: bundle{sha: "self"},
			mutate: func(o *Options) {
				m, err := LoadManifest(o.ManifestPath)
				if err != nil {
					panic(err)
				}
				o.Manifest = m
			},
			wantMsg: "set Options.ManifestPath or Options.Manifest, not both",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.bundle)
			p, err := h.start(tc.mutate)
			if err == nil {
				t.Fatalf("Start succeeded (pid %d), want a refusal", p.State().PID)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("Start error = %v, want %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Start error = %q, want it to contain %q", err, tc.wantMsg)
			}
			if n := h.started(); n != 0 {
				t.Fatalf("%d plugin processes started; a refused plugin must never run", n)
			}
		})
	}
}

func TestStartUnverifiedWhenAllowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bundle{})
	p := h.mustStart(func(o *Options) { o.AllowUnverified = true })
	if st, err := p.Status(context.Background()); err != nil || st.PluginVersion != fakeVersion {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if !strings.Contains(h.logs.String(), "STARTING AN UNVERIFIED PLUGIN BINARY") {
		t.Fatal("no warning about the unverified binary in the logs")
	}
}

func TestStartFromLoadedManifest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bundle{sha: "self"})
	m, err := LoadManifest(h.manifest)
	if err != nil {
		t.Fatal(err)
	}
	p := h.mustStart(func(o *Options) { o.ManifestPath, o.Manifest = "", m })
	if got := p.Manifest(); got.ID != contract.PluginID {
		t.Fatalf("Manifest().ID = %q", got.ID)
	}
}

func TestCrashRestartReplaysActivate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		crash func(t *testing.T, p *Plugin, pid int)
	}{
		{
			name: "SIGKILL",
			crash: func(t *testing.T, _ *Plugin, pid int) {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "exit during a call",
			crash: func(t *testing.T, p *Plugin, _ int) {
				_, err := p.BeginLogin(context.Background(), Operator{ID: opCrash}, browser)
				if !errors.Is(err, ErrUnavailable) || ReasonOf(err) != contract.ReasonPluginUnavailable {
					t.Fatalf("BeginLogin on a crashing plugin = %v (reason %q), want ErrUnavailable", err, ReasonOf(err))
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := newHarness(t, bundle{sha: "self"})
			p := h.mustStart(nil)
			if _, err := p.Activate(ctx, activate); err != nil {
				t.Fatalf("Activate: %v", err)
			}
			oldPID := p.State().PID

			// Calls racing the crash and the restart either succeed or fail
			// closed; never anything else.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var bad []error
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := p.Status(ctx); err != nil && !errors.Is(err, ErrUnavailable) {
							mu.Lock()
							bad = append(bad, err)
							mu.Unlock()
						}
					}
				}()
			}

			tc.crash(t, p, oldPID)
			eventually(t, "the plugin to be restarted", func() bool {
				st := p.State()
				return st.Phase == PhaseRunning && st.PID != oldPID
			})
			close(stop)
			wg.Wait()
			if len(bad) > 0 {
				t.Fatalf("calls during the restart failed with errors other than ErrUnavailable: %v", bad)
			}

			st := p.State()
			if st.Restarts != 1 || !processGone(oldPID) {
				t.Fatalf("State = %+v; want one restart and the old process gone", st)
			}
			status, err := p.Status(ctx)
			if err != nil || !status.Active {
				t.Fatalf("Status after restart = %+v, %v; want active (the activation replayed)", status, err)
			}
			settings, err := p.GetSettings(ctx)
			if err != nil || settings.Values[settingActBy] != replayActor.Username {
				t.Fatalf("the replayed Activate came from %q (%v), want %q", settings.Values[settingActBy], err, replayActor.Username)
			}
			eventually(t, "the restart to be reported", func() bool { return len(h.rec.phases()) >= 5 })
			if got, want := h.rec.phases(), []Phase{PhaseStarting, PhaseRunning, PhaseDown, PhaseRestarting, PhaseRunning}; !slices.Equal(got, want) {
				t.Fatalf("reported phases %v, want %v", got, want)
			}
			if n := h.started(); n != 2 {
				t.Fatalf("%d processes started, want 2", n)
			}
		})
	}
}

func TestRestartAfterDeactivateStaysInactive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, bundle{sha: "self"})
	p := h.mustStart(nil)
	if _, err := p.Activate(ctx, activate); err != nil {
		t.Fatal(err)
	}
	if err := p.Deactivate(ctx, admin); err != nil {
		t.Fatal(err)
	}
	oldPID := p.State().PID
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the plugin to be restarted", func() bool {
		st := p.State()
		return st.Phase == PhaseRunning && st.PID != oldPID
	})
	if st, err := p.Status(ctx); err != nil || st.Active {
		t.Fatalf("Status after restart = %+v, %v; want inactive: Deactivate forgets the activation", st, err)
	}
}

func TestOutageFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, bundle{sha: "self"})
	// A restart that waits an hour: the outage lasts for the whole test.
	p := h.mustStart(func(o *Options) { o.RestartBackoffMin, o.RestartBackoffMax = time.Hour, time.Hour })
	if _, err := p.Activate(ctx, activate); err != nil {
		t.Fatal(err)
	}
	pid := p.State().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the plugin to be marked down", func() bool { return p.State().Phase == PhaseRestarting })
	// LastError is the exit, or the failed ping when the ping noticed first.
	if st := p.State(); st.PID != 0 || st.LastError == "" {
		t.Fatalf("State = %+v, want no pid and a LastError", st)
	}

	calls := []struct {
		name string
		call func() error
	}{
		{"Activate", func() error { _, err := p.Activate(ctx, activate); return err }},
		{"Deactivate", func() error { return p.Deactivate(ctx, admin) }},
		{"Uninstall", func() error {
			_, err := p.Uninstall(ctx, UninstallRequest{Confirm: contract.PluginID})
			return err
		}},
		{"Status", func() error { _, err := p.Status(ctx); return err }},
		{"GetSettings", func() error { _, err := p.GetSettings(ctx); return err }},
		{"UpdateSettings", func() error { _, err := p.UpdateSettings(ctx, UpdateSettingsRequest{}); return err }},
		{"CheckDuo", func() error { _, err := p.CheckDuo(ctx); return err }},
		{"SetOperatorEnabled", func() error { _, err := p.SetOperatorEnabled(ctx, alice, false, admin); return err }},
		{"GetOperatorStates", func() error { _, err := p.GetOperatorStates(ctx, []string{"42"}); return err }},
		{"ListEnabledOperators", func() error { _, _, err := p.ListEnabledOperators(ctx, 10, ""); return err }},
		{"SetOperatorAlias", func() error { _, err := p.SetOperatorAlias(ctx, alice, "", admin); return err }},
		{"BeginLogin", func() error {
			res, err := p.BeginLogin(ctx, alice, browser)
			if res != (BeginLoginResult{}) {
				return fmt.Errorf("non-zero result %+v", res)
			}
			return err
		}},
		{"CompleteLogin", func() error {
			res, err := p.CompleteLogin(ctx, CompleteLoginRequest{Operator: alice, SessionState: "s", CallbackState: "s", DuoCode: fakeGoodCode})
			if res != (CompleteLoginResult{}) {
				return fmt.Errorf("non-zero result %+v", res)
			}
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, ErrUnavailable) || ReasonOf(err) != contract.ReasonPluginUnavailable {
				t.Fatalf("%s during the outage = %v (reason %q), want ErrUnavailable", c.name, err, ReasonOf(err))
			}
			if !strings.Contains(err.Error(), "the plugin is restarting") {
				t.Fatalf("%s error %q does not say the plugin is restarting", c.name, err)
			}
		})
	}
	// Close interrupts the hour-long backoff.
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := p.State().Phase; got != PhaseClosed {
		t.Fatalf("phase = %v, want closed", got)
	}
	if n := h.started(); n != 1 {
		t.Fatalf("%d processes started, want 1", n)
	}
}

func TestHungCallFailsClosedAtCallTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, bundle{sha: "self"})
	p := h.mustStart(func(o *Options) { o.CallTimeout = 500 * time.Millisecond })
	if _, err := p.Activate(ctx, activate); err != nil {
		t.Fatal(err)
	}
	pid := p.State().PID

	res, err := p.BeginLogin(ctx, Operator{ID: opHang}, browser)
	if !errors.Is(err, ErrUnavailable) || ReasonOf(err) != contract.ReasonDeadline || res != (BeginLoginResult{}) {
		t.Fatalf("BeginLogin on a hung plugin = %+v, %v (reason %q); want ErrUnavailable with %q",
			res, err, ReasonOf(err), contract.ReasonDeadline)
	}
	// One slow call is not a crash: the process keeps serving.
	if st, err := p.Status(ctx); err != nil || !st.Active {
		t.Fatalf("Status after the hung call = %+v, %v", st, err)
	}
	if st := p.State(); st.Phase != PhaseRunning || st.PID != pid {
		t.Fatalf("State = %+v, want the same process running", st)
	}
}

func TestMaxRestartsExhausted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bundle{sha: "self"})
	refuse := filepath.Join(t.TempDir(), "refuse")
	p := h.mustStart(func(o *Options) {
		o.MaxRestarts = 2
		o.Env = append(o.Env, envRefuseStart+"="+refuse)
	})
	pid := p.State().PID
	// From now on every new process exits before its handshake.
	if err := os.WriteFile(refuse, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the supervisor to give up", func() bool { return p.State().Phase == PhaseFailed })

	st := p.State()
	if st.Restarts != 2 || st.PID != 0 {
		t.Fatalf("State = %+v, want 2 restart attempts and no pid", st)
	}
	if want := "gave up after 3 crashes within 1m0s: start plugin "; !strings.HasPrefix(st.LastError, want) {
		t.Fatalf("LastError = %q, want prefix %q", st.LastError, want)
	}
	_, err := p.BeginLogin(context.Background(), alice, browser)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "the plugin failed and will not be restarted") {
		t.Fatalf("BeginLogin after giving up = %v, want ErrUnavailable", err)
	}
	if n := h.started(); n != 1 {
		t.Fatalf("%d processes got past the refusal, want 1", n)
	}
	eventually(t, "the failure to be reported", func() bool {
		ph := h.rec.phases()
		return len(ph) > 0 && ph[len(ph)-1] == PhaseFailed
	})
	if err := p.Close(); err != nil {
		t.Fatalf("Close after failure: %v", err)
	}
}

func TestCloseIsBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Options)
		hang   func(t *testing.T, pid int)
	}{
		{
			name:   "plugin ignores shutdown",
			mutate: func(o *Options) { o.Env = append(o.Env, envIgnoreShutdown+"=1") },
			hang:   func(*testing.T, int) {},
		},
		{
			name: "plugin stopped",
			hang: func(t *testing.T, pid int) {
				if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, bundle{sha: "self"})
			p := h.mustStart(func(o *Options) {
				o.ShutdownTimeout = 300 * time.Millisecond
				o.PingInterval = time.Hour // the supervisor must not notice the hang first
				if tc.mutate != nil {
					tc.mutate(o)
				}
			})
			pid := p.State().PID
			tc.hang(t, pid)

			err := p.Close()
			if err == nil || !strings.Contains(err.Error(), "plugin did not exit within ") || !strings.HasSuffix(err.Error(), "; killed it") {
				t.Fatalf("Close = %v, want the forced kill reported", err)
			}
			if !processGone(pid) {
				t.Fatalf("plugin process %d survived Close", pid)
			}
			if got := p.State().Phase; got != PhaseClosed {
				t.Fatalf("phase = %v, want closed", got)
			}
			if again := p.Close(); again != err {
				t.Fatalf("second Close = %v, want the first result %v", again, err)
			}
		})
	}
}

// Options.Env reaches the plugin and wins over the host's environment.
func TestEnvOverridesHostEnvironment(t *testing.T) {
	t.Setenv(envPluginVersion, "from-host")
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{name: "inherited", want: "from-host"},
		{name: "Options.Env wins", env: []string{envPluginVersion + "=from-options"}, want: "from-options"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, bundle{sha: "self"})
			p := h.mustStart(func(o *Options) { o.Env = append(o.Env, tc.env...) })
			st, err := p.Status(context.Background())
			if err != nil || st.PluginVersion != tc.want {
				t.Fatalf("Status = %+v, %v; want plugin version %q", st, err, tc.want)
			}
		})
	}
}
