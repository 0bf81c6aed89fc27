package store

import (
	"errors"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/internal/secret/secrettest"
)

func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s *Store, reopen func(*testing.T) *Store) {
		if _, err := s.CreateOperator(t.Context(), NewOperator{Username: "a", Role: RoleAgent, PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		again := reopen(t)
		if _, err := again.OperatorByUsername(t.Context(), "A"); err != nil {
			t.Fatalf("usernames compare without case: %v", err)
		}
		if _, err := again.CreateOperator(t.Context(), NewOperator{Username: "A", Role: RoleAgent, PasswordHash: "h"}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate username: %v", err)
		}
	})
}

func TestPluginRecord(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s *Store, _ func(*testing.T) *Store) {
		ctx := t.Context()
		if active, err := s.PluginActive(ctx, "p"); err != nil || active {
			t.Fatalf("no record: %v %v", active, err)
		}
		if err := s.SetPluginActive(ctx, "p", true, "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("activate a plugin that is not installed: %v", err)
		}
		if err := s.MarkPluginInstalled(ctx, "p", "/b", "/d", "1.0.0", "boot"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPluginActive(ctx, "p", true, "admin"); err != nil {
			t.Fatal(err)
		}
		// A restart records the bundle again and keeps it active.
		if err := s.MarkPluginInstalled(ctx, "p", "/b", "/d", "1.0.1", "boot"); err != nil {
			t.Fatal(err)
		}
		r, _ := s.Plugin(ctx, "p")
		if !r.Installed || !r.Active || r.Version != "1.0.1" || r.UpdatedBy != "admin" {
			t.Fatalf("after restart: %+v", r)
		}
		if err := s.MarkPluginUninstalled(ctx, "p", "admin"); err != nil {
			t.Fatal(err)
		}
		if active, _ := s.PluginActive(ctx, "p"); active {
			t.Fatal("active after uninstall")
		}
		// Installing again starts inactive.
		if err := s.MarkPluginInstalled(ctx, "p", "/b", "/d", "1.0.1", "boot"); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Plugin(ctx, "p"); !r.Installed || r.Active {
			t.Fatalf("reinstalled: %+v", r)
		}
	})
}

func TestSessionsAndFailures(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s *Store, _ func(*testing.T) *Store) {
		ctx := t.Context()
		now := time.Now()
		ses := Session{IDHash: []byte("h1"), Kind: SessionAnonymous, CSRFToken: "tok", DuoState: "st", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateSession(ctx, ses); err != nil {
			t.Fatal(err)
		}
		got, err := s.SessionByHash(ctx, []byte("h1"), now)
		if err != nil || got.CSRFToken.Reveal() != "tok" || got.DuoState.Reveal() != "st" {
			t.Fatalf("session: %+v %v", got, err)
		}
		if _, err := s.SessionByHash(ctx, []byte("h1"), now.Add(2*time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired session: %v", err)
		}
		if ok, _ := s.TakeSession(ctx, []byte("h1")); !ok {
			t.Fatal("take")
		}
		if ok, _ := s.TakeSession(ctx, []byte("h1")); ok {
			t.Fatal("taken twice")
		}
		for range 3 {
			_ = s.RecordFailure(ctx, ScopeUser, "alice", now)
		}
		if n, _ := s.CountFailures(ctx, ScopeUser, "alice", now.Add(-time.Minute)); n != 3 {
			t.Fatalf("failures %d", n)
		}
		if n, _ := s.CountFailures(ctx, ScopeUser, "alice", now); n != 0 {
			t.Fatalf("failures since now %d", n)
		}
	})
}

// TestSecretRedacts checks that the operator and session secrets, which are
// secret.Value (tested in internal/secret), stay hidden however the store's
// types are printed.
func TestSecretRedacts(t *testing.T) {
	t.Parallel()
	const hidden = "hunter2-not-printed"
	sec := secret.Value(hidden)
	ses := Session{DuoState: sec, CSRFToken: sec, BackupTicket: sec}
	op := Operator{Username: "alice", PasswordHash: sec, TOTPSecret: sec}
	secrettest.NoLeakThroughFmt(t, hidden, []any{ses, &ses, []Session{ses}, op, &op, []Operator{op}}, []any{&ses, &op})
}

// Service accounts: off for a new operator unless asked, set and cleared
// by SetServiceAccount, and read back by every lookup.
func TestServiceAccount(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s *Store, _ func(*testing.T) *Store) {
		ctx := t.Context()
		person, err := s.CreateOperator(ctx, NewOperator{Username: "person", Role: RoleAgent, PasswordHash: "h"})
		if err != nil || person.ServiceAccount {
			t.Fatalf("a new operator: %+v, %v; want no service account", person, err)
		}
		bot, err := s.CreateOperator(ctx, NewOperator{Username: "bot", Role: RoleAgent, PasswordHash: "h", ServiceAccount: true})
		if err != nil || !bot.ServiceAccount {
			t.Fatalf("a new service account: %+v, %v", bot, err)
		}
		if err := s.SetServiceAccount(ctx, person.ID, true); err != nil {
			t.Fatal(err)
		}
		if got, err := s.OperatorByUsername(ctx, "person"); err != nil || !got.ServiceAccount {
			t.Fatalf("after SetServiceAccount(true): %+v, %v", got, err)
		}
		if err := s.SetServiceAccount(ctx, bot.ID, false); err != nil {
			t.Fatal(err)
		}
		ops, err := s.ListOperators(ctx)
		if err != nil || len(ops) != 2 || ops[0].ServiceAccount || !ops[1].ServiceAccount {
			t.Fatalf("ListOperators = %+v, %v; want bot off, person on", ops, err)
		}
		if err := s.SetServiceAccount(ctx, 999, true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown operator: %v, want ErrNotFound", err)
		}
	})
}
