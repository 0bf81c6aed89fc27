package notify

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

type fakePlugin struct {
	contract.Plugin
	notices []contract.Notice
	asked   []contract.Actor
}

func (f *fakePlugin) ListNotices(_ context.Context, req contract.ListNoticesRequest) (contract.ListNoticesResponse, error) {
	f.asked = append(f.asked, req.Actor)
	var out contract.ListNoticesResponse
	for _, n := range f.notices {
		if n.ID > req.AfterID && len(out.Notices) < int(req.Limit) {
			out.Notices = append(out.Notices, n)
		}
	}
	return out, nil
}
func (f *fakePlugin) State() host.State { return host.State{Phase: host.PhaseRunning} }
func (f *fakePlugin) Close() error      { return nil }

// The lifecycle, for the plugin manager.
func (f *fakePlugin) Activate(context.Context, contract.ActivateRequest) (contract.ActivateResponse, error) {
	return contract.ActivateResponse{Status: contract.StatusResponse{Active: true}}, nil
}
func (f *fakePlugin) Deactivate(context.Context, contract.DeactivateRequest) (contract.DeactivateResponse, error) {
	return contract.DeactivateResponse{}, nil
}
func (f *fakePlugin) Uninstall(context.Context, contract.UninstallRequest) (contract.UninstallResponse, error) {
	return contract.UninstallResponse{}, nil
}

type fakePlugins struct{ p *fakePlugin }

func (f fakePlugins) Active(context.Context) (bool, error)          { return true, nil }
func (f fakePlugins) Ready(context.Context) (plugins.Plugin, error) { return f.p, nil }

// recorder keeps what was mailed; failAt makes that many-th send fail.
type recorder struct {
	mu     sync.Mutex
	sent   []mail.Message
	failAt int
}

func (r *recorder) Send(_ context.Context, m mail.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAt > 0 && len(r.sent)+1 == r.failAt {
		r.failAt = 0
		return errors.New("smtp: 451 try later")
	}
	r.sent = append(r.sent, m)
	return nil
}

func TestNoticesAreMailedOnceInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, alice := storeWithAlice(t)
	noMail, err := st.CreateOperator(ctx, store.NewOperator{Username: "nomail", Role: store.RoleAgent, PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_700_000_000, 0)
	id := func(o store.Operator) string { return strconv.FormatInt(o.ID, 10) }
	fp := &fakePlugin{notices: []contract.Notice{
		{ID: 3, At: at, OperatorID: id(alice), Kind: contract.NoticeBypassCodeIssued, Actor: "helen (help desk)"},
		{ID: 5, At: at, OperatorID: id(noMail), Kind: contract.NoticeDuoEnabled},
		{ID: 8, At: at, OperatorID: "999", Kind: contract.NoticeDuoEnabled},
		{ID: 9, At: at, OperatorID: id(alice), Kind: contract.NoticeBypassCodeUsed},
	}}
	rec := &recorder{failAt: 2}
	p := &Poller{Plugins: fakePlugins{fp}, Store: st, Mail: rec, Site: "Helpdesk", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	// The second mail fails: the first is sent, the cursor stops before the failure.
	n, err := p.Once(ctx)
	if err == nil || n != 1 || len(rec.sent) != 1 {
		t.Fatalf("first poll: sent %d, %v; want 1 and the mail error", n, err)
	}
	if c, _ := st.NoticeCursor(ctx); c != 8 {
		t.Fatalf("cursor after the failure = %d, want 8 (past the skipped ones, before the failed one)", c)
	}
	n, err = p.Once(ctx)
	if err != nil || n != 1 || len(rec.sent) != 2 {
		t.Fatalf("second poll: sent %d, %v", n, err)
	}
	if n, err := p.Once(ctx); err != nil || n != 0 {
		t.Fatalf("third poll sent %d, %v; want nothing again", n, err)
	}
	if c, _ := st.NoticeCursor(ctx); c != 9 {
		t.Fatalf("cursor = %d, want 9", c)
	}
	first, second := rec.sent[0], rec.sent[1]
	if first.To != "alice@example.com" || !strings.Contains(first.Text, "a bypass code was issued") || !strings.Contains(first.Text, "by helen (help desk)") {
		t.Fatalf("first mail = %+v", first)
	}
	if !strings.Contains(second.Text, "a bypass code was used to sign in") || strings.Contains(second.Text, " by ") {
		t.Fatalf("second mail = %+v", second)
	}
	for _, a := range fp.asked {
		if a.Role != contract.RoleSystem {
			t.Fatalf("notices asked as %+v, want the system role", a)
		}
	}
}

// senderFunc is a mail.Sender that runs a function.
type senderFunc func(context.Context, mail.Message) error

func (f senderFunc) Send(ctx context.Context, m mail.Message) error { return f(ctx, m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A reinstalled plugin has a fresh database that numbers its notices from
// 1 again: the uninstall resets the cursor, so its notices are mailed
// rather than skipped as already handled.
func TestNoticesAfterAReinstallAreMailed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "helpdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alice, err := st.CreateOperator(ctx, store.NewOperator{Username: "alice", Email: "alice@example.com", Role: store.RoleAgent, PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	aliceID := strconv.FormatInt(alice.ID, 10)
	at := time.Unix(1_700_000_000, 0)
	// Each start of the plugin process is the next of these.
	generations := []*fakePlugin{
		{notices: []contract.Notice{
			{ID: 1, At: at, OperatorID: aliceID, Kind: contract.NoticeDuoEnabled},
			{ID: 2, At: at, OperatorID: aliceID, Kind: contract.NoticeDuoEnrolled},
			{ID: 3, At: at, OperatorID: aliceID, Kind: contract.NoticeBypassCodeIssued},
		}},
		{notices: []contract.Notice{
			{ID: 1, At: at, OperatorID: aliceID, Kind: contract.NoticeDuoEnabled},
			{ID: 2, At: at, OperatorID: aliceID, Kind: contract.NoticeBackupCodesIssued},
		}},
	}
	started := 0
	bundle := filepath.Join(dir, "bundle")
	install := func() {
		t.Helper()
		if err := os.MkdirAll(bundle, 0o755); err != nil {
			t.Fatal(err)
		}
		manifest := `{"id":"duo-security","name":"Duo Security","version":"0.1.0","protocol_version":1,"executables":{"linux-amd64":{"path":"bin/duo-plugin"}}}`
		if err := os.WriteFile(filepath.Join(bundle, plugins.ManifestFile), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install()
	m, err := plugins.New(plugins.Config{
		Store: st, BundleDir: bundle, DataDir: filepath.Join(dir, "plugin-data"), CallbackURL: "http://h/cb", Logger: quiet(),
		Start: func(context.Context, string, plugins.Activation) (plugins.Plugin, error) {
			started++
			return generations[started-1], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	admin := contract.Actor{ID: "1", Username: "admin", Role: contract.RoleAdmin}
	rec := &recorder{}
	p := &Poller{Plugins: m, Store: st, Mail: rec, Site: "Helpdesk", Log: quiet()}

	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Activate(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Once(ctx); err != nil || n != 3 {
		t.Fatalf("first plugin: sent %d, %v; want 3", n, err)
	}
	if err := m.Deactivate(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Uninstall(ctx, admin, plugins.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := st.NoticeCursor(ctx); err != nil || c != 0 {
		t.Fatalf("cursor after the uninstall = %d, %v; want 0", c, err)
	}

	install()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Activate(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if started != 2 {
		t.Fatalf("plugin started %d times, want 2", started)
	}
	if n, err := p.Once(ctx); err != nil || n != 2 {
		t.Fatalf("reinstalled plugin: sent %d, %v; want its 2 notices", n, err)
	}
	if len(rec.sent) != 5 || !strings.Contains(rec.sent[4].Text, "backup codes were issued") {
		t.Fatalf("mails: %+v", rec.sent)
	}
	if c, err := st.NoticeCursor(ctx); err != nil || c != 2 {
		t.Fatalf("cursor = %d, %v; want 2", c, err)
	}
}

// A poll that read the cursor before an uninstall reset it does not put
// the old plugin's numbering back.
func TestAnUninstallDuringAPollKeepsTheReset(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, alice := storeWithAlice(t)
	if err := st.MarkPluginInstalled(ctx, plugins.ID, "/b", "/d", "0.1.0", "test"); err != nil {
		t.Fatal(err)
	}
	if err := st.AdvanceNoticeCursor(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_700_000_000, 0)
	aliceID := strconv.FormatInt(alice.ID, 10)
	fp := &fakePlugin{notices: []contract.Notice{
		{ID: 11, At: at, OperatorID: aliceID, Kind: contract.NoticeDuoDisabled},
		{ID: 12, At: at, OperatorID: aliceID, Kind: contract.NoticeDuoEnabled},
	}}
	sent := 0
	// The admin uninstalls while the first mail goes out.
	uninstallWhileSending := senderFunc(func(ctx context.Context, _ mail.Message) error {
		sent++
		if sent == 1 {
			return st.MarkPluginUninstalled(ctx, plugins.ID, "admin")
		}
		return nil
	})
	p := &Poller{Plugins: fakePlugins{fp}, Store: st, Mail: uninstallWhileSending, Site: "Helpdesk", Log: quiet()}
	if n, err := p.Once(ctx); !errors.Is(err, store.ErrCursorMoved) || n != 1 || sent != 1 {
		t.Fatalf("poll across an uninstall: sent %d (%d), %v; want 1 and ErrCursorMoved", n, sent, err)
	}
	if c, err := st.NoticeCursor(ctx); err != nil || c != 0 {
		t.Fatalf("cursor = %d, %v; want the uninstall's 0", c, err)
	}
}

// With several instances on one database, only the lease's holder polls:
// the other skips without an error, and no notice is mailed twice.
func TestOnlyTheLeaseHolderMails(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, alice := storeWithAlice(t)
	fp := &fakePlugin{notices: []contract.Notice{
		{ID: 1, At: time.Unix(1_700_000_000, 0), OperatorID: strconv.FormatInt(alice.ID, 10), Kind: contract.NoticeDuoEnabled},
	}}
	rec := &recorder{}
	poller := func(holder string) *Poller {
		return &Poller{Plugins: fakePlugins{fp}, Store: st, Mail: rec, Site: "Helpdesk", Log: quiet(),
			Lease: func(ctx context.Context) (bool, error) { return st.TakeLease(ctx, "notices", holder, time.Minute) }}
	}
	a, b := poller("a"), poller("b")
	if n, err := b.Once(ctx); err != nil || n != 1 {
		t.Fatalf("b, the first to ask: sent %d, %v; want 1", n, err)
	}
	fp.notices = append(fp.notices, contract.Notice{ID: 2, At: time.Unix(1_700_000_001, 0), OperatorID: strconv.FormatInt(alice.ID, 10), Kind: contract.NoticeDuoDisabled})
	if n, err := a.Once(ctx); err != nil || n != 0 {
		t.Fatalf("a while b holds the lease: sent %d, %v; want 0, no error", n, err)
	}
	if n, err := b.Once(ctx); err != nil || n != 1 || len(rec.sent) != 2 {
		t.Fatalf("b again: sent %d, %v (%d in all); want 1 (2)", n, err, len(rec.sent))
	}
}

// storeWithAlice opens a new helpdesk database, closed when the test ends,
// with the agent alice in it.
func storeWithAlice(t *testing.T) (*store.Store, store.Operator) {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "helpdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	alice, err := st.CreateOperator(t.Context(), store.NewOperator{Username: "alice", Email: "alice@example.com", Role: store.RoleAgent, PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	return st, alice
}
