// Package store is the reference helpdesk's own database: operators,
// server-side sessions, failed sign-in records, the plugins it has installed
// and a few tickets. It is one SQLite file, separate from the plugin's
// database, opened with WAL, a busy timeout and foreign keys, and migrated
// with the numbered SQL files embedded from migrations/.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationsTable is where applied migrations are recorded.
const MigrationsTable = "helpdesk_schema_migrations"

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
	db  *sql.DB
	now func() time.Time
}

// Open opens (or creates) the database at path (WAL, busy timeout,
// foreign keys, synchronous=NORMAL, BEGIN IMMEDIATE) and applies the
// embedded migrations, each in its own transaction. A database migrated by
// a newer helpdesk is refused with ErrSchemaTooNew and left untouched.
func Open(ctx context.Context, path string) (*Store, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open helpdesk database: migrations: %w", err)
	}
	db, err := sqlitedb.Open(ctx, path, sqlitedb.Options{
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
	return &Store{db: db, now: time.Now}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

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
