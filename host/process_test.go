package host

import (
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
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host/internal/logbridge"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
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

// harness is one plugin bundle in a temp dir: plugin.json and the test
// binary (hard-linked or copied in).
type harness struct {
	t        *testing.T
	manifest string
	markers  string // the plugin writes one file per process started
	logs     *testlog.Buffer
	rec      *recorder
}

type bundle struct {
	sha            string // "" for none; "self" for the binary's real sum
	minHostVersion string
	protocol       int
	noBinary       bool
	symlinkOutside bool // the executable is a symlink to the test binary, outside the bundle
}

// placeBinary puts the test binary at dst, inside the bundle: a hard link,
// or a copy when dst is on another file system. Not a symlink: the SDK
// refuses an executable that resolves to outside its bundle.
func placeBinary(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Link(src, dst); err == nil {
		return
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	// The umask may have narrowed the mode.
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
}

func newHarness(t *testing.T, b bundle) *harness {
	t.Helper()
	bin, sum := selfBinary(t)
	dir := t.TempDir()
	h := &harness{t: t, markers: filepath.Join(dir, "markers"), logs: &testlog.Buffer{}, rec: &recorder{}}
	if err := os.Mkdir(h.markers, 0o755); err != nil {
		t.Fatal(err)
	}
	rel := filepath.ToSlash(filepath.Join("bin", runtime.GOOS+"-"+runtime.GOARCH, "duo-plugin"))
	if !b.noBinary {
		exe := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
			t.Fatal(err)
		}
		if b.symlinkOutside {
			symlink(t, bin, exe)
		} else {
			placeBinary(t, bin, exe)
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

// patience bounds every wait on the plugin process. It only keeps a
// broken test from hanging; nothing is asserted about how long it takes.
const patience = time.Minute

func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// hostRecord plays the host's own record of whether the plugin is active,
// as Options.Activation reads it. Every answer names itself in the actor
// (record-1, record-2, …, counting every ask), so the fake's x_activated_by
// setting tells which answer activated a process.
type hostRecord struct {
	mu         sync.Mutex
	active     bool
	err        error
	noDataDir  bool // answer a request the plugin refuses
	asked      int
	lastAnswer string
}

func (r *hostRecord) set(active bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active, r.err = active, err
}

func (r *hostRecord) activation(context.Context) (contract.ActivateRequest, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked++
	if r.err != nil {
		return contract.ActivateRequest{}, false, r.err
	}
	req := activate
	req.Actor = contract.Actor{ID: "record", Username: fmt.Sprintf("record-%d", r.asked)}
	if r.noDataDir {
		req.DataDir = ""
	}
	r.lastAnswer = req.Actor.Username
	return req, r.active, nil
}

// timesAsked returns how often Activation was called, and the actor of its
// last successful answer.
func (r *hostRecord) timesAsked() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asked, r.lastAnswer
}

var errRecord = errors.New("host database unreachable")

// activatedBy returns who activated the running process, failing the test
// if the plugin is not active.
func activatedBy(t *testing.T, p *Plugin) string {
	t.Helper()
	s, err := p.GetSettings(context.Background(), contract.GetSettingsRequest{})
	if err != nil {
		t.Fatalf("GetSettings: %v; want an active plugin", err)
	}
	return s.Values[settingActBy]
}

// requireInactive checks that the running process is inactive: it answers,
// and refuses settings and logins with ReasonInactive.
func requireInactive(t *testing.T, p *Plugin) {
	t.Helper()
	ctx := context.Background()
	if st, err := p.Status(ctx, contract.StatusRequest{}); err != nil || st.Active {
		t.Fatalf("Status = %+v, %v; want inactive", st, err)
	}
	if _, err := p.GetSettings(ctx, contract.GetSettingsRequest{}); contract.ReasonOf(err) != contract.ReasonInactive {
		t.Fatalf("GetSettings: reason %q (%v), want %q", contract.ReasonOf(err), err, contract.ReasonInactive)
	}
	if _, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: browser}); contract.ReasonOf(err) != contract.ReasonInactive {
		t.Fatalf("BeginLogin: reason %q (%v), want %q", contract.ReasonOf(err), err, contract.ReasonInactive)
	}
}

// killAndWaitRestart SIGKILLs the running process and waits for the next
// one to run; it returns the old pid.
func killAndWaitRestart(t *testing.T, p *Plugin) int {
	t.Helper()
	oldPID := p.State().PID
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, patience, "the plugin to be restarted", func() bool {
		st := p.State()
		return st.Phase == PhaseRunning && st.PID != oldPID
	})
	return oldPID
}

