package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// MigrationsTable is where applied migrations are recorded.
const MigrationsTable = "schema_migrations"

// DB is the Store on SQL: one SQLite file (OpenSQLite) or one PostgreSQL
// schema shared by every instance of the plugin (OpenPostgres). Every
// method's SQL is the same text on both engines; what differs is how a
// write transaction runs (write, below) and the few dialect branches of
// dialect.go.
type DB struct {
	dialect dialect
	// db is the pool of read connections (SQLite in WAL: a reader never
	// waits for the writer, nor the writer for a reader; PostgreSQL: the
	// pool every transaction runs on too). rd reads through it in the
	// dialect's placeholders.
	db *sql.DB
	rd reader
	// wdb holds SQLite's write connection, which w owns; both nil on
	// PostgreSQL, where each write is a transaction of its own (pgWrite).
	wdb *sql.DB
	w   *writer
	// spool holds SQLite's relaxed events until the writer imports them;
	// nil on PostgreSQL.
	spool *spool
	// toggle is OperatorToggle's query, prepared once (on each read
	// connection as it is first used).
	toggle *sql.Stmt
	// revision is SettingsRevision's query, which every hook call runs,
	// prepared the same way.
	revision *sql.Stmt
	// observer, set once before the store is shared, sees every event
	// written, after its commit (ObserveEvents).
	observer func(Event)
	// writers counts the writes in flight; background deletes yield to
	// them (sql_authlog.go).
	writers atomic.Int64
	// retries counts PostgreSQL transactions run again after a
	// serialization failure or deadlock; for tests and benchmarks.
	retries atomic.Int64
}

// SQLite is the Store on one SQLite file: a DB opened by OpenSQLite.
type SQLite = DB

var _ Store = (*DB)(nil)

// Close runs the writes already queued, then closes the database.
func (s *DB) Close() error {
	var err error
	if s.w != nil {
		err = errors.Join(s.closeSpool(), s.w.close())
	}
	_ = s.toggle.Close()
	_ = s.revision.Close()
	if s.wdb != nil {
		err = errors.Join(err, s.wdb.Close())
	}
	return errors.Join(err, s.db.Close())
}

// prepare finishes opening: the read wrapper and the reads every hook
// call makes, prepared once (SQLite parses a statement anew otherwise).
func (s *DB) prepare(ctx context.Context) error {
	s.rd = reader{db: s.db, d: s.dialect}
	var err error
	if s.toggle, err = s.db.PrepareContext(ctx, s.dialect.rebind(toggleQuery)); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if s.revision, err = s.db.PrepareContext(ctx, revisionQuery); err != nil {
		_ = s.toggle.Close()
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

// SchemaVersion implements Store.
func (s *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.rd.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM `+MigrationsTable+` WHERE is_applied`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

const revisionQuery = `SELECT revision FROM settings_revision WHERE id = 1`

// hotRead is the context for the one-row reads every hook call makes
// (OperatorToggle, SettingsRevision). On SQLite it is ctx without its
// cancellation, once ctx is checked live: a cancellable context costs each
// such read two goroutines (database/sql's and the driver's, which watch
// it to interrupt the statement), more than the read itself. Such a read
// cannot hang: it reads one row through an index in WAL, where a reader
// never waits for the writer, and SQLite's busy timeout bounds the rare
// waits (sqlitedb). Its caller's deadline still holds for the call: the
// host stops waiting and denies. On PostgreSQL, where a read crosses the
// network, ctx is kept whole.
func (s *DB) hotRead(ctx context.Context) (context.Context, error) {
	if s.dialect != sqlite {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// SettingsRevision implements Store.
func (s *DB) SettingsRevision(ctx context.Context) (int64, error) {
	ctx, err := s.hotRead(ctx)
	if err != nil {
		return 0, fmt.Errorf("settings revision: %w", err)
	}
	var rev int64
	if err := s.revision.QueryRowContext(ctx).Scan(&rev); err != nil {
		return 0, fmt.Errorf("settings revision: %w", err)
	}
	return rev, nil
}

// LoadSettings implements Store. The revision is read first: settings
// saved meanwhile are then newer than the revision returned, never older,
// so the next check reloads them again rather than keep stale ones.
func (s *DB) LoadSettings(ctx context.Context) (Settings, error) {
	rev, err := s.SettingsRevision(ctx)
	if err != nil {
		return Settings{}, fmt.Errorf("load settings: %w", err)
	}
	type kv struct {
		k string
		v []byte
	}
	scan := func(sc sqldb.Scanner) (kv, error) {
		var r kv
		return r, sc.Scan(&r.k, &r.v)
	}
	values, err := sqldb.Query(ctx, s.rd, scan, `SELECT key, value FROM settings`)
	if err != nil {
		return Settings{}, fmt.Errorf("load settings: %w", err)
	}
	secrets, err := sqldb.Query(ctx, s.rd, scan, `SELECT key, ciphertext FROM secrets`)
	if err != nil {
		return Settings{}, fmt.Errorf("load secrets: %w", err)
	}
	out := Settings{Values: make(map[string]string, len(values)), Secrets: make(map[string][]byte, len(secrets)), Revision: rev}
	for _, r := range values {
		out.Values[r.k] = string(r.v)
	}
	for _, r := range secrets {
		out.Secrets[r.k] = r.v
	}
	return out, nil
}

// SaveSettings implements Store.
func (s *DB) SaveSettings(ctx context.Context, st Settings, resetDerivedDuoUsernames bool, ev Event) error {
	return s.tx(ctx, "save settings", func(tx *txn) error {
		at := ev.At.Unix()
		for k, v := range st.Values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
				k, v, at, ev.Actor); err != nil {
				return err
			}
		}
		for k, v := range st.Secrets {
			if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (key, ciphertext, updated_at, updated_by) VALUES (?, ?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
				k, v, at, ev.Actor); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE settings_revision SET revision = revision + 1 WHERE id = 1`); err != nil {
			return err
		}
		if resetDerivedDuoUsernames {
			if _, err := tx.ExecContext(ctx, `UPDATE operators SET duo_username = NULLIF(duo_alias, '')`); err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, ev)
	})
}

