package store

import (
	"context"
	"time"
)

// EventFilter selects audit events; zero fields select everything.
type EventFilter struct {
	OperatorID string
	// Kinds and Outcomes: any of these; none selects every one.
	Kinds    []string
	Outcomes []string
	// From and To bound [From, To); the zero time leaves that end open.
	From, To time.Time
}

// AuthLogStore reads and prunes the authentication log (audit_events).
type AuthLogStore interface {
	// ListEvents returns up to limit events the filter selects with id <
	// beforeID (0: from the newest), newest first.
	ListEvents(ctx context.Context, f EventFilter, limit int, beforeID int64) ([]EventRecord, error)
	// EachEvent calls fn with every event the filter selects that exists
	// when it starts, oldest first, reading batch rows at a time, each
	// batch its own short read; an error from fn (or ctx ending) stops it
	// and is returned.
	EachEvent(ctx context.Context, f EventFilter, batch int, fn func(EventRecord) error) error
	// CountLogins counts the events of LoginKinds since then, by outcome.
	CountLogins(ctx context.Context, since time.Time) (map[string]int64, error)
	// PruneEvents deletes at most batch events older than before, in one
	// short transaction, and says how many went.
	PruneEvents(ctx context.Context, before time.Time, batch int) (int64, error)
}

// Observable is a store that tells fn of every audit event it writes, once
// committed, on the writer's goroutine (fn must be fast and never block):
// the plugin's metrics count logins from there, whichever path wrote them.
type Observable interface {
	ObserveEvents(fn func(Event))
}

// LoginKinds are the event kinds of a step of a login (one event per step
// a login-page call takes).
var LoginKinds = []string{"login.begin", "login.complete", "login.code", "backup_codes.confirm", "recovery_link.redeem"}

// IsLoginKind reports whether kind is one of LoginKinds.
func IsLoginKind(kind string) bool {
	for _, k := range LoginKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Outcomes are every outcome the plugin writes in the audit log, the one
// list the authentication log's filter accepts (a test checks the hooks
// write no other). Add one here when code writes a new one.
var Outcomes = []string{
	"ok",                   // an admin action done
	"denied",               // refused: a login step, a permission, a request
	"invalid",              // settings refused by validation
	"duo_rejected",         // settings refused by Duo's check
	"redirect",             // BeginLogin sent the operator to Duo
	"allowed",              // signed in (Duo, a code, a recovery link, confirmed backup codes)
	"not_required",         // Duo not required for this operator
	"allowed_without_duo",  // fail open: Duo unreachable, skipped
	"confirm_backup_codes", // Duo allowed; the operator confirms their first backup codes
	"exempt",               // a service account let through by the exemption
	"locked",               // refused: the operator is locked out
	"unlocked",             // a lockout lifted
}

// IsOutcome reports whether o is one of Outcomes.
func IsOutcome(o string) bool {
	for _, k := range Outcomes {
		if k == o {
			return true
		}
	}
	return false
}
