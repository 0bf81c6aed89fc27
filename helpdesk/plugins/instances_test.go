package plugins

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
)

// second is another helpdesk instance on a's database: its own manager and
// plugin process (its own bundle and data directories, as on another host).
func second(t *testing.T, a *rig) *rig {
	t.Helper()
	b := &rig{st: a.st, bundle: a.bundle, data: t.TempDir()}
	var err error
	b.m, err = New(Config{
		Store: a.st, BundleDir: b.bundle, DataDir: b.data, CallbackURL: "http://h/cb", Instance: "b",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Start: b.start, ReconcileInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.m.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	return b
}

// An admin's Activate and Deactivate on instance a hold on instance b at
// its next use of the plugin: b's own process is activated (once, by the
// helpdesk, not in the admin's name) and deactivated to follow the shared
// record.
func TestAnotherInstanceFollowsTheRecord(t *testing.T) {
	t.Parallel()
	a := newRig(t)
	b := second(t, a)
	ctx := t.Context()
	if p, err := b.m.Ready(ctx); err != nil || b.current().isActive() || p != Plugin(b.current()) {
		t.Fatalf("b before any activation: %v, active %t", err, b.current().isActive())
	}
	if _, err := a.m.Activate(ctx, Actor{ID: "1", Username: "admin"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.m.Ready(ctx); err != nil {
			t.Fatalf("b after a's activation: %v", err)
		}
	}
	if f := b.current(); !f.isActive() || f.activates != 1 || f.actor != reconcileActor.Username || f.dataDir != b.data {
		t.Fatalf("b's process: active %t, activated %d times, last by %q in %q; want once, by the helpdesk, in b's data dir",
			f.isActive(), f.activates, f.actor, f.dataDir)
	}
	if len(b.started) != 1 {
		t.Fatalf("b started %d processes, want its one", len(b.started))
	}
	if err := a.m.Deactivate(ctx, Actor{ID: "1", Username: "admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Reconcile(ctx); err != nil || b.current().isActive() {
		t.Fatalf("b after a's deactivation: active %t, %v", b.current().isActive(), err)
	}
	// A break-glass deactivation (the record only) holds on both.
	if _, err := a.m.Activate(ctx, Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.st.SetPluginActive(ctx, ID, false, "break-glass"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*rig{a, b} {
		if _, err := r.m.Ready(ctx); err != nil || r.current().isActive() {
			t.Fatalf("after break-glass: active %t, %v", r.current().isActive(), err)
		}
	}
}

// b fails closed when the record says active but its own process cannot
// be activated: Ready's error is the one the login path refuses on.
func TestAnotherInstanceFailsClosed(t *testing.T) {
	t.Parallel()
	a := newRig(t)
	b := second(t, a)
	ctx := t.Context()
	b.current().refuse = true
	if _, err := a.m.Activate(ctx, Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Ready(ctx); !errors.Is(err, ErrNotRunning) || !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("b's Ready with its process refusing activation: %v; want ErrNotRunning, host.ErrUnavailable", err)
	}
	b.current().refuse = false
	if _, err := b.m.Ready(ctx); err != nil || !b.current().isActive() {
		t.Fatalf("b once its process accepts: active %t, %v", b.current().isActive(), err)
	}
}

// Uninstall is refused while another instance reports a running plugin
// process; once it is gone, the uninstall goes ahead, and an instance that
// learns of it stops its process, then follows a reinstall.
func TestUninstallWithAnotherInstance(t *testing.T) {
	t.Parallel()
	a := newRig(t)
	b := second(t, a)
	ctx := t.Context()
	runCtx, stop := contextWithCancel(t)
	done := make(chan struct{})
	go func() { b.m.Run(runCtx); close(done) }()
	waitfor.Until(t, 5*time.Second, "b reports its running plugin", func() bool {
		in, err := a.st.OtherPluginProcesses(ctx, a.m.InstanceID(), time.Now().Add(-time.Minute))
		return err == nil && len(in) == 1 && in[0].Name == "b"
	})
	if _, err := a.m.Uninstall(ctx, Actor{ID: "1"}, ID); !errors.Is(err, ErrOtherInstances) || err.Error() != ErrOtherInstances.Error()+" (running on b)" {
		t.Fatalf("uninstall while b runs the plugin: %v; want ErrOtherInstances", err)
	}
	if rec, _ := a.m.Record(ctx); !rec.Installed {
		t.Fatal("a refused uninstall changed the record")
	}
	stop()
	<-done

	// b's process is still there (as if b were stopped without a word);
	// its report is forgotten, as Close does.
	if err := a.st.ForgetInstance(ctx, b.m.InstanceID()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.Uninstall(ctx, Actor{ID: "1"}, ID); err != nil {
		t.Fatalf("uninstall with b gone: %v", err)
	}
	if _, err := b.m.Ready(ctx); !errors.Is(err, ErrNotRunning) || !b.current().closed {
		t.Fatalf("b after the uninstall: %v, closed %t; want its process stopped", err, b.current().closed)
	}
	// Reinstalled and activated elsewhere: b starts a process and it is
	// activated from the record.
	if err := a.st.MarkPluginInstalled(ctx, ID, a.bundle, a.data, "0.1.0", "reinstall"); err != nil {
		t.Fatal(err)
	}
	if err := a.st.SetPluginActive(ctx, ID, true, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Ready(ctx); err != nil || len(b.started) != 2 || !b.current().isActive() {
		t.Fatalf("b after the reinstall: %v, %d processes, active %t", err, len(b.started), b.current().isActive())
	}
}

// Run brings an idle instance to the record without any request.
func TestRunFollowsTheRecord(t *testing.T) {
	t.Parallel()
	a := newRig(t)
	b := second(t, a)
	runCtx, stop := contextWithCancel(t)
	done := make(chan struct{})
	go func() { b.m.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	if _, err := a.m.Activate(t.Context(), Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 5*time.Second, "b's process active", b.current().isActive)
	if err := a.m.Deactivate(t.Context(), Actor{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 5*time.Second, "b's process inactive", func() bool { return !b.current().isActive() })
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}
