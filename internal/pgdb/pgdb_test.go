package pgdb

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
)

func options(t *testing.T, schema string) Options {
	return Options{Schema: schema, Migrations: os.DirFS("testdata/migrations"), MigrationsTable: "test_migrations", Owner: "test"}
}

// TestInstancesStartingTogetherMigrateOnce: eight opens at once of one
// schema all succeed, and each migration is recorded once.
func TestInstancesStartingTogetherMigrateOnce(t *testing.T) {
	url := pgtest.Database(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			db, err := Open(ctx, url, options(t, "duo_plugin"))
			if err == nil {
				_, err = db.ExecContext(ctx, sqldb.Rebind(`INSERT INTO things (id, name) VALUES (?, ?)`), i, "x")
				_ = db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, url, options(t, "duo_plugin"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, things int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM test_migrations WHERE version_id > 0), (SELECT count(*) FROM things)`).Scan(&rows, &things); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || things != 8 {
		t.Fatalf("migrations recorded %d times (want 2), things %d (want 8)", rows, things)
	}
	var inPublic int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&inPublic); err != nil || inPublic != 0 {
		t.Fatalf("tables outside the schema: %d (%v)", inPublic, err)
	}
}

// TestSchemaTooNewIsRefused: a schema migrated further than the files is
// refused with ErrSchemaTooNew and left as it is.
func TestSchemaTooNewIsRefused(t *testing.T) {
	url := pgtest.Database(t)
	ctx := t.Context()
	db, err := Open(ctx, url, options(t, "s"))
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	older := options(t, "s")
	older.Migrations = fstest.MapFS{"00001_one.sql": {Data: []byte("-- +goose Up\nCREATE TABLE things (id BIGINT PRIMARY KEY, name TEXT NOT NULL);\n")}}
	if _, err := Open(ctx, url, older); !errors.Is(err, sqldb.ErrSchemaTooNew) {
		t.Fatalf("older code opened a newer schema: %v", err)
	}
}

// TestDropSchemaRemovesOnlyItsSchema: uninstalling one schema leaves
// another in the same database.
func TestDropSchemaRemovesOnlyItsSchema(t *testing.T) {
	url := pgtest.Database(t)
	ctx := t.Context()
	for _, s := range []string{"duo_plugin", "helpdesk"} {
		db, err := Open(ctx, url, options(t, s))
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
	}
	if dropped, err := DropSchema(ctx, url, "duo_plugin"); err != nil || !dropped {
		t.Fatalf("drop: %v %v", dropped, err)
	}
	if dropped, err := DropSchema(ctx, url, "duo_plugin"); err != nil || dropped {
		t.Fatalf("second drop: %v %v", dropped, err)
	}
	db, err := Open(ctx, url, options(t, "helpdesk"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname IN ('duo_plugin', 'helpdesk')`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("schemas left: %d (%v)", n, err)
	}
}

// TestErrorsNeverCarryTheURL: a password in the URL never reaches an error.
func TestErrorsNeverCarryTheURL(t *testing.T) {
	ctx := t.Context()
	for _, url := range []string{"postgres://u:hunter2-secret@127.0.0.1:1/db?connect_timeout=2", "postgres://u:hunter2-secret@[::1"} {
		_, err := Open(ctx, url, options(t, "s"))
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("error %v", err)
		}
	}
	if _, err := Open(ctx, "postgres://x", Options{Schema: "Bad-Name"}); err == nil || !strings.Contains(err.Error(), "Bad-Name") {
		t.Fatalf("bad schema: %v", err)
	}
}

func TestRebind(t *testing.T) {
	got := sqldb.Rebind(`SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?`)
	if got != `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) LIMIT $4` {
		t.Fatal(got)
	}
}

func TestValidSchema(t *testing.T) {
	for name, want := range map[string]bool{
		"duo_plugin": true, "_x": true, "a1": true, strings.Repeat("a", 63): true,
		"1a": false, "Duo": false, "duo-plugin": false, "": false, strings.Repeat("a", 64): false, "duo plugin": false, "dué": false,
	} {
		if got := ValidSchema(name); got != want {
			t.Errorf("ValidSchema(%q) = %v, want %v", name, got, want)
		}
	}
}
