// Package store keeps everything the plugin must remember: settings,
// per-operator toggles and Duo usernames, pending logins, the recovery of a
// lost second factor (backup codes, bypass codes, recovery links, as keyed
// hashes only) and the audit log with its notices.
//
// Store is the one interface behind which that state lives, and Backend
// opens and removes it, so that a second implementation (PostgreSQL, for a
// helpdesk on several machines) slots in without touching the plugin's
// hooks. SQLite is the implementation shipped.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// MigrationError means a migration failed and was rolled back: the
// database stays at the schema version it names.
type MigrationError = sqlitedb.MigrationError

// Sentinel errors callers branch on.
var (
	// ErrSchemaTooNew means the database was migrated by a newer plugin.
	ErrSchemaTooNew = sqlitedb.ErrSchemaTooNew
	// ErrNotFound means the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConsumed means a single-use row was already used, expired, or
	// belongs to someone else; the caller must deny. ErrUsed, ErrExpired
	// and ErrRevoked say which, where the store can tell.
	ErrConsumed = errors.New("already used, expired or not yours")
	// ErrUsed: the row was used up. It matches ErrConsumed.
	ErrUsed = fmt.Errorf("%w: used", ErrConsumed)
	// ErrExpired: the row expired. It matches ErrConsumed.
	ErrExpired = fmt.Errorf("%w: expired", ErrConsumed)
	// ErrRevoked: the row was revoked. It matches ErrConsumed.
	ErrRevoked = fmt.Errorf("%w: revoked", ErrConsumed)
	// ErrDuplicate means a row with the same unique value exists (a random
	// code drawn twice); the caller draws again.
	ErrDuplicate = errors.New("already exists")
	// ErrDuoUsernameTaken means another operator already resolves to the
	// Duo username; see *DuoUsernameTakenError.
	ErrDuoUsernameTaken = errors.New("duo username taken by another operator")
	// ErrFactorNotRecent means the operator has not proved their second
	// factor with Duo recently enough for what they asked.
	ErrFactorNotRecent = errors.New("second factor not proved recently enough")
	// ErrNoBackupCodes means the operator has no set of backup codes to
	// replace.
	ErrNoBackupCodes = errors.New("no backup codes to replace")
)

// DuoUsernameTakenError names who holds a Duo username. It matches
// ErrDuoUsernameTaken.
type DuoUsernameTakenError struct {
	DuoUsername string
	HolderID    string
}

func (e *DuoUsernameTakenError) Error() string {
	return fmt.Sprintf("Duo username %q is already used by operator %s", e.DuoUsername, e.HolderID)
}

// Is matches ErrDuoUsernameTaken.
func (e *DuoUsernameTakenError) Is(target error) bool { return target == ErrDuoUsernameTaken }

