package store

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
)

// The help-desk role rebuilds the operators table: everything in it, and
// everything that points at it, must come through.
func TestHelpDeskRoleMigrationKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "helpdesk.db")
	first, err := fs.ReadFile(migrationFiles, "migrations/00001_initial.sql")
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
		`INSERT INTO sessions (id_hash, kind, operator_id, csrf_token, created_at, last_seen_at, expires_at)
			VALUES (x'01', 'authenticated', 7, 'csrf', 1, 1, 4102444800)`,
		`INSERT INTO tickets (subject, created_by, created_at) VALUES ('printer', 7, 1)`,
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
	var sessions, tickets int
	if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE operator_id = 7`).Scan(&sessions); err != nil || sessions != 1 {
		t.Fatalf("sessions of the operator after the migration: %d, %v", sessions, err)
	}
	if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets WHERE created_by = 7`).Scan(&tickets); err != nil || tickets != 1 {
		t.Fatalf("tickets of the operator after the migration: %d, %v", tickets, err)
	}
	// The keys still hold: deleting the operator cascades to the session.
	if _, err := st.db.ExecContext(ctx, `DELETE FROM operators WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&sessions); err != nil || sessions != 0 {
		t.Fatalf("foreign keys lost: %d sessions left after deleting their operator (%v)", sessions, err)
	}
	if _, err := st.CreateOperator(ctx, NewOperator{Username: "hd", Role: RoleHelpDesk, PasswordHash: "h"}); err != nil {
		t.Fatalf("a help-desk operator: %v", err)
	}
}
