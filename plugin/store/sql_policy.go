package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// lockColumns are read FROM operators for a Lock (see Lock.dest).
const lockColumns = `failed_attempts, locked_at, locked_until`

// dest returns the scan destinations of lockColumns into l.
func (l *Lock) dest() []any {
	return []any{&scanInt{&l.FailedAttempts}, &scanTime{p: &l.LockedAt}, &scanTime{p: &l.LockedUntil}}
}

// scanInt scans an INTEGER into an int.
type scanInt struct{ p *int }

func (s *scanInt) Scan(v any) error {
	var n sql.NullInt64
	if err := n.Scan(v); err != nil {
		return err
	}
	*s.p = int(n.Int64)
	return nil
}

// scanTime scans Unix seconds, or NULL as the zero time.
type scanTime struct{ p *time.Time }

func (s *scanTime) Scan(v any) error {
	var n sql.NullInt64
	if err := n.Scan(v); err != nil {
		return err
	}
	*s.p = unixOrZero(n)
	return nil
}

// lockedAt is the SQL condition "a lock is in force at ?N".
func lockedAt(now string) string {
	return `(locked_at IS NOT NULL AND (locked_until IS NULL OR locked_until > ` + now + `))`
}

// resetFailures sets a success's reset: the failures and any expired lock
// are forgotten, a lock in force stays (one that landed while the success
// was under way). Every right-hand side reads the row as it was.
func resetFailures(now string) string {
	in := lockedAt(now)
	return `failed_attempts = CASE WHEN ` + in + ` THEN failed_attempts ELSE 0 END,
		locked_until = CASE WHEN ` + in + ` THEN locked_until END,
		locked_at = CASE WHEN ` + in + ` THEN locked_at END`
}

// resetFailures1 and resetFailures2 are resetFailures with the time as ?1
// or ?2.
var (
	resetFailures1 = resetFailures("?1")
	resetFailures2 = resetFailures("?2")
)

// countFailure is the one UPDATE that counts a failure: only while no lock
// is in force (so concurrent failures lock once, and a locked operator's
// count stays where it locked), restarting at 1 after an expired lock,
// locking when the count reaches the threshold. ?1 id, ?2 now, ?3
// threshold, ?4 duration in seconds (0: until unlocked). No row: locked.
var countFailure = `UPDATE operators SET
		failed_attempts = CASE WHEN locked_at IS NULL THEN failed_attempts + 1 ELSE 1 END,
		locked_at = CASE WHEN (CASE WHEN locked_at IS NULL THEN failed_attempts + 1 ELSE 1 END) >= ?3 THEN ?2 END,
		locked_until = CASE WHEN (CASE WHEN locked_at IS NULL THEN failed_attempts + 1 ELSE 1 END) >= ?3 AND ?4 > 0 THEN ?2 + ?4 END
	WHERE id = ?1 AND NOT ` + lockedAt("?2") + `
	RETURNING ` + lockColumns

// recordFailure counts one failure of op at now inside tx, and writes the
// denial ev and, when it locks, the event lock builds.
func recordFailure(ctx context.Context, tx *txn, op contract.Operator, l Lockout, now time.Time, ev Event, lock func(Failure) Event) (Failure, error) {
	if l.Threshold < 1 {
		return Failure{}, fmt.Errorf("lockout threshold %d: want at least 1", l.Threshold)
	}
	if err := upsertOperator(ctx, tx, op, ev); err != nil {
		return Failure{}, err
	}
	var f Failure
	err := tx.QueryRowContext(ctx, countFailure, op.ID, now.Unix(), l.Threshold, int64(l.Duration/time.Second)).Scan(f.Lock.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return Failure{}, ErrLocked
	}
	if err != nil {
		return Failure{}, err
	}
	// Only an operator without a lock in force was counted, so a lock in
	// the answer is this failure's.
	f.JustLocked = !f.LockedAt.IsZero()
	if err := appendEvent(ctx, tx, ev); err != nil {
		return Failure{}, err
	}
	if f.JustLocked {
		if err := appendEvent(ctx, tx, lock(f)); err != nil {
			return Failure{}, err
		}
	}
	return f, nil
}

// refuseIfLocked fails with ErrLocked when a lock of the operator is in
// force at now: every write that records a success calls it first, in its
// transaction, so no success is recorded for a locked operator, even one
// whose lock landed while the success was under way.
func refuseIfLocked(ctx context.Context, tx *txn, operatorID string, now time.Time) error {
	var locked bool
	err := tx.QueryRowContext(ctx, `SELECT `+lockedAt("?2")+` FROM operators WHERE id = ?1`, operatorID, now.Unix()).Scan(&locked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case locked:
		return ErrLocked
	}
	return nil
}

// RecordFailure implements PolicyStore.
func (s *DB) RecordFailure(ctx context.Context, op contract.Operator, l Lockout, ev Event, lock func(Failure) Event) (Failure, error) {
	var f Failure
	err := s.tx(ctx, "record failure", func(tx *txn) error {
		var err error
		f, err = recordFailure(ctx, tx, op, l, ev.At, ev, lock)
		return err
	})
	if errors.Is(err, ErrLocked) {
		return Failure{}, ErrLocked
	}
	return f, err
}

// RedeemCodeCounted implements PolicyStore. The lock is checked inside the
// transaction that tries the code (BEGIN IMMEDIATE: one writer), so no
// number of concurrent guesses gets more than the threshold tried.
func (s *DB) RedeemCodeCounted(ctx context.Context, op contract.Operator, backupHash, bypassHash []byte, now time.Time, l Lockout,
	ok func(Redemption) Event, deny func(Redemption, error) Event, lock func(Failure) Event) (Redemption, Failure, error) {
	var (
		r       Redemption
		f       Failure
		refusal error
	)
	err := s.tx(ctx, "redeem code", func(tx *txn) error {
		if err := refuseIfLocked(ctx, tx, op.ID, now); err != nil {
			return err
		}
		var err error
		r, err = redeemCode(ctx, tx, op.ID, backupHash, bypassHash, now, ok)
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConsumed) {
			return err // spent (nil), or the database failed
		}
		refusal = err
		f, err = recordFailure(ctx, tx, op, l, now, deny(r, refusal), lock)
		return err
	})
	switch {
	case errors.Is(err, ErrLocked):
		return r, Failure{}, ErrLocked
	case err != nil:
		return r, Failure{}, err
	}
	return r, f, refusal
}

// AddOperator implements PolicyStore.
func (s *DB) AddOperator(ctx context.Context, op contract.Operator, at time.Time) error {
	// Relaxed: a row lost to a power cut is created again at the next login.
	return s.write(ctx, "add operator", relaxed, func(tx *txn) error {
		return upsertOperator(ctx, tx, op, Event{At: at})
	})
}

// UnlockOperator implements PolicyStore.
func (s *DB) UnlockOperator(ctx context.Context, op contract.Operator, ev func(before Lock) Event) (contract.OperatorState, error) {
	var out contract.OperatorState
	err := s.tx(ctx, "unlock operator", func(tx *txn) error {
		var before Lock
		err := tx.QueryRowContext(ctx, `SELECT `+lockColumns+` FROM operators WHERE id = ?`, op.ID).Scan(before.dest()...)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		e := ev(before)
		if err := upsertOperator(ctx, tx, op, e); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE operators SET failed_attempts = 0, locked_at = NULL, locked_until = NULL WHERE id = ?`, op.ID); err != nil {
			return err
		}
		if err := appendEvent(ctx, tx, e); err != nil {
			return err
		}
		out, err = getOperator(ctx, tx, op.ID)
		return err
	})
	return out, err
}
