// Package sqlitedb opens a SQLite database the way this project wants it
// (pure-Go modernc driver, WAL, a busy timeout, foreign keys, BEGIN
// IMMEDIATE) and brings it to the newest embedded schema with goose, each
// migration in its own transaction, refusing a schema newer than the code.
// The plugin's store and the reference helpdesk's store both use it; they
// keep separate files and separate migrations.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrSchemaTooNew means the database was migrated by newer code; it is
// left untouched.
var ErrSchemaTooNew = errors.New("database schema is newer than this program")

// Options say how to open and migrate one database.
type Options struct {
	// Synchronous is SQLite's synchronous pragma: "FULL" makes every commit
	// survive power loss; "NORMAL" (in WAL mode) may lose the last commits
	// but never corrupts.
	Synchronous string
	// Migrations holds the numbered goose SQL files at its root.
	Migrations fs.FS
	// MigrationsTable records applied migrations.
	MigrationsTable string
	// Owner names the program in errors ("plugin", "helpdesk").
	Owner string
}

// DSN returns the connection string for path. BEGIN IMMEDIATE makes racing
// writers queue on the busy timeout instead of failing to upgrade a read
// lock.
func DSN(path, synchronous string) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(ON)", "synchronous(" + synchronous + ")"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open opens (or creates) the database at path and migrates it. A new
// database is built whole and then put in place (createNew).
func Open(ctx context.Context, path string, o Options) (*sql.DB, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		if err := createNew(ctx, path, o); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", DSN(path, o.Synchronous))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := migrate(ctx, db, o); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// createNew builds a new database at path in one piece: the migrations
// are applied, each in its own transaction as always, to a temporary file
// beside path with no sync per commit (synchronous OFF, the rollback
// journal in memory), then the file is switched to WAL, synced once and
// linked into place, and the directory synced. With synchronous=FULL every
// migration's commit would cost its own fsyncs (most of a new data
// directory's activation). A crash leaves either no database at path (the
// next Open starts again) or a whole one, never a half-migrated one; the
// link does not replace a database another process created meanwhile (that
// one is then opened and migrated as usual). A failed migration leaves
// nothing at path.
func createNew(ctx context.Context, path string, o Options) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	tmp := f.Name()
	_ = f.Close()
	defer func() {
		for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
			_ = os.Remove(tmp + suffix)
		}
	}()
	q := url.Values{}
	for _, p := range []string{"journal_mode(MEMORY)", "synchronous(OFF)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+tmp+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	err = migrate(ctx, db, o)
	if me := (*MigrationError)(nil); errors.As(err, &me) {
		me.Kept = 0 // nothing of the new file is kept
	}
	if err == nil {
		if _, err = db.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
			err = fmt.Errorf("create %s: WAL: %w", path, err)
		}
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("create %s: %w", path, cerr)
	}
	if err != nil {
		return err
	}
	if err := syncPath(tmp); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := syncPath(filepath.Dir(path)); err != nil {
		return fmt.Errorf("create %s: sync directory: %w", path, err)
	}
	return nil
}

// syncPath flushes a file or directory to stable storage.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// OpenReader opens a pool of connections to the database at path, which
// Open has created and migrated, for reading: with query_only set, a write
// through it fails rather than contend with the writer, and a transaction
// begins deferred (a read transaction takes no write lock).
func OpenReader(ctx context.Context, path string, o Options) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(ON)", "query_only(ON)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

func provider(db *sql.DB, o Options) (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectSQLite3, db, o.Migrations,
		goose.WithTableName(o.MigrationsTable),
		goose.WithDisableGlobalRegistry(true),
	)
}

func migrate(ctx context.Context, db *sql.DB, o Options) error {
	p, err := provider(db, o)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// On a new file goose reports version -1 with an error; that is fine.
	current, target, err := p.GetVersions(ctx)
	if err != nil && current != -1 {
		return fmt.Errorf("migrations: read schema version: %w", err)
	}
	if current > target {
		return fmt.Errorf("%w: the database is at schema version %d and this %s knows up to %d; install the newer %s again or restore a backup",
			ErrSchemaTooNew, current, o.Owner, target, o.Owner)
	}
	if _, err := p.Up(ctx); err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) && pe.Failed != nil && pe.Failed.Source != nil {
			kept := max(current, 0)
			for _, r := range pe.Applied {
				kept = max(kept, r.Source.Version)
			}
			return &MigrationError{Failed: pe.Failed.Source.Version, Kept: kept, Err: pe.Err}
		}
		return fmt.Errorf("migrations: apply: %w", err)
	}
	return nil
}

// MigrationError means a migration failed. Each runs in its own
// transaction, so the failed one was rolled back whole and the database is
// at schema version Kept: the migrations before it, and nothing of it.
type MigrationError struct {
	Failed int64 // the version of the migration that failed
	Kept   int64 // the schema version the database is at
	Err    error
}

// Summary says what happened, without the cause.
func (e *MigrationError) Summary() string {
	return fmt.Sprintf("migration %d failed and was rolled back; the database stays at schema version %d", e.Failed, e.Kept)
}

func (e *MigrationError) Error() string { return "migrations: " + e.Summary() + ": " + e.Err.Error() }

func (e *MigrationError) Unwrap() error { return e.Err }

// LatestVersion is the version the embedded migrations lead to.
func LatestVersion(o Options) (int64, error) {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	p, err := provider(db, o)
	if err != nil {
		return 0, err
	}
	srcs := p.ListSources()
	if len(srcs) == 0 {
		return 0, errors.New("no migrations embedded")
	}
	return srcs[len(srcs)-1].Version, nil
}

// Query runs a query and scans every row with scan, closing the rows. An
// empty result is a nil slice. It is the one row loop of the project's
// stores.
func Query[T any](ctx context.Context, q Querier, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Querier is what *sql.DB and *sql.Tx have in common for reading.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Scanner is what *sql.Row and *sql.Rows have in common, so one scan
// function serves a single-row query and a Query.
type Scanner interface {
	Scan(dest ...any) error
}

// IsUniqueViolation reports whether err is SQLite refusing a row that
// breaks a UNIQUE constraint or index.
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
