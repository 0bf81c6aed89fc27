package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/pgdb"
	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
	"github.com/helpdesk-duo/duo-plugin/migrations"
)

// Both dialects have the same migration files, by version and name.
func TestDialectsHaveTheSameVersions(t *testing.T) {
	t.Parallel()
	lite, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := fs.Glob(migrations.Postgres, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || !slices.Equal(lite, pg) {
		t.Fatalf("SQLite migrations %v, PostgreSQL %v: want the same files", lite, pg)
	}
}

// Migrated to the end, both dialects have the same tables with the same
// columns, and the same indexes.
func TestDialectsHaveTheSameSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	lite, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "duo.db"), sqlitedb.Options{
		Synchronous: "NORMAL", Migrations: migrations.FS, MigrationsTable: "schema_migrations", Owner: "plugin"})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := pgdb.Open(ctx, url, pgdb.Options{Schema: "duo_plugin", Migrations: migrations.Postgres, MigrationsTable: "schema_migrations", Owner: "plugin"})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	str := func(sc sqldb.Scanner) (string, error) {
		var s string
		return s, sc.Scan(&s)
	}
	liteTables, err := sqldb.Query(ctx, lite, str, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	pgTables, err := sqldb.Query(ctx, pg, str, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'duo_plugin' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(liteTables, pgTables) {
		t.Fatalf("tables: SQLite %v, PostgreSQL %v", liteTables, pgTables)
	}
	for _, table := range liteTables {
		liteCols, err := sqldb.Query(ctx, lite, func(sc sqldb.Scanner) (string, error) {
			var (
				cid, notnull, pk int
				name, typ        string
				dflt             sql.NullString
			)
			return name, sc.Scan(&cid, &name, &typ, &notnull, &dflt, &pk)
		}, `SELECT * FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		pgCols, err := sqldb.Query(ctx, pg, str, `SELECT column_name FROM information_schema.columns WHERE table_schema = 'duo_plugin' AND table_name = $1 ORDER BY ordinal_position`, table)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(liteCols, pgCols) {
			t.Errorf("table %s: SQLite columns %v, PostgreSQL %v", table, liteCols, pgCols)
		}
	}
	liteIdx, err := sqldb.Query(ctx, lite, str, `SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL names the indexes of primary keys and UNIQUE columns,
	// which SQLite keeps unnamed (sql IS NULL).
	pgIdx, err := sqldb.Query(ctx, pg, str, `SELECT i.indexname FROM pg_indexes i WHERE i.schemaname = 'duo_plugin'
		AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p', 'u')) ORDER BY i.indexname`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(liteIdx, pgIdx) {
		t.Errorf("indexes: SQLite %v, PostgreSQL %v", liteIdx, pgIdx)
	}
}
