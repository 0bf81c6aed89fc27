package hooks

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/duousername"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

const (
	maxStateLen = 1024 // Duo's limit
	minStateLen = 22
	maxCodeLen  = 4096
)

// Messages for the operator's browser (translatable: proto/contract's
// texts). The precise reason goes to the audit log, never to the browser.
const (
	msgUnavailable   = contract.TextDuoUnavailable
	msgMisconfigured = contract.TextDuoMisconfigured
	msgDenied        = contract.TextLoginDenied
	msgNotConfig     = contract.TextNotConfigured
	msgConfirmCodes  = contract.TextConfirmCodes
	msgCodeDenied    = contract.TextCodeDenied
	msgCodeShape     = contract.TextCodeShape
	msgTicketDenied  = contract.TextTicketDenied
	msgLinkDenied    = contract.TextLinkDenied
	msgLinkReset     = contract.TextLinkReset
)

// DuoUsername derives the Duo username of an operator: the alias if set,
// else the part of the account the settings choose, in its canonical form
// (RFC 8265 UsernameCaseMapped). What PRECIS refuses is refused, never
// trimmed or folded into someone else's name.
func DuoUsername(format settings.UsernameFormat, op contract.Operator, alias string) (string, error) {
	name, what := alias, "the alias"
	if name == "" {
		switch format {
		case settings.FormatEmail:
			name, what = op.Email, "the e-mail address"
		case settings.FormatEmailLocal:
			name, _, _ = strings.Cut(op.Email, "@")
			what = "the e-mail address before the @"
		default:
			name, what = op.Username, "the helpdesk username"
		}
	}
	canonical, err := duousername.Canonical(name)
	if err != nil {
		return "", fmt.Errorf("%s (username format %q, from %s)", err, format, what)
	}
	return canonical, nil
}

func hashState(state string) []byte {
	h := sha256.Sum256([]byte(state))
	return h[:]
}

// BeginLogin implements contract.Login: called after a correct password.
func (p *Plugin) BeginLogin(ctx context.Context, req contract.BeginLoginRequest) (contract.BeginLoginResponse, error) {
	if err := validateOperator(req.Operator); err != nil {
		return contract.BeginLoginResponse{}, err
	}
	var res contract.BeginLoginResponse
	err := p.withActiveToggle(ctx, "begin login", req.Operator.ID, func(a *activeState, st store.Toggle) error {
		var err error
		res, err = p.beginLogin(ctx, a, req.Operator, st, req.Client)
		return err
	})
	return res, err
}

