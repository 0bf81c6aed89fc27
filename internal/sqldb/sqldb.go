// Package sqldb is what the project's SQL stores share whatever the
// engine: migrating with goose (a schema newer than the code refused, a
// failed migration named with the version the database stays at), the one
// row loop, and rewriting '?' placeholders for PostgreSQL, so that one SQL
// text serves SQLite and PostgreSQL alike. sqlitedb and pgdb open the
// engines.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	"github.com/pressly/goose/v3"
)

// ErrSchemaTooNew means the database was migrated by newer code; it is
// left untouched.
var ErrSchemaTooNew = errors.New("database schema is newer than this program")

// Migrations say how to migrate one database.
type Migrations struct {
	// Dialect is goose's name of the engine.
	Dialect goose.Dialect
	// FS holds the numbered goose SQL files at its root.
	FS fs.FS
	// Table records applied migrations.
	Table string
	// Owner names the program in errors ("plugin", "helpdesk").
	Owner string
}

func (m Migrations) provider(db *sql.DB) (*goose.Provider, error) {
	return goose.NewProvider(m.Dialect, db, m.FS,
		goose.WithTableName(m.Table),
		goose.WithDisableGlobalRegistry(true),
	)
}

// Migrate brings db to the newest migration, each in its own transaction.
// A database at a newer version than the files fails with ErrSchemaTooNew,
// untouched; a failed migration is a *MigrationError.
func Migrate(ctx context.Context, db *sql.DB, o Migrations) error {
	p, err := o.provider(db)
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

// LatestVersion is the version the migrations lead to. db is only used to
// build goose's provider: nothing is read from it.
func LatestVersion(db *sql.DB, o Migrations) (int64, error) {
	p, err := o.provider(db)
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

// rebound caches Rebind's answers: the stores' queries are constants.
var rebound sync.Map

// Rebind rewrites the placeholders of query as PostgreSQL's: each '?' as
// $1, $2, … in order, and a numbered '?N' (SQLite's, for a value used more
// than once) as $N. The stores' queries hold no '?' but placeholders (no
// string literal, identifier or operator with one), which their tests on
// both engines keep true.
func Rebind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c != '?' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			j++
		}
		if j > i+1 {
			b.WriteString("$" + query[i+1:j])
			i = j - 1
			continue
		}
		n++
		b.WriteString("$" + strconv.Itoa(n))
	}
	out := b.String()
	rebound.Store(query, out)
	return out
}
