package hooks

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

var (
	allRoles = []contract.Role{contract.RoleAdmin, contract.RoleSystem, contract.RoleHelpDesk, contract.RoleAgent, contract.RoleUnspecified, contract.Role(99)}
	everyone = allRoles
	admins   = []contract.Role{contract.RoleAdmin, contract.RoleSystem}
	helpers  = []contract.Role{contract.RoleAdmin, contract.RoleSystem, contract.RoleHelpDesk}
	nobody   = []contract.Role(nil)
)

// TestRulesTable applies the rules to every call, every role (an unknown
// role too), about another operator and about the actor themselves.
func TestRulesTable(t *testing.T) {
	t.Parallel()
	d := settings.Defaults()
	selfDisableOn := d
	selfDisableOn.AllowSelfDisable = true
	tests := []struct {
		name        string
		r           request
		d           settings.Duo
		other, self []contract.Role // allowed about operator "other", about the actor ("me")
	}{
		{"Activate", request{call: callActivate}, d, admins, admins},
		{"Deactivate", request{call: callDeactivate}, d, admins, admins},
		{"Uninstall", request{call: callUninstall}, d, admins, admins},
		{"GetSettings", request{call: callGetSettings}, d, admins, admins},
		{"UpdateSettings", request{call: callUpdateSettings}, d, admins, admins},
		{"CheckDuo", request{call: callCheckDuo}, d, admins, admins},
		{"SetOperatorAlias", request{call: callSetOperatorAlias}, d, admins, admins},
		{"CreateRecoveryLink", request{call: callCreateRecoveryLink}, d, admins, admins},
		{"ListNotices", request{call: callListNotices}, d, admins, admins},
		{"ListAuthEvents", request{call: callListAuthEvents}, d, admins, admins},
		{"ExportAuthEvents", request{call: callExportAuthEvents}, d, admins, admins},
		{"SetOperatorEnabled on", request{call: callSetOperatorEnabled, enable: true}, selfDisableOn, admins, admins},
		{"SetOperatorEnabled off, self-disable off", request{call: callSetOperatorEnabled}, d, admins, admins},
		{"SetOperatorEnabled off, self-disable on", request{call: callSetOperatorEnabled}, selfDisableOn, admins, everyone},
		{"GetOperatorStates", request{call: callGetOperatorStates}, d, helpers, everyone},
		{"ListEnabledOperators", request{call: callListEnabledOperators}, d, helpers, helpers},
		{"ListBypassCodes", request{call: callListBypassCodes}, d, helpers, everyone},
		{"RevokeBypassCode", request{call: callRevokeBypassCode}, d, helpers, everyone},
		{"IssueBypassCode, defaults, for an agent", request{call: callIssueBypassCode, uses: 1, lifetime: time.Hour, targetRole: contract.RoleAgent}, d, helpers, nobody},
		{"IssueBypassCode, defaults, for an admin", request{call: callIssueBypassCode, uses: 1, lifetime: time.Hour, targetRole: contract.RoleAdmin}, d, admins, nobody},
		{"IssueBypassCode, defaults, for the help desk", request{call: callIssueBypassCode, uses: 1, lifetime: time.Hour, targetRole: contract.RoleHelpDesk}, d, admins, nobody},
		{"IssueBypassCode, defaults, role unspecified", request{call: callIssueBypassCode, uses: 1, lifetime: time.Hour}, d, admins, nobody},
		{"IssueBypassCode, defaults, unknown role", request{call: callIssueBypassCode, uses: 1, lifetime: time.Hour, targetRole: contract.Role(99)}, d, admins, nobody},
		{"IssueBypassCode, 2 uses", request{call: callIssueBypassCode, uses: 2, lifetime: time.Hour, targetRole: contract.RoleAgent}, d, admins, nobody},
		{"IssueBypassCode, 61 minutes", request{call: callIssueBypassCode, uses: 1, lifetime: 61 * time.Minute, targetRole: contract.RoleAgent}, d, admins, nobody},
		{"IssueBypassCode, at the settings' limits", request{call: callIssueBypassCode, uses: 10, lifetime: 168 * time.Hour, targetRole: contract.RoleAgent}, d, admins, nobody},
		{"IssueBypassCode, beyond the settings' uses", request{call: callIssueBypassCode, uses: 11, lifetime: time.Hour, targetRole: contract.RoleAgent}, d, nobody, nobody},
		{"IssueBypassCode, beyond the settings' lifetime", request{call: callIssueBypassCode, uses: 1, lifetime: 169 * time.Hour, targetRole: contract.RoleAgent}, d, nobody, nobody},
		{"RegenerateBackupCodes", request{call: callRegenerateBackupCodes}, d, nobody, everyone},
		{"a call without a rule", request{call: "Unheard"}, d, nobody, nobody},
	}
	for _, tt := range tests {
		for _, about := range []string{"other", "me"} {
			want := tt.other
			if about == "me" {
				want = tt.self
			}
			for _, role := range allRoles {
				r := tt.r
				r.actor = contract.Actor{ID: "me", Username: "me", Role: role}
				switch r.call {
				case callActivate, callDeactivate, callUninstall, callGetSettings, callUpdateSettings, callCheckDuo, callListNotices, callListEnabledOperators:
					// about no operator
				default:
					r.targets = []string{about}
				}
				why := authorize(r, tt.d).English()
				if allowed := why == ""; allowed != slices.Contains(want, role) {
					t.Errorf("%s about %s as %s: allowed=%v (%q), want %v", tt.name, about, role, allowed, why, !allowed)
				}
			}
		}
	}
}

