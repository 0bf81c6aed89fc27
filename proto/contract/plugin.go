package contract

import "context"

// Plugin is every call a host can make to the Duo Security plugin, one
// method per RPC of the wire contract. The plugin process implements it;
// the host SDK's *host.Plugin implements it too, adding supervision,
// deadlines and fail-closed errors.
//
// Every method honours ctx (its deadline travels to the plugin), and fails
// with an error for which ReasonOf names the cause. Problems a person must
// fix (a refused setting, a denied login) are not errors: they come back in
// the response.
type Plugin interface {
	Lifecycle
	Settings
	Operators
	Login
	Recovery
	AuthLog
	Metrics
}

// Lifecycle activates, deactivates and uninstalls the plugin.
type Lifecycle interface {
	// Activate opens (or creates) the plugin's store in DataDir, applies its
	// migrations and creates its secrets key. Idempotent with the same
	// DataDir; another DataDir while active fails with ReasonDataDirMismatch.
	Activate(ctx context.Context, req ActivateRequest) (ActivateResponse, error)
	// Deactivate stops the plugin answering hooks; every setting and record
	// is kept. Idempotent.
	Deactivate(ctx context.Context, req DeactivateRequest) (DeactivateResponse, error)
	// Uninstall removes everything the plugin stored. It is irreversible and
	// refused while active (ReasonActive) or when Confirm is not PluginID
	// (ReasonConfirmation).
	Uninstall(ctx context.Context, req UninstallRequest) (UninstallResponse, error)
	// Status answers in every state, from memory, so hosts may poll it.
	Status(ctx context.Context, req StatusRequest) (StatusResponse, error)
}

// Settings reads and changes the plugin's Duo settings. Valid only while
// the plugin is active (else ReasonInactive).
type Settings interface {
	// GetSettings returns the values keyed as in plugin.json's
	// settings_schema; secrets are never returned.
	GetSettings(ctx context.Context, req GetSettingsRequest) (GetSettingsResponse, error)
	// UpdateSettings validates every field and, unless SkipDuoCheck, checks
	// the credentials with Duo before saving. On any problem nothing is
	// saved and every field error comes back at once.
	UpdateSettings(ctx context.Context, req UpdateSettingsRequest) (UpdateSettingsResponse, error)
	// CheckDuo runs Duo's health check with the saved settings.
	CheckDuo(ctx context.Context, req CheckDuoRequest) (CheckDuoResponse, error)
}

// Operators turns Duo on and off per operator. Valid only while the plugin
// is active.
type Operators interface {
	// SetOperatorEnabled turns Duo on or off for one operator. Operators
	// turning their own Duo off: never while it is enforced for them
	// (ReasonPermission), and only within 10 minutes of a sign-in with Duo
	// itself (else ReasonReauthenticate).
	SetOperatorEnabled(ctx context.Context, req SetOperatorEnabledRequest) (SetOperatorEnabledResponse, error)
	// GetOperatorStates answers for every id asked, in order; unknown ids
	// are disabled.
	GetOperatorStates(ctx context.Context, req GetOperatorStatesRequest) (GetOperatorStatesResponse, error)
	ListEnabledOperators(ctx context.Context, req ListEnabledOperatorsRequest) (ListEnabledOperatorsResponse, error)
	// SetOperatorAlias sets the Duo username used for one operator; an empty
	// alias clears it. An alias another operator already resolves to is
	// refused (ReasonInvalidArgument).
	SetOperatorAlias(ctx context.Context, req SetOperatorAliasRequest) (SetOperatorAliasResponse, error)
	// UnlockOperator lifts a lockout and resets the failure count (admin;
	// help desk for agents, Operator.Role saying which).
	UnlockOperator(ctx context.Context, req UnlockOperatorRequest) (UnlockOperatorResponse, error)
}

// Login is the second factor of a sign-in. Valid only while the plugin is
// active.
//
// Fail closed: a host signs the operator in only on a nil error from
// CompleteLogin and DecisionAllowed. Any error, and any decision other than
// DecisionNotRequired or DecisionRedirect from BeginLogin, refuses the
// login.
type Login interface {
	// BeginLogin is called after a correct password.
	BeginLogin(ctx context.Context, req BeginLoginRequest) (BeginLoginResponse, error)
	// CompleteLogin is called from the host's Duo callback.
	CompleteLogin(ctx context.Context, req CompleteLoginRequest) (CompleteLoginResponse, error)
}

// Recovery is what brings back an operator who lost their second factor:
// backup codes, bypass codes and recovery links, and the notices of
// second-factor changes. Valid only while the plugin is active.
type Recovery interface {
	// ConfirmBackupCodes issues the codes shown with
	// DecisionConfirmBackupCodes (replacing any older set) and answers
	// DecisionAllowed, once per ticket.
	ConfirmBackupCodes(ctx context.Context, req ConfirmBackupCodesRequest) (CompleteLoginResponse, error)
	// RedeemCode is the second factor by a backup or bypass code instead of
	// Duo. Call it only after a correct password.
	RedeemCode(ctx context.Context, req RedeemCodeRequest) (CompleteLoginResponse, error)
	// RegenerateBackupCodes replaces the operator's backup codes at once.
	// Only the operator, within minutes of a full login: a sign-in with
	// Duo, which the plugin itself recorded (a backup or bypass code is not
	// one); else REAUTHENTICATE.
	RegenerateBackupCodes(ctx context.Context, req RegenerateBackupCodesRequest) (RegenerateBackupCodesResponse, error)
	// IssueBypassCode issues a code for one operator (an admin within the
	// limits the settings set; the help desk within the defaults).
	IssueBypassCode(ctx context.Context, req IssueBypassCodeRequest) (IssueBypassCodeResponse, error)
	ListBypassCodes(ctx context.Context, req ListBypassCodesRequest) (ListBypassCodesResponse, error)
	RevokeBypassCode(ctx context.Context, req RevokeBypassCodeRequest) (RevokeBypassCodeResponse, error)
	// CreateRecoveryLink issues a single-use token for one operator (admin
	// only); the host delivers the link.
	CreateRecoveryLink(ctx context.Context, req CreateRecoveryLinkRequest) (CreateRecoveryLinkResponse, error)
	// RedeemRecoveryLink signs the operator in once and resets their second
	// factor. Call it only after the operator's password was checked.
	RedeemRecoveryLink(ctx context.Context, req RedeemRecoveryLinkRequest) (CompleteLoginResponse, error)
	// ListNotices pages through second-factor changes (admin or system).
	ListNotices(ctx context.Context, req ListNoticesRequest) (ListNoticesResponse, error)
}

// AuthLog reads the authentication log: every login step, change and
// refusal, with who, from where and why. Admin or system; valid only while
// the plugin is active.
type AuthLog interface {
	// ListAuthEvents pages through the events the filter selects, newest
	// first. A filter that makes no sense (to before from, an unknown
	// outcome, a page size over 500) is ReasonInvalidArgument.
	ListAuthEvents(ctx context.Context, req ListAuthEventsRequest) (ListAuthEventsResponse, error)
	// ExportAuthEvents streams every event the filter selects, oldest
	// first, as CSV or JSON lines: send is called with each chunk in order,
	// and an error from send (the reader went away) ends the export. Memory
	// stays flat at any size.
	ExportAuthEvents(ctx context.Context, req ExportAuthEventsRequest, send func(ExportChunk) error) error
}

// Metrics reports the plugin's Prometheus metrics, in every state.
type Metrics interface {
	GetMetrics(ctx context.Context, req GetMetricsRequest) (GetMetricsResponse, error)
}
