package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// hotFree checks that every hot connection is back (none lost to an error).
func hotFree(t *testing.T, s *SQLite) {
	t.Helper()
	if s.hot == nil {
		t.Fatal("SQLite store without hot reads")
	}
	if n := len(s.hot.free); n != hotConns {
		t.Fatalf("%d hot connections free, want %d", n, hotConns)
	}
}

// The hot reads see, at the next read and on every hot connection, what
// another instance on the same file wrote: the toggle, a lock, the
// settings revision. (Each read is its own read transaction; a statement
// left open would keep its connection on an old snapshot.)
func TestHotReadsSeeAnotherWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), DBFile)
	a, b := openAt(t, path), openAt(t, path)
	ctx := context.Background()
	op := contract.Operator{ID: "h", Username: "hot"}
	if tg := toggle(t, a, op.ID); tg.Known || tg.Enabled {
		t.Fatalf("before any write: %+v", tg)
	}
	for i := range 3 * hotConns {
		on := i%2 == 0
		if _, err := b.SetOperatorEnabled(ctx, op, on, ev("operator.toggle")); err != nil {
			t.Fatal(err)
		}
		for range hotConns {
			if tg := toggle(t, a, op.ID); !tg.Known || tg.Enabled != on {
				t.Fatalf("write %d (enabled %v), read through a: %+v", i, on, tg)
			}
		}
	}
	now := time.Now()
	if _, err := b.RecordFailure(ctx, op, Lockout{Threshold: 1}, denial(now), lockEvent); err != nil {
		t.Fatal(err)
	}
	for range hotConns {
		if tg := toggle(t, a, op.ID); !tg.Locked(now.Add(time.Second)) {
			t.Fatalf("lock written by b, read through a: %+v", tg)
		}
	}
	for i := range hotConns + 1 {
		before := toggle(t, a, op.ID).SettingsRevision
		if err := b.SaveSettings(ctx, Settings{Values: map[string]string{"api_host": "api-1.duosecurity.com"}}, false, ev("settings.updated")); err != nil {
			t.Fatal(err)
		}
		for range hotConns {
			rev, err := a.SettingsRevision(ctx)
			if err != nil || rev <= before {
				t.Fatalf("save %d: revision %d before, %d after (%v)", i, before, rev, err)
			}
			if tg := toggle(t, a, op.ID); tg.SettingsRevision != rev {
				t.Fatalf("toggle's revision %d, SettingsRevision %d", tg.SettingsRevision, rev)
			}
		}
	}
	hotFree(t, a)
}

// An unreadable operators table fails every hot read (the login path
// then refuses), on every hot connection; put back, the reads work again
// on the same connections.
func TestHotReadUnreadableFails(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), DBFile)
	s := openAt(t, path)
	ctx := context.Background()
	toggle(t, s, "x") // prepared and used once
	raw, err := sqlitedb.Open(ctx, path, dbOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `ALTER TABLE operators RENAME TO operators_unreadable`); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * hotConns {
		if tg, err := s.OperatorToggle(ctx, "x"); err == nil {
			t.Fatalf("read %d with the table gone: %+v, no error", i, tg)
		}
	}
	if _, err := raw.ExecContext(ctx, `ALTER TABLE operators_unreadable RENAME TO operators`); err != nil {
		t.Fatal(err)
	}
	for range 2 * hotConns {
		toggle(t, s, "x")
	}
	hotFree(t, s)
}

// A call whose context has ended reads nothing.
func TestHotReadCancelledContext(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.OperatorToggle(ctx, "x"); err == nil {
		t.Fatal("OperatorToggle with a cancelled context: no error")
	}
	if _, err := s.SettingsRevision(ctx); err == nil {
		t.Fatal("SettingsRevision with a cancelled context: no error")
	}
	hotFree(t, s)
}

// More callers than hot connections: the rest take the pool's way, and
// every connection comes back.
func TestHotReadsConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := context.Background()
	if _, err := s.SetOperatorEnabled(ctx, contract.Operator{ID: "c", Username: "c"}, true, ev("operator.toggle")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 * hotConns {
		wg.Go(func() {
			for range 200 {
				tg, err := s.OperatorToggle(ctx, "c")
				if err != nil || !tg.Enabled {
					t.Errorf("%+v %v", tg, err)
					return
				}
			}
		})
	}
	wg.Wait()
	hotFree(t, s)
}

// Close closes the hot connections, also one in use at the time.
func TestHotReadsClose(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	hc := s.hot.get()
	if err := s.hot.close(); err != nil {
		t.Fatal(err)
	}
	s.hot.put(hc, nil)
	if n, free := s.hot.n, len(s.hot.free); n != 0 || free != 0 {
		t.Fatalf("after close: %d open, %d free", n, free)
	}
}
