// Package migrations holds the plugin's database schema as numbered SQL
// files, embedded into the plugin binary. They are applied in order by
// plugin/store with goose, each in its own transaction, and recorded in the
// schema_migrations table.
//
// Rules: a file, once released, is never edited; a new change is a new file
// with the next number. Files have no "Down" section: the plugin never
// migrates a database backwards, and an older plugin refuses a newer schema.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