// Several ids: "their own" only when every id is the actor's; an actor
// without an id is never anyone's "self".
func TestRulesSelfNeedsEveryTarget(t *testing.T) {
	t.Parallel()
	d := settings.Defaults()
	agent := contract.Actor{ID: "me", Role: contract.RoleAgent}
	for _, tc := range []struct {
		name    string
		actor   contract.Actor
		targets []string
		allowed bool
	}{
		{"own id twice", agent, []string{"me", "me"}, true},
		{"own and another", agent, []string{"me", "other"}, false},
		{"no ids", agent, nil, false},
		{"actor without id, empty target", contract.Actor{Role: contract.RoleAgent}, []string{""}, false},
	} {
		why := authorize(request{call: callGetOperatorStates, actor: tc.actor, targets: tc.targets}, d).English()
		if (why == "") != tc.allowed {
			t.Errorf("%s: %q, want allowed %v", tc.name, why, tc.allowed)
		}
	}
}

func TestRuleMessagesNameTheLimit(t *testing.T) {
	t.Parallel()
	d := settings.Defaults()
	d.BypassMaxUses, d.BypassMaxLifetime = 3, 48*time.Hour
	for _, tc := range []struct {
		name string
		r    request
		want []string
	}{
		{"help desk", request{call: callIssueBypassCode, actor: actor("h", contract.RoleHelpDesk), targets: []string{"x"}, uses: 2, lifetime: time.Hour, targetRole: contract.RoleAgent},
			[]string{"at most 1 use", "1 hour", "ask an administrator"}},
		{"admin", request{call: callIssueBypassCode, actor: actor("a", contract.RoleAdmin), targets: []string{"x"}, uses: 4, lifetime: time.Hour},
			[]string{"at most 3 use(s)", "48 hour(s)", "Bypass code: most sign-ins"}},
		{"help desk for an admin", request{call: callIssueBypassCode, actor: actor("h", contract.RoleHelpDesk), targets: []string{"x"}, uses: 1, lifetime: time.Hour, targetRole: contract.RoleAdmin},
			[]string{"only for agents", "not for the admin role", "ask an administrator"}},
		{"help desk, role unspecified", request{call: callIssueBypassCode, actor: actor("h", contract.RoleHelpDesk), targets: []string{"x"}, uses: 1, lifetime: time.Hour},
			[]string{"only for agents", "did not say"}},
		{"own bypass code", request{call: callIssueBypassCode, actor: actor("a", contract.RoleAdmin), targets: []string{"a"}, uses: 1, lifetime: time.Hour, targetRole: contract.RoleAdmin},
			[]string{"for themselves", "another administrator", "backup code"}},
		{"self-disable off", request{call: callSetOperatorEnabled, actor: actor("x", contract.RoleAgent), targets: []string{"x"}},
			[]string{"Operators may turn off their own Duo"}},
	} {
		why := authorize(tc.r, d).English()
		for _, w := range tc.want {
			if !strings.Contains(why, w) {
				t.Errorf("%s: %q does not say %q", tc.name, why, w)
			}
		}
	}
}