// operatorColumns are read FROM operators for a whole OperatorState, with
// the count of unused backup codes (the login path reads OperatorToggle
// instead). BackupCodesLow is not: it depends on a setting, and the hooks
// fill it in.
const operatorColumns = `id, username, email, enabled, duo_alias, enrolled_at, last_login_at, changed_by, changed_at,
	(SELECT COUNT(*) FROM backup_codes b WHERE b.operator_id = operators.id AND b.used_at IS NULL), backup_codes_issued_at,
	` + lockColumns

func scanOperator(sc sqldb.Scanner) (contract.OperatorState, error) {
	var (
		st                          contract.OperatorState
		enabled                     int
		enrolled, lastLogin, issued sql.NullInt64
		changedAt                   int64
		lock                        Lock
	)
	err := sc.Scan(append([]any{&st.OperatorID, &st.Username, &st.Email, &enabled, &st.DuoAlias, &enrolled, &lastLogin, &st.ChangedBy, &changedAt,
		&st.BackupCodesLeft, &issued}, lock.dest()...)...)
	if err != nil {
		return st, err
	}
	// Locked depends on the time: the hooks tell it.
	st.FailedAttempts, st.LockedAt, st.LockedUntil = int32(lock.FailedAttempts), lock.LockedAt, lock.LockedUntil
	st.Enabled = enabled == 1
	st.EnrolledAt = unixOrZero(enrolled)
	st.LastLogin = unixOrZero(lastLogin)
	st.ChangedAt = time.Unix(changedAt, 0).UTC()
	st.BackupCodesIssuedAt = unixOrZero(issued)
	return st, nil
}

func unixOrZero(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(v.Int64, 0).UTC()
}

// upsertOperator makes sure the operator's row exists with the latest
// username and e-mail the host sent.
func upsertOperator(ctx context.Context, tx *txn, op contract.Operator, ev Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO operators (id, username, email, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET username = excluded.username, email = excluded.email`,
		op.ID, op.Username, op.Email, ev.Actor, ev.At.Unix())
	return err
}

// claimDuoUsername makes name the operator's Duo username ("" releases
// it). The unique index refuses a name another operator holds. Who holds
// it is read before the UPDATE: after a refused statement a PostgreSQL
// transaction runs nothing more.
func claimDuoUsername(ctx context.Context, tx *txn, operatorID, name string) error {
	if name != "" {
		var holder string
		err := tx.QueryRowContext(ctx, `SELECT id FROM operators WHERE duo_username = ? AND id != ?`, name, operatorID).Scan(&holder)
		switch {
		case err == nil:
			return &DuoUsernameTakenError{DuoUsername: name, HolderID: holder}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE operators SET duo_username = NULLIF(?, '') WHERE id = ?`, name, operatorID)
	if isUniqueViolation(err) {
		// Claimed by another instance's transaction that committed
		// after this one read (PostgreSQL only: SQLite's writes run one
		// at a time).
		return fmt.Errorf("%w: claimed meanwhile by another operator", ErrDuoUsernameTaken)
	}
	return err
}