// beginLogin decides for op, whose toggle st was read with the settings
// revision of a's settings.
func (p *Plugin) beginLogin(ctx context.Context, a *activeState, op contract.Operator, st store.Toggle, client contract.ClientInfo) (contract.BeginLoginResponse, error) {
	ev := store.Event{At: p.now(), Kind: "login.begin", OperatorID: op.ID, ClientIP: client.IP, UserAgent: client.UserAgent}
	deny := func(reason contract.LoginReason, msg contract.TextID, detail string) (contract.BeginLoginResponse, error) {
		ev.Outcome, ev.Reason, ev.Detail = "denied", string(reason), detail
		p.audit(ctx, a, ev)
		p.log.Info("login denied", "operator_id", op.ID, "reason", string(reason))
		return contract.BeginLoginResponse{Decision: contract.DecisionDenied, Reason: reason, Message: msg.English(), Text: msg.Text()}, nil
	}

	// The lockout first, whatever else holds (policy.go).
	if st.Locked(ev.At) {
		r := p.refuseLocked(ctx, a, ev, st.Lock)
		return contract.BeginLoginResponse{Decision: r.Decision, Reason: r.Reason, Message: r.Message, Text: r.Text}, nil
	}
	d := *a.duo.Load()
	switch req := requirement(d, op, st.Enabled); req {
	case contract.RequirementExempt:
		ev.Outcome, ev.Reason = "exempt", string(contract.LoginReasonExempt)
		ev.Detail = fmt.Sprintf("service account: Duo skipped (the setting %q is on)", fieldName(settings.KeyAllowExemption))
		p.auditRelaxed(ctx, a, ev)
		p.log.Info("service account exempt from Duo", "operator_id", op.ID)
		return contract.BeginLoginResponse{Decision: contract.DecisionNotRequired, Reason: contract.LoginReasonExempt}, nil
	case contract.RequirementOff:
		ev.Outcome = "not_required"
		p.auditRelaxed(ctx, a, ev)
		return contract.BeginLoginResponse{Decision: contract.DecisionNotRequired}, nil
	default:
		ev.Detail = "Duo required: " + req.String()
	}
	if !d.Complete() || p.cfg.Duo == nil {
		return deny(contract.LoginReasonNotConfigured, msgNotConfig, "Duo is required for this operator but the Duo settings are incomplete")
	}
	if !st.Known {
		// Enforced for an operator the plugin has never stored: without a
		// row their Duo username could not be claimed (unique) nor their
		// backup codes kept.
		if err := a.store.AddOperator(ctx, op, ev.At); err != nil {
			return contract.BeginLoginResponse{}, storageError("begin login: add operator", err)
		}
	}
	if a.callbackURL == "" {
		return deny(contract.LoginReasonNotConfigured, msgNotConfig, "the host activated the plugin without a callback URL")
	}
	duoUser, err := DuoUsername(d.UsernameFormat, op, st.DuoAlias)
	if err != nil {
		return deny(contract.LoginReasonBadDuoUsername, msgDenied, err.Error())
	}

	dctx, cancel := p.duoContext(ctx)
	budget := timeLeft(dctx)
	h, err := p.health.Get(dctx, healthKey(d), p.checkFunc(d))
	cancel()
	if err != nil {
		// We stopped waiting. Only a fair wait makes that Duo's fault:
		// a host deadline too short to ask Duo must never turn fail open
		// into skipping Duo.
		if budget < minFairDuoWait {
			return deny(contract.LoginReasonDuoUnavailable, msgUnavailable,
				fmt.Sprintf("the host's deadline left %s to ask Duo, less than %s; refused whatever the fail mode", budget.Round(time.Millisecond), minFairDuoWait))
		}
		h = contract.DuoHealth{Failure: contract.DuoUnreachable, Detail: fmt.Sprintf("Duo did not answer in time (waited %s)", budget.Round(time.Millisecond))}
	}
	switch {
	case h.OK:
	case h.Failure == contract.DuoUnreachable && d.FailMode == settings.FailOpen:
		ev.Outcome, ev.Reason, ev.Detail = "allowed_without_duo", string(contract.LoginReasonFailOpen), "FAIL OPEN: Duo unreachable ("+h.Detail+"); Duo skipped for this login"
		p.audit(ctx, a, ev)
		p.log.Warn("FAIL OPEN: Duo is unreachable; login continues without Duo", "operator_id", op.ID, "detail", h.Detail)
		return contract.BeginLoginResponse{Decision: contract.DecisionNotRequired, Reason: contract.LoginReasonFailOpen}, nil
	case h.Failure == contract.DuoUnreachable:
		return deny(contract.LoginReasonDuoUnavailable, msgUnavailable, h.Detail)
	default:
		// Rejected credentials, an untrusted certificate, nonsense from
		// "Duo": configuration or attack, refused in both fail modes.
		return deny(contract.LoginReasonDuoMisconfigured, msgMisconfigured, string(h.Failure)+": "+h.Detail)
	}

	c, err := p.cfg.Duo.Client(d, a.callbackURL)
	if err != nil {
		return deny(contract.LoginReasonNotConfigured, msgNotConfig, err.Error())
	}
	state, err := c.GenerateState()
	if err != nil {
		return contract.BeginLoginResponse{}, internalError("begin login: generate state", err)
	}
	authURL, err := c.AuthURL(duoUser, state)
	if err != nil {
		return deny(contract.LoginReasonBadDuoUsername, msgDenied, err.Error())
	}
	now := p.now()
	p.sweepExpired(ctx, a, now)
	ev.Outcome = "redirect"
	err = a.store.CreatePendingLogin(ctx, store.PendingLogin{
		StateHash: hashState(state), OperatorID: op.ID, DuoUsername: duoUser, CreatedAt: now, ExpiresAt: now.Add(d.LoginTimeout),
	}, ev)
	var taken *store.DuoUsernameTakenError
	if errors.As(err, &taken) {
		return deny(contract.LoginReasonDuoUsernameTaken, msgNotConfig,
			fmt.Sprintf("this operator resolves to the Duo username %q, which operator %s already uses; give one of them an alias", duoUser, taken.HolderID))
	}
	if err != nil {
		return contract.BeginLoginResponse{}, storageError("begin login: save pending login", err)
	}
	return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, RedirectURL: authURL, State: state}, nil
}

// sweepExpired deletes expired pending logins at most once a minute.
// (Expired unconfirmed sets of backup codes need no sweep: each new set
// takes them away, see store.RecoveryStore.CreateBackupCodeTicket.)
func (p *Plugin) sweepExpired(ctx context.Context, a *activeState, now time.Time) {
	last := p.lastSweep.Load()
	if now.Unix()-last < 60 || !p.lastSweep.CompareAndSwap(last, now.Unix()) {
		return
	}
	// One instance at a time sweeps a shared store; the others skip it
	// without waiting (store.Store.Exclusive).
	_, err := a.store.Exclusive(ctx, "sweep expired pending logins", func(ctx context.Context) error {
		_, err := a.store.DeleteExpiredPendingLogins(ctx, now)
		return err
	})
	if err != nil {
		p.log.Warn("sweep expired pending logins", "error", err)
	}
}

