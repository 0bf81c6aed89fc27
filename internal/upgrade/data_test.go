package upgrade

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the plugin's driver, to read its database from outside

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/plugindb"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// expected is what a fixture's maker saw through its release's SDK
// (testdata/<fixture>/expected.json, written by testdata/make).
type expected struct {
	Release       string            `json:"release"`
	SchemaVersion int64             `json:"schema_version"`
	ClientID      string            `json:"client_id"`
	ClientSecret  string            `json:"client_secret"`
	Settings      map[string]string `json:"settings"`
	SecretSet     map[string]bool   `json:"secret_set"`
	Operators     []struct {
		ID              string `json:"id"`
		Enabled         bool   `json:"enabled"`
		DuoAlias        string `json:"duo_alias"`
		BackupCodesLeft int32  `json:"backup_codes_left"`
	} `json:"operators"`
	BackupCodeUsed   string   `json:"backup_code_used"`
	BackupCodesLeft  []string `json:"backup_codes_left"`
	BypassCodeID     string   `json:"bypass_code_id"`
	BypassCodeHolder string   `json:"bypass_code_holder"`
}

// A database written by an earlier release is upgraded in place by the
// current plugin, and keeps everything: every setting, the sealed secret
// (it still decrypts with the key file: Duo accepts it), every operator's
// toggle and alias, backup codes (a used one stays used, an unused one
// redeems once), bypass codes, and every row of the authentication log.
func TestEarlierReleaseDatabaseUpgradesInPlace(t *testing.T) {
	t.Parallel()
	for _, fixture := range []string{"schema1", "schema3"} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			testUpgrade(t, fixture)
		})
	}
}