func getOperator(ctx context.Context, q *txn, id string) (contract.OperatorState, error) {
	st, err := scanOperator(q.QueryRowContext(ctx, `SELECT `+operatorColumns+` FROM operators WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrNotFound
	}
	return st, err
}

// SetOperatorEnabled implements Store.
func (s *DB) SetOperatorEnabled(ctx context.Context, op contract.Operator, enabled bool, ev Event) (contract.OperatorState, error) {
	return s.updateOperator(ctx, "set operator enabled", op, ev, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE operators SET enabled = ? WHERE id = ?`, boolInt(enabled), op.ID)
		return err
	})
}

// DisableOwn implements Store.
func (s *DB) DisableOwn(ctx context.Context, op contract.Operator, factorSince time.Time, ev Event) (contract.OperatorState, error) {
	return s.updateOperator(ctx, "disable own Duo", op, ev, func(tx *txn) error {
		var enabled bool
		var factor sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT enabled, duo_factor_at FROM operators WHERE id = ?`, op.ID).Scan(&enabled, &factor); err != nil {
			return err
		}
		if enabled && (!factor.Valid || unixOrZero(factor).Before(factorSince)) {
			return ErrFactorNotRecent
		}
		_, err := tx.ExecContext(ctx, `UPDATE operators SET enabled = 0 WHERE id = ?`, op.ID)
		return err
	})
}

// SetOperatorAlias implements Store.
func (s *DB) SetOperatorAlias(ctx context.Context, op contract.Operator, alias string, ev Event) (contract.OperatorState, error) {
	return s.updateOperator(ctx, "set operator alias", op, ev, func(tx *txn) error {
		if err := claimDuoUsername(ctx, tx, op.ID, alias); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE operators SET duo_alias = ? WHERE id = ?`, alias, op.ID)
		return err
	})
}

