package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func openTemp(t testing.TB) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "duo.db")
	return openAt(t, path), path
}

// openAt opens the store at path (again, after a Close), closed when the
// test ends.
func openAt(t testing.TB, path string) *SQLite {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ev(kind string) Event {
	return Event{At: time.Unix(1_700_000_000, 0), Kind: kind, Actor: "admin"}
}

func TestOpenAppliesPragmasAndMigrations(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := context.Background()
	pragmas := []struct {
		name string
		want string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", "10000"},
	}
	// On the write connection, in a durable write.
	for _, p := range pragmas {
		var got string
		if err := s.tx(ctx, "pragma", func(tx *txn) error { return tx.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(&got) }); err != nil {
			t.Fatalf("PRAGMA %s: %v", p.name, err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %q, want %q", p.name, got, p.want)
		}
	}
	// The read pool reads only.
	var queryOnly string
	if err := s.db.QueryRowContext(ctx, "PRAGMA query_only").Scan(&queryOnly); err != nil || queryOnly != "1" {
		t.Errorf("PRAGMA query_only on the read pool = %q, %v; want 1", queryOnly, err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM settings`); err == nil {
		t.Error("a write through the read pool succeeded")
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := LatestSchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v != latest || v < 1 {
		t.Fatalf("schema version = %d, latest = %d", v, latest)
	}
}

func TestReopenIsIdempotentAndKeepsData(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := context.Background()
	if _, err := s.SetOperatorEnabled(ctx, contract.Operator{ID: "1", Username: "alice"}, true, ev("operator.enabled")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path)
	got, err := s2.OperatorStates(ctx, []string{"1"})
	if err != nil {
		t.Fatal(err)
	}
	if !got["1"].Enabled || got["1"].Username != "alice" {
		t.Fatalf("after reopen: %+v", got["1"])
	}
}

func TestNewerSchemaRefusedAndUntouched(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := context.Background()
	if _, err := s.execForTest(ctx, `INSERT INTO `+MigrationsTable+` (version_id, is_applied) VALUES (9999, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetOperatorEnabled(ctx, contract.Operator{ID: "1", Username: "alice"}, true, ev("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, path)

	_, err := OpenSQLite(ctx, path)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("err = %v, want ErrSchemaTooNew", err)
	}
	if after := fileHash(t, path); after != before {
		t.Fatal("refused database was modified")
	}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestOperatorStatesDefaultDisabled(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		if _, err := s.SetOperatorEnabled(ctx, contract.Operator{ID: "a", Username: "alice", Email: "alice@example.com"}, true, ev("operator.enabled")); err != nil {
			t.Fatal(err)
		}
		ids := []string{"a", "unknown"}
		for i := range 1200 { // more than one batch
			ids = append(ids, fmt.Sprintf("bulk-%d", i))
		}
		got, err := s.OperatorStates(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ids) {
			t.Fatalf("got %d states for %d ids", len(got), len(ids))
		}
		if a := got["a"]; !a.Enabled || a.ChangedBy != "admin" || a.ChangedAt.Unix() != 1_700_000_000 || a.Email != "alice@example.com" {
			t.Fatalf("a = %+v", a)
		}
		if u := got["unknown"]; u.Enabled || u.OperatorID != "unknown" {
			t.Fatalf("unknown = %+v", u)
		}
		for id, want := range map[string]Toggle{"a": {Known: true, Enabled: true}, "unknown": {}} {
			if tg, err := s.OperatorToggle(ctx, id); err != nil || tg != want {
				t.Fatalf("OperatorToggle(%s) = %+v, %v; want %+v", id, tg, err, want)
			}
		}
		// The toggle carries the settings revision: the login path's one read.
		if err := s.SaveSettings(ctx, Settings{Values: map[string]string{"api_host": "api-1.duosecurity.com"}}, false, ev("settings.updated")); err != nil {
			t.Fatal(err)
		}
		rev, err := s.SettingsRevision(ctx)
		if err != nil || rev == 0 {
			t.Fatalf("revision after a save: %d, %v", rev, err)
		}
		for _, id := range []string{"a", "unknown"} {
			if tg, err := s.OperatorToggle(ctx, id); err != nil || tg.SettingsRevision != rev {
				t.Fatalf("OperatorToggle(%s) = %+v, %v; want revision %d", id, tg, err, rev)
			}
		}
	})
}

func TestListEnabledPages(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		for i := range 7 {
			id := fmt.Sprintf("op-%02d", i)
			if _, err := s.SetOperatorEnabled(ctx, contract.Operator{ID: id, Username: id}, i != 3, ev("operator.enabled")); err != nil {
				t.Fatal(err)
			}
		}
		var seen []string
		after := ""
		for {
			page, err := s.ListEnabled(ctx, after, 4)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page {
				seen = append(seen, p.OperatorID)
			}
			if len(page) < 4 {
				break
			}
			after = page[len(page)-1].OperatorID
		}
		want := []string{"op-00", "op-01", "op-02", "op-04", "op-05", "op-06"}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Fatalf("listed %v, want %v", seen, want)
		}
	})
}

func TestConsumePendingLogin(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		now := time.Unix(1_700_000_000, 0)
		h := sha256.Sum256([]byte("state"))
		p := PendingLogin{StateHash: h[:], OperatorID: "a", DuoUsername: "alice", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
		if err := s.CreatePendingLogin(ctx, p, ev("login.begin")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConsumePendingLogin(ctx, h[:], "b", now); !errors.Is(err, ErrConsumed) {
			t.Fatalf("other operator: %v", err)
		}
		if _, err := s.ConsumePendingLogin(ctx, h[:], "a", now.Add(6*time.Minute)); !errors.Is(err, ErrConsumed) {
			t.Fatalf("expired: %v", err)
		}
		got, err := s.ConsumePendingLogin(ctx, h[:], "a", now)
		if err != nil || got.DuoUsername != "alice" || !got.ExpiresAt.Equal(now.Add(5*time.Minute)) || !got.BackupCodesIssuedAt.IsZero() {
			t.Fatalf("first consume: %+v %v", got, err)
		}
		if _, err := s.ConsumePendingLogin(ctx, h[:], "a", now); !errors.Is(err, ErrConsumed) {
			t.Fatalf("replay: %v", err)
		}

		// The consume also says when the operator's backup codes were issued.
		enabledOperator(t, s, "a")
		withCodes(t, s, "a", "a", 3)
		h2 := sha256.Sum256([]byte("state 2"))
		if err := s.CreatePendingLogin(ctx, PendingLogin{StateHash: h2[:], OperatorID: "a", DuoUsername: "alice", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}, ev("login.begin")); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ConsumePendingLogin(ctx, h2[:], "a", now); err != nil || !got.BackupCodesIssuedAt.Equal(t0) {
			t.Fatalf("consume by an operator with codes: %+v %v; want codes issued at %v", got, err, t0)
		}
	})
}

func TestConsumePendingLoginConcurrentExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		now := time.Now()
		h := sha256.Sum256([]byte("race"))
		if err := s.CreatePendingLogin(ctx, PendingLogin{StateHash: h[:], OperatorID: "a", DuoUsername: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, ev("login.begin")); err != nil {
			t.Fatal(err)
		}
		var wins, losses atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.ConsumePendingLogin(ctx, h[:], "a", now)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, ErrConsumed):
					losses.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || losses.Load() != 15 {
			t.Fatalf("wins=%d losses=%d", wins.Load(), losses.Load())
		}
	})
}

