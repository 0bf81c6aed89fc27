package integration

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/plugindb"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

const (
	testClientID = "DIABCDEFGHIJKLMNOPQR"
	testSecret   = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr"
)

// admin is the administrator the tests act as: the plugin enforces the
// role of every actor, so an actor without one may do almost nothing.
var admin = contract.Actor{ID: "100", Username: "admin", IP: "127.0.0.1", Role: contract.RoleAdmin}

func validSettings() map[string]string {
	return map[string]string{
		"client_id":     testClientID,
		"client_secret": testSecret,
		"api_hostname":  "api-12345678.duosecurity.com",
		"fail_mode":     "closed",
	}
}

func wantReason(t *testing.T, what string, err error, want contract.ErrorReason) {
	t.Helper()
	if got := contract.ReasonOf(err); got != want {
		t.Fatalf("%s: reason = %q (err %v), want %q", what, got, err, want)
	}
}

func activateRequest(dir string) contract.ActivateRequest {
	return contract.ActivateRequest{
		Host: contract.HostInfo{Name: "test-helpdesk", Version: "1.0.0"}, CallbackURL: "http://127.0.0.1:1/login/duo/callback",
		DataDir: dir, Actor: admin,
	}
}

func activate(t *testing.T, p *host.Plugin, dir string) contract.StatusResponse {
	t.Helper()
	res, err := p.Activate(ctxT(t), activateRequest(dir))
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	return res.Status
}

