package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// Decision is the outcome of a login hook.
type Decision int

// Decisions. BeginLogin answers NotRequired, Redirect or Denied; when Duo
// is unreachable and the admin chose fail open it answers NotRequired with
// reason ReasonFailOpen, so the host falls back to its own second factor.
// CompleteLogin answers Allowed or Denied.
const (
	DecisionUnspecified Decision = iota
	DecisionNotRequired
	DecisionRedirect
	DecisionDenied
	DecisionAllowed
)

// Reasons a login is denied, for the host's log and the audit log. The
// operator's browser gets only a generic message.
const (
	ReasonDuoUnavailable   = "duo_unavailable"
	ReasonFailOpen         = "duo_unavailable_fail_open"
	ReasonNotConfigured    = "not_configured"
	ReasonBadDuoUsername   = "invalid_duo_username"
	ReasonBadRequest       = "invalid_request"
	ReasonStateMismatch    = "state_mismatch"
	ReasonStateUnknown     = "state_unknown"
	ReasonStateUsed        = "state_already_used"
	ReasonStateExpired     = "state_expired"
	ReasonStateOtherUser   = "state_other_operator"
	ReasonExchangeFailed   = "duo_code_rejected"
	ReasonDuoTimeout       = "duo_timeout"
	ReasonDuoDenied        = "duo_denied"
	maxStateLen            = 1024 // Duo's limit
	maxCodeLen             = 4096
	minStateLen            = 22
	failedHealthCacheLimit = 5 * time.Second
)

// Messages for the operator's browser.
const (
	msgUnavailable = "Duo Security cannot be reached right now, so sign-in is refused. Try again in a few minutes, or contact your administrator."
	msgDenied      = "Two-factor verification with Duo failed. Please sign in again, or contact your administrator."
	msgNotConfig   = "Two-factor authentication with Duo is required for your account but is not set up yet. Contact your administrator."
)

// ClientInfo describes the operator's browser.
type ClientInfo struct{ IP, UserAgent string }

// BeginResult is BeginLogin's answer.
type BeginResult struct {
	Decision    Decision
	RedirectURL string
	State       string
	Reason      string
	Message     string
}

// CompleteParams are CompleteLogin's inputs.
type CompleteParams struct {
	Operator      store.Operator
	SessionState  string // from the host's pre-auth session
	CallbackState string // from Duo's redirect
	DuoCode       string
	Client        ClientInfo
}

// CompleteResult is CompleteLogin's answer.
type CompleteResult struct {
	Decision Decision
	Reason   string
	Message  string
}

// DuoUsername derives the Duo username for an operator: the alias if set,
// else the part the settings choose; trimmed and lower-cased. It refuses
// the empty string and control characters rather than send them to Duo.
func DuoUsername(format settings.UsernameFormat, op store.Operator, alias string) (string, error) {
	name := alias
	if name == "" {
		switch format {
		case settings.FormatEmail:
			name = op.Email
		case settings.FormatEmailLocal:
			name, _, _ = strings.Cut(op.Email, "@")
		default:
			name = op.Username
		}
	}
	name = strings.ToLower(strings.TrimSpace(name))
	if p := checkText("Duo username", name, maxUsernameLen, true); p != "" {
		return "", fmt.Errorf("%s (username format %q)", p, format)
	}
	return name, nil
}

func hashState(state string) []byte {
	h := sha256.Sum256([]byte(state))
	return h[:]
}

// BeginLogin is called after a correct password. Valid only while active.
func (s *Service) BeginLogin(ctx context.Context, op store.Operator, client ClientInfo) (BeginResult, error) {
	if err := validateOperator(op); err != nil {
		return BeginResult{}, err
	}
	var res BeginResult
	err := s.withActive(func(a *activeState) error {
		var err error
		res, err = s.beginLogin(ctx, a, op, client)
		return err
	})
	return res, err
}

