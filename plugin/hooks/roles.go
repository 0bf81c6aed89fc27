package hooks

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// Who may do what. The host vouches for its actors (their id and role);
// the plugin enforces what the role allows, here and nowhere else, on
// every call that carries an actor. The login-page calls (BeginLogin,
// CompleteLogin, ConfirmBackupCodes, RedeemCode, RedeemRecoveryLink) carry
// none: the host makes them for an operator whose password it checked.

// call names a contract method that carries an actor.
type call string

// The calls the rules cover.
const (
	callActivate              call = "Activate"
	callDeactivate            call = "Deactivate"
	callUninstall             call = "Uninstall"
	callGetSettings           call = "GetSettings"
	callUpdateSettings        call = "UpdateSettings"
	callCheckDuo              call = "CheckDuo"
	callSetOperatorEnabled    call = "SetOperatorEnabled"
	callGetOperatorStates     call = "GetOperatorStates"
	callListEnabledOperators  call = "ListEnabledOperators"
	callSetOperatorAlias      call = "SetOperatorAlias"
	callRegenerateBackupCodes call = "RegenerateBackupCodes"
	callIssueBypassCode       call = "IssueBypassCode"
	callListBypassCodes       call = "ListBypassCodes"
	callRevokeBypassCode      call = "RevokeBypassCode"
	callCreateRecoveryLink    call = "CreateRecoveryLink"
	callListNotices           call = "ListNotices"
	callUnlockOperator        call = "UnlockOperator"
	callListAuthEvents        call = "ListAuthEvents"
	callExportAuthEvents      call = "ExportAuthEvents"
)

// selfAccess is what an actor of any role may do on their own account
// (actor.ID equal to every operator id the call is about).
type selfAccess int

const (
	selfNone    selfAccess = iota // nothing beyond their role
	selfAlways                    // see or revoke what is theirs
	selfDisable                   // turn their own Duo off, when allow_self_disable is on
	selfOnly                      // only themselves, never anyone else
)

// access is one row of the rules: the roles that may make the call about
// anyone, what everyone may do about themselves, and what else the call
// must satisfy when one of those roles makes it.
type access struct {
	anyone []contract.Role
	self   selfAccess
	// check, if set, says why a call by one of the anyone roles is still
	// refused ("" to allow); self tells whether they act on themselves.
	check func(role contract.Role, self bool, r request, d settings.Duo) contract.Text
}

var (
	adminOrSystem = []contract.Role{contract.RoleAdmin, contract.RoleSystem}
	staff         = []contract.Role{contract.RoleAdmin, contract.RoleSystem, contract.RoleHelpDesk}
)

// rules is the whole policy. A call missing here is refused to everyone.
var rules = map[call]access{
	callActivate:              {anyone: adminOrSystem},
	callDeactivate:            {anyone: adminOrSystem},
	callUninstall:             {anyone: adminOrSystem},
	callGetSettings:           {anyone: adminOrSystem},
	callUpdateSettings:        {anyone: adminOrSystem},
	callCheckDuo:              {anyone: adminOrSystem},
	callSetOperatorAlias:      {anyone: adminOrSystem},
	callCreateRecoveryLink:    {anyone: adminOrSystem},
	callListNotices:           {anyone: adminOrSystem},
	callListAuthEvents:        {anyone: adminOrSystem}, // the whole log, even about oneself
	callExportAuthEvents:      {anyone: adminOrSystem},
	callSetOperatorEnabled:    {anyone: adminOrSystem, self: selfDisable, check: checkSetEnabled}, // never oneself off while enforced
	callGetOperatorStates:     {anyone: staff, self: selfAlways},
	callListBypassCodes:       {anyone: staff, self: selfAlways},
	callRevokeBypassCode:      {anyone: staff, self: selfAlways},
	callListEnabledOperators:  {anyone: staff},                         // about everyone, so never "their own"
	callIssueBypassCode:       {anyone: staff, check: checkBypassCode}, // for someone else, within bypassLimits
	callRegenerateBackupCodes: {self: selfOnly},                        // and soon after a second factor: see RegenerateBackupCodes
	callUnlockOperator:        {anyone: staff, check: checkUnlock},     // the help desk: agents only
}

// Bypass codes issue with one use and one hour unless asked otherwise (as
// Duo's own do), and the help desk may never ask for more.
const (
	defaultBypassUses     = 1
	defaultBypassLifetime = time.Hour
)

// request is what the rules look at.
type request struct {
	call  call
	actor contract.Actor
	// targets are the operator ids the call is about; none for calls about
	// the plugin or about everyone.
	targets []string
	// enable: SetOperatorEnabled turns Duo on.
	enable bool
	// uses, lifetime and targetRole: IssueBypassCode, defaults applied,
	// and the role the host says the operator has.
	uses       int32
	lifetime   time.Duration
	targetRole contract.Role
	// targetServiceAccount: SetOperatorEnabled, the host marks the
	// operator as a service account (with targetRole, whether Duo is
	// enforced for them).
	targetServiceAccount bool
}

// effectiveRole is the role the rules apply: RoleUnspecified, and any role
// this plugin does not know, is an agent, the least privilege.
func effectiveRole(r contract.Role) contract.Role {
	switch r {
	case contract.RoleAdmin, contract.RoleSystem, contract.RoleHelpDesk:
		return r
	}
	return contract.RoleAgent
}

// allowed is authorize's answer when the rules allow the call.
var allowed = contract.Text{}