func testUpgrade(t *testing.T, fixture string) {
	var want expected
	raw, err := os.ReadFile(filepath.Join("testdata", fixture, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	dataDir := copyFixture(t, fixture)
	dbPath := filepath.Join(dataDir, "duo.db")

	db := plugindb.Open(t, dbPath)
	if got := plugindb.SchemaVersion(ctxT(t), t, db); got != want.SchemaVersion {
		t.Fatalf("the fixture is at schema %d, its expected.json says %d", got, want.SchemaVersion)
	}
	// The current plugin prunes the log by age (log_retention_days, 365 by
	// default) soon after activation: bring the fixture's events to today,
	// so that what is checked is the migration, not the retention.
	if _, err := db.ExecContext(ctxT(t), `UPDATE audit_events SET at = at + (CAST(strftime('%s','now') AS INTEGER) - (SELECT MAX(at) FROM audit_events))`); err != nil {
		t.Fatal(err)
	}
	logBefore := auditRows(t, db)
	if len(logBefore) == 0 {
		t.Fatal("the fixture has no authentication log")
	}

	sim := duosim.StartTest(t, duosim.Config{Scripted: true,
		Apps: []duosim.App{{ClientID: want.ClientID, ClientSecret: secret.Value(want.ClientSecret)}}})
	opts := options(pluginbuild.ForTestTagged(t, ""))
	opts.Env = append(opts.Env, "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s")
	p, err := host.Start(ctxT(t), opts)
	if err != nil {
		t.Fatalf("host.Start: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx := ctxT(t)

	st := activate(t, p, dataDir)
	if latest := plugindb.LatestMigration(t); st.SchemaVersion != latest || plugindb.SchemaVersion(ctxT(t), t, db) != latest {
		t.Fatalf("after Activate: Status.SchemaVersion %d, database at %d; want %d (every migration applied)", st.SchemaVersion, plugindb.SchemaVersion(ctxT(t), t, db), latest)
	}

	// Settings: every one the release saved, and the secret still set.
	got, err := p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want.Settings {
		if got.Values[k] != v {
			t.Errorf("setting %s = %q after the upgrade, was %q", k, got.Values[k], v)
		}
	}
	for k, set := range want.SecretSet {
		if got.SecretSet[k] != set {
			t.Errorf("secret %s set = %t after the upgrade, was %t", k, got.SecretSet[k], set)
		}
	}

	// Operators: toggles, aliases, codes left.
	ids := make([]string, 0, len(want.Operators))
	for _, o := range want.Operators {
		ids = append(ids, o.ID)
	}
	states, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: ids, Actor: admin})
	if err != nil || len(states.States) != len(ids) {
		t.Fatalf("GetOperatorStates = %+v, %v", states, err)
	}
	for i, o := range want.Operators {
		s := states.States[i]
		if s.OperatorID != o.ID || s.Enabled != o.Enabled || s.DuoAlias != o.DuoAlias || int32(s.BackupCodesLeft) != o.BackupCodesLeft {
			t.Errorf("operator %s after the upgrade: enabled %t, alias %q, backup codes left %d; was %t, %q, %d",
				o.ID, s.Enabled, s.DuoAlias, s.BackupCodesLeft, o.Enabled, o.DuoAlias, o.BackupCodesLeft)
		}
	}

	// Codes: made under the key file the fixture kept.
	if want.BackupCodeUsed != "" {
		alice := contract.Operator{ID: "1", Username: "alice", Email: "alice@example.com"}
		redeem := func(code string) contract.CompleteLoginResponse {
			t.Helper()
			res, err := p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: code, Client: contract.ClientInfo{IP: "203.0.113.7"}})
			if err != nil {
				t.Fatalf("RedeemCode: %v", err)
			}
			return res
		}
		if res := redeem(want.BackupCodeUsed); res.Decision != contract.DecisionDenied || res.Reason != contract.LoginReasonCodeUsed {
			t.Errorf("the backup code used before the upgrade = %s %s, want DENIED %s", res.Decision, res.Reason, contract.LoginReasonCodeUsed)
		}
		code := want.BackupCodesLeft[len(want.BackupCodesLeft)-1]
		if res := redeem(code); res.Decision != contract.DecisionAllowed {
			t.Errorf("an unused backup code from before the upgrade = %s %s, want ALLOWED", res.Decision, res.Reason)
		}
		if res := redeem(code); res.Decision != contract.DecisionDenied || res.Reason != contract.LoginReasonCodeUsed {
			t.Errorf("the same code again = %s %s, want DENIED %s", res.Decision, res.Reason, contract.LoginReasonCodeUsed)
		}
	}
	if want.BypassCodeID != "" {
		list, err := p.ListBypassCodes(ctx, contract.ListBypassCodesRequest{OperatorID: want.BypassCodeHolder, Actor: admin})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range list.BypassCodes {
			found = found || c.ID == want.BypassCodeID
		}
		if !found {
			t.Errorf("bypass code %s of operator %s is gone after the upgrade: %+v", want.BypassCodeID, want.BypassCodeHolder, list.BypassCodes)
		}
	}

	// The log: every row of the release, unchanged, and readable through
	// the contract.
	logAfter := auditRows(t, db)
	for id, row := range logBefore {
		if logAfter[id] != row {
			t.Errorf("log row %d after the upgrade: %q, was %q", id, logAfter[id], row)
		}
	}
	if _, err := p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Actor: admin, PageSize: 500}); err != nil {
		t.Errorf("ListAuthEvents over the upgraded log: %v", err)
	}

	// The secret decrypts with the fixture's key file, to the value Duo
	// knows: saved settings pointed at a simulator with the fixture's
	// application, the secret left empty (kept), pass Duo's check.
	values := map[string]string{}
	for k, v := range got.Values {
		values[k] = v
	}
	values["api_hostname"], values["ca_file"] = sim.APIHost(), sim.CAFile()
	res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: values, Actor: admin})
	if err != nil || !res.Saved || !res.Duo.OK {
		t.Fatalf("settings with the secret stored by release %s, checked with Duo: %+v, %v; want saved and Duo OK", want.Release, res, err)
	}
}

// copyFixture copies testdata/<fixture>'s duo.db and secrets.key into a
// fresh data directory, with the modes the plugin gives them.
func copyFixture(t *testing.T, fixture string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugin-data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"duo.db", "secrets.key"} {
		b, err := os.ReadFile(filepath.Join("testdata", fixture, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// auditRows reads the first schema's columns of every log row, by id.
func auditRows(t *testing.T, db *sql.DB) map[int64]string {
	t.Helper()
	rows, err := db.QueryContext(ctxT(t), `SELECT id, at, kind, operator_id, actor, client_ip, outcome, reason, detail FROM audit_events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id, at int64
		var kind, op, actor, ip, outcome, reason, detail string
		if err := rows.Scan(&id, &at, &kind, &op, &actor, &ip, &outcome, &reason, &detail); err != nil {
			t.Fatal(err)
		}
		out[id] = strings.Join([]string{strconv.FormatInt(at, 10), kind, op, actor, ip, outcome, reason, detail}, "|")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