// PendingLogin is one redirect to Duo awaiting its callback.
type PendingLogin struct {
	StateHash   []byte
	OperatorID  string
	DuoUsername string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// ConsumedLogin is a pending login as it was consumed, with what the Duo
// callback needs to know of its operator.
type ConsumedLogin struct {
	PendingLogin
	// BackupCodesIssuedAt is when the operator's current set of backup
	// codes was confirmed; zero when they have none.
	BackupCodesIssuedAt time.Time
}

// Toggle is what the login path reads of an operator: the toggle, the
// alias and the lockout.
type Toggle struct {
	// Known: the operator has a row (the toggle was set, or something
	// about them was stored). An operator Duo is enforced for may have
	// none: see PolicyStore.AddOperator.
	Known    bool
	Enabled  bool
	DuoAlias string
	Lock
	// SettingsRevision is the settings revision read with the rest
	// (SettingsRevision), so that the login path reads once.
	SettingsRevision int64
}

// PendingLoginInfo explains, after a failed consume, why it failed.
type PendingLoginInfo struct {
	PendingLogin
	Used bool
}

// Event is one audit log entry. It never holds a secret, a state, a code,
// a token or a ticket.
type Event struct {
	At         time.Time
	Kind       string // e.g. settings.updated, operator.enabled, login.begin
	OperatorID string
	// Actor names who acted (contract.Actor.String); ActorID and ActorRole
	// are the host's id and role for them. Empty when the operator acted
	// at the login page.
	Actor     string
	ActorID   string
	ActorRole string
	ClientIP  string
	// UserAgent is the browser's, as the host reported it (ClientInfo).
	UserAgent string
	Outcome   string
	Reason    string
	Detail    string
	// Notice marks a change of OperatorID's second factor that ListNotices
	// reports; empty for other events.
	Notice contract.NoticeKind
}

// EventRecord is a stored Event with its id.
type EventRecord struct {
	ID int64
	Event
}

// Settings is the stored settings: plain values and sealed secrets.
type Settings struct {
	Values  map[string]string
	Secrets map[string][]byte
	// Revision is the settings' revision when they were read (see
	// Store.SettingsRevision); SaveSettings ignores it.
	Revision int64
}

// Backend opens and removes the plugin's store: SQLiteBackend in a data
// directory, PostgresBackend in a schema every instance shares.
type Backend interface {
	// Open opens (or creates) the store in dataDir and brings its schema up
	// to date; a schema newer than this plugin fails with ErrSchemaTooNew.
	Open(ctx context.Context, dataDir string) (Store, error)
	// Remove deletes everything the store keeps for dataDir and returns
	// what it removed, in order. The store must be closed.
	Remove(dataDir string) ([]string, error)
}

// Store is the plugin's persistent state. Every method is safe for
// concurrent use and honours ctx.
type Store interface {
	// SchemaVersion is the version of the last applied migration.
	SchemaVersion(ctx context.Context) (int64, error)

	LoadSettings(ctx context.Context) (Settings, error)
	// SettingsRevision is a number every SaveSettings raises, in its
	// transaction: one cheap read tells an instance whether the settings
	// it holds in memory are still the stored ones (another instance on
	// the same PostgreSQL store may have saved new ones).
	SettingsRevision(ctx context.Context) (int64, error)
	// SaveSettings writes all values and secrets in one transaction, with an
	// audit event, and raises the settings revision. With resetDerivedDuoUsernames, every operator's Duo
	// username that came from the account (not an alias) is forgotten, to
	// be resolved again at their next login: the way names are derived
	// changed.
	SaveSettings(ctx context.Context, s Settings, resetDerivedDuoUsernames bool, ev Event) error

	// SetOperatorEnabled creates the operator's row if needed, records who
	// changed it and when, and writes ev in the same transaction.
	SetOperatorEnabled(ctx context.Context, op contract.Operator, enabled bool, ev Event) (contract.OperatorState, error)
	// DisableOwn is SetOperatorEnabled(false) for operators turning their
	// own Duo off: while their toggle is on, it fails with
	// ErrFactorNotRecent and changes nothing unless Duo itself vouched for
	// them at or after factorSince (a backup or bypass code does not
	// count), checked in the transaction that writes.
	DisableOwn(ctx context.Context, op contract.Operator, factorSince time.Time, ev Event) (contract.OperatorState, error)
	// SetOperatorAlias sets (or clears, with "") the operator's Duo username
	// alias, which must be canonical. The operator then holds it as their
	// Duo username; an alias another operator holds fails with a
	// *DuoUsernameTakenError and changes nothing.
	SetOperatorAlias(ctx context.Context, op contract.Operator, alias string, ev Event) (contract.OperatorState, error)
	// OperatorStates answers for every id; ids never seen are disabled.
	OperatorStates(ctx context.Context, ids []string) (map[string]contract.OperatorState, error)
	// OperatorToggle reads only what the login path needs of the operator
	// (it counts no backup codes), and the settings revision, in one read;
	// an operator never seen is disabled.
	OperatorToggle(ctx context.Context, operatorID string) (Toggle, error)
	// ListEnabled returns up to limit enabled operators with id > afterID,
	// ordered by id.
	ListEnabled(ctx context.Context, afterID string, limit int) ([]contract.OperatorState, error)

	// CreatePendingLogin claims p.DuoUsername for p.OperatorID and stores
	// the redirect to Duo with its audit event, in one transaction (one
	// durable commit on the login path). A Duo username another operator
	// holds fails with a *DuoUsernameTakenError and stores nothing.
	CreatePendingLogin(ctx context.Context, p PendingLogin, ev Event) error
	// ConsumePendingLogin marks the pending login used, atomically: of two
	// concurrent calls at most one succeeds. It fails with ErrConsumed when
	// the row is missing, used, expired or belongs to another operator.
	ConsumePendingLogin(ctx context.Context, stateHash []byte, operatorID string, now time.Time) (ConsumedLogin, error)
	// LookupPendingLogin reads a pending login without consuming it, to
	// explain a failed consume in the audit log. ErrNotFound if absent.
	LookupPendingLogin(ctx context.Context, stateHash []byte) (PendingLoginInfo, error)
	// RecordLogin notes a successful Duo login with its audit event, in one
	// transaction: the login, the second factor's time (which
	// ReplaceBackupCodes requires to be recent), the failures reset, and
	// the first enrolment with its own notice event. An operator locked at
	// `at` fails with ErrLocked, and nothing is written (as every write
	// that records a success: codes, tickets, recovery links).
	RecordLogin(ctx context.Context, operatorID string, at time.Time, ev Event) error
	// DeleteExpiredPendingLogins removes rows that expired before now.
	DeleteExpiredPendingLogins(ctx context.Context, now time.Time) (int64, error)

	// AppendEvent writes ev durably (it survives power loss) before it
	// returns.
	AppendEvent(ctx context.Context, ev Event) error
	// AppendEventRelaxed writes ev before it returns, in a commit that
	// survives the plugin process dying but not necessarily power loss
	// (SQLite WAL with synchronous=NORMAL: the last commits before a power
	// cut may be lost, never one before a durable commit). Only for events
	// that record no change of state, such as a login Duo was not required
	// for; concurrent ones share one commit.
	AppendEventRelaxed(ctx context.Context, ev Event) error
	// Events returns up to limit events with id > afterID, oldest first.
	Events(ctx context.Context, afterID int64, limit int) ([]EventRecord, error)

	// Exclusive runs fn unless another instance sharing the store is
	// running work of that name: background work (expiry sweeps, log
	// retention) that one instance at a time should do. It never waits:
	// when another holds it, it returns at once with ran false. On a
	// store only one process opens (SQLite) fn always runs.
	Exclusive(ctx context.Context, name string, fn func(context.Context) error) (ran bool, err error)

	RecoveryStore
	PolicyStore
	AuthLogStore

	Close() error
}