// startedPIDs returns the pids of every plugin process that got as far as
// main.
func (h *harness) startedPIDs() []int {
	h.t.Helper()
	entries, err := os.ReadDir(h.markers)
	if err != nil {
		h.t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			h.t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
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

	res, err := p.Activate(ctx, activate)
	if err != nil || !res.Status.Active || res.Status.PluginVersion != fakeVersion {
		t.Fatalf("Activate = %+v, %v", res, err)
	}
	const secret = "s3cr3t-VALUE-never-logged"
	if res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{
		Values: map[string]string{"client_id": "DIXXXXXXXXXXXXXXXXXX", fakeSecretKey: secret}, SkipDuoCheck: true, Actor: admin,
	}); err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: alice, Enabled: true, Actor: admin}); err != nil {
		t.Fatalf("SetOperatorEnabled: %v", err)
	}
	begin, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: browser})
	if err != nil || begin.Decision != contract.DecisionRedirect || begin.State != "state-42" {
		t.Fatalf("BeginLogin = %+v, %v; want a redirect", begin, err)
	}
	done, err := p.CompleteLogin(ctx, contract.CompleteLoginRequest{
		Operator: alice, SessionState: begin.State, CallbackState: begin.State, DuoCode: fakeGoodCode, Client: browser,
	})
	if err != nil || done.Decision != contract.DecisionAllowed {
		t.Fatalf("CompleteLogin = %+v, %v; want allowed", done, err)
	}
	if res, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: contract.Operator{ID: "7"}, Client: browser}); err != nil || res.Decision != contract.DecisionNotRequired {
		t.Fatalf("BeginLogin for an operator without Duo = %+v, %v; want not required", res, err)
	}
	if _, err := p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if _, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: browser}); contract.ReasonOf(err) != contract.ReasonInactive {
		t.Fatalf("BeginLogin after Deactivate: reason %q (%v), want %q", contract.ReasonOf(err), err, contract.ReasonInactive)
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
	_, err = p.Status(ctx, contract.StatusRequest{})
	if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonPluginUnavailable {
		t.Fatalf("Status after Close = %v (reason %q), want ErrClosed and ErrUnavailable with %q", err, contract.ReasonOf(err), contract.ReasonPluginUnavailable)
	}
	waitfor.Until(t, patience, "the closed state to be reported", func() bool { return len(h.rec.phases()) == 3 })
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
			// The sum would match: the binary is the test binary itself.
			name:    "executable symlinked to outside the bundle",
			bundle:  bundle{sha: "self", symlinkOutside: true},
			wantIs:  ErrNoExecutable,
			wantMsg: ", outside the plugin's directory ",
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
			if p != nil {
				t.Fatalf("Start returned a plugin with its error %v", err)
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
	if st, err := p.Status(context.Background(), contract.StatusRequest{}); err != nil || st.PluginVersion != fakeVersion {
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

// The first start applies Options.Activation too.
func TestStartAppliesActivation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		record     *hostRecord // nil: no Options.Activation
		wantErrIs  error
		wantErr    string
		wantActive bool
		wantLog    string
	}{
		{name: "record says active", record: &hostRecord{active: true}, wantActive: true},
		{name: "record says inactive", record: &hostRecord{}},
		{name: "no Activation"},
		{
			// Asked again and again until Start's context ends; no process
			// is ever started for a question that has no answer.
			name:      "record unreadable: Start fails and starts nothing",
			record:    &hostRecord{active: true, err: errRecord},
			wantErrIs: errRecord, wantErr: "ask the host whether the plugin is active: host database unreachable",
		},
		{
			// The plugin runs, refuses logins (inactive) and the log says why.
			name:    "plugin refuses the record's request",
			record:  &hostRecord{active: true, noDataDir: true},
			wantLog: "the host wants the plugin active, but activating the new process failed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, bundle{sha: "self"})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if tc.wantErrIs != nil {
				ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
			}
			defer cancel()
			p, err := Start(ctx, h.options(func(o *Options) {
				if tc.record != nil {
					o.Activation = tc.record.activation
				}
			}))
			if p != nil {
				t.Cleanup(func() { _ = p.Close() })
			}
			if tc.wantErrIs != nil {
				if err == nil || !errors.Is(err, tc.wantErrIs) || !strings.Contains(err.Error(), tc.wantErr) || p != nil {
					t.Fatalf("Start = %v, %v; want no plugin and an error matching %v containing %q", p, err, tc.wantErrIs, tc.wantErr)
				}
				if n, _ := tc.record.timesAsked(); n < 2 {
					t.Fatalf("Activation asked %d times; want it asked again until Start's context ended", n)
				}
				if pids := h.startedPIDs(); len(pids) != 0 {
					t.Fatalf("%d processes started for a record that could not be read, want none", len(pids))
				}
				return
			}
			if tc.record != nil {
				if n, _ := tc.record.timesAsked(); n != 1 {
					t.Fatalf("Activation asked %d times, want once", n)
				}
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if tc.wantActive {
				if by := activatedBy(t, p); by != "record-1" {
					t.Fatalf("activated by %q, want record-1 (the record's answer)", by)
				}
			} else {
				requireInactive(t, p)
			}
			if tc.wantLog != "" && !strings.Contains(h.logs.String(), tc.wantLog) {
				t.Fatalf("logs lack %q", tc.wantLog)
			}
		})
	}
}

