package store

import (
	"context"
	"errors"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// ErrLocked means the operator is locked out (too many second-factor
// failures in a row) at the time of the call; nothing was changed.
var ErrLocked = errors.New("operator locked")

// Lock is an operator's lockout as stored: failures since the last success
// or unlock, and the lock they led to.
type Lock struct {
	FailedAttempts int
	// LockedAt is zero when the operator is not locked (or never was
	// since the last success or unlock).
	LockedAt time.Time
	// LockedUntil is zero when only an unlock ends the lockout.
	LockedUntil time.Time
}

// Locked reports whether the lock is in force at now: set, and without an
// end or with one still ahead (compared in whole seconds, as stored).
func (l Lock) Locked(now time.Time) bool {
	return !l.LockedAt.IsZero() && (l.LockedUntil.IsZero() || now.Unix() < l.LockedUntil.Unix())
}

// Lockout is how second-factor failures lock an operator.
type Lockout struct {
	// Threshold is how many failures in a row lock (at least 1).
	Threshold int
	// Duration ends a lockout by itself; 0 keeps it until an unlock.
	Duration time.Duration
}

// Failure is what counting one failure did.
type Failure struct {
	Lock
	// JustLocked: this failure reached the threshold and locked the
	// operator (of concurrent failures exactly one does).
	JustLocked bool
}

// PolicyStore keeps the lockout. A failure is counted by one UPDATE that
// adds it and locks at the threshold, only while the operator is not
// locked, so concurrent failures lock once; a success (Duo, a code, a
// recovery link) resets the count in the write that records it, unless a
// lock is in force.
type PolicyStore interface {
	// RecordFailure counts a second-factor failure of op at ev.At
	// (creating op's row if needed) and writes ev, the denial, and, when
	// this failure locks op, the event lock builds, in one transaction. A
	// lock that expired is forgotten: the count starts again at 1. When
	// op is locked at ev.At it fails with ErrLocked and writes nothing.
	RecordFailure(ctx context.Context, op contract.Operator, l Lockout, ev Event, lock func(Failure) Event) (Failure, error)
	// RedeemCodeCounted spends a code the operator typed, under the
	// lockout, in one transaction. When op is locked at now it fails with
	// ErrLocked (nothing spent, nothing written). Else the code is tried as
	// one of op's unused backup codes (backupHash, its hash as one; nil if
	// it cannot be one), then as one use of their bypass code (bypassHash;
	// uses left, unexpired, unrevoked), each by one conditional UPDATE, so
	// of concurrent calls with one code only as many win as it has uses. A
	// code spent records the second factor's time and the login, resets
	// the count and writes the event ok builds. A refusal (ErrNotFound, or
	// ErrUsed, ErrExpired or ErrRevoked with the Redemption saying of which
	// kind; a bypass code's refusal wins over a backup code's) is counted
	// as RecordFailure counts, with the denial event deny builds and the
	// lock event, and returned with the Failure.
	RedeemCodeCounted(ctx context.Context, op contract.Operator, backupHash, bypassHash []byte, now time.Time, l Lockout,
		ok func(Redemption) Event, deny func(Redemption, error) Event, lock func(Failure) Event) (Redemption, Failure, error)
	// UnlockOperator clears op's failures and lock (creating op's row if
	// needed) and writes the event ev builds from the lock as it was, in
	// one transaction, and returns op's state. Unlocking an operator who
	// is not locked changes nothing else.
	UnlockOperator(ctx context.Context, op contract.Operator, ev func(before Lock) Event) (contract.OperatorState, error)
	// AddOperator creates op's row if it is missing (Duo off), at, so that
	// an operator Duo is enforced for, who may have none, can claim their
	// Duo username and keep backup codes. It writes no event: nothing
	// about the operator changed.
	AddOperator(ctx context.Context, op contract.Operator, at time.Time) error
}
