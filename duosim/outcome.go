package duosim

import (
	"fmt"
	"strings"
)

// Outcome is what the simulator does with a user's authorization.
type Outcome string

// The outcomes. Every one except OutcomeInteractive and OutcomeUnavailable
// is "scripted": the authorize request redirects straight back with a
// code, and the id_token for that code carries the outcome's auth_result.
// Go's client never checks auth_result, so the deny-like outcomes prove
// that the application does.
const (
	// OutcomeInteractive shows the HTML prompt (and, for a user not yet
	// enrolled, the enrolment page first). Approve redirects with a code;
	// Deny shows a terminal page without redirecting, as Duo does.
	OutcomeInteractive Outcome = "interactive"
	// OutcomeAllow: auth_result allow/allow "Login Successful", reason
	// user_approved.
	OutcomeAllow Outcome = "allow"
	// OutcomeDeny: auth_result deny/deny, reason user_cancelled.
	OutcomeDeny Outcome = "deny"
	// OutcomeFraud: auth_result deny/fraud, auth_context.result "fraud",
	// reason user_marked_fraud.
	OutcomeFraud Outcome = "fraud"
	// OutcomeLockedOut: auth_result deny/locked_out, reason locked_out.
	OutcomeLockedOut Outcome = "locked_out"
	// OutcomeEnrollRequired: auth_result deny/deny, reason
	// deny_unenrolled_user (the "new user policy: deny" case).
	OutcomeEnrollRequired Outcome = "enroll_required"
	// OutcomeBypass: auth_result allow/bypass, reason bypass_user.
	OutcomeBypass Outcome = "bypass"
	// OutcomeWrongUser: allow, but preferred_username names another user,
	// which a correct client must reject.
	OutcomeWrongUser Outcome = "wrong_user"
	// OutcomeSlow: allow, but the token request stalls for
	// Config.SlowDelay so that the caller's timeout fires.
	OutcomeSlow Outcome = "slow"
	// OutcomeUnavailable: the authorize and token requests for this user
	// fail with 503. (The health check does not know the user; use
	// Server.SetHealthy for a global outage.)
	OutcomeUnavailable Outcome = "unavailable"
)

var allOutcomes = []Outcome{
	OutcomeInteractive, OutcomeAllow, OutcomeDeny, OutcomeFraud, OutcomeLockedOut,
	OutcomeEnrollRequired, OutcomeBypass, OutcomeWrongUser, OutcomeSlow, OutcomeUnavailable,
}

func (o Outcome) valid() bool {
	for _, v := range allOutcomes {
		if o == v {
			return true
		}
	}
	return false
}

// ParseOutcome returns the Outcome whose string form is s.
func ParseOutcome(s string) (Outcome, error) {
	if o := Outcome(s); o.valid() {
		return o, nil
	}
	names := make([]string, len(allOutcomes))
	for i, o := range allOutcomes {
		names[i] = string(o)
	}
	return "", fmt.Errorf("unknown outcome %q (want one of %s)", s, strings.Join(names, ", "))
}

// verdict is what an id_token says about an authentication.
type verdict struct {
	result, status, statusMsg string // auth_result
	ctxResult, reason, factor string // auth_context
	usedDevice                bool   // whether auth_device is filled in
}

// verdictFor maps a decided outcome to the id_token's claims. The reasons
// follow Duo's authentication-log schema; the status words reuse the Auth
// API's.
func verdictFor(o Outcome) verdict {
	switch o {
	case OutcomeDeny:
		return verdict{"deny", "deny", "Login request denied", "denied", "user_cancelled", "duo_push", true}
	case OutcomeFraud:
		return verdict{"deny", "fraud", "Login request reported as fraudulent", "fraud", "user_marked_fraud", "duo_push", true}
	case OutcomeLockedOut:
		return verdict{"deny", "locked_out", "Your account is locked out due to excessive authentication failures", "denied", "locked_out", "not_available", false}
	case OutcomeEnrollRequired:
		return verdict{"deny", "deny", "Enrollment is required to log in", "denied", "deny_unenrolled_user", "not_available", false}
	case OutcomeBypass:
		return verdict{"allow", "bypass", "Login Successful", "success", "bypass_user", "not_available", false}
	default: // allow, wrong user, slow, an approved prompt
		return verdict{"allow", "allow", "Login Successful", "success", "user_approved", "duo_push", true}
	}
}
