package host

import (
	"time"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// Converters from the wire types to the SDK's Go types. Every getter is
// nil-safe, so a response with a missing message converts to zero values.

// fromprotoUnix maps the wire's unix seconds to a UTC time; 0 means none.
func fromprotoUnix(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func fromprotoDuoHealth(h *duov1.DuoHealth) DuoHealth {
	return DuoHealth{
		Checked:   h.GetChecked(),
		OK:        h.GetOk(),
		CheckedAt: fromprotoUnix(h.GetCheckedAtUnix()),
		Detail:    h.GetDetail(),
	}
}

func fromprotoStatus(s *duov1.StatusResponse) Status {
	return Status{
		Active:        s.GetActive(),
		SchemaVersion: s.GetSchemaVersion(),
		Configured:    s.GetConfigured(),
		PluginVersion: s.GetPluginVersion(),
		Duo:           fromprotoDuoHealth(s.GetDuo()),
	}
}

func fromprotoSettings(r *duov1.GetSettingsResponse) Settings {
	s := Settings{
		Values:    make(map[string]string, len(r.GetValues())),
		SecretSet: make(map[string]bool, len(r.GetSecretSet())),
	}
	for k, v := range r.GetValues() {
		s.Values[k] = v
	}
	for k, v := range r.GetSecretSet() {
		s.SecretSet[k] = v
	}
	return s
}

func fromprotoUpdateSettings(r *duov1.UpdateSettingsResponse) UpdateSettingsResult {
	out := UpdateSettingsResult{Saved: r.GetSaved(), Duo: fromprotoDuoHealth(r.GetDuo())}
	for _, fe := range r.GetErrors() {
		out.Errors = append(out.Errors, FieldError{Field: fe.GetField(), Reason: fe.GetReason(), Message: fe.GetMessage()})
	}
	return out
}

func fromprotoOperatorState(s *duov1.OperatorState) OperatorState {
	return OperatorState{
		OperatorID: s.GetOperatorId(),
		Enabled:    s.GetEnabled(),
		Username:   s.GetUsername(),
		Email:      s.GetEmail(),
		DuoAlias:   s.GetDuoAlias(),
		EnrolledAt: fromprotoUnix(s.GetEnrolledAtUnix()),
		ChangedAt:  fromprotoUnix(s.GetChangedAtUnix()),
		LastLogin:  fromprotoUnix(s.GetLastLoginUnix()),
		ChangedBy:  s.GetChangedBy(),
	}
}

// fromprotoDecision maps unknown (newer) wire values to DecisionUnspecified,
// which callers treat as deny.
func fromprotoDecision(d duov1.LoginDecision) LoginDecision {
	switch d {
	case duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED:
		return DecisionNotRequired
	case duov1.LoginDecision_LOGIN_DECISION_REDIRECT:
		return DecisionRedirect
	case duov1.LoginDecision_LOGIN_DECISION_DENIED:
		return DecisionDenied
	case duov1.LoginDecision_LOGIN_DECISION_ALLOWED:
		return DecisionAllowed
	default:
		return DecisionUnspecified
	}
}

// fromprotoBeginLogin checks the answer against the contract: BeginLogin may
// only answer NOT_REQUIRED, REDIRECT (with a URL and a state) or DENIED. An
// unspecified or unknown decision passes through as DecisionUnspecified
// (deny); anything else that breaks the contract is an error (deny).
func fromprotoBeginLogin(r *duov1.BeginLoginResponse) (BeginLoginResult, error) {
	out := BeginLoginResult{
		Decision:    fromprotoDecision(r.GetDecision()),
		RedirectURL: r.GetRedirectUrl(),
		State:       r.GetState(),
		Reason:      r.GetReason(),
		Message:     r.GetMessage(),
	}
	switch out.Decision {
	case DecisionRedirect:
		if out.RedirectURL == "" || out.State == "" {
			return BeginLoginResult{}, protocolError("BeginLogin answered REDIRECT without a redirect URL or state")
		}
	case DecisionAllowed:
		return BeginLoginResult{}, protocolError("BeginLogin answered ALLOWED; only CompleteLogin may allow")
	case DecisionNotRequired, DecisionDenied, DecisionUnspecified:
	}
	if out.Decision != DecisionRedirect {
		// Only a redirect carries a URL and a state; never hand out stray ones.
		out.RedirectURL, out.State = "", ""
	}
	return out, nil
}

// fromprotoCompleteLogin checks the answer against the contract:
// CompleteLogin may only answer ALLOWED or DENIED.
func fromprotoCompleteLogin(r *duov1.CompleteLoginResponse) (CompleteLoginResult, error) {
	out := CompleteLoginResult{
		Decision: fromprotoDecision(r.GetDecision()),
		Reason:   r.GetReason(),
		Message:  r.GetMessage(),
	}
	switch out.Decision {
	case DecisionNotRequired, DecisionRedirect:
		return CompleteLoginResult{}, protocolError("CompleteLogin answered %s; only ALLOWED or DENIED are valid", out.Decision)
	case DecisionAllowed, DecisionDenied, DecisionUnspecified:
	}
	return out, nil
}