// TestLifecycleAcrossDeactivateAndRestart is the foundation's main path:
// activate → settings → toggles → deactivate (data kept) → activate (data
// back) → a new plugin process (data back) → uninstall (files gone, listed).
func TestLifecycleAcrossDeactivateAndRestart(t *testing.T) {
	t.Parallel()
	s := startPlugin(t, "", nil)
	p := s.p
	ctx := ctxT(t)
	dir := filepath.Join(t.TempDir(), "plugin-data")

	st, err := p.Status(ctx, contract.StatusRequest{})
	if err != nil || st.Active {
		t.Fatalf("Status before activate = %+v, %v", st, err)
	}
	_, err = p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
	wantReason(t, "GetSettings while inactive", err, contract.ReasonInactive)
	_, err = p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: contract.Operator{ID: "a", Username: "alice"}, Enabled: true, Actor: admin})
	wantReason(t, "SetOperatorEnabled while inactive", err, contract.ReasonInactive)

	st = activate(t, p, dir)
	latest := plugindb.LatestMigration(t)
	if !st.Active || st.SchemaVersion != latest || st.Configured || st.PluginVersion == "" {
		t.Fatalf("Status after activate = %+v (latest schema %d)", st, latest)
	}
	info, err := os.Stat(filepath.Join(dir, "secrets.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, info)
	}
	// Activate is idempotent.
	if st2 := activate(t, p, dir); !st2.Active {
		t.Fatal("second activate")
	}

	res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: validSettings(), SkipDuoCheck: true, Actor: admin})
	if err != nil || !res.Saved || len(res.Errors) != 0 {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	for _, op := range []contract.Operator{{ID: "a", Username: "alice", Email: "alice@example.com"}, {ID: "b", Username: "bob"}, {ID: "c", Username: "carol"}} {
		if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: op, Enabled: true, Actor: admin}); err != nil {
			t.Fatalf("enable %s: %v", op.Username, err)
		}
	}
	if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: contract.Operator{ID: "b", Username: "bob"}, Enabled: false, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	aliceOp := contract.Operator{ID: "a", Username: "alice", Email: "alice@example.com"}
	// An alias is a Duo username in its PRECIS canonical form: what PRECIS
	// refuses (here, surrounding spaces) is refused, never trimmed, and
	// nothing is stored; case is folded.
	_, err = p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: aliceOp, DuoAlias: "  Alice.Duo ", Actor: admin})
	wantReason(t, "alias with surrounding spaces", err, contract.ReasonInvalidArgument)
	if got, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{"a"}, Actor: admin}); err != nil || len(got.States) != 1 || got.States[0].DuoAlias != "" {
		t.Fatalf("a refused alias was stored: %+v, %v", got, err)
	}
	set, err := p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: aliceOp, DuoAlias: "Alice.Duo", Actor: admin})
	if err != nil || set.State.OperatorID != "a" || set.State.DuoAlias != "alice.duo" {
		t.Fatalf("SetOperatorAlias(Alice.Duo) = %+v, %v; want alias alice.duo", set, err)
	}

	check := func(when string) {
		t.Helper()
		got, err := p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
		if err != nil {
			t.Fatalf("%s: GetSettings: %v", when, err)
		}
		if got.Values["client_id"] != testClientID || got.Values["api_hostname"] != "api-12345678.duosecurity.com" || !got.SecretSet["client_secret"] {
			t.Fatalf("%s: settings = %+v", when, got)
		}
		if _, leaked := got.Values["client_secret"]; leaked {
			t.Fatalf("%s: the secret came back in Values", when)
		}
		got2, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{"a", "b", "c", "nobody"}, Actor: admin})
		if err != nil {
			t.Fatalf("%s: GetOperatorStates: %v", when, err)
		}
		states := got2.States
		if len(states) != 4 || states[0].OperatorID != "a" || states[1].OperatorID != "b" || states[2].OperatorID != "c" || states[3].OperatorID != "nobody" {
			t.Fatalf("%s: states not one per id in the order asked: %+v", when, states)
		}
		a := states[0]
		if !a.Enabled || a.DuoAlias != "alice.duo" || a.ChangedBy != "admin" || a.ChangedAt.IsZero() {
			t.Fatalf("%s: alice = %+v", when, a)
		}
		if states[1].Enabled || !states[2].Enabled || states[3].Enabled {
			t.Fatalf("%s: states = %+v", when, states)
		}
		page1, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: 1, Actor: admin})
		if err != nil || len(page1.States) != 1 || page1.States[0].OperatorID != "a" || page1.NextPageToken == "" {
			t.Fatalf("%s: page 1 = %+v %v", when, page1, err)
		}
		page2, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: 1, PageToken: page1.NextPageToken, Actor: admin})
		if err != nil || len(page2.States) != 1 || page2.States[0].OperatorID != "c" || page2.NextPageToken != "" {
			t.Fatalf("%s: page 2 = %+v %v", when, page2, err)
		}
	}
	check("after setup")

	_, err = p.Uninstall(ctx, contract.UninstallRequest{Confirm: "duo-security", Actor: admin})
	wantReason(t, "Uninstall while active", err, contract.ReasonActive)

	if _, err := p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if _, err := p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatalf("Deactivate again: %v", err)
	}
	_, err = p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: contract.Operator{ID: "a", Username: "alice"}})
	wantReason(t, "BeginLogin while inactive", err, contract.ReasonInactive)
	if st, _ := p.Status(ctx, contract.StatusRequest{}); st.Active {
		t.Fatal("still active after Deactivate")
	}
	for _, f := range []string{"duo.db", "secrets.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s gone after Deactivate: %v", f, err)
		}
	}

	activate(t, p, dir)
	check("after deactivate → activate")

	// A new plugin process: the data is in the files, not the process.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startPlugin(t, s.manifest, nil)
	p = s2.p
	activate(t, p, dir)
	check("after a new plugin process")

	_, err = p.Uninstall(ctx, contract.UninstallRequest{Confirm: "duo-security", Actor: admin})
	wantReason(t, "Uninstall while active (new process)", err, contract.ReasonActive)
	if _, err := p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	for _, confirm := range []string{"", "yes", "Duo Security", "duo-security "} {
		_, err = p.Uninstall(ctx, contract.UninstallRequest{Confirm: confirm, Actor: admin})
		wantReason(t, "Uninstall confirm "+confirm, err, contract.ReasonConfirmation)
	}
	if _, err := os.Stat(filepath.Join(dir, "duo.db")); err != nil {
		t.Fatalf("a refused uninstall removed data: %v", err)
	}
	un, err := p.Uninstall(ctx, contract.UninstallRequest{Confirm: "duo-security", Actor: admin})
	if err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	for _, want := range []string{filepath.Join(dir, "duo.db"), filepath.Join(dir, "secrets.key"), dir} {
		if !slices.Contains(un.Removed, want) {
			t.Errorf("removed = %v, missing %s", un.Removed, want)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data dir still there: %v", err)
	}
	again, err := p.Uninstall(ctx, contract.UninstallRequest{Confirm: "duo-security", Actor: admin})
	if err != nil || len(again.Removed) != 0 {
		t.Fatalf("second Uninstall = %v, %v", again.Removed, err)
	}
	// Both processes have exited, so everything they wrote is in the logs.
	if err := p.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	testlog.CheckNoSecret(t, "first process", s.logs.String(), testSecret)
	testlog.CheckNoSecret(t, "second process", s2.logs.String(), testSecret)
}

