// Package plugindb is the plugin's database as tests see it from outside:
// another process's connection to its SQLite file, the schema version
// goose recorded there, and the version the source tree's migrations lead
// to. The boundary tests (internal/integration, internal/trust,
// internal/upgrade) know the plugin only as a binary and its files, never
// its packages, so this reads the files, not plugin/store.
package plugindb

import (
	"cmp"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the plugin's driver

	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

// MigrationsTable is goose's version table in the plugin's database
// (plugin/store.MigrationsTable), as another tool sees it.
const MigrationsTable = "schema_migrations"

// Open opens the SQLite file at path as another process would (a second
// connection to the file, the plugin possibly still running), closed when
// the test ends.
func Open(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// SchemaVersion is the highest version applied in goose's table.
func SchemaVersion(ctx context.Context, t testing.TB, db *sql.DB) int64 {
	t.Helper()
	var v int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM `+MigrationsTable+` WHERE is_applied`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Migration is one numbered goose migration of the plugin (SQLite), read
// from the source tree.
type Migration struct {
	Version int64
	Name    string
	Up      string // the statements of its Up part
}

// Migrations reads the plugin's migration files from the source tree,
// ordered by version.
func Migrations(t testing.TB) []Migration {
	t.Helper()
	root, err := pluginbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "migrations")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(string(b), "-- +goose Down")
		out = append(out, Migration{Version: v, Name: e.Name(), Up: up})
	}
	if len(out) == 0 {
		t.Fatalf("no numbered migration files in %s", dir)
	}
	slices.SortFunc(out, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// LatestMigration is the highest number among the migration files of the
// source tree.
func LatestMigration(t testing.TB) int64 {
	t.Helper()
	all := Migrations(t)
	return all[len(all)-1].Version
}
