package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// fake is a plugin process as the SDK runs it: at start, and at every
// restart, it asks the activation callback and activates itself if told
// to. Only the lifecycle matters here.
type fake struct {
	contract.Plugin // nil: the login and settings hooks are not used here

	activation Activation

	mu        sync.Mutex
	active    bool
	phase     host.Phase
	down      bool // every call fails with host.ErrUnavailable
	refuse    bool // Activate fails with ReasonDataDirMismatch
	activates int
	closed    bool
	dataDir   string
	actor     string
}

// restart is the SDK replacing a crashed process: the new one starts
// inactive and is brought to what the activation callback says.
func (f *fake) restart(ctx context.Context) error {
	f.mu.Lock()
	f.active = false
	f.mu.Unlock()
	req, active, err := f.activation(ctx)
	if err != nil || !active {
		return err
	}
	_, err = f.Activate(ctx, req)
	return err
}

func (f *fake) err() error {
	if f.down {
		return fmt.Errorf("call: %w", host.ErrUnavailable)
	}
	return nil
}

func (f *fake) Activate(_ context.Context, req contract.ActivateRequest) (contract.ActivateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return contract.ActivateResponse{}, err
	}
	if f.refuse {
		return contract.ActivateResponse{}, contract.Errorf(contract.ReasonDataDirMismatch, "refused")
	}
	f.active, f.dataDir, f.actor = true, req.DataDir, req.Actor.Username
	f.activates++
	return contract.ActivateResponse{Status: contract.StatusResponse{Active: true}}, nil
}

func (f *fake) Deactivate(context.Context, contract.DeactivateRequest) (contract.DeactivateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return contract.DeactivateResponse{}, err
	}
	f.active = false
	return contract.DeactivateResponse{}, nil
}

func (f *fake) Uninstall(_ context.Context, req contract.UninstallRequest) (contract.UninstallResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.active {
		return contract.UninstallResponse{}, contract.Errorf(contract.ReasonActive, "active")
	}
	_ = os.Remove(filepath.Join(req.DataDir, "duo.db"))
	return contract.UninstallResponse{Removed: []string{filepath.Join(req.DataDir, "duo.db")}}, nil
}

func (f *fake) Status(context.Context, contract.StatusRequest) (contract.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return contract.StatusResponse{Active: f.active}, f.err()
}

func (f *fake) isActive() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active
}

func (f *fake) State() host.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return host.State{Phase: f.phase}
}

func (f *fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed, f.phase = true, host.PhaseClosed
	return nil
}

const manifest = `{"id":"duo-security","name":"Duo Security","version":"0.1.0","protocol_version":1,"executables":{"linux-amd64":{"path":"bin/duo-plugin"}}}`

