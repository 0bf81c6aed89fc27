// Package pgdb opens a PostgreSQL database the way this project wants it:
// pgx through database/sql, every connection's search_path set to one
// schema of its own (the plugin's, the helpdesk's), and that schema created
// and migrated with goose under an advisory lock, so that several
// instances starting together migrate it once, in turn, never racing. A
// schema newer than the code is refused, as with SQLite (sqldb).
package pgdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
)

// Options say how to open and migrate one schema.
type Options struct {
	// Schema holds every table; it must be a plain identifier (ValidSchema).
	Schema string
	// Migrations holds the numbered goose SQL files (PostgreSQL's dialect)
	// at its root.
	Migrations fs.FS
	// MigrationsTable records applied migrations, inside Schema.
	MigrationsTable string
	// Owner names the program in errors ("plugin", "helpdesk").
	Owner string
	// MaxConns bounds the pool (0: database/sql's default, unbounded).
	MaxConns int
}

// ValidSchema reports whether name can be a schema here: lower-case
// letters, digits and '_', not starting with a digit, at most 63 bytes
// (PostgreSQL's limit), so it never needs quoting.
func ValidSchema(name string) bool {
	if name == "" || len(name) > 63 || ('0' <= name[0] && name[0] <= '9') {
		return false
	}
	for _, c := range []byte(name) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Open connects to the database at url (a PostgreSQL URL or keyword/value
// string), creates o.Schema if needed and migrates it. The URL is never put
// in an error: it may hold a password.
func Open(ctx context.Context, url string, o Options) (*sql.DB, error) {
	if !ValidSchema(o.Schema) {
		return nil, fmt.Errorf("postgresql schema %q: use lower-case letters, digits and _", o.Schema)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL: say only that it is malformed.
		return nil, errors.New("postgresql: the database URL cannot be parsed")
	}
	cfg.RuntimeParams["search_path"] = o.Schema
	db := stdlib.OpenDB(*cfg)
	if o.MaxConns > 0 {
		db.SetMaxOpenConns(o.MaxConns)
		db.SetMaxIdleConns(o.MaxConns)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := migrate(ctx, db, o); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// migrate creates the schema and applies the migrations while holding the
// schema's advisory lock on a connection of its own: a second instance
// waits there, then finds nothing left to do.
func migrate(ctx context.Context, db *sql.DB, o Options) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("postgresql: connect: %w", Redact(err))
	}
	defer conn.Close()
	key := LockKey("migrate " + o.Schema)
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("postgresql: take the migration lock: %w", Redact(err))
	}
	defer func() {
		// A lock left by a failed unlock goes with the connection.
		if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key); uerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+o.Schema); err != nil {
		return fmt.Errorf("postgresql: create schema %s: %w", o.Schema, Redact(err))
	}
	return sqldb.Migrate(ctx, db, o.migrations())
}

func (o Options) migrations() sqldb.Migrations {
	return sqldb.Migrations{Dialect: goose.DialectPostgres, FS: o.Migrations, Table: o.MigrationsTable, Owner: o.Owner}
}

// DropSchema removes schema and everything in it from the database at url;
// it reports whether there was one.
func DropSchema(ctx context.Context, url, schema string) (bool, error) {
	if !ValidSchema(schema) {
		return false, fmt.Errorf("postgresql schema %q: use lower-case letters, digits and _", schema)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, errors.New("postgresql: the database URL cannot be parsed")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("postgresql: connect: %w", Redact(err))
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return false, fmt.Errorf("postgresql: find schema %s: %w", schema, Redact(err))
	}
	if !exists {
		return false, nil
	}
	if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
		return false, fmt.Errorf("postgresql: drop schema %s: %w", schema, Redact(err))
	}
	return true, nil
}

// LockKey is the advisory-lock key (pg_advisory_lock's bigint) for name;
// every instance computes the same one.
func LockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("duo-plugin " + name))
	return int64(h.Sum64())
}

// Redact keeps what PostgreSQL said (its SQLSTATE and message) and drops
// what a connection error may add: pgconn's errors can name the host and
// user. Errors that are not the server's pass unchanged.
func Redact(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return serverError{pe}
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return errors.New("cannot connect to the PostgreSQL server")
	}
	return err
}

// serverError is what PostgreSQL said, its message and SQLSTATE only (not
// its detail, which can quote a row's values); it unwraps to the
// *pgconn.PgError, so IsUniqueViolation and IsRetryable still see it.
type serverError struct{ pe *pgconn.PgError }

func (e serverError) Error() string { return fmt.Sprintf("%s (SQLSTATE %s)", e.pe.Message, e.pe.Code) }

func (e serverError) Unwrap() error { return e.pe }

// IsUniqueViolation reports whether err is PostgreSQL refusing a row that
// breaks a UNIQUE constraint or index.
func IsUniqueViolation(err error) bool { return sqlState(err) == "23505" }

// IsRetryable reports whether err is a serialization failure or a deadlock:
// the transaction was rolled back and may be run again whole.
func IsRetryable(err error) bool {
	switch sqlState(err) {
	case "40001", "40P01":
		return true
	}
	return false
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