func TestCrashRestart(t *testing.T) {
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
				_, err := p.BeginLogin(context.Background(), contract.BeginLoginRequest{Operator: contract.Operator{ID: opCrash}, Client: browser})
				if !errors.Is(err, ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonPluginUnavailable {
					t.Fatalf("BeginLogin on a crashing plugin = %v (reason %q), want ErrUnavailable", err, contract.ReasonOf(err))
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := newHarness(t, bundle{sha: "self"})
			rec := &hostRecord{active: true}
			p := h.mustStart(func(o *Options) { o.Activation = rec.activation })
			if by := activatedBy(t, p); by != "record-1" {
				t.Fatalf("first process activated by %q, want record-1", by)
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
						if _, err := p.Status(ctx, contract.StatusRequest{}); err != nil && !errors.Is(err, ErrUnavailable) {
							mu.Lock()
							bad = append(bad, err)
							mu.Unlock()
						}
					}
				}()
			}

			tc.crash(t, p, oldPID)
			waitfor.Until(t, patience, "the plugin to be restarted", func() bool {
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
			status, err := p.Status(ctx, contract.StatusRequest{})
			if err != nil || !status.Active {
				t.Fatalf("Status after restart = %+v, %v; want active (the record says so)", status, err)
			}
			// The new process was activated from a fresh answer of the
			// record, not from a remembered request.
			if by := activatedBy(t, p); by != "record-2" {
				t.Fatalf("the new process was activated by %q, want record-2", by)
			}
			if n, _ := rec.timesAsked(); n != 2 {
				t.Fatalf("Activation asked %d times, want 2 (one per process)", n)
			}
			waitfor.Until(t, patience, "the restart to be reported", func() bool { return len(h.rec.phases()) >= 5 })
			if got, want := h.rec.phases(), []Phase{PhaseStarting, PhaseRunning, PhaseDown, PhaseRestarting, PhaseRunning}; !slices.Equal(got, want) {
				t.Fatalf("reported phases %v, want %v", got, want)
			}
			if n := h.started(); n != 2 {
				t.Fatalf("%d processes started, want 2", n)
			}
		})
	}
}

// After a restart the plugin is as the host's record says, whatever the
// host did to the previous process: the SDK remembers no activation.
func TestRestartFollowsTheRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		record *hostRecord // nil: no Options.Activation
		// before changes the plugin (and the record) before the crash.
		before     func(t *testing.T, p *Plugin, rec *hostRecord)
		wantActive bool
		wantBy     string
	}{
		{
			name:   "record says inactive: an Activate by hand is not replayed",
			record: &hostRecord{},
			before: func(t *testing.T, p *Plugin, _ *hostRecord) {
				requireInactive(t, p)
				mustActivate(t, p)
				if by := activatedBy(t, p); by != admin.Username {
					t.Fatalf("activated by %q, want %q", by, admin.Username)
				}
			},
		},
		{
			name: "no Activation: the restarted process is inactive",
			before: func(t *testing.T, p *Plugin, _ *hostRecord) {
				requireInactive(t, p)
				mustActivate(t, p)
				if by := activatedBy(t, p); by != admin.Username {
					t.Fatalf("activated by %q, want %q", by, admin.Username)
				}
			},
		},
		{
			name:   "the host deactivated the plugin and its record",
			record: &hostRecord{active: true},
			before: func(t *testing.T, p *Plugin, rec *hostRecord) {
				if by := activatedBy(t, p); by != "record-1" {
					t.Fatalf("first process activated by %q, want record-1", by)
				}
				if _, err := p.Deactivate(context.Background(), contract.DeactivateRequest{Actor: admin}); err != nil {
					t.Fatalf("Deactivate: %v", err)
				}
				rec.set(false, nil)
			},
		},
		{
			name:   "the host activated the plugin and its record",
			record: &hostRecord{},
			before: func(t *testing.T, p *Plugin, rec *hostRecord) {
				mustActivate(t, p)
				rec.set(true, nil)
			},
			wantActive: true, wantBy: "record-2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, bundle{sha: "self"})
			p := h.mustStart(func(o *Options) {
				if tc.record != nil {
					o.Activation = tc.record.activation
				}
			})
			tc.before(t, p, tc.record)
			killAndWaitRestart(t, p)
			if tc.record != nil {
				if n, _ := tc.record.timesAsked(); n != 2 {
					t.Fatalf("Activation asked %d times, want 2 (one per process)", n)
				}
			}
			if !tc.wantActive {
				requireInactive(t, p)
				return
			}
			if by := activatedBy(t, p); by != tc.wantBy {
				t.Fatalf("the new process was activated by %q, want %q", by, tc.wantBy)
			}
		})
	}
}