// TestEveryHookEnforcesTheRules calls every method that carries an actor,
// with each role, about another operator, and checks PERMISSION_DENIED
// exactly where the rules say; each refusal is audited with the actor's id
// and role.
func TestEveryHookEnforcesTheRules(t *testing.T) {
	t.Parallel()
	other := contract.Operator{ID: "50", Username: "olga"}
	type hookCall struct {
		name string
		call func(ctx context.Context, p *Plugin, who contract.Actor) error
		ok   []contract.Role
	}
	calls := []hookCall{
		{"GetSettings", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.GetSettings(ctx, contract.GetSettingsRequest{Actor: who})
			return err
		}, admins},
		{"UpdateSettings", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"fail_mode": "closed"}, SkipDuoCheck: true, Actor: who})
			return err
		}, admins},
		{"CheckDuo", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.CheckDuo(ctx, contract.CheckDuoRequest{Actor: who})
			return err
		}, admins},
		{"SetOperatorEnabled", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: other, Enabled: true, Actor: who})
			return err
		}, admins},
		{"SetOperatorAlias", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: other, DuoAlias: "olga", Actor: who})
			return err
		}, admins},
		{"GetOperatorStates", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{other.ID}, Actor: who})
			return err
		}, helpers},
		{"ListEnabledOperators", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{Actor: who})
			return err
		}, helpers},
		{"RegenerateBackupCodes", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.RegenerateBackupCodes(ctx, contract.RegenerateBackupCodesRequest{Operator: other, Actor: who})
			return err
		}, nobody},
		{"IssueBypassCode", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: other, OperatorRole: contract.RoleAgent, Actor: who})
			return err
		}, helpers},
		{"IssueBypassCode beyond the defaults", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: other, OperatorRole: contract.RoleAgent, Uses: 3, LifetimeSeconds: 7200, Actor: who})
			return err
		}, admins},
		{"ListBypassCodes", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.ListBypassCodes(ctx, contract.ListBypassCodesRequest{OperatorID: other.ID, Actor: who})
			return err
		}, helpers},
		{"RevokeBypassCode", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.RevokeBypassCode(ctx, contract.RevokeBypassCodeRequest{OperatorID: other.ID, ID: "none", Actor: who})
			return err
		}, helpers},
		{"CreateRecoveryLink", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: other, Actor: who})
			return err
		}, admins},
		{"ListNotices", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.ListNotices(ctx, contract.ListNoticesRequest{Actor: who})
			return err
		}, admins},
		// Lifecycle last: Uninstall while active is refused as such to
		// those allowed to ask, and Deactivate ends the run.
		{"Activate", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			p.mu.RLock()
			dir := p.active.dataDir
			p.mu.RUnlock()
			_, err := p.Activate(ctx, contract.ActivateRequest{DataDir: dir, CallbackURL: "http://127.0.0.1:9/cb", Actor: who})
			return err
		}, admins},
		{"Uninstall", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.Uninstall(ctx, contract.UninstallRequest{Confirm: contract.PluginID, Actor: who})
			return err
		}, admins},
		{"Deactivate", func(ctx context.Context, p *Plugin, who contract.Actor) error {
			_, err := p.Deactivate(ctx, contract.DeactivateRequest{Actor: who})
			return err
		}, admins},
	}
	for _, role := range allRoles {
		t.Run(role.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil)
			ctx := context.Background()
			who := actor("7", role)
			denied := 0
			for _, c := range calls {
				if c.name == "Deactivate" {
					got := len(e.events("permission.denied"))
					if got != denied {
						t.Fatalf("%d refusals audited, want %d", got, denied)
					}
					for _, ev := range e.events("permission.denied") {
						if ev.ActorID != "7" || ev.ActorRole != role.String() || ev.Actor != "user-7" || ev.Reason != string(contract.ReasonPermission) || ev.Detail == "" {
							t.Fatalf("refusal audited as %+v", ev)
						}
					}
				}
				err := c.call(ctx, e.p, who)
				allowed := slices.Contains(c.ok, role)
				if gotDenied := contract.ReasonOf(err) == contract.ReasonPermission; gotDenied == allowed {
					t.Errorf("%s as %s: %v; want allowed=%v", c.name, role, err, allowed)
				}
				if !allowed {
					denied++
				}
				if c.name == "Uninstall" && allowed && contract.ReasonOf(err) != contract.ReasonActive {
					t.Errorf("Uninstall while active as %s: %v, want %s", role, err, contract.ReasonActive)
				}
			}
		})
	}
}

