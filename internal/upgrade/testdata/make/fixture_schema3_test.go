// This file is not part of this module's build (it is under testdata). It
// is copied into internal/integration of the first release with backup and
// bypass codes (commit d778b68, migrations 00001 to 00003) by
// ../make-fixtures.sh, which runs it there to make ../schema3: a database
// that release's plugin binary wrote, through that release's SDK.

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The Duo application of the fixture: the upgrade test starts a simulator
// with the same credentials to prove the stored secret still decrypts.
const (
	fixtureClientID     = "DIUPGRADEFIXTURE0003"
	fixtureClientSecret = "UpgradeFixtureSecret0000000000000000003c"
)

func TestMakeUpgradeFixture(t *testing.T) {
	out := os.Getenv("FIXTURE_OUT")
	if out == "" {
		t.Skip("FIXTURE_OUT not set")
	}
	carol := contract.Operator{ID: "3", Username: "carol", Email: "carol@example.com"}
	// newLoginEnvWith, with the data directory kept and the application fixed.
	sim := duosim.StartTest(t, duosim.Config{Scripted: true,
		Apps: []duosim.App{{ClientID: fixtureClientID, ClientSecret: secret.Value(fixtureClientSecret)}}})
	rec := &hostRecord{}
	s := startPlugin(t, "", func(o *host.Options) {
		o.Env = append(o.Env, "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s")
		o.Activation = rec.activation
	})
	ctx := ctxT(t) // after the start, which may build the plugin
	dataDir := filepath.Join(t.TempDir(), "plugin-data")
	req := contract.ActivateRequest{Host: contract.HostInfo{Name: "fixture"}, CallbackURL: callbackURL, DataDir: dataDir, Actor: admin}
	if act, err := s.p.Activate(ctx, req); err != nil || !act.Status.Active {
		t.Fatalf("Activate = %+v, %v", act, err)
	}
	rec.set(req, true)
	if res, err := s.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Actor: admin, Values: map[string]string{
		"client_id": fixtureClientID, "client_secret": fixtureClientSecret, "api_hostname": sim.APIHost(),
		"ca_file": sim.CAFile(), "fail_mode": "closed",
	}}); err != nil || !res.Saved || !res.Duo.OK {
		t.Fatalf("UpdateSettings (checked with Duo) = %+v, %v", res, err)
	}
	for _, op := range []contract.Operator{alice, bob, carol} {
		if _, err := s.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: op, Enabled: true, Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	e := &loginEnv{t: t, p: s.p, sim: sim, s: s, app: sim.Apps()[0], record: rec, activation: req}

	// alice signs in with Duo and confirms her first backup codes, then
	// uses one; bob has an alias and a bypass code; carol is turned off.
	codes := e.setUpCodes(alice)
	if res := e.redeem(alice, codes[0]); res.Decision != contract.DecisionAllowed {
		t.Fatalf("redeem alice's first backup code = %+v", res)
	}
	if _, err := e.p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: bob, DuoAlias: "robert.b", Actor: admin}); err != nil {
		t.Fatal(err)
	}
	issued, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: bob, Uses: 3, LifetimeSeconds: 7 * 24 * 3600, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: carol, Enabled: false, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	// A refused callback: a denial in the log.
	b := e.begin(bob)
	if res := e.completeRaw(bob, b.State, "not-the-state", "x"); res.Decision != contract.DecisionDenied {
		t.Fatalf("mismatched callback = %+v", res)
	}

	// Settings as an administrator would leave them: Duo's real host name
	// (the simulator's is gone after this run), the secret kept, the
	// recovery settings changed.
	values := map[string]string{"client_id": fixtureClientID, "api_hostname": "api-12345678.duosecurity.com",
		"fail_mode": "open", "username_format": "email", "login_timeout_seconds": "240", "ca_file": "",
		"backup_code_count": "8", "backup_codes_low_at": "3", "bypass_max_uses": "5", "allow_self_disable": "true"}
	if res, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: values, SkipDuoCheck: true, Actor: admin}); err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	settings, err := e.p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	states, err := e.p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{alice.ID, bob.ID, carol.ID}, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	type op struct {
		ID              string `json:"id"`
		Enabled         bool   `json:"enabled"`
		DuoAlias        string `json:"duo_alias"`
		BackupCodesLeft int32  `json:"backup_codes_left"`
	}
	var ops []op
	for _, s := range states.States {
		ops = append(ops, op{ID: s.OperatorID, Enabled: s.Enabled, DuoAlias: s.DuoAlias, BackupCodesLeft: int32(s.BackupCodesLeft)})
	}
	if _, err := e.p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil { // closes the store: the WAL is checkpointed
		t.Fatal(err)
	}
	rec.set(req, false)
	writeFixture(t, out, dataDir, map[string]any{
		"release": "d778b68", "schema_version": 3,
		"client_id":          fixtureClientID,
		"client_secret":      fixtureClientSecret,
		"settings":           settings.Values,
		"secret_set":         settings.SecretSet,
		"operators":          ops,
		"backup_code_used":   codes[0],
		"backup_codes_left":  codes[1:],
		"bypass_code_id":     issued.BypassCode.ID,
		"bypass_code_holder": bob.ID,
	})
}

// writeFixture copies the plugin's files from dataDir to out, with what
// the upgrade test expects in expected.json.
func writeFixture(t *testing.T, out, dataDir string, expected map[string]any) {
	t.Helper()
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		switch en.Name() {
		case "duo.db", "secrets.key":
		default:
			t.Fatalf("unexpected file %s in the data dir (a WAL not checkpointed?)", en.Name())
		}
		b, err := os.ReadFile(filepath.Join(dataDir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, en.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.MarshalIndent(expected, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "expected.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