func TestSettingsRoundTripAndAudit(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		in := Settings{Values: map[string]string{"client_id": "DIXXXXXXXXXXXXXXXXXX"}, Secrets: map[string][]byte{"client_secret": {1, 2, 3}}}
		if err := s.SaveSettings(ctx, in, false, ev("settings.updated")); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadSettings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Values["client_id"] != "DIXXXXXXXXXXXXXXXXXX" || string(got.Secrets["client_secret"]) != "\x01\x02\x03" || got.Revision != 1 {
			t.Fatalf("got %+v, want the values saved at revision 1", got)
		}
		if rev, err := s.SettingsRevision(ctx); err != nil || rev != 1 {
			t.Fatalf("SettingsRevision = %d, %v; want 1", rev, err)
		}
		events, err := s.Events(ctx, 0, 10)
		if err != nil || len(events) != 1 || events[0].Kind != "settings.updated" || events[0].Actor != "admin" {
			t.Fatalf("events = %+v, %v", events, err)
		}
	})
}

func TestDuoUsernameIsHeldByOneOperator(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		alice := contract.Operator{ID: "a", Username: "alice"}
		bob := contract.Operator{ID: "b", Username: "bob"}
		for _, op := range []contract.Operator{alice, bob} {
			if _, err := s.SetOperatorEnabled(ctx, op, true, ev("operator.enabled")); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Unix(1_700_000_000, 0)
		pending := func(op, name, state string) error {
			h := sha256.Sum256([]byte(state))
			return s.CreatePendingLogin(ctx, PendingLogin{StateHash: h[:], OperatorID: op, DuoUsername: name, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, ev("login.begin"))
		}
		if err := pending("a", "alice", "s1"); err != nil {
			t.Fatalf("alice claims alice: %v", err)
		}
		if err := pending("a", "alice", "s2"); err != nil {
			t.Fatalf("alice claims alice again: %v", err)
		}

		// Bob's login resolving to alice's Duo username is refused, and leaves
		// no pending login behind.
		err := pending("b", "alice", "s3")
		var taken *DuoUsernameTakenError
		if !errors.As(err, &taken) || !errors.Is(err, ErrDuoUsernameTaken) || taken.HolderID != "a" || taken.DuoUsername != "alice" {
			t.Fatalf("bob claims alice: %v, want held by a", err)
		}
		h := sha256.Sum256([]byte("s3"))
		if _, err := s.LookupPendingLogin(ctx, h[:]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("refused login left a pending row: %v", err)
		}

		// So is an alias naming it, and nothing changes.
		if _, err := s.SetOperatorAlias(ctx, bob, "alice", ev("operator.alias")); !errors.As(err, &taken) || taken.HolderID != "a" {
			t.Fatalf("bob's alias alice: %v", err)
		}
		if tg, err := s.OperatorToggle(ctx, "b"); err != nil || tg != (Toggle{Known: true, Enabled: true}) {
			t.Fatalf("refused alias was saved: %+v, %v", tg, err)
		}

		// Alice takes an alias: her old claim is released and bob may have it.
		if _, err := s.SetOperatorAlias(ctx, alice, "alice.smith", ev("operator.alias")); err != nil {
			t.Fatal(err)
		}
		if tg, err := s.OperatorToggle(ctx, "a"); err != nil || tg != (Toggle{Known: true, Enabled: true, DuoAlias: "alice.smith"}) {
			t.Fatalf("alice's toggle = %+v, %v", tg, err)
		}
		if err := pending("b", "alice", "s4"); err != nil {
			t.Fatalf("bob claims the released name: %v", err)
		}
		if err := pending("a", "alice", "s5"); !errors.As(err, &taken) || taken.HolderID != "b" {
			t.Fatalf("alice back to alice: %v, want held by b", err)
		}
	})
}

