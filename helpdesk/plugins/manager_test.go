package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
)

// fake is a plugin process; only the lifecycle matters here.
type fake struct {
	Plugin // nil: the login and settings hooks are not used here

	mu        sync.Mutex
	active    bool
	phase     host.Phase
	down      bool // every call fails with host.ErrUnavailable
	activates int
	closed    bool
	dataDir   string
}

func (f *fake) err() error {
	if f.down {
		return fmt.Errorf("call: %w", host.ErrUnavailable)
	}
	return nil
}

func (f *fake) Activate(_ context.Context, req host.ActivateRequest) (host.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return host.Status{}, err
	}
	f.active, f.dataDir = true, req.DataDir
	f.activates++
	return host.Status{Active: true}, nil
}

func (f *fake) Deactivate(context.Context, host.Actor) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return err
	}
	f.active = false
	return nil
}

func (f *fake) Uninstall(_ context.Context, req host.UninstallRequest) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.active {
		return nil, errors.New("active")
	}
	_ = os.Remove(filepath.Join(req.DataDir, "duo.db"))
	return []string{filepath.Join(req.DataDir, "duo.db")}, nil
}

func (f *fake) Status(context.Context) (host.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return host.Status{Active: f.active}, f.err()
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
		Start: func(context.Context, string) (Plugin, error) {
			f := &fake{phase: host.PhaseRunning}
			r.started = append(r.started, f)
			return f, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.m.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) current() *fake { return r.started[len(r.started)-1] }

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
	if _, err := r.m.Activate(ctx, Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if active, _ := r.m.Active(ctx); !active || r.current().dataDir != r.data {
		t.Fatal("not recorded active, or activated with the wrong data dir")
	}
	// A new helpdesk process on the same database re-activates at Init.
	r2 := &rig{st: r.st}
	m2, _ := New(Config{Store: r.st, BundleDir: r.bundle, DataDir: r.data, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Start: func(context.Context, string) (Plugin, error) {
			f := &fake{phase: host.PhaseRunning}
			r2.started = append(r2.started, f)
			return f, nil
		}})
	if err := m2.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if r2.current().activates != 1 {
		t.Fatal("not re-activated at start-up")
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

func TestDeactivateWhilePluginDown(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := t.Context()
	if _, err := r.m.Activate(ctx, Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	r.current().down = true
	err := r.m.Deactivate(ctx, Actor{ID: "1"})
	if !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("deactivate with the plugin down: %v", err)
	}
	if active, _ := r.m.Active(ctx); active {
		t.Fatal("the record must say inactive even though the plugin did not answer")
	}
	// When it answers again, reconciliation tells it.
	r.current().down = false
	r.m.Reconcile(ctx)
	if r.current().active {
		t.Fatal("reconcile did not deactivate the plugin")
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