// CompleteLogin implements contract.Login: called from the host's Duo
// callback. Any problem is DENIED; only a verified allow from Duo, for this
// operator's own pending login, is ALLOWED, or CONFIRM_BACKUP_CODES when
// the operator has no backup codes yet.
func (p *Plugin) CompleteLogin(ctx context.Context, req contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
	return p.loginPageCall(ctx, req.Operator, req.Client, "login.complete", func(a *activeState, ev store.Event, _ store.Toggle) (contract.CompleteLoginResponse, error) {
		return p.completeLogin(ctx, a, req, ev)
	})
}

func (p *Plugin) completeLogin(ctx context.Context, a *activeState, req contract.CompleteLoginRequest, ev store.Event) (contract.CompleteLoginResponse, error) {
	op := req.Operator
	deny := func(reason contract.LoginReason, detail string) (contract.CompleteLoginResponse, error) {
		return p.denyLogin(ctx, a, ev, reason, msgDenied, detail), nil
	}

	switch {
	case len(req.SessionState) < minStateLen || len(req.SessionState) > maxStateLen:
		return deny(contract.LoginReasonBadRequest, fmt.Sprintf("session state length %d outside %d..%d", len(req.SessionState), minStateLen, maxStateLen))
	case len(req.CallbackState) < minStateLen || len(req.CallbackState) > maxStateLen:
		return deny(contract.LoginReasonBadRequest, fmt.Sprintf("callback state length %d outside %d..%d", len(req.CallbackState), minStateLen, maxStateLen))
	case req.DuoCode == "" || len(req.DuoCode) > maxCodeLen:
		return deny(contract.LoginReasonBadRequest, fmt.Sprintf("duo_code length %d", len(req.DuoCode)))
	}
	if subtle.ConstantTimeCompare([]byte(req.SessionState), []byte(req.CallbackState)) != 1 {
		return deny(contract.LoginReasonStateMismatch, "the state Duo returned is not the one in the operator's session")
	}

	now := ev.At
	hash := hashState(req.CallbackState)
	pending, err := a.store.ConsumePendingLogin(ctx, hash, op.ID, now)
	if errors.Is(err, store.ErrConsumed) {
		return deny(p.explainConsumeFailure(ctx, a, hash, op.ID, now))
	}
	if err != nil {
		return contract.CompleteLoginResponse{}, storageError("complete login: consume pending login", err)
	}

	d := *a.duo.Load()
	if !d.Complete() || p.cfg.Duo == nil {
		return deny(contract.LoginReasonNotConfigured, "the Duo settings became incomplete during the login")
	}
	c, err := p.cfg.Duo.Client(d, a.callbackURL)
	if err != nil {
		return deny(contract.LoginReasonNotConfigured, err.Error())
	}
	dctx, cancel := p.duoContext(ctx)
	defer cancel()
	res, err := c.Exchange(dctx, req.DuoCode, pending.DuoUsername)
	if err != nil {
		if duo.IsTimeout(err) {
			return deny(contract.LoginReasonDuoTimeout, "Duo did not answer the code exchange in time")
		}
		return deny(contract.LoginReasonCodeRejected, err.Error())
	}
	if !res.Allowed() || res.Username != pending.DuoUsername {
		// Duo did not vouch for this operator: a failure that counts.
		reason, msg, detail := duoRefusal(res, pending.DuoUsername)
		return p.failLogin(ctx, a, op, ev, reason, msg, detail), nil
	}
	ev.Detail = fmt.Sprintf("Duo reason %q factor %q txid %q", res.Reason, res.Factor, res.TxID)
	if pending.BackupCodesIssuedAt.IsZero() {
		// Duo's first allow (or the first since a reset): the operator
		// signs in once they have their backup codes.
		return p.offerBackupCodes(ctx, a, op, now, ev)
	}
	ev.Outcome = "allowed"
	err = a.store.RecordLogin(ctx, op.ID, now, ev)
	if errors.Is(err, store.ErrLocked) {
		// Locked while Duo was being asked: the lock holds.
		return p.refuseLockedNow(ctx, a, ev), nil
	}
	if err != nil {
		// Duo vouched for the operator; failing to note it must not lock them out.
		p.log.Error("record login", "operator_id", op.ID, "error", err)
	}
	p.log.Info("login allowed by Duo", "operator_id", op.ID)
	return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
}

// explainConsumeFailure turns a failed consume into a precise reason.
func (p *Plugin) explainConsumeFailure(ctx context.Context, a *activeState, hash []byte, opID string, now time.Time) (contract.LoginReason, string) {
	info, err := a.store.LookupPendingLogin(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return contract.LoginReasonStateUnknown, "no pending login has this state"
	case err != nil:
		return contract.LoginReasonStateUnknown, "pending login lookup failed"
	case info.OperatorID != opID:
		return contract.LoginReasonStateOtherOperator, "the state belongs to operator " + info.OperatorID
	case info.Used:
		return contract.LoginReasonStateUsed, "the pending login was already used (replay or duplicate callback)"
	case !now.Before(info.ExpiresAt):
		return contract.LoginReasonStateExpired, "the pending login expired at " + info.ExpiresAt.Format(time.RFC3339)
	}
	return contract.LoginReasonStateUnknown, "the pending login could not be consumed"
}
