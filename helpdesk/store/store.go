// Package store is the reference helpdesk's own database: operators,
// server-side sessions, failed sign-in records, the plugins it has installed
// and a few tickets. It is separate from the plugin's database: by default
// one SQLite file (WAL, a busy timeout, foreign keys), or, for several
// instances behind a load balancer, the schema "helpdesk" of a PostgreSQL
// database they share. Both are migrated with the numbered SQL files
// embedded from migrations/sqlite and migrations/postgres (the same
// versions, tables and columns); the store's SQL text is one for both,
// written with '?' placeholders and rebound for PostgreSQL in one place
// (db).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/helpdesk-duo/duo-plugin/internal/pgdb"
	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// MigrationsTable is where applied migrations are recorded.
const MigrationsTable = "helpdesk_schema_migrations"

// PostgresSchema holds the helpdesk's tables in a PostgreSQL database (the
// plugin's are in a schema of their own).
const PostgresSchema = "helpdesk"

// Errors callers branch on.
var (
	// ErrNotFound: no such row (or the session expired).
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: a unique value (a username) is taken.
	ErrDuplicate = errors.New("already exists")
	// ErrSchemaTooNew: the database was migrated by a newer helpdesk.
	ErrSchemaTooNew = sqlitedb.ErrSchemaTooNew
)

// Store is the helpdesk's database. Safe for concurrent use.
type Store struct {
	db  *db
	now func() time.Time
}

// Open opens (or creates) the database at path (WAL, busy timeout,
// foreign keys, synchronous=NORMAL, BEGIN IMMEDIATE) and applies the
// embedded migrations, each in its own transaction. A database migrated by
// a newer helpdesk is refused with ErrSchemaTooNew and left untouched.
func Open(ctx context.Context, path string) (*Store, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/sqlite")
	if err != nil {
		return nil, fmt.Errorf("open helpdesk database: migrations: %w", err)
	}
	sdb, err := sqlitedb.Open(ctx, path, sqlitedb.Options{
		// Sessions and sign-in failures may lose their last second on power
		// loss; nothing here is single-use security state.
		Synchronous:     "NORMAL",
		Migrations:      sub,
		MigrationsTable: MigrationsTable,
		Owner:           "helpdesk",
	})
	if err != nil {
		return nil, fmt.Errorf("open helpdesk database %s: %w", path, err)
	}
	return &Store{db: &db{DB: sdb}, now: time.Now}, nil
}

// OpenPostgres opens the helpdesk's schema (PostgresSchema) in the
// PostgreSQL database at url, creating and migrating it under an advisory
// lock, so that instances starting together migrate it once. A schema
// migrated by a newer helpdesk is refused with ErrSchemaTooNew. Errors
// never contain the URL (it may hold a password).
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/postgres")
	if err != nil {
		return nil, fmt.Errorf("open helpdesk database: migrations: %w", err)
	}
	pdb, err := pgdb.Open(ctx, url, pgdb.Options{
		Schema:          PostgresSchema,
		Migrations:      sub,
		MigrationsTable: MigrationsTable,
		Owner:           "helpdesk",
		MaxConns:        16,
	})
	if err != nil {
		return nil, fmt.Errorf("open helpdesk database (PostgreSQL, schema %s): %w", PostgresSchema, err)
	}
	return &Store{db: &db{DB: pdb, pg: true}, now: time.Now}, nil
}

// Postgres reports whether the store is on PostgreSQL (shared by several
// instances) rather than a SQLite file.
func (s *Store) Postgres() bool { return s.db.pg }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// db is the one way the store's methods reach the database: the same SQL
// text on both engines, its '?' placeholders rebound to PostgreSQL's $n
// here and nowhere else.
type db struct {
	*sql.DB
	pg bool
}

func (d *db) q(query string) string {
	if d.pg {
		return sqldb.Rebind(query)
	}
	return query
}

// redact drops what a PostgreSQL connection error adds (the server's
// host, the user and database of the URL); the server's own errors keep
// their type, which callers branch on (a unique violation).
func (d *db) redact(err error) error {
	var ce *pgconn.ConnectError
	if d.pg && errors.As(err, &ce) {
		return pgdb.Redact(err)
	}
	return err
}

func (d *db) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := d.DB.ExecContext(ctx, d.q(query), args...)
	return res, d.redact(err)
}

func (d *db) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := d.DB.QueryContext(ctx, d.q(query), args...)
	return rows, d.redact(err)
}

func (d *db) QueryRowContext(ctx context.Context, query string, args ...any) row {
	return row{r: d.DB.QueryRowContext(ctx, d.q(query), args...), d: d}
}

func (d *db) PingContext(ctx context.Context) error { return d.redact(d.DB.PingContext(ctx)) }

// row is *sql.Row with its error redacted like db's.
type row struct {
	r *sql.Row
	d *db
}

func (r row) Scan(dest ...any) error { return r.d.redact(r.r.Scan(dest...)) }

// BeginTx starts a transaction whose statements are rebound like db's.
func (d *db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	t, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, d.redact(err)
	}
	return &tx{Tx: t, d: d}, nil
}

type tx struct {
	*sql.Tx
	d *db
}

func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := t.Tx.ExecContext(ctx, t.d.q(query), args...)
	return res, t.d.redact(err)
}

// isUniqueViolation reports whether err is either engine refusing a row
// that breaks a UNIQUE constraint or index.
func isUniqueViolation(err error) bool {
	return sqlitedb.IsUniqueViolation(err) || pgdb.IsUniqueViolation(err)
}

func unix(t time.Time) int64 { return t.UTC().Unix() }

func fromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
