package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func lockEvent(f Failure) Event {
	return Event{At: f.LockedAt, Kind: "operator.locked", Outcome: "locked", Notice: contract.NoticeOperatorLocked}
}

func denial(at time.Time) Event {
	return Event{At: at, Kind: "login.code", Outcome: "denied", Reason: "backup_code_wrong"}
}

func kinds(t *testing.T, s *SQLite, kind string) int {
	t.Helper()
	n := 0
	for _, e := range events(t, s) {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func toggle(t *testing.T, s *SQLite, id string) Toggle {
	t.Helper()
	tg, err := s.OperatorToggle(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestFailuresLockAtTheThreshold counts failures up to the threshold, for
// an operator the store has never seen, and checks that a locked operator
// is neither counted nor relocked, that a timed lock ends by itself and
// the count then starts again, and that a success and an unlock reset it.
func TestFailuresLockAtTheThreshold(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		op := contract.Operator{ID: "n", Username: "new"} // no row yet
		t0 := time.Unix(1_700_000_000, 0).UTC()
		l := Lockout{Threshold: 3, Duration: 10 * time.Minute}
		for i := 1; i <= 3; i++ {
			f, err := s.RecordFailure(ctx, op, l, denial(t0), lockEvent)
			if err != nil {
				t.Fatalf("failure %d: %v", i, err)
			}
			if f.FailedAttempts != i || f.JustLocked != (i == 3) {
				t.Fatalf("failure %d: %+v", i, f)
			}
		}
		tg := toggle(t, s, op.ID)
		if !tg.Locked(t0) || !tg.LockedAt.Equal(t0) || !tg.LockedUntil.Equal(t0.Add(10*time.Minute)) || tg.FailedAttempts != 3 {
			t.Fatalf("after 3 failures: %+v", tg.Lock)
		}
		if _, err := s.RecordFailure(ctx, op, l, denial(t0.Add(time.Minute)), lockEvent); !errors.Is(err, ErrLocked) {
			t.Fatalf("failure while locked: %v, want ErrLocked", err)
		}
		if n := kinds(t, s, "operator.locked"); n != 1 {
			t.Fatalf("%d lock events, want 1", n)
		}
		if tg := toggle(t, s, op.ID); tg.FailedAttempts != 3 || !tg.LockedAt.Equal(t0) {
			t.Fatalf("a refused failure changed the lock: %+v", tg.Lock)
		}
		// A success landing while locked is refused, and keeps the lock.
		if err := s.RecordLogin(ctx, op.ID, t0.Add(time.Minute), ev("login.complete")); !errors.Is(err, ErrLocked) {
			t.Fatalf("RecordLogin while locked: %v, want ErrLocked", err)
		}
		if tg := toggle(t, s, op.ID); !tg.Locked(t0.Add(time.Minute)) || tg.FailedAttempts != 3 {
			t.Fatalf("a success undid a lock in force: %+v", tg.Lock)
		}

		// The lock ends by itself; the next failure counts from 1.
		later := t0.Add(10 * time.Minute)
		if toggle(t, s, op.ID).Locked(later) {
			t.Fatal("still locked when locked_until is reached")
		}
		f, err := s.RecordFailure(ctx, op, l, denial(later), lockEvent)
		if err != nil || f.FailedAttempts != 1 || f.JustLocked || !f.LockedAt.IsZero() {
			t.Fatalf("failure after the lock expired: %+v, %v", f, err)
		}
		// A success resets the count.
		if err := s.RecordLogin(ctx, op.ID, later, ev("login.complete")); err != nil {
			t.Fatal(err)
		}
		if tg := toggle(t, s, op.ID); tg.FailedAttempts != 0 || !tg.LockedAt.IsZero() {
			t.Fatalf("after a success: %+v", tg.Lock)
		}

		// Until unlocked: no end; the unlock clears it and says what it lifted.
		forever := Lockout{Threshold: 3}
		for range 3 {
			if _, err := s.RecordFailure(ctx, op, forever, denial(later), lockEvent); err != nil {
				t.Fatal(err)
			}
		}
		if tg := toggle(t, s, op.ID); !tg.Locked(later.Add(365*24*time.Hour)) || !tg.LockedUntil.IsZero() {
			t.Fatalf("lock until unlocked: %+v", tg.Lock)
		}
		var seen Lock
		st, err := s.UnlockOperator(ctx, op, func(before Lock) Event {
			seen = before
			return Event{At: later, Kind: "operator.unlocked", OperatorID: op.ID, Outcome: "ok"}
		})
		if err != nil || st.FailedAttempts != 0 || !st.LockedAt.IsZero() || !st.LockedUntil.IsZero() || seen.FailedAttempts != 3 || !seen.Locked(later) {
			t.Fatalf("UnlockOperator = %+v, %v; lock before %+v", st, err, seen)
		}
		// Again: nothing to lift, still fine.
		if _, err := s.UnlockOperator(ctx, op, func(before Lock) Event {
			seen = before
			return Event{At: later, Kind: "operator.unlocked", OperatorID: op.ID, Outcome: "ok"}
		}); err != nil || seen.Locked(later) {
			t.Fatalf("second unlock: %v, before %+v", err, seen)
		}
	})
}

// TestConcurrentWrongCodesLockOnce: 20 wrong codes at once, threshold 10:
// exactly 10 are counted, one locks, the rest find the operator locked,
// and the right code then spends nothing.
func TestConcurrentWrongCodesLockOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		op := enabledOperator(t, s, "a")
		good := withCodes(t, s, "a", "good", 2)
		now := time.Unix(1_700_000_000, 0).UTC()
		l := Lockout{Threshold: 10}
		ok := func(Redemption) Event { return Event{At: now, Kind: "login.code", Outcome: "allowed"} }
		deny := func(_ Redemption, err error) Event { return denial(now) }
		var (
			wg                     sync.WaitGroup
			mu                     sync.Mutex
			counted, locked, locks int
		)
		for i := range 20 {
			wg.Go(func() {
				_, f, err := s.RedeemCodeCounted(ctx, op, h("wrong"+string(rune('a'+i))), nil, now, l, ok, deny, lockEvent)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, ErrLocked):
					locked++
				case errors.Is(err, ErrNotFound):
					counted++
					if f.JustLocked {
						locks++
					}
				default:
					t.Errorf("wrong code: %v", err)
				}
			})
		}
		wg.Wait()
		if counted != 10 || locked != 10 || locks != 1 || kinds(t, s, "operator.locked") != 1 {
			t.Fatalf("counted %d, refused as locked %d, locked by %d (events %d); want 10, 10, 1, 1", counted, locked, locks, kinds(t, s, "operator.locked"))
		}
		if _, _, err := s.RedeemCodeCounted(ctx, op, good[0], nil, now, l, ok, deny, lockEvent); !errors.Is(err, ErrLocked) {
			t.Fatalf("right code while locked: %v, want ErrLocked", err)
		}
		if st := state(t, s, "a"); st.BackupCodesLeft != 2 || st.FailedAttempts != 10 {
			t.Fatalf("a locked operator's code was spent or the count moved: %+v", st)
		}
		if _, err := s.UnlockOperator(ctx, op, func(Lock) Event { return Event{At: now, Kind: "operator.unlocked"} }); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.RedeemCodeCounted(ctx, op, good[0], nil, now, l, ok, deny, lockEvent); err != nil {
			t.Fatalf("right code after unlock: %v", err)
		}
		if st := state(t, s, "a"); st.BackupCodesLeft != 1 || st.FailedAttempts != 0 {
			t.Fatalf("after the right code: %+v", st)
		}
	})
}

