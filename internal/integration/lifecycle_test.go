package integration

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

const (
	testClientID = "DIABCDEFGHIJKLMNOPQR"
	testSecret   = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr"
)

var admin = host.Actor{ID: "1", Username: "admin", IP: "127.0.0.1"}

func validSettings() map[string]string {
	return map[string]string{
		"client_id":     testClientID,
		"client_secret": testSecret,
		"api_hostname":  "api-12345678.duosecurity.com",
		"fail_mode":     "closed",
	}
}

func wantReason(t *testing.T, what string, err error, want contract.Reason) {
	t.Helper()
	if got := host.ReasonOf(err); got != want {
		t.Fatalf("%s: reason = %q (err %v), want %q", what, got, err, want)
	}
}

func activate(t *testing.T, p *host.Plugin, dir string) host.Status {
	t.Helper()
	st, err := p.Activate(ctxT(t), host.ActivateRequest{
		Host: host.HostInfo{Name: "test-helpdesk", Version: "1.0.0"}, CallbackURL: "http://127.0.0.1:1/login/duo/callback",
		DataDir: dir, Actor: admin,
	})
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	return st
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

	st, err := p.Status(ctx)
	if err != nil || st.Active {
		t.Fatalf("Status before activate = %+v, %v", st, err)
	}
	_, err = p.GetSettings(ctx)
	wantReason(t, "GetSettings while inactive", err, contract.ReasonInactive)
	_, err = p.SetOperatorEnabled(ctx, host.Operator{ID: "a", Username: "alice"}, true, admin)
	wantReason(t, "SetOperatorEnabled while inactive", err, contract.ReasonInactive)

	st = activate(t, p, dir)
	latest, err := store.LatestSchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
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

	res, err := p.UpdateSettings(ctx, host.UpdateSettingsRequest{Values: validSettings(), SkipDuoCheck: true, Actor: admin})
	if err != nil || !res.Saved || len(res.Errors) != 0 {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	for _, op := range []host.Operator{{ID: "a", Username: "alice", Email: "alice@example.com"}, {ID: "b", Username: "bob"}, {ID: "c", Username: "carol"}} {
		if _, err := p.SetOperatorEnabled(ctx, op, true, admin); err != nil {
			t.Fatalf("enable %s: %v", op.Username, err)
		}
	}
	if _, err := p.SetOperatorEnabled(ctx, host.Operator{ID: "b", Username: "bob"}, false, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetOperatorAlias(ctx, host.Operator{ID: "a", Username: "alice", Email: "alice@example.com"}, "  Alice.Duo ", admin); err != nil {
		t.Fatal(err)
	}

	check := func(when string) {
		t.Helper()
		got, err := p.GetSettings(ctx)
		if err != nil {
			t.Fatalf("%s: GetSettings: %v", when, err)
		}
		if got.Values["client_id"] != testClientID || got.Values["api_hostname"] != "api-12345678.duosecurity.com" || !got.SecretSet["client_secret"] {
			t.Fatalf("%s: settings = %+v", when, got)
		}
		if _, leaked := got.Values["client_secret"]; leaked {
			t.Fatalf("%s: the secret came back in Values", when)
		}
		states, err := p.GetOperatorStates(ctx, []string{"a", "b", "c", "nobody"})
		if err != nil {
			t.Fatalf("%s: GetOperatorStates: %v", when, err)
		}
		a := states["a"]
		if !a.Enabled || a.DuoAlias != "alice.duo" || a.ChangedBy != "admin" || a.ChangedAt.IsZero() {
			t.Fatalf("%s: alice = %+v", when, a)
		}
		if states["b"].Enabled || !states["c"].Enabled || states["nobody"].Enabled {
			t.Fatalf("%s: states = %+v", when, states)
		}
		page1, next, err := p.ListEnabledOperators(ctx, 1, "")
		if err != nil || len(page1) != 1 || page1[0].OperatorID != "a" || next == "" {
			t.Fatalf("%s: page 1 = %+v %q %v", when, page1, next, err)
		}
		page2, next, err := p.ListEnabledOperators(ctx, 1, next)
		if err != nil || len(page2) != 1 || page2[0].OperatorID != "c" || next != "" {
			t.Fatalf("%s: page 2 = %+v %q %v", when, page2, next, err)
		}
	}
	check("after setup")

	_, err = p.Uninstall(ctx, host.UninstallRequest{Confirm: "duo-security", Actor: admin})
	wantReason(t, "Uninstall while active", err, contract.ReasonActive)

	if err := p.Deactivate(ctx, admin); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if err := p.Deactivate(ctx, admin); err != nil {
		t.Fatalf("Deactivate again: %v", err)
	}
	_, err = p.BeginLogin(ctx, host.Operator{ID: "a", Username: "alice"}, host.ClientInfo{})
	wantReason(t, "BeginLogin while inactive", err, contract.ReasonInactive)
	if st, _ := p.Status(ctx); st.Active {
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

	_, err = p.Uninstall(ctx, host.UninstallRequest{Confirm: "duo-security", Actor: admin})
	wantReason(t, "Uninstall while active (new process)", err, contract.ReasonActive)
	if err := p.Deactivate(ctx, admin); err != nil {
		t.Fatal(err)
	}
	for _, confirm := range []string{"", "yes", "Duo Security", "duo-security "} {
		_, err = p.Uninstall(ctx, host.UninstallRequest{Confirm: confirm, Actor: admin})
		wantReason(t, "Uninstall confirm "+confirm, err, contract.ReasonConfirmation)
	}
	if _, err := os.Stat(filepath.Join(dir, "duo.db")); err != nil {
		t.Fatalf("a refused uninstall removed data: %v", err)
	}
	removed, err := p.Uninstall(ctx, host.UninstallRequest{Confirm: "duo-security", Actor: admin})
	if err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	for _, want := range []string{filepath.Join(dir, "duo.db"), filepath.Join(dir, "secrets.key"), dir} {
		if !slices.Contains(removed, want) {
			t.Errorf("removed = %v, missing %s", removed, want)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data dir still there: %v", err)
	}
	again, err := p.Uninstall(ctx, host.UninstallRequest{Confirm: "duo-security", Actor: admin})
	if err != nil || len(again) != 0 {
		t.Fatalf("second Uninstall = %v, %v", again, err)
	}
	// Both processes have exited, so everything they wrote is in the logs.
	if err := p.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	for _, logs := range []string{s.logs.String(), s2.logs.String()} {
		if !strings.Contains(logs, "plugin") {
			t.Fatal("a host log is empty: the secrecy check would prove nothing")
		}
		if strings.Contains(logs, testSecret) {
			t.Fatal("the client secret appears in a log")
		}
	}
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
	if res, err := p.UpdateSettings(ctx, host.UpdateSettingsRequest{Values: validSettings(), SkipDuoCheck: true, Actor: admin}); err != nil || !res.Saved {
		t.Fatalf("initial settings: %+v %v", res, err)
	}
	alice := host.Operator{ID: "a", Username: "alice"}
	if _, err := p.SetOperatorEnabled(ctx, alice, true, admin); err != nil {
		t.Fatal(err)
	}
	before, err := p.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}

	settingsCases := []struct {
		name   string
		values map[string]string
		want   map[string]string // field → reason
	}{
		{"short client id", map[string]string{"client_id": "DIshort"}, map[string]string{"client_id": "length"}},
		{"long secret", map[string]string{"client_secret": strings.Repeat("a", 41)}, map[string]string{"client_secret": "length"}},
		{"foreign host", map[string]string{"api_hostname": "evil.example.com"}, map[string]string{"api_hostname": "host"}},
		{"unknown fail mode", map[string]string{"fail_mode": "sometimes"}, map[string]string{"fail_mode": "option"}},
		{"timeout too long", map[string]string{"login_timeout_seconds": "601"}, map[string]string{"login_timeout_seconds": "range"}},
		{"all at once", map[string]string{"client_id": "x", "api_hostname": "https://evil.example.com/", "username_format": "nick"},
			map[string]string{"client_id": "length", "api_hostname": "host", "username_format": "option"}},
	}
	for _, tc := range settingsCases {
		res, err := p.UpdateSettings(ctx, host.UpdateSettingsRequest{Values: tc.values, SkipDuoCheck: true, Actor: admin})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := map[string]string{}
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
		op   host.Operator
	}{
		{"empty id", host.Operator{ID: "", Username: "x"}},
		{"empty username", host.Operator{ID: "x", Username: ""}},
		{"blank username", host.Operator{ID: "x", Username: "   "}},
		{"1 MB username", host.Operator{ID: "x", Username: strings.Repeat("u", 1<<20)}},
		{"control characters", host.Operator{ID: "x", Username: "bob\x00"}},
		{"1 MB id", host.Operator{ID: strings.Repeat("i", 1<<20), Username: "x"}},
	}
	for _, tc := range opCases {
		_, err := p.SetOperatorEnabled(ctx, tc.op, true, admin)
		wantReason(t, tc.name, err, contract.ReasonInvalidArgument)
	}
	_, err = p.SetOperatorAlias(ctx, alice, "bad\nalias", admin)
	wantReason(t, "alias with a newline", err, contract.ReasonInvalidArgument)
	_, _, err = p.ListEnabledOperators(ctx, 10, "!!not-a-token!!")
	wantReason(t, "bad page token", err, contract.ReasonInvalidArgument)
	_, err = p.Activate(ctx, host.ActivateRequest{DataDir: filepath.Join(t.TempDir(), "other"), Actor: admin})
	wantReason(t, "activate with another data dir", err, contract.ReasonDataDirMismatch)
	for _, cb := range []string{"javascript:alert(1)", "http://helpdesk.example.com/cb", "https://user:pw@helpdesk.example.com/cb",
		"/relative/cb", "https://helpdesk.example.com/" + strings.Repeat("a", 300)} {
		_, err = p.Activate(ctx, host.ActivateRequest{DataDir: dir, CallbackURL: cb, Actor: admin})
		wantReason(t, "activate with callback "+cb[:min(len(cb), 40)], err, contract.ReasonInvalidArgument)
	}

	after, err := p.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(before.Values, after.Values) || !after.SecretSet["client_secret"] {
		t.Fatalf("settings changed by refused updates:\nbefore %v\nafter  %v", before.Values, after.Values)
	}
	states, err := p.GetOperatorStates(ctx, []string{"a", "x"})
	if err != nil || !states["a"].Enabled || states["x"].Enabled {
		t.Fatalf("operators changed by refused calls: %+v %v", states, err)
	}
	enabled, _, err := p.ListEnabledOperators(ctx, 100, "")
	if err != nil || len(enabled) != 1 {
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
