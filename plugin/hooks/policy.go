package hooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// Policy: whether Duo is required of an operator, and the lockout after
// repeated second-factor failures.
//
// At every login-page call the lockout comes first: a locked operator is
// refused (operator_locked) whatever else holds, an exempt service account
// and an operator Duo is off for included, and even while Duo is
// unreachable in fail-open mode. Then requirement decides, and only when
// Duo is required do the settings, the Duo username and the fail mode
// matter.
//
// Failures that count (one each, reset by a success or an unlock): Duo's
// answer that it did not vouch for the operator (deny, fraud, locked out
// in Duo, or an allow for another Duo user), and a backup or bypass code
// that is wrong, used, expired or revoked, or that cannot be one
// (malformed). Not counted: problems of the login's state (unknown,
// expired, replayed, another operator's: not the person's factor), Duo
// unreachable or slow, a Duo code Duo refuses to exchange (it is Duo's
// signed token, not a guess), abandoned logins, and recovery links (their
// 256-bit tokens cannot be guessed, and an old link clicked again is the
// common honest mistake).

// requirement is whether Duo is asked at op's login, and why, under d and
// op's toggle. The rules apply in this order: the service-account
// exemption, enforce_all, enforcement of op's role, the toggle. A role
// the host does not say is an agent's, as in the access rules, so that
// enforcement for agents covers it.
func requirement(d settings.Duo, op contract.Operator, toggle bool) contract.Requirement {
	switch {
	case op.ServiceAccount && d.AllowServiceAccountExemption:
		return contract.RequirementExempt
	case d.EnforceAll:
		return contract.RequirementEnforcedAll
	case d.EnforcedFor(effectiveRole(op.Role)):
		return contract.RequirementEnforcedRole
	case toggle:
		return contract.RequirementEnabled
	}
	return contract.RequirementOff
}

// enforcedBy names the setting that enforces Duo for role, as the settings
// page shows it ("" when r is not enforced).
func enforcedBy(r contract.Requirement, role contract.Role) string {
	switch r {
	case contract.RequirementEnforcedAll:
		return fieldName(settings.KeyEnforceAll)
	case contract.RequirementEnforcedRole:
		switch effectiveRole(role) {
		case contract.RoleAdmin:
			return fieldName(settings.KeyEnforceRoleAdmin)
		case contract.RoleHelpDesk:
			return fieldName(settings.KeyEnforceRoleHelpDesk)
		default:
			return fieldName(settings.KeyEnforceRoleAgent)
		}
	}
	return ""
}

// lockoutOf is the lockout the settings ask for.
func lockoutOf(d settings.Duo) store.Lockout {
	n := d.LockoutThreshold
	defaults.Set(&n, settings.Defaults().LockoutThreshold)
	return store.Lockout{Threshold: n, Duration: d.LockoutDuration}
}

// lockedText is the message for a locked operator: until when, if the
// lockout ends by itself, and whom to ask (lockout_contact, or an
// administrator or the help desk).
func lockedText(d settings.Duo, l store.Lock) contract.Text {
	until := ""
	if !l.LockedUntil.IsZero() {
		until = l.LockedUntil.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	switch {
	case until == "" && d.LockoutContact == "":
		return contract.TextLocked.Text()
	case until == "":
		return contract.Say(contract.TextLockedContact, "contact", d.LockoutContact)
	case d.LockoutContact == "":
		return contract.Say(contract.TextLockedUntil, "until", until)
	}
	return contract.Say(contract.TextLockedUntilContact, "until", until, "contact", d.LockoutContact)
}

// lockDetail describes a lock for the audit log.
func lockDetail(l store.Lock) string {
	s := fmt.Sprintf("locked at %s after %s in a row", l.LockedAt.UTC().Format(time.RFC3339), plural(l.FailedAttempts, "second-factor failure"))
	if l.LockedUntil.IsZero() {
		return s + ", until unlocked"
	}
	return s + ", until " + l.LockedUntil.UTC().Format(time.RFC3339)
}

// refuseLocked audits and answers a login-page call of a locked operator.
// It counts nothing: the count stays where it locked.
func (p *Plugin) refuseLocked(ctx context.Context, a *activeState, ev store.Event, l store.Lock) contract.CompleteLoginResponse {
	t := lockedText(*a.duo.Load(), l)
	detail := lockDetail(l)
	if ev.Reason != "" {
		// Found locked after the attempt was judged: keep what it was.
		detail += fmt.Sprintf(" (this attempt, not counted: %s: %s)", ev.Reason, ev.Detail)
	}
	ev.Outcome, ev.Reason, ev.Detail = "denied", string(contract.LoginReasonLocked), detail
	p.audit(ctx, a, ev)
	p.log.Info("login denied: operator locked", "kind", ev.Kind, "operator_id", ev.OperatorID)
	return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonLocked, Message: t.English(), Text: t}
}

