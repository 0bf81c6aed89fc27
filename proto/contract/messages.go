package contract

import "time"

// The Go form of every message of proto/duo/v1/duo.proto, with the same
// names. Times are time.Time (the zero time when the wire's unix seconds are
// 0); a test checks that every proto field has its Go field and back.

// Actor is who performs a change, for the plugin's audit log, and what
// they may do: the plugin enforces Role on every call that carries an
// actor.
type Actor struct {
	ID       string
	Username string
	IP       string
	Role     Role
}

// String names the actor for logs: the username, else the id.
func (a Actor) String() string {
	if a.Username != "" {
		return a.Username
	}
	return a.ID
}

// Operator is a helpdesk operator (agent), as the host knows them.
type Operator struct {
	ID       string
	Username string
	Email    string
	// Role is the operator's role in the host: the enforce_roles setting
	// requires Duo of chosen roles, and the help desk acts only on agents.
	Role Role
	// ServiceAccount marks an API or service account (no interactive
	// login). It skips Duo only while an admin allows the exemption; each
	// exempt login is audited.
	ServiceAccount bool
}

// Text is a message for a person as a stable id and its parameters, so a
// host can translate it; the Message string beside it is the English text.
// Texts lists every id with its English template.
type Text struct {
	ID   TextID
	Args map[string]string
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

// ActivateRequest is the argument of Lifecycle.Activate.
type ActivateRequest struct {
	Host HostInfo
	// CallbackURL is the host's URL that Duo redirects back to after the
	// Universal Prompt: https, or http on a loopback address; at most 256
	// characters (Duo's limit).
	CallbackURL string
	// DataDir is the directory the plugin owns for its database and key.
	DataDir string
	Actor   Actor
}

// ActivateResponse is the answer of Lifecycle.Activate.
type ActivateResponse struct {
	Status StatusResponse
}

// DeactivateRequest is the argument of Lifecycle.Deactivate.
type DeactivateRequest struct {
	Actor Actor
}

// DeactivateResponse is the answer of Lifecycle.Deactivate.
type DeactivateResponse struct{}

// UninstallRequest is the argument of Lifecycle.Uninstall.
type UninstallRequest struct {
	// Confirm must equal PluginID.
	Confirm string
	Actor   Actor
	// DataDir is used only when the plugin was never activated in this
	// process: the directory to clean.
	DataDir string
}

// UninstallResponse is the answer of Lifecycle.Uninstall.
type UninstallResponse struct {
	// Removed lists the paths removed, in the order they were removed.
	Removed []string
}

// StatusRequest is the argument of Lifecycle.Status.
type StatusRequest struct{}

// DuoHealth is the result of the plugin's last Duo health check of its
// saved settings.
type DuoHealth struct {
	// Checked is false until a health check has run in this plugin process.
	Checked bool
	OK      bool
	// CheckedAt is when the check finished; the zero time when !Checked.
	CheckedAt time.Time
	// Detail is a short, non-secret sentence for an admin.
	Detail string
	// Failure is the kind of failure; empty when OK.
	Failure DuoFailure
	// Latency is how long the last check took.
	Latency time.Duration
	// ConsecutiveFailures counts checks that failed in a row; 0 after a
	// success.
	ConsecutiveFailures int32
}

// LoginCounts counts logins over a recent window, from the authentication
// log.
type LoginCounts struct {
	Window time.Duration
	// Allowed: signed in by Duo or a code.
	Allowed int64
	Denied  int64
	// FailOpen: Duo skipped because it was unreachable in fail-open mode.
	FailOpen int64
	// Exempt: service accounts let through by the exemption.
	Exempt int64
}

// StatusResponse describes the plugin.
type StatusResponse struct {
	Active        bool
	SchemaVersion int64
	// Configured is whether every required Duo setting is set.
	Configured    bool
	PluginVersion string
	Duo           DuoHealth
	// Logins counts the last 24 hours; zero while inactive.
	Logins LoginCounts
	// ProtocolMinor is the minor version of the protocol the plugin speaks
	// (ProtocolMinor of its build), set by the contract's server adapter:
	// 0 from a plugin of protocol 1.0, which predates the field.
	ProtocolMinor uint32
}

// GetSettingsRequest is the argument of Settings.GetSettings.
type GetSettingsRequest struct {
	Actor Actor
}

// GetSettingsResponse holds the settings keyed as in plugin.json's
// settings_schema. Secrets are never returned: SecretSet says whether each
// secret setting has a stored value.
type GetSettingsResponse struct {
	Values    map[string]string
	SecretSet map[string]bool
}

// UpdateSettingsRequest is the argument of Settings.UpdateSettings.
type UpdateSettingsRequest struct {
	// Values are keyed as in plugin.json's settings_schema. A secret left
	// empty keeps the stored one. It holds secrets: never log it.
	Values map[string]string
	// SkipDuoCheck saves without the live credential check (offline set-up).
	SkipDuoCheck bool
	Actor        Actor
}

// FieldError is a setting that failed validation.
type FieldError struct {
	Field   string
	Reason  FieldReason
	Message string
	// Text is Message, translatable.
	Text Text
}

// UpdateSettingsResponse is the answer of Settings.UpdateSettings. When any
// field fails, nothing is saved and every field error is listed.
type UpdateSettingsResponse struct {
	Saved  bool
	Errors []FieldError
	// Duo is the health check of the submitted settings, when one ran.
	Duo DuoHealth
}

// CheckDuoRequest is the argument of Settings.CheckDuo.
type CheckDuoRequest struct {
	Actor Actor
}

// CheckDuoResponse is the answer of Settings.CheckDuo.
type CheckDuoResponse struct {
	Duo DuoHealth
}

// OperatorState is the plugin's record of one operator. Times are the zero
// time when the plugin has none.
type OperatorState struct {
	OperatorID string
	Enabled    bool
	Username   string
	Email      string
	// DuoAlias is the Duo username used instead of the derived one; empty
	// if none.
	DuoAlias   string
	EnrolledAt time.Time
	ChangedBy  string
	ChangedAt  time.Time
	LastLogin  time.Time
	// BackupCodesLeft counts unused backup codes; 0 before the first set.
	BackupCodesLeft int32
	// BackupCodesIssuedAt is when the current set was issued.
	BackupCodesIssuedAt time.Time
	// BackupCodesLow: few codes are left (the backup_codes_low_at setting).
	BackupCodesLow bool
	// Requirement is whether Duo is asked at the next login, and why: from
	// the toggle, the enforcement settings and the role the host gave.
	Requirement Requirement
	// Locked: too many failed second-factor attempts; every login is
	// refused until someone unlocks the operator or LockedUntil passes.
	Locked   bool
	LockedAt time.Time
	// LockedUntil is the zero time when only an unlock ends the lockout.
	LockedUntil time.Time
	// FailedAttempts counts failed second-factor attempts since the last
	// success or unlock.
	FailedAttempts int32
}

// SetOperatorEnabledRequest is the argument of Operators.SetOperatorEnabled.
type SetOperatorEnabledRequest struct {
	Operator Operator
	Enabled  bool
	Actor    Actor
}

// SetOperatorEnabledResponse is the answer of Operators.SetOperatorEnabled.
type SetOperatorEnabledResponse struct {
	State OperatorState
}

// GetOperatorStatesRequest is the argument of Operators.GetOperatorStates.
type GetOperatorStatesRequest struct {
	OperatorIDs []string
	Actor       Actor
	// Operators as the host knows them (role, service account), so the
	// requirement of each is told; answered after OperatorIDs, in order.
	Operators []Operator
}

// GetOperatorStatesResponse holds one state per id asked, in order.
type GetOperatorStatesResponse struct {
	States []OperatorState
}

// ListEnabledOperatorsRequest is the argument of
// Operators.ListEnabledOperators.
type ListEnabledOperatorsRequest struct {
	// PageSize 0 lets the plugin choose.
	PageSize int32
	// PageToken is opaque; empty for the first page.
	PageToken string
	Actor     Actor
}

// ListEnabledOperatorsResponse is one page of enabled operators.
type ListEnabledOperatorsResponse struct {
	States []OperatorState
	// NextPageToken is empty on the last page.
	NextPageToken string
}

// SetOperatorAliasRequest is the argument of Operators.SetOperatorAlias.
type SetOperatorAliasRequest struct {
	Operator Operator
	DuoAlias string
	Actor    Actor
}

// SetOperatorAliasResponse is the answer of Operators.SetOperatorAlias.
type SetOperatorAliasResponse struct {
	State OperatorState
}

// UnlockOperatorRequest is the argument of Operators.UnlockOperator.
type UnlockOperatorRequest struct {
	// Operator, with the role the host gives it: the help desk unlocks
	// agents only.
	Operator Operator
	Actor    Actor
}

// UnlockOperatorResponse is the answer of Operators.UnlockOperator.
type UnlockOperatorResponse struct {
	State OperatorState
}

// BeginLoginRequest is the argument of Login.BeginLogin.
type BeginLoginRequest struct {
	Operator Operator
	Client   ClientInfo
}

// BeginLoginResponse is the answer of Login.BeginLogin: DecisionNotRequired,
// DecisionRedirect (with RedirectURL and State) or DecisionDenied (with
// Reason and Message). The client adapter refuses any other answer.
type BeginLoginResponse struct {
	Decision    LoginDecision
	RedirectURL string
	// State must be kept in the operator's pre-auth session, server side,
	// and handed back to CompleteLogin as SessionState. It is a secret:
	// never log it or put it in a URL of your own.
	State string
	// Reason is set for DecisionDenied, and for DecisionNotRequired when Duo
	// was skipped by the fail-open setting (LoginReasonFailOpen).
	Reason LoginReason
	// Message is safe to show the operator.
	Message string
	// Text is Message, translatable.
	Text Text
}

// CompleteLoginRequest is the argument of Login.CompleteLogin.
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

// CompleteLoginResponse is the answer of Login.CompleteLogin and of the
// recovery calls that end a login: DecisionAllowed, DecisionDenied with
// Reason and Message, or DecisionConfirmBackupCodes with BackupCodes and
// BackupCodesTicket.
type CompleteLoginResponse struct {
	Decision LoginDecision
	// Reason is for logs, not for the browser.
	Reason LoginReason
	// Message is safe to show the operator.
	Message string
	// BackupCodes are shown to the operator once, with
	// DecisionConfirmBackupCodes. Secrets: never log or store them.
	BackupCodes []string
	// BackupCodesTicket confirms them (Recovery.ConfirmBackupCodes); a
	// secret, kept server side in the pre-auth session.
	BackupCodesTicket string
	// Text is Message, translatable.
	Text Text
}

// ConfirmBackupCodesRequest is the argument of Recovery.ConfirmBackupCodes.
type ConfirmBackupCodesRequest struct {
	Operator Operator
	Ticket   string
	Client   ClientInfo
}

// RedeemCodeRequest is the argument of Recovery.RedeemCode.
type RedeemCodeRequest struct {
	Operator Operator
	// Code is what the operator typed: spaces, dashes and case are
	// forgiven.
	Code   string
	Client ClientInfo
}

// RegenerateBackupCodesRequest is the argument of
// Recovery.RegenerateBackupCodes.
type RegenerateBackupCodesRequest struct {
	Operator Operator
	Actor    Actor
}

// RegenerateBackupCodesResponse holds the new codes, shown once.
type RegenerateBackupCodesResponse struct {
	BackupCodes []string
	State       OperatorState
}

// BypassCode describes an issued bypass code, never the code itself.
type BypassCode struct {
	ID         string
	OperatorID string
	IssuedBy   string
	IssuedAt   time.Time
	UsesLeft   int32
	ExpiresAt  time.Time
	// RevokedAt is the zero time unless revoked.
	RevokedAt time.Time
}

// IssueBypassCodeRequest is the argument of Recovery.IssueBypassCode.
type IssueBypassCodeRequest struct {
	Operator Operator
	// Uses 0 takes the default (1).
	Uses int32
	// LifetimeSeconds 0 takes the default (one hour).
	LifetimeSeconds int64
	Actor           Actor
	// OperatorRole is Operator's role in the host. The help desk may issue
	// codes only for agents: never for an administrator, another help-desk
	// member, or an operator whose role is unspecified.
	OperatorRole Role
}

// IssueBypassCodeResponse holds the code, shown once.
type IssueBypassCodeResponse struct {
	Code       string
	BypassCode BypassCode
}

// ListBypassCodesRequest is the argument of Recovery.ListBypassCodes.
type ListBypassCodesRequest struct {
	OperatorID string
	Actor      Actor
}

// ListBypassCodesResponse lists an operator's bypass codes, newest first.
type ListBypassCodesResponse struct {
	BypassCodes []BypassCode
}

// RevokeBypassCodeRequest is the argument of Recovery.RevokeBypassCode.
type RevokeBypassCodeRequest struct {
	OperatorID string
	ID         string
	Actor      Actor
}

// RevokeBypassCodeResponse is the revoked code.
type RevokeBypassCodeResponse struct {
	BypassCode BypassCode
}

// CreateRecoveryLinkRequest is the argument of Recovery.CreateRecoveryLink.
type CreateRecoveryLinkRequest struct {
	Operator Operator
	Actor    Actor
}

// CreateRecoveryLinkResponse holds the token to put in the link (a
// secret) and when it expires.
type CreateRecoveryLinkResponse struct {
	Token     string
	ExpiresAt time.Time
}

// RedeemRecoveryLinkRequest is the argument of Recovery.RedeemRecoveryLink.
type RedeemRecoveryLinkRequest struct {
	Operator Operator
	Token    string
	Client   ClientInfo
}

// Notice is one change of an operator's second factor.
type Notice struct {
	ID         int64
	At         time.Time
	OperatorID string
	Kind       NoticeKind
	// Actor is who did it, when it was not the operator.
	Actor string
}

// ListNoticesRequest is the argument of Recovery.ListNotices.
type ListNoticesRequest struct {
	// AfterID: notices with a greater id; 0 for the first.
	AfterID int64
	Limit   int32
	Actor   Actor
}

// ListNoticesResponse is one page of notices, oldest first.
type ListNoticesResponse struct {
	Notices []Notice
}

// AuthEvent is one event of the authentication log. It never holds a
// secret, a code or a state.
type AuthEvent struct {
	ID         int64
	At         time.Time
	Kind       string
	OperatorID string
	ActorID    string
	Actor      string
	ActorRole  string
	ClientIP   string
	UserAgent  string
	Outcome    string
	Reason     string
	Detail     string
}

// AuthEventFilter selects events; zero fields select everything.
type AuthEventFilter struct {
	OperatorID string
	// Kinds and Outcomes: any of these; none selects every one.
	Kinds    []string
	Outcomes []string
	// FromUnix and ToUnix bound [from, to) in Unix seconds; 0 leaves that
	// end open.
	FromUnix int64
	ToUnix   int64
}

// ListAuthEventsRequest is the argument of AuthLog.ListAuthEvents.
type ListAuthEventsRequest struct {
	Filter AuthEventFilter
	// PageSize 0 lets the plugin choose (50); at most 500.
	PageSize int32
	// PageToken is opaque; empty for the first page.
	PageToken string
	Actor     Actor
}

// ListAuthEventsResponse is one page of events, newest first.
type ListAuthEventsResponse struct {
	Events []AuthEvent
	// NextPageToken is empty on the last page.
	NextPageToken string
}

// ExportAuthEventsRequest is the argument of AuthLog.ExportAuthEvents.
type ExportAuthEventsRequest struct {
	Filter AuthEventFilter
	Format ExportFormat
	Actor  Actor
}

// ExportChunk is one piece of an export; the pieces end to end are the
// whole file.
type ExportChunk struct {
	Data []byte
}

// GetMetricsRequest is the argument of Metrics.GetMetrics.
type GetMetricsRequest struct{}

// GetMetricsResponse holds the plugin's metric families in Prometheus's
// length-delimited protobuf exposition format.
type GetMetricsResponse struct {
	Families []byte
}