// The self rules through the hooks: an agent sees and revokes what is
// theirs, turns their own Duo off only when the setting allows it, and
// never on.
func TestAgentActsOnTheirOwnAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil)
	ctx := context.Background()
	me := contract.Operator{ID: "8", Username: "agnes"}
	agnes := actor(me.ID, contract.RoleAgent)
	e.enable(me)
	issued, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: me, OperatorRole: contract.RoleAgent, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{me.ID}, Actor: agnes}); err != nil {
		t.Fatalf("own state: %v", err)
	}
	if _, err := e.p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{me.ID, "1"}, Actor: agnes}); contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("own and another's state: %v", err)
	}
	if list, err := e.p.ListBypassCodes(ctx, contract.ListBypassCodesRequest{OperatorID: me.ID, Actor: agnes}); err != nil || len(list.BypassCodes) != 1 {
		t.Fatalf("own bypass codes: %+v, %v", list, err)
	}
	if _, err := e.p.RevokeBypassCode(ctx, contract.RevokeBypassCodeRequest{OperatorID: me.ID, ID: issued.BypassCode.ID, Actor: agnes}); err != nil {
		t.Fatalf("revoke own bypass code: %v", err)
	}
	off := contract.SetOperatorEnabledRequest{Operator: me, Enabled: false, Actor: agnes}
	if _, err := e.p.SetOperatorEnabled(ctx, off); contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("self-disable while the setting is off: %v", err)
	}
	if res, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"allow_self_disable": "true"}, SkipDuoCheck: true, Actor: admin}); err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	// Turning one's own Duo off needs a second factor within the last ten
	// minutes, checked by the plugin whatever the host's session says.
	if _, err := e.p.SetOperatorEnabled(ctx, off); contract.ReasonOf(err) != contract.ReasonReauthenticate {
		t.Fatalf("self-disable without a recent second factor: %v, want REAUTHENTICATE", err)
	}
	if got := e.events("operator.disable_refused"); len(got) != 1 || got[0].Reason != string(contract.ReasonReauthenticate) || got[0].Actor != "user-8" {
		t.Fatalf("refusal audited as %+v", got)
	}
	e.login(ctx, me)
	e.clk.Add(recentFactor + time.Second)
	if _, err := e.p.SetOperatorEnabled(ctx, off); contract.ReasonOf(err) != contract.ReasonReauthenticate {
		t.Fatalf("self-disable just past the window: %v, want REAUTHENTICATE", err)
	}
	e.login(ctx, me)
	e.clk.Add(recentFactor - time.Second)
	st, err := e.p.SetOperatorEnabled(ctx, off)
	if err != nil || st.State.Enabled || st.State.ChangedBy != "user-8" {
		t.Fatalf("self-disable while the setting is on, within the window = %+v, %v", st, err)
	}
	on := off
	on.Enabled = true
	if _, err := e.p.SetOperatorEnabled(ctx, on); contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("self-enable: %v", err)
	}
	other := contract.SetOperatorEnabledRequest{Operator: contract.Operator{ID: "9", Username: "x"}, Enabled: false, Actor: agnes}
	if _, err := e.p.SetOperatorEnabled(ctx, other); contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("disable another operator: %v", err)
	}
}

// Denials happen before anything changes, and a malformed actor is
// INVALID_ARGUMENT whoever it claims to be.
func TestRefusedCallsChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil)
	ctx := context.Background()
	before, _ := e.p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
	res, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"fail_mode": "open"}, SkipDuoCheck: true, Actor: actor("3", contract.RoleHelpDesk)})
	if contract.ReasonOf(err) != contract.ReasonPermission || res.Saved {
		t.Fatalf("help desk saving settings = %+v, %v", res, err)
	}
	after, _ := e.p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
	if !maps(before.Values, after.Values) {
		t.Fatal("a refused save changed the settings")
	}
	if len(e.events("settings.updated")) != 1 { // newEnv's own save
		t.Fatal("a refused save was audited as a save")
	}
	bad := contract.Actor{ID: "1", Username: "adm\nin", Role: contract.RoleAdmin}
	if _, err := e.p.GetSettings(ctx, contract.GetSettingsRequest{Actor: bad}); contract.ReasonOf(err) != contract.ReasonInvalidArgument {
		t.Fatalf("an actor with a newline: %v", err)
	}
}

func maps(a, b map[string]string) bool {
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