// refuseLockedNow is refuseLocked for an operator the store found locked
// in the middle of a call (store.ErrLocked): the lock is read again for
// its message.
func (p *Plugin) refuseLockedNow(ctx context.Context, a *activeState, ev store.Event) contract.CompleteLoginResponse {
	st, err := a.store.OperatorToggle(ctx, ev.OperatorID)
	if err != nil {
		p.log.Error("read the lock", "operator_id", ev.OperatorID, "error", err)
	}
	return p.refuseLocked(ctx, a, ev, st.Lock)
}

// lockEvent builds the event of the failure that locks: a notice, so the
// host tells the operator.
func lockEvent(ev store.Event, d settings.Duo) func(store.Failure) store.Event {
	return func(f store.Failure) store.Event {
		return store.Event{At: ev.At, Kind: "operator.locked", OperatorID: ev.OperatorID, ClientIP: ev.ClientIP, UserAgent: ev.UserAgent, Outcome: "locked",
			Reason: string(contract.LoginReasonLocked), Detail: lockDetail(f.Lock) + fmt.Sprintf(" (lockout threshold %d)", lockoutOf(d).Threshold),
			Notice: contract.NoticeOperatorLocked}
	}
}

// failLogin denies a login-page call whose second factor failed: the
// failure is counted in the transaction that writes the denial's audit
// event, and the failure that reaches the threshold locks the operator.
func (p *Plugin) failLogin(ctx context.Context, a *activeState, op contract.Operator, ev store.Event, reason contract.LoginReason, msg contract.TextID, detail string) contract.CompleteLoginResponse {
	d := *a.duo.Load()
	ev.Outcome, ev.Reason, ev.Detail = "denied", string(reason), detail
	f, err := a.store.RecordFailure(ctx, op, lockoutOf(d), ev, lockEvent(ev, d))
	if err != nil && !errors.Is(err, store.ErrLocked) {
		// Denied all the same; only the count is lost.
		p.log.Error("second-factor failure not counted", "operator_id", op.ID, "error", err)
		p.audit(ctx, a, ev)
	}
	return p.afterFailure(ctx, a, ev, reason, msg, f, err)
}

// afterFailure answers a counted failure: DENIED with its reason, or
// operator_locked when it locked the operator, or when a concurrent
// failure had locked them first (err is store.ErrLocked; nothing was
// counted or written).
func (p *Plugin) afterFailure(ctx context.Context, a *activeState, ev store.Event, reason contract.LoginReason, msg contract.TextID, f store.Failure, err error) contract.CompleteLoginResponse {
	switch {
	case errors.Is(err, store.ErrLocked):
		return p.refuseLockedNow(ctx, a, ev)
	case f.JustLocked:
		// The denial and the lock are audited; the person is told what
		// now holds: they are locked.
		p.log.Warn("operator locked after repeated second-factor failures", "operator_id", ev.OperatorID, "failures", f.FailedAttempts, "reason", string(reason))
		t := lockedText(*a.duo.Load(), f.Lock)
		return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonLocked, Message: t.English(), Text: t}
	}
	p.log.Info("login denied", "kind", ev.Kind, "operator_id", ev.OperatorID, "reason", string(reason), "failures", f.FailedAttempts)
	return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: reason, Message: msg.English(), Text: msg.Text()}
}