// TestBadInputIsRefusedAndLosesNothing: each invalid input gets a specific
// error, and the stored data is unchanged afterwards.
func TestBadInputIsRefusedAndLosesNothing(t *testing.T) {
	t.Parallel()
	s := startPlugin(t, "", nil)
	p := s.p
	ctx := ctxT(t)
	dir := filepath.Join(t.TempDir(), "plugin-data")
	activate(t, p, dir)
	if res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: validSettings(), SkipDuoCheck: true, Actor: admin}); err != nil || !res.Saved {
		t.Fatalf("initial settings: %+v %v", res, err)
	}
	alice := contract.Operator{ID: "a", Username: "alice"}
	if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: alice, Enabled: true, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	before, err := p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
	if err != nil {
		t.Fatal(err)
	}

	settingsCases := []struct {
		name   string
		values map[string]string
		want   map[string]contract.FieldReason // field → reason
	}{
		{"short client id", map[string]string{"client_id": "DIshort"}, map[string]contract.FieldReason{"client_id": contract.FieldLength}},
		{"long secret", map[string]string{"client_secret": strings.Repeat("a", 41)}, map[string]contract.FieldReason{"client_secret": contract.FieldLength}},
		{"foreign host", map[string]string{"api_hostname": "evil.example.com"}, map[string]contract.FieldReason{"api_hostname": contract.FieldHost}},
		{"unknown fail mode", map[string]string{"fail_mode": "sometimes"}, map[string]contract.FieldReason{"fail_mode": contract.FieldOption}},
		{"timeout too long", map[string]string{"login_timeout_seconds": "601"}, map[string]contract.FieldReason{"login_timeout_seconds": contract.FieldRange}},
		{"all at once", map[string]string{"client_id": "x", "api_hostname": "https://evil.example.com/", "username_format": "nick"},
			map[string]contract.FieldReason{"client_id": contract.FieldLength, "api_hostname": contract.FieldHost, "username_format": contract.FieldOption}},
	}
	for _, tc := range settingsCases {
		res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: tc.values, SkipDuoCheck: true, Actor: admin})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := map[string]contract.FieldReason{}
		for _, fe := range res.Errors {
			got[fe.Field] = fe.Reason
			if fe.Message == "" {
				t.Errorf("%s: field %s has no message", tc.name, fe.Field)
			}
		}
		if res.Saved || len(got) != len(tc.want) {
			t.Fatalf("%s: saved=%v errors=%v, want %v", tc.name, res.Saved, got, tc.want)
		}
		for f, r := range tc.want {
			if got[f] != r {
				t.Fatalf("%s: %s reason = %q, want %q (all: %v)", tc.name, f, got[f], r, got)
			}
		}
	}

	opCases := []struct {
		name string
		op   contract.Operator
	}{
		{"empty id", contract.Operator{ID: "", Username: "x"}},
		{"empty username", contract.Operator{ID: "x", Username: ""}},
		{"blank username", contract.Operator{ID: "x", Username: "   "}},
		{"1 MB username", contract.Operator{ID: "x", Username: strings.Repeat("u", 1<<20)}},
		{"control characters", contract.Operator{ID: "x", Username: "bob\x00"}},
		{"1 MB id", contract.Operator{ID: strings.Repeat("i", 1<<20), Username: "x"}},
	}
	for _, tc := range opCases {
		_, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: tc.op, Enabled: true, Actor: admin})
		wantReason(t, tc.name, err, contract.ReasonInvalidArgument)
	}
	_, err = p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: alice, DuoAlias: "bad\nalias", Actor: admin})
	wantReason(t, "alias with a newline", err, contract.ReasonInvalidArgument)
	_, err = p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: 10, PageToken: "!!not-a-token!!", Actor: admin})
	wantReason(t, "bad page token", err, contract.ReasonInvalidArgument)
	_, err = p.Activate(ctx, contract.ActivateRequest{DataDir: filepath.Join(t.TempDir(), "other"), Actor: admin})
	wantReason(t, "activate with another data dir", err, contract.ReasonDataDirMismatch)
	for _, cb := range []string{"javascript:alert(1)", "http://helpdesk.example.com/cb", "https://user:pw@helpdesk.example.com/cb",
		"/relative/cb", "https://helpdesk.example.com/" + strings.Repeat("a", 300)} {
		_, err = p.Activate(ctx, contract.ActivateRequest{DataDir: dir, CallbackURL: cb, Actor: admin})
		wantReason(t, "activate with callback "+cb[:min(len(cb), 40)], err, contract.ReasonInvalidArgument)
	}

	after, err := p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(before.Values, after.Values) || !after.SecretSet["client_secret"] {
		t.Fatalf("settings changed by refused updates:\nbefore %v\nafter  %v", before.Values, after.Values)
	}
	states, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{"a", "x"}, Actor: admin})
	if err != nil || len(states.States) != 2 || states.States[0].OperatorID != "a" || !states.States[0].Enabled ||
		states.States[1].OperatorID != "x" || states.States[1].Enabled {
		t.Fatalf("operators changed by refused calls: %+v %v", states, err)
	}
	enabled, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: 100, Actor: admin})
	if err != nil || len(enabled.States) != 1 {
		t.Fatalf("enabled operators = %+v, %v", enabled, err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
