package notify

import (
	"context"
	"errors"
	"io"
	"log/slog"
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

type fakePlugins struct{ p *fakePlugin }

func (f fakePlugins) Active(context.Context) (bool, error) { return true, nil }
func (f fakePlugins) Plugin() (plugins.Plugin, error)      { return f.p, nil }

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
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "helpdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alice, err := st.CreateOperator(ctx, store.NewOperator{Username: "alice", Email: "alice@example.com", Role: store.RoleAgent, PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
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