func (s *Service) beginLogin(ctx context.Context, a *activeState, op store.Operator, client ClientInfo) (BeginResult, error) {
	ev := store.Event{At: s.now(), Kind: "login.begin", OperatorID: op.ID, ClientIP: client.IP}
	deny := func(reason, msg, detail string) (BeginResult, error) {
		ev.Outcome, ev.Reason, ev.Detail = "denied", reason, detail
		s.audit(ctx, a, ev)
		s.log.Info("login denied", "operator_id", op.ID, "reason", reason)
		return BeginResult{Decision: DecisionDenied, Reason: reason, Message: msg}, nil
	}

	states, err := a.store.OperatorStates(ctx, []string{op.ID})
	if err != nil {
		return BeginResult{}, storageError("begin login: operator state", err)
	}
	st := states[op.ID]
	if !st.Enabled {
		ev.Outcome = "not_required"
		s.audit(ctx, a, ev)
		return BeginResult{Decision: DecisionNotRequired}, nil
	}
	d := *a.duo.Load()
	if !d.Complete() || s.cfg.Duo == nil {
		return deny(ReasonNotConfigured, msgNotConfig, "Duo is enabled for this operator but the Duo settings are incomplete")
	}
	if a.callbackURL == "" {
		return deny(ReasonNotConfigured, msgNotConfig, "the host activated the plugin without a callback URL")
	}
	duoUser, err := DuoUsername(d.UsernameFormat, op, st.DuoAlias)
	if err != nil {
		return deny(ReasonBadDuoUsername, msgDenied, err.Error())
	}

	if h := s.cachedHealth(ctx, d); !h.OK {
		if d.FailMode == settings.FailOpen {
			ev.Outcome, ev.Reason, ev.Detail = "allowed_without_duo", ReasonFailOpen, "FAIL OPEN: Duo unreachable ("+h.Detail+"); Duo skipped for this login"
			s.audit(ctx, a, ev)
			s.log.Warn("FAIL OPEN: Duo is unreachable; login continues without Duo", "operator_id", op.ID, "detail", h.Detail)
			return BeginResult{Decision: DecisionNotRequired, Reason: ReasonFailOpen}, nil
		}
		return deny(ReasonDuoUnavailable, msgUnavailable, h.Detail)
	}

	c, err := s.cfg.Duo.Client(d, a.callbackURL)
	if err != nil {
		return deny(ReasonNotConfigured, msgNotConfig, err.Error())
	}
	state, err := c.GenerateState()
	if err != nil {
		return BeginResult{}, newError(contract.ReasonInternal, "begin login: generate state", err)
	}
	authURL, err := c.AuthURL(duoUser, state)
	if err != nil {
		return deny(ReasonBadDuoUsername, msgDenied, err.Error())
	}
	now := s.now()
	s.sweepExpired(ctx, a, now)
	ev.Outcome = "redirect"
	if err := a.store.CreatePendingLogin(ctx, store.PendingLogin{
		StateHash: hashState(state), OperatorID: op.ID, DuoUsername: duoUser, CreatedAt: now, ExpiresAt: now.Add(d.LoginTimeout),
	}, ev); err != nil {
		return BeginResult{}, storageError("begin login: save pending login", err)
	}
	return BeginResult{Decision: DecisionRedirect, RedirectURL: authURL, State: state}, nil
}

// cachedHealth returns Duo's health for d, checking at most once per
// HealthCacheTTL (a failure is re-checked sooner, so recovery shows fast).
func (s *Service) cachedHealth(ctx context.Context, d settings.Duo) DuoHealth {
	key := duo.Fingerprint(d, "")
	ttl := s.cfg.Runtime.HealthCacheTTL
	s.healthCache.Lock()
	defer s.healthCache.Unlock()
	c := &s.healthCache
	if c.key == key && c.h.Checked {
		age := s.now().Sub(c.h.CheckedAt)
		limit := ttl
		if !c.h.OK {
			limit = min(ttl, failedHealthCacheLimit)
		}
		if age >= 0 && age < limit {
			return c.h
		}
	}
	h := s.checkDuo(ctx, d)
	c.key, c.h = key, h
	return h
}

// sweepExpired deletes expired pending logins at most once a minute.
func (s *Service) sweepExpired(ctx context.Context, a *activeState, now time.Time) {
	last := s.lastSweep.Load()
	if now.Unix()-last < 60 || !s.lastSweep.CompareAndSwap(last, now.Unix()) {
		return
	}
	if _, err := a.store.DeleteExpiredPendingLogins(ctx, now); err != nil {
		s.log.Warn("sweep expired pending logins", "error", err)
	}
}

// CompleteLogin is called from the host's Duo callback. Valid only while
// active. Any problem is DENIED; only a verified allow from Duo, for this
// operator's own pending login, is ALLOWED.
func (s *Service) CompleteLogin(ctx context.Context, p CompleteParams) (CompleteResult, error) {
	if err := validateOperator(p.Operator); err != nil {
		return CompleteResult{}, err
	}
	var res CompleteResult
	err := s.withActive(func(a *activeState) error {
		var err error
		res, err = s.completeLogin(ctx, a, p)
		return err
	})
	return res, err
}

