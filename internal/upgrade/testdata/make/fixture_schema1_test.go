// This file is not part of this module's build (it is under testdata). It
// is copied into internal/integration of the release that had only
// migrations/00001_initial.sql (commit 88d2830) by ../make-fixtures.sh,
// which runs it there to make ../schema1: a database that release's plugin
// binary wrote, through that release's SDK.

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
)

// The Duo application of the fixture: the upgrade test starts a simulator
// with the same credentials to prove the stored secret still decrypts.
const (
	fixtureClientID     = "DIUPGRADEFIXTURE0001"
	fixtureClientSecret = "UpgradeFixtureSecret0000000000000000001a"
)

func TestMakeUpgradeFixture(t *testing.T) {
	out := os.Getenv("FIXTURE_OUT")
	if out == "" {
		t.Skip("FIXTURE_OUT not set")
	}
	carol := host.Operator{ID: "3", Username: "carol", Email: "carol@example.com"}
	// newLoginEnv, with the data directory kept and the application fixed.
	sim := duosim.StartTest(t, duosim.Config{Scripted: true, Apps: []duosim.App{{ClientID: fixtureClientID, ClientSecret: fixtureClientSecret}}})
	s := startPlugin(t, "", func(o *host.Options) {
		o.Env = append(o.Env, "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s")
	})
	ctx := ctxT(t) // after the start, which may build the plugin
	dataDir := filepath.Join(t.TempDir(), "plugin-data")
	if st, err := s.p.Activate(ctx, host.ActivateRequest{Host: host.HostInfo{Name: "fixture"}, CallbackURL: callbackURL,
		DataDir: dataDir, Actor: admin}); err != nil || !st.Active {
		t.Fatalf("Activate = %+v, %v", st, err)
	}
	if res, err := s.p.UpdateSettings(ctx, host.UpdateSettingsRequest{Actor: admin, Values: map[string]string{
		"client_id": fixtureClientID, "client_secret": fixtureClientSecret, "api_hostname": sim.APIHost(),
		"ca_file": sim.CAFile(), "fail_mode": "closed",
	}}); err != nil || !res.Saved || !res.Duo.OK {
		t.Fatalf("UpdateSettings (checked with Duo) = %+v, %v", res, err)
	}
	for _, op := range []host.Operator{alice, bob, carol} {
		if _, err := s.p.SetOperatorEnabled(ctx, op, true, admin); err != nil {
			t.Fatal(err)
		}
	}
	e := &loginEnv{t: t, p: s.p, sim: sim, s: s, app: sim.Apps()[0]}

	// alice signs in with Duo; bob has an alias; carol is turned off again.
	if res := e.loginAs(alice); res.Decision != host.DecisionAllowed {
		t.Fatalf("alice's Duo login = %+v", res)
	}
	if _, err := e.p.SetOperatorAlias(ctx, bob, "robert.b", admin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.SetOperatorEnabled(ctx, carol, false, admin); err != nil {
		t.Fatal(err)
	}
	// A refused callback: a denial in the log.
	b := e.begin(bob)
	if res := e.complete(bob, b.State, "not-the-state", "x"); res.Decision != host.DecisionDenied {
		t.Fatalf("mismatched callback = %+v", res)
	}

	// Settings as an administrator would leave them: Duo's real host name
	// (the simulator's is gone after this run), the secret kept.
	values := map[string]string{"client_id": fixtureClientID, "api_hostname": "api-12345678.duosecurity.com",
		"fail_mode": "open", "username_format": "email", "login_timeout_seconds": "240", "ca_file": ""}
	if res, err := e.p.UpdateSettings(ctx, host.UpdateSettingsRequest{Values: values, SkipDuoCheck: true, Actor: admin}); err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	settings, err := e.p.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states, err := e.p.GetOperatorStates(ctx, []string{alice.ID, bob.ID, carol.ID})
	if err != nil {
		t.Fatal(err)
	}
	type op struct {
		ID       string `json:"id"`
		Enabled  bool   `json:"enabled"`
		DuoAlias string `json:"duo_alias"`
	}
	var ops []op
	for _, id := range []string{alice.ID, bob.ID, carol.ID} {
		s := states[id]
		ops = append(ops, op{ID: id, Enabled: s.Enabled, DuoAlias: s.DuoAlias})
	}
	if err := e.p.Deactivate(ctx, admin); err != nil { // closes the store: the WAL is checkpointed
		t.Fatal(err)
	}
	writeFixture(t, out, dataDir, map[string]any{
		"release": "88d2830", "schema_version": 1,
		"client_id":     fixtureClientID,
		"client_secret": fixtureClientSecret,
		"settings":      settings.Values,
		"secret_set":    settings.SecretSet,
		"operators":     ops,
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