func TestChangedUsernameFormatForgetsDerivedClaimsOnly(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		now := time.Unix(1_700_000_000, 0)
		a, b := contract.Operator{ID: "a", Username: "x"}, contract.Operator{ID: "b", Username: "y"}
		for _, op := range []contract.Operator{a, b} {
			if _, err := s.SetOperatorEnabled(ctx, op, true, ev("operator.enabled")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetOperatorAlias(ctx, b, "bee", ev("operator.alias")); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte("s"))
		if err := s.CreatePendingLogin(ctx, PendingLogin{StateHash: h[:], OperatorID: "a", DuoUsername: "x", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, ev("login.begin")); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSettings(ctx, Settings{Values: map[string]string{"username_format": "email"}}, true, ev("settings.updated")); err != nil {
			t.Fatal(err)
		}
		var claims []string
		rows, err := s.db.QueryContext(ctx, `SELECT id || '=' || COALESCE(duo_username, 'NULL') FROM operators ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			claims = append(claims, c)
		}
		if fmt.Sprint(claims) != "[a=NULL b=bee]" {
			t.Fatalf("claims after a format change = %v, want the derived one forgotten and the alias kept", claims)
		}
	})
}

func TestBackendRemovesEverythingItKeeps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := SQLiteBackend{}.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvent(ctx, ev("x")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "not-ours.txt")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := SQLiteBackend{}.Remove(dir)
	if err != nil || len(removed) == 0 || removed[0] != filepath.Join(dir, DBFile) {
		t.Fatalf("Remove = %v, %v", removed, err)
	}
	left, err := os.ReadDir(dir)
	if err != nil || len(left) != 1 || left[0].Name() != "not-ours.txt" {
		t.Fatalf("left behind %v (%v); want only the file that is not the store's", left, err)
	}
	again, err := SQLiteBackend{}.Remove(dir)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Remove = %v, %v; want nothing left to remove", again, err)
	}
}
