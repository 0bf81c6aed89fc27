// Package migrations holds the plugin's database schema as numbered SQL
// files, embedded into the plugin binary. They are applied in order by
// plugin/store with goose (FS on SQLite, Postgres on PostgreSQL), each in its own transaction, and recorded in the
// schema_migrations table.
//
// Rules: a file, once released, is never edited; a new change is a new file
// with the next number. Files have no "Down" section: the plugin never
// migrates a database backwards, and an older plugin refuses a newer schema.
package migrations

import (
	"embed"
	"io/fs"
)

// FS holds the migration files for SQLite.
//
//go:embed *.sql
var FS embed.FS

// postgresFiles holds the same migrations for PostgreSQL, under postgres/.
//
//go:embed postgres/*.sql
var postgresFiles embed.FS

// Postgres holds the PostgreSQL migrations at its root: the same versions,
// tables, columns, indexes and constraints as FS, in PostgreSQL's types
// (BIGINT for times and flags, BYTEA for blobs, an identity column for
// audit ids). A new migration adds a file to both.
var Postgres fs.FS = mustSub(postgresFiles, "postgres")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		// fs.Sub fails only on an invalid path, a constant here.
		return f
	}
	return sub
}