// authorize applies the rules to r under the saved settings d, and says
// why not when it refuses (allowed, the zero Text, when it allows). The
// reason is written for the administrator reading the host's error, and
// translatable.
func authorize(r request, d settings.Duo) contract.Text {
	rule, ok := rules[r.call]
	if !ok {
		return contract.Say(contract.TextAccessNoRule, "call", string(r.call))
	}
	role := effectiveRole(r.actor.Role)
	self := r.actor.ID != "" && len(r.targets) > 0 && !slices.ContainsFunc(r.targets, func(id string) bool { return id != r.actor.ID })
	if slices.Contains(rule.anyone, role) {
		if rule.check != nil {
			return rule.check(role, self, r, d)
		}
		return allowed
	}
	who := []string{"role", role.String(), "call", string(r.call)}
	switch rule.self {
	case selfAlways:
		if self {
			return allowed
		}
		return contract.Say(contract.TextAccessOwnAccountOnly, who...)
	case selfDisable:
		if !self {
			return contract.Say(contract.TextAccessToggleOthers, who...)
		}
		if r.enable {
			return contract.TextAccessEnableAdminOnly.Text()
		}
		if why := checkSetEnabled(role, self, r, d); why.ID != "" {
			return why
		}
		if !d.AllowSelfDisable {
			return contract.Say(contract.TextAccessSelfDisableOff, "setting", fieldName(settings.KeyAllowSelfDisable))
		}
		return allowed
	case selfOnly:
		if self {
			return allowed
		}
		return contract.Say(contract.TextAccessSelfOnly, who...)
	}
	return contract.Say(contract.TextAccessRoleMayNot, who...)
}

// bypassLimits are the most uses and the longest lifetime role may give a
// bypass code.
func bypassLimits(role contract.Role, d settings.Duo) (int32, time.Duration) {
	if role == contract.RoleHelpDesk {
		return defaultBypassUses, defaultBypassLifetime
	}
	return int32(d.BypassMaxUses), d.BypassMaxLifetime
}

// checkBypassCode refuses a bypass code for the actor themselves (it is
// handed out by someone who checked who is asking; their own backup codes
// are for themselves), a help-desk code for anyone but an agent (as Duo's
// own Help Desk role cannot act on administrators), and one beyond the
// limits.
func checkBypassCode(role contract.Role, self bool, r request, d settings.Duo) contract.Text {
	if self {
		return contract.TextAccessBypassSelf.Text()
	}
	if role == contract.RoleHelpDesk && r.targetRole != contract.RoleAgent {
		if r.targetRole == contract.RoleUnspecified {
			return contract.TextAccessBypassRoleUnknown.Text()
		}
		return contract.Say(contract.TextAccessBypassNotAgent, "target_role", r.targetRole.String())
	}
	maxUses, maxLife := bypassLimits(role, d)
	if r.uses <= maxUses && r.lifetime <= maxLife {
		return allowed
	}
	if role == contract.RoleHelpDesk {
		return contract.TextAccessBypassHelpDeskLimit.Text()
	}
	return contract.Say(contract.TextAccessBypassSettingsLimit,
		"max_uses", strconv.Itoa(int(maxUses)), "max_hours", strconv.Itoa(int(maxLife/time.Hour)),
		"uses_setting", fieldName(settings.KeyBypassMaxUses), "hours_setting", fieldName(settings.KeyBypassMaxHours))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func hours(d time.Duration) string {
	if d < time.Hour || d%time.Hour != 0 {
		return d.String()
	}
	return plural(int(d/time.Hour), "hour")
}

// fieldName is a setting's name as the settings page shows it.
func fieldName(key string) string {
	if f, ok := settings.LookupField(key); ok {
		return f.DisplayName
	}
	return key
}

// permit enforces the rules for one call. The actor is checked first (a
// malformed one is INVALID_ARGUMENT); a refusal is audited with the actor
// and their role and returned as PERMISSION_DENIED. a is nil when the
// plugin is inactive: the plugin's log then keeps the refusal.
func (p *Plugin) permit(ctx context.Context, a *activeState, r request) error {
	if problem := checkText("actor", r.actor.String(), maxActorLen, false); problem != "" {
		return invalid("%s", problem)
	}
	if problem := checkText("actor id", r.actor.ID, maxIDLen, false); problem != "" {
		return invalid("%s", problem)
	}
	d := settings.Defaults()
	if a != nil {
		d = *a.duo.Load()
	}
	refusal := authorize(r, d)
	if refusal.ID == "" {
		return nil
	}
	why := refusal.English()
	p.log.Warn("call refused by the access rules", "call", string(r.call), "actor_id", r.actor.ID, "role", r.actor.Role.String(), "reason", why)
	if a != nil {
		ev := by(store.Event{Kind: "permission.denied", Outcome: "denied", Reason: string(contract.ReasonPermission),
			Detail: string(r.call) + ": " + why}, r.actor)
		if len(r.targets) == 1 {
			ev.OperatorID = r.targets[0]
		} else if len(r.targets) > 1 {
			ev.Detail += fmt.Sprintf(" (operators %s)", strings.Join(r.targets[:min(len(r.targets), 5)], ", "))
		}
		p.audit(ctx, a, ev)
	}
	e := contract.Errorf(contract.ReasonPermission, "%s: %s", r.call, why)
	e.Text = refusal
	return e
}

// actOn runs fn for a call about one operator: the operator is checked,
// the plugin must be active, and the access rules must allow r, whose
// target is the operator.
func (p *Plugin) actOn(ctx context.Context, op contract.Operator, r request, fn func(a *activeState) error) error {
	if err := validateOperator(op); err != nil {
		return err
	}
	r.targets = []string{op.ID}
	return p.withActive(ctx, func(a *activeState) error {
		if err := p.permit(ctx, a, r); err != nil {
			return err
		}
		return fn(a)
	})
}
