package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// snapshot is what an account-security action would change: per
// operator, the helpdesk's row and the plugin's state and newest audit
// event; and the helpdesk's tickets and plugin record.
type snapshot struct {
	ops     map[string]store.Operator
	states  map[string]contract.OperatorState
	newest  map[string]int64
	tickets int
	active  bool
}

func (e *realEnv) snapshot(names ...string) snapshot {
	e.t.Helper()
	ctx := e.ctx()
	s := snapshot{ops: map[string]store.Operator{}, states: map[string]contract.OperatorState{}, newest: map[string]int64{}}
	for _, name := range names {
		op, err := e.app.Store().OperatorByID(ctx, e.ops[name].ID)
		if err != nil {
			e.t.Fatal(err)
		}
		s.ops[name] = op
		res, err := e.plugin().GetOperatorStates(ctx, contract.GetOperatorStatesRequest{Operators: []contract.Operator{web.PluginOperator(op)}, Actor: realAdmin})
		if err != nil || len(res.States) != 1 {
			e.t.Fatalf("GetOperatorStates(%s) = %+v, %v", name, res, err)
		}
		st := res.States[0]
		s.states[name] = st
		if evs := e.events(name); len(evs) > 0 {
			s.newest[name] = evs[0].ID
		}
	}
	ts, err := e.app.Store().ListTickets(ctx, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	s.tickets = len(ts)
	if s.active, err = e.app.Plugins().Active(ctx); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// sameSecurity reports how b differs from a in anything an
// account-security action changes, or "".
func sameSecurity(a, b snapshot) string {
	var diffs []string
	for name, op := range a.ops {
		o := b.ops[name]
		if o.Role != op.Role || o.TOTPSecret.Reveal() != op.TOTPSecret.Reveal() || o.TOTPConfirmed != op.TOTPConfirmed || o.PasswordHash.Reveal() != op.PasswordHash.Reveal() {
			diffs = append(diffs, name+"'s helpdesk record")
		}
		s, t := a.states[name], b.states[name]
		if s.Enabled != t.Enabled || s.DuoAlias != t.DuoAlias || s.BackupCodesLeft != t.BackupCodesLeft || !s.BackupCodesIssuedAt.Equal(t.BackupCodesIssuedAt) || s.Locked != t.Locked {
			diffs = append(diffs, name+"'s Duo state")
		}
		if a.newest[name] != b.newest[name] {
			diffs = append(diffs, name+"'s audit log")
		}
	}
	if a.tickets != b.tickets {
		diffs = append(diffs, "the tickets")
	}
	if a.active != b.active {
		diffs = append(diffs, "the plugin's activation")
	}
	return strings.Join(diffs, ", ")
}

// Case 20: a session that passed the password but not the second factor
// (the Duo step under way; Duo refused, a code offered; Duo vouched but
// the first backup codes not yet confirmed) calls every page behind
// sign-in — turning Duo off, new backup codes, the TOTP method, the
// admin's toggles, aliases, bypass codes, recovery links, unlocking, the
// plugin's lifecycle and settings — with the right password and the
// session's own CSRF token: each is refused (401, or a redirect to the
// sign-in page for a GET), and nothing changed in the helpdesk or the
// plugin. The operators did sign in with Duo minutes before, and
// allow_self_disable is on, so the plugin itself would have let alice
// regenerate her codes or turn her Duo off had the helpdesk asked (it
// refuses both for an operator with no second factor in the last ten
// minutes: carol, below).
func TestCase20PasswordOnlySessionCannotChangeSecurity(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	p := e.plugin()
	duoApp := e.sim.Apps()[0]
	if res, err := p.UpdateSettings(e.ctx(), contract.UpdateSettingsRequest{Actor: realAdmin, Values: map[string]string{
		"client_id": duoApp.ClientID, "client_secret": duoApp.ClientSecret.Reveal(), "api_hostname": e.sim.APIHost(),
		"ca_file": e.sim.CAFile(), "lockout_threshold": "100", "allow_self_disable": "true"}}); err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	if _, err := p.SetOperatorEnabled(e.ctx(), contract.SetOperatorEnabledRequest{Operator: web.PluginOperator(e.ops["admin"]), Enabled: true, Actor: realAdmin}); err != nil {
		t.Fatal(err)
	}
	// alice and admin have backup codes and a second factor a moment ago.
	e.signInWithDuo(e.client(), "alice", "")
	e.signInWithDuo(e.client(), "admin", "")
	all := []string{"admin", "alice", "bob"}

	type preAuth struct {
		name  string
		start func() (*client, string) // the browser and its session's CSRF token
	}
	states := []preAuth{
		{"alice at the Duo step", func() (*client, string) {
			c := e.client()
			if resp := c.login("alice", password, ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("alice's password: %d", resp.StatusCode)
			}
			return c, sessionCSRF(c)
		}},
		{"admin at the Duo step", func() (*client, string) {
			c := e.client()
			if resp := c.login("admin", password, ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("admin's password: %d", resp.StatusCode)
			}
			return c, sessionCSRF(c)
		}},
		{"admin refused by Duo, a code offered", func() (*client, string) {
			e.sim.SetOutcome("admin", duosim.OutcomeDeny)
			defer e.sim.ClearOutcome("admin")
			c := e.client()
			if resp := c.get(e.passwordThenDuo(c, "admin", "")); resp.StatusCode != http.StatusForbidden || !strings.Contains(c.last, `id="use-code"`) {
				t.Fatalf("admin denied by Duo: %d, want the refusal offering a code", resp.StatusCode)
			}
			return c, sessionCSRF(c)
		}},
		{"bob's first backup codes not yet confirmed", func() (*client, string) {
			c := e.client()
			if resp := c.get(e.passwordThenDuo(c, "bob", "")); resp.StatusCode != http.StatusOK || !strings.Contains(c.last, `action="/login/backup-codes"`) {
				t.Fatalf("bob's first Duo sign-in: %d, want the backup codes to confirm", resp.StatusCode)
			}
			return c, c.csrf()
		}},
	}
	for _, st := range states {
		c, csrf := st.start()
		before := e.snapshot(all...)
		for _, rt := range web.Routes() {
			if rt.Access == "open" || rt.Access == "sign-in" {
				continue // case 14 drives these
			}
			resp := e.drive(c, rt, map[string]string{"csrf_token": csrf})
			switch {
			case strings.HasPrefix(rt.Pattern, "GET "):
				if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
					t.Errorf("%s: %s answered %d %q, want a redirect to the sign-in page", st.name, rt.Pattern, resp.StatusCode, resp.Header.Get("Location"))
				}
			case resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("%s: %s answered %d, want 401", st.name, rt.Pattern, resp.StatusCode)
			}
		}
		if diff := sameSecurity(before, e.snapshot(all...)); diff != "" {
			t.Errorf("%s: the pages behind sign-in changed %s", st.name, diff)
		}
		for _, name := range all {
			if n := e.authenticatedSessions(name); name != "alice" && name != "admin" && n != 0 {
				t.Errorf("%s: %s has %d authenticated sessions", st.name, name, n)
			}
		}
	}

	// The plugin's own guard, for an operator who has passed only the
	// password and never a second factor (carol): the contract cannot
	// tell a password-only session from a signed-in one (the host vouches
	// for the actor), but new backup codes need a second factor within
	// ten minutes and a set to replace, and turning Duo off needs one too
	// and is refused while it is enforced for her.
	ctx := e.ctx()
	if _, err := e.app.Store().CreateOperator(ctx, store.NewOperator{Username: "carol", Email: "carol@example.com", Role: store.RoleAgent, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	carolOp, err := e.app.Store().OperatorByUsername(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	e.ops["carol"] = carolOp
	carol := web.PluginOperator(carolOp)
	carolActor := contract.Actor{ID: carol.ID, Username: "carol", Role: contract.RoleAgent}
	if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: carol, Enabled: true, Actor: realAdmin}); err != nil {
		t.Fatal(err)
	}
	if b, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: carol}); err != nil || b.Decision != contract.DecisionRedirect {
		t.Fatalf("carol's BeginLogin = %+v, %v", b, err)
	}
	_, err = p.RegenerateBackupCodes(ctx, contract.RegenerateBackupCodesRequest{Operator: carol, Actor: carolActor})
	if r := contract.ReasonOf(err); r != contract.ReasonReauthenticate && r != contract.ReasonNoBackupCodes {
		t.Fatalf("RegenerateBackupCodes for carol, password only: %v, want REAUTHENTICATE or NO_BACKUP_CODES", err)
	}
	if ev := e.events("carol")[0]; ev.Kind != "backup_codes.regenerate_refused" || ev.Outcome != "denied" || ev.Reason != string(contract.ReasonOf(err)) {
		t.Fatalf("carol's refused regeneration is audited as %s %s %s", ev.Kind, ev.Outcome, ev.Reason)
	}
	// allow_self_disable is on and nothing is enforced, yet without a
	// second factor within ten minutes she may not turn her Duo off.
	_, err = p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: carol, Enabled: false, Actor: carolActor})
	if contract.ReasonOf(err) != contract.ReasonReauthenticate {
		t.Fatalf("carol turning her Duo off, password only: %v, want REAUTHENTICATE", err)
	}
	if ev := e.events("carol")[0]; ev.Kind != "operator.disable_refused" || ev.Outcome != "denied" || ev.Reason != string(contract.ReasonReauthenticate) {
		t.Fatalf("carol's refused self-disable is audited as %s %s %s", ev.Kind, ev.Outcome, ev.Reason)
	}
	if _, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Actor: realAdmin, Values: map[string]string{
		"client_id": duoApp.ClientID, "client_secret": duoApp.ClientSecret.Reveal(), "api_hostname": e.sim.APIHost(),
		"ca_file": e.sim.CAFile(), "lockout_threshold": "100", "allow_self_disable": "true", "enforce_all": "true"}}); err != nil {
		t.Fatal(err)
	}
	_, err = p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: carol, Enabled: false, Actor: carolActor})
	if contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("carol turning her enforced Duo off: %v, want PERMISSION_DENIED", err)
	}
	if ev := e.events("carol")[0]; ev.Kind != "permission.denied" || ev.Outcome != "denied" {
		t.Fatalf("carol's refused self-disable is audited as %s %s %s", ev.Kind, ev.Outcome, ev.Reason)
	}
}