func (s *Service) completeLogin(ctx context.Context, a *activeState, p CompleteParams) (CompleteResult, error) {
	op := p.Operator
	ev := store.Event{At: s.now(), Kind: "login.complete", OperatorID: op.ID, ClientIP: p.Client.IP}
	deny := func(reason, detail string) (CompleteResult, error) {
		ev.Outcome, ev.Reason, ev.Detail = "denied", reason, detail
		s.audit(ctx, a, ev)
		s.log.Info("login denied", "operator_id", op.ID, "reason", reason)
		return CompleteResult{Decision: DecisionDenied, Reason: reason, Message: msgDenied}, nil
	}

	switch {
	case len(p.SessionState) < minStateLen || len(p.SessionState) > maxStateLen:
		return deny(ReasonBadRequest, fmt.Sprintf("session state length %d outside %d..%d", len(p.SessionState), minStateLen, maxStateLen))
	case len(p.CallbackState) < minStateLen || len(p.CallbackState) > maxStateLen:
		return deny(ReasonBadRequest, fmt.Sprintf("callback state length %d outside %d..%d", len(p.CallbackState), minStateLen, maxStateLen))
	case p.DuoCode == "" || len(p.DuoCode) > maxCodeLen:
		return deny(ReasonBadRequest, fmt.Sprintf("duo_code length %d", len(p.DuoCode)))
	}
	if subtle.ConstantTimeCompare([]byte(p.SessionState), []byte(p.CallbackState)) != 1 {
		return deny(ReasonStateMismatch, "the state Duo returned is not the one in the operator's session")
	}

	now := s.now()
	hash := hashState(p.CallbackState)
	pending, err := a.store.ConsumePendingLogin(ctx, hash, op.ID, now)
	if errors.Is(err, store.ErrConsumed) {
		return deny(s.explainConsumeFailure(ctx, a, hash, op.ID, now))
	}
	if err != nil {
		return CompleteResult{}, storageError("complete login: consume pending login", err)
	}

	d := *a.duo.Load()
	if !d.Complete() || s.cfg.Duo == nil {
		return deny(ReasonNotConfigured, "the Duo settings became incomplete during the login")
	}
	c, err := s.cfg.Duo.Client(d, a.callbackURL)
	if err != nil {
		return deny(ReasonNotConfigured, err.Error())
	}
	// Bound the exchange by the time left on the login, too.
	xctx, cancel := context.WithDeadline(ctx, pending.ExpiresAt.Add(time.Minute))
	defer cancel()
	res, err := c.Exchange(xctx, p.DuoCode, pending.DuoUsername)
	if err != nil {
		if duo.IsTimeout(err) {
			return deny(ReasonDuoTimeout, "Duo did not answer the code exchange in time")
		}
		return deny(ReasonExchangeFailed, err.Error())
	}
	if !res.Allowed() || res.Username != pending.DuoUsername {
		return deny(ReasonDuoDenied, fmt.Sprintf("Duo result %q status %q reason %q", res.Result, res.Status, res.Reason))
	}
	ev.Outcome, ev.Detail = "allowed", fmt.Sprintf("Duo reason %q factor %q txid %q", res.Reason, res.Factor, res.TxID)
	if err := a.store.RecordLogin(ctx, op.ID, now, ev); err != nil {
		// Duo vouched for the operator; failing to note it must not lock them out.
		s.log.Error("record login", "operator_id", op.ID, "error", err)
	}
	s.log.Info("login allowed by Duo", "operator_id", op.ID)
	return CompleteResult{Decision: DecisionAllowed}, nil
}

// explainConsumeFailure turns a failed consume into a precise reason.
func (s *Service) explainConsumeFailure(ctx context.Context, a *activeState, hash []byte, opID string, now time.Time) (string, string) {
	info, err := a.store.LookupPendingLogin(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ReasonStateUnknown, "no pending login has this state"
	case err != nil:
		return ReasonStateUnknown, "pending login lookup failed"
	case info.OperatorID != opID:
		return ReasonStateOtherUser, "the state belongs to operator " + info.OperatorID
	case info.Used:
		return ReasonStateUsed, "the pending login was already used (replay or duplicate callback)"
	case !now.Before(info.ExpiresAt):
		return ReasonStateExpired, "the pending login expired at " + info.ExpiresAt.Format(time.RFC3339)
	}
	return ReasonStateUnknown, "the pending login could not be consumed"
}
