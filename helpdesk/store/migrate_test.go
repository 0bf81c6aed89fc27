package store

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
)

// The help-desk role rebuilds the operators table: everything in it, and
// everything that points at it, must come through.
func TestHelpDeskRoleMigrationKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "helpdesk.db")
	first, err := fs.ReadFile(migrationFiles, "migrations/sqlite/00001_initial.sql")
	if err != nil {
		t.Fatal(err)
	}
	old, err := sqlitedb.Open(ctx, path, sqlitedb.Options{
		Synchronous: "NORMAL", MigrationsTable: MigrationsTable, Owner: "helpdesk",
		Migrations: fstest.MapFS{"00001_initial.sql": {Data: first}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO operators (id, username, email, role, password_hash, totp_secret, totp_confirmed, totp_last_step, created_at)
			VALUES (7, 'alice', 'alice@example.com', 'agent', 'hash', 'TOTPSECRET', 1, 42, 1700000000)`,
		`INSERT INTO operators (id, username, role, password_hash, created_at) VALUES (9, 'bob', 'admin', 'hash', 1700000000)`,
		`INSERT INTO sessions (id_hash, kind, operator_id, csrf_token, created_at, last_seen_at, expires_at)
			VALUES (x'01', 'authenticated', 7, 'csrf', 1, 1, 4102444800)`,
		`INSERT INTO sessions (id_hash, kind, operator_id, csrf_token, created_at, last_seen_at, expires_at)
			VALUES (x'02', 'pending', 9, 'csrf', 1, 1, 4102444800)`,
		`INSERT INTO tickets (subject, created_by, created_at) VALUES ('printer', 7, 1)`,
		`INSERT INTO tickets (subject, created_by, created_at) VALUES ('network', 9, 1)`,
	} {
		if _, err := old.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer st.Close()
	op, err := st.OperatorByID(ctx, 7)
	if err != nil || op.Username != "alice" || op.Email != "alice@example.com" || op.PasswordHash.Reveal() != "hash" ||
		op.TOTPSecret.Reveal() != "TOTPSECRET" || !op.TOTPConfirmed || op.TOTPLastStep != 42 || op.Role != RoleAgent {
		t.Fatalf("operator after the migration = %+v, %v", op, err)
	}

	// Every reference still resolves, to the same operator as before.
	type ref struct{ table, key, username string }
	refs, err := sqldb.Query(ctx, st.db, func(sc sqldb.Scanner) (ref, error) {
		var r ref
		return r, sc.Scan(&r.table, &r.key, &r.username)
	}, `SELECT 'sessions', hex(s.id_hash), o.username FROM sessions s JOIN operators o ON o.id = s.operator_id
		UNION ALL SELECT 'tickets', t.subject, o.username FROM tickets t JOIN operators o ON o.id = t.created_by
		ORDER BY 1, 2`)
	wantRefs := []ref{{"sessions", "01", "alice"}, {"sessions", "02", "bob"}, {"tickets", "network", "bob"}, {"tickets", "printer", "alice"}}
	if err != nil || !slices.Equal(refs, wantRefs) {
		t.Fatalf("references to operators after the migration = %v, %v; want %v", refs, err, wantRefs)
	}
	dangling, err := sqldb.Query(ctx, st.db, func(sc sqldb.Scanner) (string, error) {
		var table string
		var rowid, parent, fkid any
		return table, sc.Scan(&table, &rowid, &parent, &fkid)
	}, `PRAGMA foreign_key_check`)
	if err != nil || len(dangling) != 0 {
		t.Fatalf("foreign_key_check after the migration: %v, %v", dangling, err)
	}
	// The references still name the rebuilt table, not its temporary name.
	for _, table := range []string{"sessions", "tickets"} {
		var ddl string
		if err := st.db.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ddl, "REFERENCES operators (id)") || strings.Contains(ddl, "operators_v3") {
			t.Errorf("%s after the migration: %s", table, ddl)
		}
	}

	// The keys are enforced: deleting alice cascades to her session and
	// clears her ticket's author; bob's keep theirs.
	if _, err := st.db.ExecContext(ctx, `DELETE FROM operators WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	var sessions, orphaned int
	if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&sessions); err != nil || sessions != 1 {
		t.Fatalf("foreign keys lost: %d sessions left after deleting one of two operators (%v)", sessions, err)
	}
	if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets WHERE created_by IS NULL AND subject = 'printer'`).Scan(&orphaned); err != nil || orphaned != 1 {
		t.Fatalf("foreign keys lost: the deleted operator's ticket kept its author (%d, %v)", orphaned, err)
	}
	if _, err := st.db.ExecContext(ctx, `INSERT INTO sessions (id_hash, kind, operator_id, csrf_token, created_at, last_seen_at, expires_at)
		VALUES (x'03', 'authenticated', 7, 'csrf', 1, 1, 4102444800)`); err == nil {
		t.Fatal("a session for a deleted operator was accepted: foreign keys are off")
	}
	if _, err := st.CreateOperator(ctx, NewOperator{Username: "hd", Role: RoleHelpDesk, PasswordHash: "h"}); err != nil {
		t.Fatalf("a help-desk operator: %v", err)
	}
}
