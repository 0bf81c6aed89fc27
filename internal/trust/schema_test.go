package trust

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/plugindb"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// schemaOf describes every object of the database and every table's
// columns: what a migration changes.
func schemaOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	ctx := ctxT(t)
	rows, err := db.QueryContext(ctx, `SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var tables []string
	for rows.Next() {
		var typ, name, tbl, q string
		if err := rows.Scan(&typ, &name, &tbl, &q); err != nil {
			t.Fatal(err)
		}
		out = append(out, typ+" "+name+" on "+tbl+": "+q)
		if typ == "table" {
			tables = append(tables, name)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range tables {
		var cols []string
		rows, err := db.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, tbl)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, name+" "+typ)
		}
		rows.Close()
		out = append(out, tbl+"("+strings.Join(cols, ", ")+")")
	}
	return strings.Join(out, "\n")
}

func wantIntegrityOK(t *testing.T, db *sql.DB) {
	t.Helper()
	var res string
	if err := db.QueryRowContext(ctxT(t), `PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("PRAGMA integrity_check = %q, %v", res, err)
	}
}

// fileSum is the SHA-256 of the file at path.
func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// wantInactiveAndClosed fails unless the plugin is inactive and every
// login-page call is refused with PLUGIN_INACTIVE, an error a host
// treats as deny.
func wantInactiveAndClosed(t *testing.T, e *env, code string) {
	t.Helper()
	ctx := ctxT(t)
	st, err := e.p.Status(ctx, contract.StatusRequest{})
	if err != nil || st.Active {
		t.Fatalf("Status = %+v, %v; want inactive", st, err)
	}
	b, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: client})
	wantReason(t, "BeginLogin", err, contract.ReasonInactive)
	if b.Decision != contract.DecisionUnspecified {
		t.Fatalf("BeginLogin answered %v alongside its error", b.Decision)
	}
	r, err := e.p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: code, Client: client})
	wantReason(t, "RedeemCode", err, contract.ReasonInactive)
	if r.Decision != contract.DecisionUnspecified {
		t.Fatalf("RedeemCode answered %v alongside its error", r.Decision)
	}
}

