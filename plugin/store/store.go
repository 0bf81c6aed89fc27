// Package store keeps everything the plugin must remember: settings,
// per-operator toggles, pending logins and the audit log.
//
// Store is the one interface behind which that state lives, so that a second
// implementation (PostgreSQL, for a helpdesk on several machines) can serve
// the same plugin. SQLite is the implementation shipped.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
)

// Sentinel errors callers branch on.
var (
	// ErrSchemaTooNew means the database was migrated by a newer plugin.
	ErrSchemaTooNew = sqlitedb.ErrSchemaTooNew
	// ErrNotFound means the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConsumed means a single-use row was already used, expired, or
	// belongs to someone else; the caller must deny.
	ErrConsumed = errors.New("already used, expired or not yours")
)

// Operator identifies a helpdesk operator.
type Operator struct {
	ID       string
	Username string
	Email    string
}

// OperatorState is what the plugin knows of one operator.
type OperatorState struct {
	Operator
	Enabled    bool
	DuoAlias   string
	EnrolledAt time.Time // zero until the first successful Duo login
	LastLogin  time.Time
	ChangedBy  string
	ChangedAt  time.Time
}

// PendingLogin is one redirect to Duo awaiting its callback.
type PendingLogin struct {
	StateHash   []byte
	OperatorID  string
	DuoUsername string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Event is one audit log entry. It never holds a secret, a state or a code.
type Event struct {
	At         time.Time
	Kind       string // e.g. settings.updated, operator.enabled, login.begin
	OperatorID string
	Actor      string
	ClientIP   string
	Outcome    string
	Reason     string
	Detail     string
}

// Settings is the stored settings: plain values and sealed secrets.
type Settings struct {
	Values  map[string]string
	Secrets map[string][]byte
}

// Store is the plugin's persistent state. Every method is safe for
// concurrent use and honours ctx.
type Store interface {
	// SchemaVersion is the version of the last applied migration.
	SchemaVersion(ctx context.Context) (int64, error)

	LoadSettings(ctx context.Context) (Settings, error)
	// SaveSettings writes all values and secrets in one transaction, with an
	// audit event.
	SaveSettings(ctx context.Context, s Settings, ev Event) error

	// SetOperatorEnabled creates the operator's row if needed, records who
	// changed it and when, and writes ev in the same transaction.
	SetOperatorEnabled(ctx context.Context, op Operator, enabled bool, ev Event) (OperatorState, error)
	// SetOperatorAlias sets (or clears, with "") the operator's Duo username.
	SetOperatorAlias(ctx context.Context, op Operator, alias string, ev Event) (OperatorState, error)
	// OperatorStates answers for every id; ids never seen are disabled.
	OperatorStates(ctx context.Context, ids []string) (map[string]OperatorState, error)
	// ListEnabled returns up to limit enabled operators with id > afterID,
	// ordered by id.
	ListEnabled(ctx context.Context, afterID string, limit int) ([]OperatorState, error)

	// CreatePendingLogin stores a redirect to Duo and its audit event in one
	// transaction (one durable commit on the login path, not two).
	CreatePendingLogin(ctx context.Context, p PendingLogin, ev Event) error
	// ConsumePendingLogin marks the pending login used, atomically: of two
	// concurrent calls at most one succeeds. It fails with ErrConsumed when
	// the row is missing, used, expired or belongs to another operator.
	ConsumePendingLogin(ctx context.Context, stateHash []byte, operatorID string, now time.Time) (PendingLogin, error)
	// LookupPendingLogin reads a pending login without consuming it, to
	// explain a failed consume in the audit log. ErrNotFound if absent.
	LookupPendingLogin(ctx context.Context, stateHash []byte) (PendingLoginInfo, error)
	// RecordLogin notes a successful Duo login (and the first enrolment)
	// with its audit event, in one transaction.
	RecordLogin(ctx context.Context, operatorID string, at time.Time, ev Event) error
	// DeleteExpiredPendingLogins removes rows that expired before now.
	DeleteExpiredPendingLogins(ctx context.Context, now time.Time) (int64, error)

	AppendEvent(ctx context.Context, ev Event) error
	// Events returns up to limit events with id > afterID, oldest first.
	Events(ctx context.Context, afterID int64, limit int) ([]EventRecord, error)

	Close() error
}

// EventRecord is a stored Event with its id.
type EventRecord struct {
	ID int64
	Event
}

// PendingLoginInfo explains, after a failed consume, why it failed.
type PendingLoginInfo struct {
	PendingLogin
	Used bool
}
