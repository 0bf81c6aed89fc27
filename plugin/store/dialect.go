package store

import (
	"context"
	"database/sql"

	"github.com/helpdesk-duo/duo-plugin/internal/pgdb"
	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
)

// dialect is the engine a DB speaks to. The store's SQL is one text for
// both (placeholders written '?' or '?N', rewritten for PostgreSQL by
// sqldb.Rebind); the few places where the engines differ ask the dialect,
// here and nowhere else.
type dialect int

const (
	sqlite dialect = iota
	postgres
)

// rebind puts query's placeholders in the dialect's form.
func (d dialect) rebind(query string) string {
	if d == postgres {
		return sqldb.Rebind(query)
	}
	return query
}

// indexedBy pins SQLite's plan to an index (its planner, without
// statistics, picks badly on a large log); PostgreSQL's planner has
// statistics and no such clause.
func (d dialect) indexedBy(index string) string {
	if d == postgres {
		return ""
	}
	return " INDEXED BY " + index
}

// bypassOrder orders an operator's bypass codes newest first. SQLite breaks
// a tie of one second by insertion order (rowid); PostgreSQL has no row
// order, so codes issued within one second follow their random id.
func (d dialect) bypassOrder() string {
	if d == postgres {
		return `issued_at DESC, id DESC`
	}
	return `issued_at DESC, rowid DESC`
}

// isUniqueViolation reports whether err is either engine refusing a row
// that breaks a UNIQUE constraint or index.
func isUniqueViolation(err error) bool {
	return sqlitedb.IsUniqueViolation(err) || pgdb.IsUniqueViolation(err)
}

// reader runs reads on the pool in the dialect's placeholders; it is a
// sqldb.Querier.
type reader struct {
	db *sql.DB
	d  dialect
}

func (r reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.db.QueryContext(ctx, r.d.rebind(query), args...)
}

func (r reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.db.QueryRowContext(ctx, r.d.rebind(query), args...)
}