// Case 32: an older plugin binary against a newer schema. The plugin's
// database is marked from outside as migrated one version beyond the
// newest this binary knows (as a newer plugin would leave it). A new
// process, which the host's record says is active, starts but stays
// inactive, and logs why; an explicit Activate is refused
// SCHEMA_TOO_NEW with a message naming both versions; logins fail
// closed; the database is left byte for byte as it was. Taken back to
// the version it knows, the same binary activates and nothing was lost.
func TestCase32OlderPluginRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	codes := e.setUpCodes(alice)
	st, err := e.p.Status(ctxT(t), contract.StatusRequest{})
	if err != nil || st.SchemaVersion < 1 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	known := st.SchemaVersion
	if _, err := e.p.Deactivate(ctxT(t), contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Close(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(e.dataDir, "duo.db")
	db := plugindb.Open(t, path)
	if _, err := db.ExecContext(ctxT(t), `INSERT INTO `+plugindb.MigrationsTable+` (version_id, is_applied) VALUES (?, 1)`, known+1); err != nil {
		t.Fatal(err)
	}
	db.Close() // checkpoints the WAL into the file, whose bytes are compared below
	before := fileSum(t, path)

	// The host's record says active: the new process starts, is refused
	// activation, and stays inactive.
	req := activateRequest(e.dataDir)
	p, logs := startPlugin(t, &req, nil)
	e.p, e.logs = p, logs
	wantInactiveAndClosed(t, e, codes[0])
	newer, knows := fmt.Sprintf("schema version %d", known+1), fmt.Sprintf("up to %d", known)
	if l := logs.String(); !strings.Contains(l, string(contract.ReasonSchemaTooNew)) || !strings.Contains(l, newer) || !strings.Contains(l, knows) {
		t.Fatalf("the host's log does not say why the new process stayed inactive (%s, %q, %q):\n%s", contract.ReasonSchemaTooNew, newer, knows, l)
	}

	_, err = p.Activate(ctxT(t), req)
	wantReason(t, "Activate against a newer schema", err, contract.ReasonSchemaTooNew)
	if msg := err.Error(); !strings.Contains(msg, newer) || !strings.Contains(msg, knows) {
		t.Fatalf("Activate's refusal %q does not name both versions (%q, %q)", msg, newer, knows)
	}
	t.Logf("Activate: %v", err)
	wantInactiveAndClosed(t, e, codes[0])
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if after := fileSum(t, path); after != before {
		t.Fatal("the refused plugin changed the database file")
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		if fi, err := os.Stat(path + suffix); err == nil && fi.Size() > 0 {
			t.Fatalf("the refused plugin left %d bytes in %s", fi.Size(), filepath.Base(path+suffix))
		}
	}

	db = plugindb.Open(t, path)
	wantIntegrityOK(t, db)
	if v := plugindb.SchemaVersion(ctxT(t), t, db); v != known+1 {
		t.Fatalf("schema version %d after the refusal, want %d", v, known+1)
	}
	if _, err := db.ExecContext(ctxT(t), `DELETE FROM `+plugindb.MigrationsTable+` WHERE version_id = ?`, known+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	e.p, e.logs = startPlugin(t, &req, nil)
	if res := e.redeem(alice, codes[0]); res.Decision != contract.DecisionAllowed {
		t.Fatalf("a backup code once the schema is one the plugin knows = %+v, want ALLOWED", res)
	}
}

// createdLate finds an object a statement creates after at least one
// other statement of the same migration: a migration that would fail
// halfway if a table of that name were already there.
var createStmt = regexp.MustCompile(`(?is)^\s*CREATE\s+(?:UNIQUE\s+)?(?:INDEX|TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)`)

func createdLate(m plugindb.Migration) string {
	var stmts []string
	for _, s := range strings.Split(m.Up, ";") {
		// Drop comment lines, keep the statement.
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
			stmts = append(stmts, s)
		}
	}
	for i := len(stmts) - 1; i >= 1; i-- {
		if m := createStmt.FindStringSubmatch(stmts[i]); m != nil && !strings.Contains(strings.ToUpper(stmts[i]), "IF NOT EXISTS") {
			return m[1]
		}
	}
	return ""
}

// Case 31: a migration that fails halfway. The database is one the
// previous release left (every migration before the newest one that
// creates something after other statements, applied from the source
// tree's files, recorded in goose's table as goose records them), plus a
// table someone created by hand with the name that migration gives a new
// index or table. Activating the plugin then runs the migration's first
// statements and fails on that one: the migration is rolled back whole
// (the schema, every table's columns, is as it was), the version is
// unchanged, the plugin stays inactive and says so (STORAGE, naming the
// migration, the version kept and the rollback), logins fail closed, and
// the file is intact. With the stray table gone, the same binary migrates
// to its newest version and serves logins.
func TestCase31FailedMigrationRolledBackAndRefused(t *testing.T) {
	t.Parallel()
	files := plugindb.Migrations(t)
	target, stray := -1, ""
	for i := len(files) - 1; i >= 0 && target < 0; i-- {
		if name := createdLate(files[i]); name != "" {
			target, stray = i, name
		}
	}
	if target < 1 {
		t.Fatal("no migration after the first creates something after another statement: nothing to make fail halfway")
	}
	failing := files[target]
	kept := files[target-1].Version

	dataDir := filepath.Join(t.TempDir(), "plugin-data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, "duo.db")
	db := plugindb.Open(t, path)
	ctx := ctxT(t)
	for _, q := range []string{`PRAGMA journal_mode = WAL`,
		`CREATE TABLE ` + plugindb.MigrationsTable + ` (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')))`,
		`INSERT INTO ` + plugindb.MigrationsTable + ` (version_id, is_applied) VALUES (0, 1)`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range files[:target] {
		if _, err := db.ExecContext(ctx, m.Up); err != nil {
			t.Fatalf("apply %s from outside: %v", m.Name, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO `+plugindb.MigrationsTable+` (version_id, is_applied) VALUES (?, 1)`, m.Version); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+stray+` (made_by_hand TEXT)`); err != nil {
		t.Fatal(err)
	}
	schema := schemaOf(t, db)
	t.Logf("the database is at version %d; %s will fail on %q, already a table", kept, failing.Name, stray)

	e := &env{t: t, dataDir: dataDir}
	req := activateRequest(dataDir)
	e.p, e.logs = startPlugin(t, &req, nil) // the host's record says active
	wantInactiveAndClosed(t, e, "0000-0000-00")
	_, err := e.p.Activate(ctx, req)
	wantReason(t, "Activate with a migration that fails", err, contract.ReasonStorage)
	msg := err.Error()
	for _, want := range []string{fmt.Sprintf("migration %d", failing.Version), fmt.Sprintf("version %d", kept), "rolled back"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("Activate's refusal %q does not say %q", msg, want)
		}
	}
	t.Logf("Activate: %v", err)
	wantInactiveAndClosed(t, e, "0000-0000-00")
	if l := e.logs.String(); !strings.Contains(l, stray) {
		t.Fatalf("the plugin's log does not name the cause (%q already exists):\n%s", stray, l)
	}

	if v := plugindb.SchemaVersion(ctxT(t), t, db); v != kept {
		t.Fatalf("schema version %d after the failed migration, want %d", v, kept)
	}
	if got := schemaOf(t, db); got != schema {
		t.Fatalf("the failed migration left changes:\nbefore:\n%s\nafter:\n%s", schema, got)
	}
	wantIntegrityOK(t, db)

	if _, err := db.ExecContext(ctx, `DROP TABLE `+stray); err != nil {
		t.Fatal(err)
	}
	act, err := e.p.Activate(ctx, req)
	if err != nil || !act.Status.Active || act.Status.SchemaVersion != files[len(files)-1].Version {
		t.Fatalf("Activate with the stray table gone = %+v, %v; want active at version %d", act, err, files[len(files)-1].Version)
	}
	if b := e.begin(alice); b.Decision != contract.DecisionNotRequired {
		t.Fatalf("BeginLogin for an operator Duo is not on for = %+v, want NOT_REQUIRED", b)
	}
	wantIntegrityOK(t, db)
}
