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

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
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

// Open opens (or creates) the database at path and migrates it.
func Open(ctx context.Context, path string, o Options) (*sql.DB, error) {
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
		return fmt.Errorf("migrations: apply: %w", err)
	}
	return nil
}

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
