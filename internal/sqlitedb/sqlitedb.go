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

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
	"modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrSchemaTooNew means the database was migrated by newer code; it is
// left untouched.
var ErrSchemaTooNew = sqldb.ErrSchemaTooNew

// MigrationError means a migration failed and was rolled back.
type MigrationError = sqldb.MigrationError

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

func (o Options) migrations() sqldb.Migrations {
	return sqldb.Migrations{Dialect: goose.DialectSQLite3, FS: o.Migrations, Table: o.MigrationsTable, Owner: o.Owner}
}

func migrate(ctx context.Context, db *sql.DB, o Options) error {
	return sqldb.Migrate(ctx, db, o.migrations())
}

// LatestVersion is the version the embedded migrations lead to.
func LatestVersion(o Options) (int64, error) {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return sqldb.LatestVersion(db, o.migrations())
}

// IsUniqueViolation reports whether err is SQLite refusing a row that
// breaks a UNIQUE constraint or index.
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