// A host record that cannot be read after a crash is asked again, with
// backoff, before any process is started: no process is started and
// killed for it, and it never counts as a crash, so a short outage of the
// host's database cannot make the SDK give up on the plugin.
func TestUnreadableRecordIsAskedAgainNotCountedAsCrashes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, bundle{sha: "self"})
	rec := &hostRecord{active: true}
	p := h.mustStart(func(o *Options) {
		o.Activation = rec.activation
		o.MaxRestarts = 2 // the old behaviour (each failed ask a crash) would give up at once
		o.RestartBackoffMin, o.RestartBackoffMax = 20*time.Millisecond, 40*time.Millisecond
	})
	oldPID := p.State().PID

	rec.set(true, errRecord)
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, patience, "the record to be asked again and again", func() bool {
		n, _ := rec.timesAsked()
		return n >= 10
	})
	if st := p.State(); st.Phase != PhaseRestarting || st.Restarts != 1 {
		t.Fatalf("State = %+v while the record cannot be read; want restarting, after one restart", st)
	}
	if pids := h.startedPIDs(); len(pids) != 1 {
		t.Fatalf("%d processes started while the record could not be read, want only the first", len(pids))
	}
	_, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: browser})
	if !errors.Is(err, ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonPluginUnavailable {
		t.Fatalf("BeginLogin while the record cannot be read = %v (reason %q), want ErrUnavailable", err, contract.ReasonOf(err))
	}
	if !strings.Contains(h.logs.String(), "cannot ask the host whether the plugin is active; trying again") {
		t.Fatalf("the log does not say why the plugin is not back:\n%s", h.logs.String())
	}

	rec.set(true, nil)
	waitfor.Until(t, patience, "the plugin to come back", func() bool {
		st := p.State()
		return st.Phase == PhaseRunning && st.PID != oldPID
	})
	_, last := rec.timesAsked()
	if by := activatedBy(t, p); by != last || by == "record-1" {
		t.Fatalf("the new process was activated by %q, want the record's last answer %q", by, last)
	}
	if slices.Contains(h.rec.phases(), PhaseFailed) {
		t.Fatalf("reported phases %v; an unreadable record must be asked again, not given up on", h.rec.phases())
	}
}

func TestOutageFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, bundle{sha: "self"})
	// A restart that waits an hour: the outage lasts for the whole test.
	p := h.mustStart(func(o *Options) { o.RestartBackoffMin, o.RestartBackoffMax = time.Hour, time.Hour })
	mustActivate(t, p)
	pid := p.State().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, patience, "the plugin to be marked down", func() bool { return p.State().Phase == PhaseRestarting })
	// LastError is the exit, or the failed ping when the ping noticed first.
	if st := p.State(); st.PID != 0 || st.LastError == "" {
		t.Fatalf("State = %+v, want no pid and a LastError", st)
	}

	calls := []struct {
		name string
		call func() error
	}{
		{"Activate", func() error { _, err := p.Activate(ctx, activate); return err }},
		{"Deactivate", func() error { _, err := p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); return err }},
		{"Uninstall", func() error {
			_, err := p.Uninstall(ctx, contract.UninstallRequest{Confirm: contract.PluginID})
			return err
		}},
		{"Status", func() error { _, err := p.Status(ctx, contract.StatusRequest{}); return err }},
		{"GetSettings", func() error { _, err := p.GetSettings(ctx, contract.GetSettingsRequest{}); return err }},
		{"UpdateSettings", func() error { _, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{}); return err }},
		{"CheckDuo", func() error { _, err := p.CheckDuo(ctx, contract.CheckDuoRequest{}); return err }},
		{"SetOperatorEnabled", func() error {
			_, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: alice, Actor: admin})
			return err
		}},
		{"GetOperatorStates", func() error {
			_, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{"42"}})
			return err
		}},
		{"ListEnabledOperators", func() error {
			_, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: 10})
			return err
		}},
		{"SetOperatorAlias", func() error {
			_, err := p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: alice, Actor: admin})
			return err
		}},
		{"BeginLogin", func() error {
			res, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: browser})
			if !reflect.DeepEqual(res, contract.BeginLoginResponse{}) {
				return fmt.Errorf("non-zero response %+v", res)
			}
			return err
		}},
		{"CompleteLogin", func() error {
			res, err := p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: "s", CallbackState: "s", DuoCode: fakeGoodCode})
			if !reflect.DeepEqual(res, contract.CompleteLoginResponse{}) {
				return fmt.Errorf("non-zero response %+v", res)
			}
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonPluginUnavailable {
				t.Fatalf("%s during the outage = %v (reason %q), want ErrUnavailable", c.name, err, contract.ReasonOf(err))
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
	mustActivate(t, p)
	pid := p.State().PID

	res, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: contract.Operator{ID: opHang}, Client: browser})
	if !errors.Is(err, ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonDeadline || !reflect.DeepEqual(res, contract.BeginLoginResponse{}) {
		t.Fatalf("BeginLogin on a hung plugin = %+v, %v (reason %q); want ErrUnavailable with %q",
			res, err, contract.ReasonOf(err), contract.ReasonDeadline)
	}
	// One slow call is not a crash: the process keeps serving.
	if st, err := p.Status(ctx, contract.StatusRequest{}); err != nil || !st.Active {
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
	waitfor.Until(t, patience, "the supervisor to give up", func() bool { return p.State().Phase == PhaseFailed })

	st := p.State()
	if st.Restarts != 2 || st.PID != 0 {
		t.Fatalf("State = %+v, want 2 restart attempts and no pid", st)
	}
	if want := "gave up after 3 crashes within 1m0s: start plugin "; !strings.HasPrefix(st.LastError, want) {
		t.Fatalf("LastError = %q, want prefix %q", st.LastError, want)
	}
	_, err := p.BeginLogin(context.Background(), contract.BeginLoginRequest{Operator: alice, Client: browser})
	if !errors.Is(err, ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonPluginUnavailable ||
		!strings.Contains(err.Error(), "the plugin failed and will not be restarted") {
		t.Fatalf("BeginLogin after giving up = %v (reason %q), want ErrUnavailable", err, contract.ReasonOf(err))
	}
	if n := h.started(); n != 1 {
		t.Fatalf("%d processes got past the refusal, want 1", n)
	}
	waitfor.Until(t, patience, "the failure to be reported", func() bool {
		ph := h.rec.phases()
		return len(ph) > 0 && ph[len(ph)-1] == PhaseFailed
	})
	if err := p.Close(); err != nil {
		t.Fatalf("Close after failure: %v", err)
	}
}

// Start resolves the executable once for the first launch; every restart
// resolves it again, so a binary removed since fails for good, and
// clearly, instead of with an exec error on each of MaxRestarts tries.
func TestRestartLooksUpTheExecutableAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, bundle{sha: "self"})
	p := h.mustStart(nil)
	pid := p.State().PID
	exe := filepath.Join(filepath.Dir(h.manifest), "bin", runtime.GOOS+"-"+runtime.GOARCH, "duo-plugin")
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, patience, "the supervisor to give up", func() bool { return p.State().Phase == PhaseFailed })
	st := p.State()
	if want := "executable for " + runtime.GOOS + "-" + runtime.GOARCH + ": " + exe + " does not exist"; st.LastError != want || st.Restarts != 1 {
		t.Fatalf("State = %+v, want one restart and LastError %q", st, want)
	}
	if n := h.started(); n != 1 {
		t.Fatalf("%d processes started, want only the first", n)
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
			st, err := p.Status(context.Background(), contract.StatusRequest{})
			if err != nil || st.PluginVersion != tc.want {
				t.Fatalf("Status = %+v, %v; want plugin version %q", st, err, tc.want)
			}
		})
	}
}
