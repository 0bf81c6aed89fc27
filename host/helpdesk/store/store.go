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
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
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
	ErrSchemaTooNew = errors.New("database schema is newer than this helpdesk")
)

// Secret is a string that must not reach a log or an error message: its
// String, GoString, Format, LogValue and JSON forms are redacted. Read it
// with Reveal.
type Secret string

const redacted = "[redacted]"

// Reveal returns the value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the value is non-empty.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return redacted }
func (s Secret) Format(f fmt.State, _ rune)    { _, _ = io.WriteString(f, redacted) }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (s Secret) MarshalJSON() ([]byte, error)  { return []byte(`"` + redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// Store is the helpdesk's database. Safe for concurrent use.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// DSN returns the connection string for path: WAL, a busy timeout, foreign
// keys, and BEGIN IMMEDIATE for transactions so that racing writers queue on
// the busy timeout instead of failing to upgrade a read lock.
func DSN(path string) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(ON)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open opens (or creates) the database at path and applies the embedded
// migrations, each in its own transaction. A database migrated by a newer
// helpdesk is refused with ErrSchemaTooNew and left untouched.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("open helpdesk database %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open helpdesk database %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open helpdesk database %s: %w", path, err)
	}
	return &Store{db: db, now: time.Now}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub,
		goose.WithTableName(MigrationsTable),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil && current != -1 {
		return fmt.Errorf("migrations: read schema version: %w", err)
	}
	if current > target {
		return fmt.Errorf("%w: the database is at schema version %d and this helpdesk knows up to %d", ErrSchemaTooNew, current, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: apply: %w", err)
	}
	return nil
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

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
