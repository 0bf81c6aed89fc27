package store

import (
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
)

// Two Store values on one database are two instances behind a load
// balancer: what one writes the other reads at once, and a single-use
// thing (a TOTP step, a pending session, a lease) goes to exactly one of
// two callers racing for it. On SQLite the two are two connection pools on
// one file; on PostgreSQL, the deployment this is for.
func TestTwoStoresShareOneDatabase(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *Store, reopen func(*testing.T) *Store) {
		b := reopen(t)
		ctx := t.Context()
		now := time.Now()

		op, err := a.CreateOperator(ctx, NewOperator{Username: "Alice", Role: RoleAgent, PasswordHash: "h"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := b.OperatorByUsername(ctx, "alice"); err != nil || got.ID != op.ID {
			t.Fatalf("b reads a's operator: %+v, %v", got, err)
		}
		ses := Session{IDHash: []byte{0, 1, 0xfe}, Kind: SessionPending, OperatorID: op.ID, SecondFactor: FactorDuo,
			DuoState: "state", CSRFToken: "csrf", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := a.CreateSession(ctx, ses); err != nil {
			t.Fatal(err)
		}
		if got, err := b.SessionByHash(ctx, ses.IDHash, now); err != nil || got.DuoState.Reveal() != "state" || got.OperatorID != op.ID {
			t.Fatalf("b reads a's pending session: %+v, %v", got, err)
		}
		if err := b.SetFlash(ctx, ses.IDHash, "success", "saved"); err != nil {
			t.Fatal(err)
		}
		if got, err := a.SessionByHash(ctx, ses.IDHash, now); err != nil || got.Flash != "saved" {
			t.Fatalf("a reads b's flash: %+v, %v", got, err)
		}
		for range 2 {
			if err := a.RecordFailure(ctx, ScopeIP, "192.0.2.1", now); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.RecordFailure(ctx, ScopeIP, "192.0.2.1", now); err != nil {
			t.Fatal(err)
		}
		if n, err := b.CountFailures(ctx, ScopeIP, "192.0.2.1", now.Add(-time.Minute)); err != nil || n != 3 {
			t.Fatalf("failures counted across instances: %d, %v; want 3", n, err)
		}
		if err := a.MarkPluginInstalled(ctx, "p", "/b", "/d", "1", "boot"); err != nil {
			t.Fatal(err)
		}
		if err := a.SetPluginActive(ctx, "p", true, "admin"); err != nil {
			t.Fatal(err)
		}
		if active, err := b.PluginActive(ctx, "p"); err != nil || !active {
			t.Fatalf("b sees a's activation: %t, %v", active, err)
		}

		race := func(name string, do func(s *Store) (bool, error)) {
			t.Helper()
			var wg sync.WaitGroup
			won := make([]bool, 2)
			errs := make([]error, 2)
			for i, s := range []*Store{a, b} {
				wg.Go(func() { won[i], errs[i] = do(s) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil || won[0] == won[1] {
				t.Fatalf("%s: won %v, errors %v; want exactly one winner", name, won, errs)
			}
		}
		for step := int64(1); step <= 5; step++ {
			race("TOTP step", func(s *Store) (bool, error) { return s.UseTOTPStep(ctx, op.ID, step) })
		}
		race("take the pending session", func(s *Store) (bool, error) { return s.TakeSession(ctx, ses.IDHash) })
		for i := range 3 {
			name := "notices-" + string(rune('a'+i))
			race("lease", func(s *Store) (bool, error) {
				holder := "a"
				if s == b {
					holder = "b"
				}
				return s.TakeLease(ctx, name, holder, time.Minute)
			})
		}
	})
}

// A lease is one holder's until it expires or is released; renewing keeps
// it.
func TestLease(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s *Store, _ func(*testing.T) *Store) {
		ctx := t.Context()
		t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		at := func(d time.Duration) { s.now = func() time.Time { return t0.Add(d) } }
		take := func(holder string) bool {
			t.Helper()
			ok, err := s.TakeLease(ctx, "notices", holder, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		at(0)
		if !take("a") || take("b") {
			t.Fatal("a free lease goes to the first, not the second")
		}
		at(59 * time.Second)
		if !take("a") || take("b") {
			t.Fatal("the holder renews; the other waits")
		}
		at(59*time.Second + time.Minute)
		if !take("b") || take("a") {
			t.Fatal("an expired lease goes to the other")
		}
		if err := s.ReleaseLease(ctx, "notices", "a"); err != nil {
			t.Fatal(err)
		}
		if take("a") {
			t.Fatal("releasing someone else's lease freed it")
		}
		if err := s.ReleaseLease(ctx, "notices", "b"); err != nil {
			t.Fatal(err)
		}
		if !take("a") {
			t.Fatal("a released lease is free")
		}
	})
}

// Instances report whether their plugin process runs; the others'
// recent reports are what an uninstall checks.
func TestInstances(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s *Store, _ func(*testing.T) *Store) {
		ctx := t.Context()
		t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		s.now = func() time.Time { return t0 }
		for _, r := range []struct {
			id, name string
			running  bool
		}{{"a-1", "a", true}, {"b-1", "b", true}, {"c-1", "c", false}} {
			if err := s.ReportInstance(ctx, r.id, r.name, r.running); err != nil {
				t.Fatal(err)
			}
		}
		others := func(since time.Time) []string {
			t.Helper()
			in, err := s.OtherPluginProcesses(ctx, "a-1", since)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, i := range in {
				names = append(names, i.Name)
			}
			return names
		}
		if got := others(t0.Add(-time.Second)); len(got) != 1 || got[0] != "b" {
			t.Fatalf("others running = %v, want [b]", got)
		}
		if got := others(t0); len(got) != 0 {
			t.Fatalf("reports not after since = %v, want none", got)
		}
		if err := s.ForgetInstance(ctx, "b-1"); err != nil {
			t.Fatal(err)
		}
		if got := others(t0.Add(-time.Second)); len(got) != 0 {
			t.Fatalf("after b left: %v", got)
		}
	})
}

// Instances starting together on a new PostgreSQL database migrate it
// once, in turn (pgdb's advisory lock), and all open it.
func TestPostgresInstancesStartTogether(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			s, err := OpenPostgres(t.Context(), url)
			if err == nil {
				_, err = s.CreateOperator(t.Context(), NewOperator{Username: "op" + string(rune('a'+i)), Role: RoleAgent, PasswordHash: "h"})
				_ = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
}
