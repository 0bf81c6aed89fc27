package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/pgdb"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/migrations"
)

// DefaultSchema is the PostgreSQL schema the plugin keeps its tables in
// unless told otherwise.
const DefaultSchema = "duo_plugin"

// pgConns bounds each instance's pool: a login is a few short
// transactions, and several instances share the server's connections.
const pgConns = 16

func pgOptions(schema string) pgdb.Options {
	return pgdb.Options{Schema: schema, Migrations: migrations.Postgres, MigrationsTable: MigrationsTable, Owner: "plugin", MaxConns: pgConns}
}

// PostgresBackend keeps the store in one schema of a PostgreSQL database
// that every instance of the plugin shares. The data directory plays no
// part in it.
type PostgresBackend struct {
	// URL names the database; it may hold a password and is never put in
	// an error or a log.
	URL secret.Value
	// Schema holds the plugin's tables (DefaultSchema when empty).
	Schema string
}

var _ Backend = PostgresBackend{}

func (b PostgresBackend) schema() string {
	if b.Schema == "" {
		return DefaultSchema
	}
	return b.Schema
}

// Open implements Backend; dataDir is not used.
func (b PostgresBackend) Open(ctx context.Context, _ string) (Store, error) {
	return OpenPostgres(ctx, b.URL, b.schema())
}

// Remove implements Backend: it drops the plugin's schema, and everything
// in it, for every instance at once. dataDir is not used.
func (b PostgresBackend) Remove(_ string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dropped, err := pgdb.DropSchema(ctx, b.URL.Reveal(), b.schema())
	if err != nil || !dropped {
		return nil, err
	}
	return []string{"postgresql schema " + b.schema()}, nil
}

// OpenPostgres opens the store in schema of the database at url, creating
// and migrating the schema if needed (under an advisory lock, so instances
// starting together migrate it once). A schema migrated by a newer plugin
// is refused with ErrSchemaTooNew.
func OpenPostgres(ctx context.Context, url secret.Value, schema string) (*DB, error) {
	db, err := pgdb.Open(ctx, url.Reveal(), pgOptions(schema))
	if err != nil {
		return nil, err
	}
	s := &DB{dialect: postgres, db: db}
	if err := s.prepare(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgresql: %w", pgdb.Redact(err))
	}
	return s, nil
}

// PostgreSQL runs every write as a transaction of its own at SERIALIZABLE,
// so that the store's read-then-write jobs keep, across instances, the
// meaning they have under SQLite's one writer: the result is as if the
// transactions had run one at a time. PostgreSQL may refuse to commit one
// (a serialization failure) or break a deadlock; the whole job is then run
// again, from its first statement, with the events it collected dropped,
// after a short random wait, at most pgAttempts times in all.
const (
	pgAttempts   = 10
	pgBackoff    = 2 * time.Millisecond
	pgMaxBackoff = 100 * time.Millisecond
)

// pgWrite runs fn in a SERIALIZABLE transaction, again while PostgreSQL
// asks for it (pgdb.IsRetryable). A relaxed write commits with
// synchronous_commit off: the commit returns before the server has flushed
// its WAL, so a crash of the plugin process loses nothing, while a crash
// of the PostgreSQL server (or its machine) may lose the last relaxed
// commits of the ≈ 3 × wal_writer_delay (600 ms by default) before it,
// never a durable commit nor one a durable commit followed.
func (s *DB) pgWrite(ctx context.Context, durable bool, fn func(*txn) error) ([]Event, error) {
	backoff := pgBackoff
	for attempt := 1; ; attempt++ {
		events, err := s.pgTx(ctx, durable, fn)
		if err == nil || !pgdb.IsRetryable(err) || attempt == pgAttempts {
			if err != nil {
				err = pgdb.Redact(err)
			}
			return events, err
		}
		s.retries.Add(1)
		wait := backoff/2 + jitter(backoff/2)
		backoff = min(2*backoff, pgMaxBackoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// jitter is a random duration in [0, d]. From crypto/rand: the plugin
// uses no other source of randomness (trust case 18).
func jitter(d time.Duration) time.Duration {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil || d <= 0 {
		return d
	}
	return time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(d+1))
}

// pgTx runs fn once in its own transaction.
func (s *DB) pgTx(ctx context.Context, durable bool, fn func(*txn) error) (events []Event, err error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// SERIALIZABLE tracks what a transaction read: a sequential scan locks
	// the whole table, and then every concurrent writer of that table
	// conflicts with it, whichever rows it touched. The plugin's tables
	// are small when there are few operators, which is exactly when the
	// planner prefers to scan, so concurrent logins of different operators
	// failed to serialize (duobench phase 7). Index scans lock only the
	// index pages and rows read.
	set := `SET LOCAL enable_seqscan = off`
	if !durable {
		set += `; SET LOCAL synchronous_commit = off`
	}
	if _, err := tx.ExecContext(ctx, set); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	t := &txn{x: pgTx{tx}, ctx: ctx}
	if err, panicked := runJob(fn, t); panicked || err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return t.events, nil
}

// pgTx runs a job's statements in its PostgreSQL transaction.
type pgTx struct{ tx *sql.Tx }

func (p pgTx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.tx.ExecContext(ctx, postgres.rebind(query), args...)
}

func (p pgTx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return p.tx.QueryRowContext(ctx, postgres.rebind(query), args...)
}

func (p pgTx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.tx.QueryContext(ctx, postgres.rebind(query), args...)
}

// Retrier is a store that counts the write transactions it ran again.
type Retrier interface {
	// Retries says how many write transactions were run again after a
	// serialization failure or deadlock, since the store was opened.
	Retries() int64
}

var _ Retrier = (*DB)(nil)

// Retries implements Retrier (always 0 on SQLite, whose one writer never
// retries).
func (s *DB) Retries() int64 { return s.retries.Load() }

// Exclusive implements Store. On PostgreSQL it runs fn while holding the
// session advisory lock named by name on a connection of its own, taken
// with pg_try_advisory_lock: it never waits, so a login never queues
// behind background work, and when another instance holds the lock fn is
// skipped (ran false). On SQLite, which one process owns, fn just runs.
func (s *DB) Exclusive(ctx context.Context, name string, fn func(context.Context) error) (ran bool, err error) {
	if s.dialect != postgres {
		return true, fn(ctx)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: lock: %w", name, pgdb.Redact(err))
	}
	defer conn.Close()
	key := pgdb.LockKey("exclusive " + name)
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		return false, fmt.Errorf("%s: lock: %w", name, pgdb.Redact(err))
	}
	if !got {
		return false, nil
	}
	defer func() {
		var released bool
		uerr := conn.QueryRowContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key).Scan(&released)
		if uerr != nil || !released {
			// The lock goes with the connection: never back to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return true, fn(ctx)
}