type rig struct {
	mu      sync.Mutex // guards started, for tests that run Manager.Run
	st      *store.Store
	m       *Manager
	started []*fake
	bundle  string
	data    string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), filepath.Join(dir, "helpdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r := &rig{st: st, bundle: filepath.Join(dir, "bundle"), data: filepath.Join(dir, "plugin-data")}
	if err := os.MkdirAll(r.bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.bundle, ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.data, 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(r.data, "duo.db"), []byte("x"), 0o600)
	r.m, err = New(Config{
		Store: st, BundleDir: r.bundle, DataDir: r.data, CallbackURL: "http://h/cb",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Start:  r.start,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.m.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r
}

// start is the SDK's Start: a new process, activated as the callback says.
func (r *rig) start(ctx context.Context, _ string, activation Activation) (Plugin, error) {
	f := &fake{phase: host.PhaseRunning, activation: activation}
	r.mu.Lock()
	r.started = append(r.started, f)
	r.mu.Unlock()
	if err := f.restart(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

func (r *rig) current() *fake {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started[len(r.started)-1]
}

func TestInitRecordsTheBundleInactive(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rec, err := r.m.Record(t.Context())
	if err != nil || !rec.Installed || rec.Active || rec.Version != "0.1.0" {
		t.Fatalf("record %+v %v", rec, err)
	}
	if len(r.started) != 1 || r.current().activates != 0 {
		t.Fatal("want the process started and not activated")
	}
}

func TestActivateThenRestartReactivates(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := t.Context()
	if _, err := r.m.Activate(ctx, Actor{ID: "1", Username: "admin"}); err != nil {
		t.Fatal(err)
	}
	if active, _ := r.m.Active(ctx); !active || r.current().dataDir != r.data || r.current().actor != "admin" {
		t.Fatal("not recorded active, or activated with the wrong data dir or actor")
	}
	// A new helpdesk process on the same database: the SDK activates the
	// plugin at start because the record says so.
	r2 := &rig{st: r.st}
	m2, _ := New(Config{Store: r.st, BundleDir: r.bundle, DataDir: r.data, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Start: r2.start})
	if err := m2.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if r2.current().activates != 1 || r2.current().actor != startActor.Username {
		t.Fatalf("not activated at start-up (activates %d, actor %q)", r2.current().activates, r2.current().actor)
	}
	// A failed process is replaced by Restart and activated again.
	r.current().phase = host.PhaseFailed
	if err := r.m.Restart(ctx, Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if len(r.started) != 2 || !r.started[0].closed || r.current().activates != 1 {
		t.Fatal("restart did not replace and re-activate the process")
	}
}

// An admin activating a plugin whose process is not running (it failed,
// or was closed) activates it themselves: the new process is started
// while the record still says inactive, so the SDK does not activate it
// first as the system, and the plugin's log names the admin.
func TestActivateStartsTheProcessThenActivatesAsTheAdmin(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := t.Context()
	r.current().phase = host.PhaseClosed
	if _, err := r.m.Activate(ctx, Actor{ID: "1", Username: "admin"}); err != nil {
		t.Fatal(err)
	}
	if len(r.started) != 2 {
		t.Fatalf("%d processes started, want a second one", len(r.started))
	}
	if f := r.current(); f.activates != 1 || f.actor != "admin" {
		t.Fatalf("the new process was activated %d times, last by %q; want once, by the admin", f.activates, f.actor)
	}
}

// The SDK restarting a crashed process asks the record: active comes back
// active, inactive stays inactive. Nothing is reconciled afterwards.
func TestSDKRestartFollowsTheRecord(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := t.Context()
	if _, err := r.m.Activate(ctx, Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.current().restart(ctx); err != nil || !r.current().isActive() {
		t.Fatalf("after a crash with the record active: active=%t, %v", r.current().isActive(), err)
	}
	r.current().down = true
	if err := r.m.Deactivate(ctx, Actor{ID: "1"}); !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("deactivate with the plugin down: %v", err)
	}
	if active, _ := r.m.Active(ctx); active {
		t.Fatal("the record must say inactive even though the plugin did not answer")
	}
	r.current().down = false
	if err := r.current().restart(ctx); err != nil || r.current().isActive() {
		t.Fatalf("after a crash with the record inactive: active=%t, %v", r.current().isActive(), err)
	}
}

// A plugin refusing activation leaves the record inactive, so a restart
// does not keep activating it and the login path does not expect Duo.
func TestRefusedActivationLeavesTheRecordInactive(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := t.Context()
	r.current().refuse = true
	_, err := r.m.Activate(ctx, Actor{ID: "1"})
	if contract.ReasonOf(err) != contract.ReasonDataDirMismatch {
		t.Fatalf("activate refused by the plugin: %v", err)
	}
	if active, _ := r.m.Active(ctx); active {
		t.Fatal("the record says active after the plugin refused")
	}
}

// After a break-glass deactivation (the record only), the process may still
// be active in memory; Uninstall deactivates it first.
func TestUninstallAfterBreakGlass(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := t.Context()
	if _, err := r.m.Activate(ctx, Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.SetPluginActive(ctx, ID, false, "break-glass"); err != nil {
		t.Fatal(err)
	}
	if !r.current().isActive() {
		t.Fatal("setup: the process should still be active in memory")
	}
	if _, err := r.m.Uninstall(ctx, Actor{ID: "1"}, ID); err != nil {
		t.Fatalf("uninstall after break-glass: %v", err)
	}
}

func TestUninstall(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := t.Context()
	if _, err := r.m.Activate(ctx, Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Uninstall(ctx, Actor{ID: "1"}, ID); !errors.Is(err, ErrActive) {
		t.Fatalf("uninstall while active: %v", err)
	}
	if err := r.m.Deactivate(ctx, Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Uninstall(ctx, Actor{ID: "1"}, "duo"); !errors.Is(err, ErrConfirmation) {
		t.Fatalf("wrong confirmation: %v", err)
	}
	if _, err := os.Stat(r.bundle); err != nil {
		t.Fatal("bundle removed after a refused uninstall")
	}
	// The helpdesk has mailed the notices up to 42.
	if err := r.st.AdvanceNoticeCursor(ctx, 0, 42); err != nil {
		t.Fatal(err)
	}
	if c, err := r.st.NoticeCursor(ctx); err != nil || c != 42 {
		t.Fatalf("cursor after refused uninstalls = %d, %v; want 42 still", c, err)
	}
	removed, err := r.m.Uninstall(ctx, Actor{ID: "1"}, ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{r.bundle, r.data} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there", dir)
		}
	}
	if len(removed) != 3 || !r.current().closed {
		t.Fatalf("removed %v; closed %v", removed, r.current().closed)
	}
	if rec, _ := r.m.Record(ctx); rec.Installed {
		t.Fatal("still recorded installed")
	}
	// A reinstalled plugin numbers its notices from 1 again.
	if c, err := r.st.NoticeCursor(ctx); err != nil || c != 0 {
		t.Fatalf("notice cursor after the uninstall = %d, %v; want 0", c, err)
	}
	if _, err := r.m.Plugin(); !errors.Is(err, ErrNotRunning) || !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("Plugin() after uninstall: %v", err)
	}
	if _, err := r.m.Activate(ctx, Actor{ID: "1"}); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("activate after uninstall: %v", err)
	}
}

func TestRemoveDirRefusesTheObvious(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"/", "relative/dir", ""} {
		if err := removeDir(d); err == nil {
			t.Errorf("removeDir(%q) did not refuse", d)
		}
	}
}

// With an install root, each start runs the current release, read again at
// that start: an install (a new current pointer) takes effect at the next
// start, and a root with nothing installed is a start error matching
// host.ErrNotInstalled, never a fall back to another bundle.
func TestInstallRootStartsTheCurrentReleaseAtEachStart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "helpdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	root := filepath.Join(dir, "plugins", ID)
	release := func(name, version string) string {
		d := filepath.Join(root, "releases", name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, ManifestFile), []byte(strings.Replace(manifest, `"0.1.0"`, `"`+version+`"`, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		// What host.Install's switch leaves: current names the release.
		if err := os.WriteFile(filepath.Join(root, "current"), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	var paths []string
	r := &rig{st: st}
	start := func(ctx context.Context, p string, a Activation) (Plugin, error) {
		paths = append(paths, p)
		return r.start(ctx, p, a)
	}
	newManager := func() *Manager {
		m, err := New(Config{Store: st, BundleDir: root, InstallRoot: true, DataDir: filepath.Join(dir, "data"),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Start: start})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		return m
	}

	// Nothing installed yet, but the record says installed (an admin
	// removed the root): a start error that says so.
	if err := st.MarkPluginInstalled(ctx, ID, root, filepath.Join(dir, "data"), "0.1.0", "test"); err != nil {
		t.Fatal(err)
	}
	m := newManager()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.StartError(); !errors.Is(err, host.ErrNotInstalled) || len(paths) != 0 {
		t.Fatalf("StartError = %v after %d starts; want host.ErrNotInstalled and none", err, len(paths))
	}

	first := release("0.1.0-aaaa", "0.1.0")
	m = newManager()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0] != filepath.Join(first, ManifestFile) || m.Release() != first || m.StartError() != nil {
		t.Fatalf("started %q, Release %q, StartError %v; want %s", paths, m.Release(), m.StartError(), first)
	}
	second := release("0.2.0-bbbb", "0.2.0")
	if m.Release() != first {
		t.Fatalf("Release() = %q before a restart; want %q", m.Release(), first)
	}
	if err := m.Restart(ctx, Actor{ID: "1", Username: "admin"}); err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 || paths[1] != filepath.Join(second, ManifestFile) || m.Release() != second {
		t.Fatalf("after Restart: started %q, Release %q; want %s", paths, m.Release(), second)
	}
	if rec, err := m.Record(ctx); err != nil || rec.Version != "0.2.0" || m.Manifest().Version != "0.2.0" {
		t.Fatalf("after Restart: record %+v, %v, manifest %+v; want version 0.2.0", rec, err, m.Manifest())
	}
}