// duoRefusal sorts Duo's answer that did not vouch for the operator
// expecting Duo user want: locked out in Duo (its own message: only Duo's
// admin can help), marked as fraud (the generic message: the browser may
// be the fraudster's), or denied.
func duoRefusal(res *duo.Result, want string) (contract.LoginReason, contract.TextID, string) {
	detail := fmt.Sprintf("Duo result %q status %q reason %q", res.Result, res.Status, res.Reason)
	switch {
	case res.Allowed():
		return contract.LoginReasonDuoDenied, msgDenied, fmt.Sprintf("Duo allowed %q, not the expected %q", res.Username, want)
	case res.Status == "locked_out" || res.Reason == "locked_out":
		return contract.LoginReasonDuoLockedOut, contract.TextDuoLockedOut, detail
	case res.Status == "fraud" || res.Reason == "user_marked_fraud":
		return contract.LoginReasonDuoFraud, msgDenied, detail
	}
	return contract.LoginReasonDuoDenied, msgDenied, detail
}

// told fills in what an operator's state owes to the settings, the time
// and the host's word on the operator (op: role, service account; an id
// alone is an agent's): BackupCodesLow, Requirement and Locked.
func (p *Plugin) told(a *activeState, st contract.OperatorState, op contract.Operator) contract.OperatorState {
	st = withLow(a, st)
	st.Requirement = requirement(*a.duo.Load(), op, st.Enabled)
	st.Locked = store.Lock{LockedAt: st.LockedAt, LockedUntil: st.LockedUntil}.Locked(p.now())
	return st
}

// checkSetEnabled refuses an operator turning their own Duo off while Duo
// is enforced for them (the toggle would change nothing, and the answer
// must not suggest otherwise); admins too.
func checkSetEnabled(_ contract.Role, self bool, r request, d settings.Duo) contract.Text {
	if !self || r.enable {
		return allowed
	}
	req := requirement(d, contract.Operator{Role: r.targetRole, ServiceAccount: r.targetServiceAccount}, false)
	if !req.Enforced() {
		return allowed
	}
	return contract.Say(contract.TextAccessEnforced, "setting", enforcedBy(req, r.targetRole))
}

// checkUnlock lets the help desk unlock agents only (as it issues bypass
// codes); admins and the system unlock anyone.
func checkUnlock(role contract.Role, _ bool, r request, _ settings.Duo) contract.Text {
	if role != contract.RoleHelpDesk || r.targetRole == contract.RoleAgent {
		return allowed
	}
	if r.targetRole == contract.RoleUnspecified {
		return contract.TextAccessUnlockRoleUnknown.Text()
	}
	return contract.Say(contract.TextAccessUnlockNotAgent, "target_role", r.targetRole.String())
}

// UnlockOperator implements contract.Operators: the failures and the lock
// are cleared (unlocking an operator who is not locked changes nothing and
// still answers), audited with the actor; a notice tells the operator when
// a lock in force was lifted.
func (p *Plugin) UnlockOperator(ctx context.Context, req contract.UnlockOperatorRequest) (contract.UnlockOperatorResponse, error) {
	op := req.Operator
	var out contract.UnlockOperatorResponse
	err := p.actOn(ctx, op, request{call: callUnlockOperator, actor: req.Actor, targetRole: op.Role}, func(a *activeState) error {
		now := p.now()
		st, err := a.store.UnlockOperator(ctx, op, func(before store.Lock) store.Event {
			ev := by(store.Event{At: now, Kind: "operator.unlocked", OperatorID: op.ID, Outcome: "ok"}, req.Actor)
			switch {
			case before.Locked(now):
				ev.Notice, ev.Detail = contract.NoticeOperatorUnlocked, "lifted a lock: "+lockDetail(before)
			default:
				ev.Detail = fmt.Sprintf("not locked; %s cleared", plural(before.FailedAttempts, "failure"))
			}
			return ev
		})
		if err != nil {
			return storageError("unlock operator", err)
		}
		p.log.Info("operator unlocked", "operator_id", op.ID, "actor", req.Actor.String(), "role", req.Actor.Role.String())
		out.State = p.told(a, st, op)
		return nil
	})
	return out, err
}
