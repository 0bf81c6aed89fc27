package host

import (
	"fmt"
	"time"
)

// Operator is a helpdesk operator (agent), as the host knows them.
type Operator struct {
	ID       string
	Username string
	Email    string
}

// Actor is who performs a change, for the plugin's audit log.
type Actor struct {
	ID       string
	Username string
	IP       string
}

// HostInfo names the helpdesk the plugin runs in.
type HostInfo struct {
	Name    string
	Version string
}

// ClientInfo describes the operator's browser, for the audit log.
type ClientInfo struct {
	IP        string
	UserAgent string
}

// ActivateRequest is the argument of Plugin.Activate.
type ActivateRequest struct {
	Host HostInfo
	// CallbackURL is the host's URL that Duo redirects back to after the
	// Universal Prompt.
	CallbackURL string
	// DataDir is the directory the plugin owns for its database and key.
	DataDir string
	Actor   Actor
}

// UninstallRequest is the argument of Plugin.Uninstall.
type UninstallRequest struct {
	// Confirm must equal the plugin's id (contract.PluginID, "duo-security").
	Confirm string
	Actor   Actor
	// DataDir is used only when the plugin was never activated in this
	// process: the directory to clean.
	DataDir string
}

// DuoHealth is the result of the plugin's last Duo health check.
type DuoHealth struct {
	// Checked is false until a health check has run in this plugin process.
	Checked bool
	OK      bool
	// CheckedAt is the zero time when Checked is false.
	CheckedAt time.Time
	// Detail is a short, non-secret description of the last failure.
	Detail string
}

// Status describes the plugin.
type Status struct {
	Active        bool
	SchemaVersion int64
	// Configured is whether every required Duo setting is set.
	Configured    bool
	PluginVersion string
	Duo           DuoHealth
}

// Settings are the plugin's settings, keyed as in the manifest's
// settings_schema. Secrets are never returned: SecretSet says whether each
// secret setting has a stored value.
type Settings struct {
	Values    map[string]string
	SecretSet map[string]bool
}

// UpdateSettingsRequest is the argument of Plugin.UpdateSettings.
type UpdateSettingsRequest struct {
	// Values keyed as in the manifest's settings_schema. A secret left empty
	// keeps the stored one.
	Values map[string]string
	// SkipDuoCheck saves without the live credential check (offline set-up).
	SkipDuoCheck bool
	Actor        Actor
}

// FieldError is a setting that failed validation.
type FieldError struct {
	Field string
	// Reason is machine-readable: required, length, format, host, option,
	// range, duo_rejected.
	Reason  string
	Message string
}

// UpdateSettingsResult is the answer of Plugin.UpdateSettings. When any
// field fails, nothing is saved and every field error is listed.
type UpdateSettingsResult struct {
	Saved  bool
	Errors []FieldError
	Duo    DuoHealth
}

// OperatorState is the plugin's record of one operator. Times are the zero
// time when the plugin has none.
type OperatorState struct {
	OperatorID string
	Enabled    bool
	Username   string
	Email      string
	// DuoAlias is the Duo username used instead of the derived one; empty if
	// none.
	DuoAlias   string
	EnrolledAt time.Time
	ChangedAt  time.Time
	LastLogin  time.Time
	ChangedBy  string
}

// LoginDecision is the plugin's answer to a login step.
//
// The zero value, DecisionUnspecified, and any value not listed here mean
// deny.
type LoginDecision int

// Login decisions.
const (
	// DecisionUnspecified is never a valid answer: treat it as deny.
	DecisionUnspecified LoginDecision = iota
	// DecisionNotRequired (BeginLogin): Duo is not required for this
	// operator; go on with the host's own second factor, if any.
	DecisionNotRequired
	// DecisionRedirect (BeginLogin): keep State in the operator's pre-auth
	// session and send the browser to RedirectURL.
	DecisionRedirect
	// DecisionDenied: refuse the login.
	DecisionDenied
	// DecisionAllowed (CompleteLogin): Duo vouched for the operator; log
	// them in.
	DecisionAllowed
)

// String returns the decision in lower case, for logs.
func (d LoginDecision) String() string {
	switch d {
	case DecisionUnspecified:
		return "unspecified"
	case DecisionNotRequired:
		return "not_required"
	case DecisionRedirect:
		return "redirect"
	case DecisionDenied:
		return "denied"
	case DecisionAllowed:
		return "allowed"
	default:
		return fmt.Sprintf("decision(%d)", int(d))
	}
}

// BeginLoginResult is the answer of Plugin.BeginLogin: Decision is
// DecisionNotRequired, DecisionRedirect (with RedirectURL and State) or
// DecisionDenied (with Reason and Message).
type BeginLoginResult struct {
	Decision    LoginDecision
	RedirectURL string
	// State must be kept in the operator's pre-auth session, server side,
	// and handed back to CompleteLogin as SessionState. It is a secret: never
	// log it or put it in a URL of your own.
	State string
	// Reason is machine-readable (for example duo_unavailable).
	Reason string
	// Message is safe to show the operator.
	Message string
}

// CompleteLoginRequest is the argument of Plugin.CompleteLogin.
type CompleteLoginRequest struct {
	Operator Operator
	// SessionState is the State BeginLogin returned, from the operator's
	// pre-auth session.
	SessionState string
	// CallbackState is the state query parameter of Duo's callback.
	CallbackState string
	// DuoCode is the duo_code query parameter of Duo's callback.
	DuoCode string
	Client  ClientInfo
}

// CompleteLoginResult is the answer of Plugin.CompleteLogin: Decision is
// DecisionAllowed or DecisionDenied (with Reason and Message).
type CompleteLoginResult struct {
	Decision LoginDecision
	// Reason is machine-readable; for the log, not for the browser.
	Reason string
	// Message is safe to show the operator.
	Message string
}