// updateOperator creates the operator's row if needed, applies change,
// records who made it and when, and writes ev, in one transaction.
func (s *DB) updateOperator(ctx context.Context, what string, op contract.Operator, ev Event, change func(*txn) error) (contract.OperatorState, error) {
	var out contract.OperatorState
	err := s.tx(ctx, what, func(tx *txn) error {
		if err := upsertOperator(ctx, tx, op, ev); err != nil {
			return err
		}
		if err := change(tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE operators SET changed_by = ?, changed_at = ? WHERE id = ?`,
			ev.Actor, ev.At.Unix(), op.ID); err != nil {
			return err
		}
		if err := appendEvent(ctx, tx, ev); err != nil {
			return err
		}
		var err error
		out, err = getOperator(ctx, tx, op.ID)
		return err
	})
	return out, err
}

// OperatorStates implements Store. Ids are looked up in batches so a large
// request stays under SQLite's bound-parameter limit.
func (s *DB) OperatorStates(ctx context.Context, ids []string) (map[string]contract.OperatorState, error) {
	out := make(map[string]contract.OperatorState, len(ids))
	for _, id := range ids {
		out[id] = contract.OperatorState{OperatorID: id}
	}
	const batch = 500
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		q := `SELECT ` + operatorColumns + ` FROM operators WHERE id IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		found, err := sqldb.Query(ctx, s.rd, scanOperator, q, args...)
		if err != nil {
			return nil, fmt.Errorf("operator states: %w", err)
		}
		for _, st := range found {
			out[st.OperatorID] = st
		}
	}
	return out, nil
}

// toggleQuery reads the operator's toggle, alias and lock with the
// settings revision, in one statement: the login path's one read (a row
// even for an operator never seen).
const toggleQuery = `SELECT r.revision, o.id IS NOT NULL, o.enabled, o.duo_alias, ` + lockColumns + `
	FROM settings_revision r LEFT JOIN operators o ON o.id = ? WHERE r.id = 1`

// OperatorToggle implements Store.
func (s *DB) OperatorToggle(ctx context.Context, operatorID string) (Toggle, error) {
	ctx, err := s.hotRead(ctx)
	if err != nil {
		return Toggle{}, fmt.Errorf("operator toggle: %w", err)
	}
	var (
		t       Toggle
		enabled int
		alias   sql.NullString
	)
	err = s.toggle.QueryRowContext(ctx, operatorID).
		Scan(append([]any{&t.SettingsRevision, &t.Known, &scanInt{&enabled}, &alias}, t.Lock.dest()...)...)
	if err != nil {
		return Toggle{}, fmt.Errorf("operator toggle: %w", err)
	}
	t.Enabled, t.DuoAlias = enabled == 1, alias.String
	return t, nil
}

// ListEnabled implements Store.
func (s *DB) ListEnabled(ctx context.Context, afterID string, limit int) ([]contract.OperatorState, error) {
	out, err := sqldb.Query(ctx, s.rd, scanOperator,
		`SELECT `+operatorColumns+` FROM operators WHERE enabled = 1 AND id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list enabled operators: %w", err)
	}
	return out, nil
}

// CreatePendingLogin implements Store.
//
// Its commit is relaxed (synchronous=NORMAL): nothing in it is consumed or
// spent, so losing it to a power cut (never to a crash of the process)
// only makes that login start again: its callback finds no pending login
// and is denied, the Duo username is claimed again at the next login, and
// the log misses the redirect. The consume that follows is durable and
// syncs the WAL up to and including it.
func (s *DB) CreatePendingLogin(ctx context.Context, p PendingLogin, ev Event) error {
	return s.write(ctx, "create pending login", relaxed, func(tx *txn) error {
		if err := claimDuoUsername(ctx, tx, p.OperatorID, p.DuoUsername); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pending_logins (state_hash, operator_id, duo_username, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			p.StateHash, p.OperatorID, p.DuoUsername, p.CreatedAt.Unix(), p.ExpiresAt.Unix()); err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ConsumePendingLogin implements Store with one conditional UPDATE: the row
// is claimed only if unused, unexpired and this operator's, so a replay or
// a concurrent duplicate affects no row and loses. The same statement
// reads the operator's backup-code set, which the callback needs next.
func (s *DB) ConsumePendingLogin(ctx context.Context, stateHash []byte, operatorID string, now time.Time) (ConsumedLogin, error) {
	var (
		p                ConsumedLogin
		created, expires int64
		issued           sql.NullInt64
	)
	err := s.tx(ctx, "consume pending login", func(tx *txn) error {
		err := tx.QueryRowContext(ctx, `UPDATE pending_logins SET used_at = ?
			WHERE state_hash = ? AND operator_id = ? AND used_at IS NULL AND expires_at > ?
			RETURNING state_hash, operator_id, duo_username, created_at, expires_at,
				(SELECT backup_codes_issued_at FROM operators WHERE operators.id = pending_logins.operator_id)`,
			now.Unix(), stateHash, operatorID, now.Unix()).Scan(&p.StateHash, &p.OperatorID, &p.DuoUsername, &created, &expires, &issued)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrConsumed
		}
		return err
	})
	if errors.Is(err, ErrConsumed) {
		return ConsumedLogin{}, ErrConsumed
	}
	if err != nil {
		return ConsumedLogin{}, err
	}
	p.CreatedAt = time.Unix(created, 0).UTC()
	p.ExpiresAt = time.Unix(expires, 0).UTC()
	p.BackupCodesIssuedAt = unixOrZero(issued)
	return p, nil
}

// LookupPendingLogin implements Store.
func (s *DB) LookupPendingLogin(ctx context.Context, stateHash []byte) (PendingLoginInfo, error) {
	var (
		p                PendingLoginInfo
		created, expires int64
		used             sql.NullInt64
	)
	err := s.rd.QueryRowContext(ctx, `SELECT state_hash, operator_id, duo_username, created_at, expires_at, used_at
		FROM pending_logins WHERE state_hash = ?`, stateHash).Scan(&p.StateHash, &p.OperatorID, &p.DuoUsername, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("lookup pending login: %w", err)
	}
	p.CreatedAt, p.ExpiresAt, p.Used = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC(), used.Valid
	return p, nil
}

// RecordLogin implements Store.
func (s *DB) RecordLogin(ctx context.Context, operatorID string, at time.Time, ev Event) error {
	return s.tx(ctx, "record login", func(tx *txn) error {
		if err := noteSecondFactor(ctx, tx, operatorID, at, true, true); err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// noteSecondFactor records, in one UPDATE, that the operator proved their
// second factor at `at` (Duo or a code) and, with login, that they signed
// in. With byDuo, Duo vouched for them (noted apart, as only that lets them
// replace their backup codes): the first time (or the first since a reset)
// is their enrolment, noted with its notice by a second UPDATE
// that only that sign-in makes.
func noteSecondFactor(ctx context.Context, tx *txn, operatorID string, at time.Time, login, byDuo bool) error {
	if err := refuseIfLocked(ctx, tx, operatorID, at); err != nil {
		return err
	}
	// A success resets the failures (and a lock that ended).
	set := `UPDATE operators SET second_factor_at = ?1, last_login_at = CASE WHEN ?3 = 1 THEN ?1 ELSE last_login_at END, ` + resetFailures1
	args := []any{at.Unix(), operatorID, boolInt(login)}
	if !byDuo {
		_, err := tx.ExecContext(ctx, set+` WHERE id = ?2`, args...)
		return err
	}
	set += `, duo_factor_at = ?1`
	if n, err := execCount(ctx, tx, set+` WHERE id = ?2 AND enrolled_at IS NOT NULL`, args...); err != nil || n == 1 {
		return err
	}
	// The transaction holds the write lock, so no other sign-in enrols the
	// operator between the two statements.
	if n, err := execCount(ctx, tx, set+`, enrolled_at = ?1 WHERE id = ?2 AND enrolled_at IS NULL`, args...); err != nil || n == 0 {
		return err
	}
	return appendEvent(ctx, tx, Event{At: at, Kind: "operator.enrolled", OperatorID: operatorID, Outcome: "ok",
		Detail: "first sign-in with Duo", Notice: contract.NoticeDuoEnrolled})
}

// execCount runs a statement and returns how many rows it changed.
func execCount(ctx context.Context, tx *txn, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// DeleteExpiredPendingLogins implements Store.
func (s *DB) DeleteExpiredPendingLogins(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, "delete expired pending logins", relaxed, func(tx *txn) error {
		var err error
		n, err = execCount(ctx, tx, `DELETE FROM pending_logins WHERE expires_at <= ?`, now.Unix())
		return err
	})
	return n, err
}

// AppendEvent implements Store.
func (s *DB) AppendEvent(ctx context.Context, ev Event) error {
	return s.tx(ctx, "append event", func(tx *txn) error { return appendEvent(ctx, tx, ev) })
}

// AppendEventRelaxed implements Store: the event is spooled (spool.go), or,
// when the spool cannot take it, written by a relaxed write.
func (s *DB) AppendEventRelaxed(ctx context.Context, ev Event) error {
	if s.spoolEvent(ctx, ev) {
		if s.observer != nil { // deliver's, without a slice per call
			s.observer(ev)
		}
		return nil
	}
	return s.write(ctx, "append event", relaxed, func(tx *txn) error { return appendEvent(ctx, tx, ev) })
}

func appendEvent(ctx context.Context, tx *txn, ev Event) error {
	err := insertEvent(ctx, tx, ev)
	if err == nil {
		tx.events = append(tx.events, ev)
	}
	return err
}

// insertEvent writes ev's row (appendEvent without telling the observer).
func insertEvent(ctx context.Context, tx *txn, ev Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_events (at, kind, operator_id, actor, actor_id, actor_role, client_ip, user_agent, outcome, reason, detail, notice)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.At.Unix(), ev.Kind, ev.OperatorID, ev.Actor, ev.ActorID, ev.ActorRole, ev.ClientIP, ev.UserAgent, ev.Outcome, ev.Reason, ev.Detail, string(ev.Notice))
	return err
}

// Events implements Store.
func (s *DB) Events(ctx context.Context, afterID int64, limit int) ([]EventRecord, error) {
	if err := s.flushSpool(ctx); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	out, err := sqldb.Query(ctx, s.rd, scanEvent,
		`SELECT `+eventColumns+` FROM audit_events WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return out, nil
}

// Durability of a write (writer.go).
const (
	durable = true  // synchronous=FULL: the commit survives power loss
	relaxed = false // synchronous=NORMAL: it survives the process dying
)

// tx runs fn as one durable write: committed, and surviving power loss,
// before it returns.
func (s *DB) tx(ctx context.Context, what string, fn func(*txn) error) error {
	return s.write(ctx, what, durable, fn)
}

// write runs fn as one write transaction and hands the events it wrote to
// the observer once committed: on SQLite, a job of the one writer
// (writer.go), which runs the store's writes one at a time; on PostgreSQL,
// a SERIALIZABLE transaction of its own, run again whole when PostgreSQL
// could not serialize it (postgres.go). Either way fn sees what every
// write committed before it and nothing of one running beside it, so the
// read-then-write jobs (the lock check, the failure count, the factor
// check) hold across instances as within one.
func (s *DB) write(ctx context.Context, what string, durable bool, fn func(*txn) error) error {
	defer s.writing()()
	var (
		events []Event
		err    error
	)
	if s.w != nil {
		events, err = s.w.do(ctx, durable, fn)
	} else {
		events, err = s.pgWrite(ctx, durable, fn)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	s.deliver(events)
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