// TestSuccessesRefusedWhileLocked: every write that records a success
// refuses a locked operator in its own transaction and changes nothing,
// so a lock landing while Duo was asked still holds.
func TestSuccessesRefusedWhileLocked(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		op := enabledOperator(t, s, "a")
		withCodes(t, s, "a", "set", 2)
		ticket := h("ticket-2")
		if err := s.CreateBackupCodeTicket(ctx, BackupCodeTicket{TicketHash: ticket, OperatorID: "a", CodeHashes: hashes("next", 2), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
			Event{At: t0, Kind: "login.complete"}); err != nil {
			t.Fatal(err)
		}
		link := h("link")
		if err := s.CreateRecoveryLink(ctx, op, RecoveryLink{TokenHash: link, OperatorID: "a", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, Event{At: t0, Kind: "recovery_link.created"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordFailure(ctx, op, Lockout{Threshold: 1}, denial(t0), lockEvent); err != nil {
			t.Fatal(err)
		}
		before := len(events(t, s))
		for name, err := range map[string]error{
			"RecordLogin":            s.RecordLogin(ctx, "a", t0, ev("login.complete")),
			"CreateBackupCodeTicket": s.CreateBackupCodeTicket(ctx, BackupCodeTicket{TicketHash: h("t3"), OperatorID: "a", CodeHashes: hashes("x", 2), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, ev("login.complete")),
			"ConfirmBackupCodes":     s.ConfirmBackupCodes(ctx, ticket, "a", t0, ev("backup_codes.confirm")),
			"RedeemRecoveryLink":     s.RedeemRecoveryLink(ctx, link, "a", t0, ev("recovery_link.redeem")),
		} {
			if !errors.Is(err, ErrLocked) {
				t.Errorf("%s while locked: %v, want ErrLocked", name, err)
			}
		}
		if n := len(events(t, s)); n != before {
			t.Fatalf("%d events written while locked", n-before)
		}
		if st := state(t, s, "a"); st.LockedAt.IsZero() || st.BackupCodesLeft != 2 || st.EnrolledAt.IsZero() {
			t.Fatalf("a refused success changed the operator: %+v", st)
		}
	})
}
