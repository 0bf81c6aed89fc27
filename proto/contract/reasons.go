package contract

import "fmt"

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
	// operator; go on with the host's own second factor, if any. Also the
	// answer when Duo is unreachable and the admin chose fail open
	// (LoginReasonFailOpen).
	DecisionNotRequired
	// DecisionRedirect (BeginLogin): keep State in the operator's pre-auth
	// session and send the browser to RedirectURL.
	DecisionRedirect
	// DecisionDenied: refuse the login.
	DecisionDenied
	// DecisionAllowed (CompleteLogin): Duo vouched for the operator.
	DecisionAllowed
	// DecisionConfirmBackupCodes (CompleteLogin, RedeemCode): the operator's
	// second factor is being set up. Show BackupCodes once; sign in only when
	// ConfirmBackupCodes answers DecisionAllowed.
	DecisionConfirmBackupCodes
)

// known reports whether d is one of the decisions above. Their numbers are
// the wire's; a decision added here must be added to the proto too.
func (d LoginDecision) known() bool {
	return d >= DecisionUnspecified && d <= DecisionConfirmBackupCodes
}

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
	case DecisionConfirmBackupCodes:
		return "confirm_backup_codes"
	default:
		return fmt.Sprintf("decision(%d)", int(d))
	}
}

// LoginReason is why a login was denied, or why Duo was skipped. It is for
// logs and the audit log; the operator's browser gets Message.
type LoginReason string

// Login reasons. Hosts may branch on them; new ones may be added.
const (
	LoginReasonDuoUnavailable     LoginReason = "duo_unavailable"           // Duo unreachable, fail closed
	LoginReasonFailOpen           LoginReason = "duo_unavailable_fail_open" // Duo unreachable, fail open: NOT_REQUIRED
	LoginReasonDuoMisconfigured   LoginReason = "duo_misconfigured"         // Duo rejected the credentials, or its certificate did not verify: denied in both fail modes
	LoginReasonNotConfigured      LoginReason = "not_configured"            // Duo settings incomplete, or no callback URL
	LoginReasonBadDuoUsername     LoginReason = "invalid_duo_username"      // the operator's Duo username is unusable
	LoginReasonDuoUsernameTaken   LoginReason = "duo_username_conflict"     // another operator resolves to the same Duo username
	LoginReasonBadRequest         LoginReason = "invalid_request"           // malformed state or code
	LoginReasonStateMismatch      LoginReason = "state_mismatch"            // session state and callback state differ
	LoginReasonStateUnknown       LoginReason = "state_unknown"             // no pending login has this state
	LoginReasonStateUsed          LoginReason = "state_already_used"        // replay or duplicate callback
	LoginReasonStateExpired       LoginReason = "state_expired"             // the operator took too long
	LoginReasonStateOtherOperator LoginReason = "state_other_operator"      // the state belongs to another operator
	LoginReasonCodeRejected       LoginReason = "duo_code_rejected"         // Duo refused the code, or its token did not verify
	LoginReasonDuoTimeout         LoginReason = "duo_timeout"               // Duo did not answer the code exchange in time
	LoginReasonDuoDenied          LoginReason = "duo_denied"                // Duo's verdict was not allow
	LoginReasonCodeMalformed      LoginReason = "code_malformed"            // what was typed cannot be a code
	LoginReasonCodeWrong          LoginReason = "code_wrong"                // no such code for this operator
	LoginReasonCodeUsed           LoginReason = "code_used"                 // the code was used up
	LoginReasonCodeExpired        LoginReason = "code_expired"              // the bypass code expired
	LoginReasonCodeRevoked        LoginReason = "code_revoked"              // the bypass code was revoked
	LoginReasonTicketUnknown      LoginReason = "ticket_unknown"            // no pending backup codes for this ticket (confirmed, expired or another operator's)
	LoginReasonLinkUnknown        LoginReason = "recovery_link_unknown"     // no such recovery link for this operator
	LoginReasonLinkUsed           LoginReason = "recovery_link_used"        // the recovery link was used
	LoginReasonLinkExpired        LoginReason = "recovery_link_expired"     // the recovery link expired
	LoginReasonNotEnabled         LoginReason = "duo_not_enabled"           // a code for an operator Duo is not required for
	LoginReasonLocked             LoginReason = "operator_locked"           // too many failed second-factor attempts: locked until unlocked
	LoginReasonDuoLockedOut       LoginReason = "duo_locked_out"            // Duo answered that the user is locked out in Duo
	LoginReasonDuoFraud           LoginReason = "duo_fraud"                 // the person marked the Duo request as fraudulent
	LoginReasonExempt             LoginReason = "service_account_exempt"    // NOT_REQUIRED: a service account let through by the exemption
)

// Requirement is whether Duo is asked at an operator's next login, and why.
type Requirement int

// Requirements; the numbers are the wire's.
const (
	RequirementUnspecified  Requirement = iota
	RequirementOff                      // the toggle is off and no enforcement applies
	RequirementEnabled                  // the operator's toggle is on
	RequirementEnforcedAll              // every operator (enforce_all)
	RequirementEnforcedRole             // the operator's role (enforce_roles)
	RequirementExempt                   // a service account the exemption lets through
)

// Required reports whether Duo (or a code) is asked.
func (r Requirement) Required() bool {
	return r == RequirementEnabled || r == RequirementEnforcedAll || r == RequirementEnforcedRole
}

// Enforced reports whether a setting, not the toggle, requires Duo.
func (r Requirement) Enforced() bool {
	return r == RequirementEnforcedAll || r == RequirementEnforcedRole
}

// String names the requirement in lower case.
func (r Requirement) String() string {
	switch r {
	case RequirementOff:
		return "off"
	case RequirementEnabled:
		return "enabled"
	case RequirementEnforcedAll:
		return "enforced_all"
	case RequirementEnforcedRole:
		return "enforced_role"
	case RequirementExempt:
		return "exempt"
	default:
		return "unspecified"
	}
}

// ExportFormat is the file format of AuthLog.ExportAuthEvents.
type ExportFormat int

// Export formats; the numbers are the wire's.
const (
	ExportUnspecified ExportFormat = iota
	ExportCSV                      // RFC 4180 with a header row
	ExportJSONLines                // one JSON object per line
)

// Role is what an actor may do; see the Role* constants.
type Role int

// Roles. The zero value is the least privilege.
const (
	// RoleUnspecified is treated as an agent acting on their own account.
	RoleUnspecified Role = iota
	// RoleAdmin may do everything.
	RoleAdmin
	// RoleHelpDesk sees every operator's second-factor status and issues
	// and revokes bypass codes within the defaults; nothing else.
	RoleHelpDesk
	// RoleAgent acts on their own account only.
	RoleAgent
	// RoleSystem is the host itself (start-up activation, its shell): an
	// admin's rights under its own name.
	RoleSystem
)

// String names the role in lower case.
func (r Role) String() string {
	switch r {
	case RoleUnspecified:
		return "unspecified"
	case RoleAdmin:
		return "admin"
	case RoleHelpDesk:
		return "help_desk"
	case RoleAgent:
		return "agent"
	case RoleSystem:
		return "system"
	default:
		return fmt.Sprintf("role(%d)", int(r))
	}
}

// NoticeKind is what changed in an operator's second factor.
type NoticeKind string

// Notice kinds: every change a host should tell the operator about.
const (
	NoticeDuoEnabled             NoticeKind = "duo_enabled"
	NoticeDuoDisabled            NoticeKind = "duo_disabled"
	NoticeDuoEnrolled            NoticeKind = "duo_enrolled"
	NoticeSecondFactorReset      NoticeKind = "second_factor_reset"
	NoticeBackupCodesIssued      NoticeKind = "backup_codes_issued"
	NoticeBackupCodesRegenerated NoticeKind = "backup_codes_regenerated"
	NoticeBackupCodeUsed         NoticeKind = "backup_code_used"
	NoticeBypassCodeIssued       NoticeKind = "bypass_code_issued"
	NoticeBypassCodeUsed         NoticeKind = "bypass_code_used"
	NoticeRecoveryLinkCreated    NoticeKind = "recovery_link_created"
	NoticeOperatorLocked         NoticeKind = "operator_locked"
	NoticeOperatorUnlocked       NoticeKind = "operator_unlocked"
)

// FieldReason is why a submitted setting was refused.
type FieldReason string

// Field reasons.
const (
	FieldRequired    FieldReason = "required"     // a required setting is empty
	FieldLength      FieldReason = "length"       // wrong length
	FieldFormat      FieldReason = "format"       // wrong characters or shape
	FieldHost        FieldReason = "host"         // not a Duo API hostname
	FieldOption      FieldReason = "option"       // not one of a dropdown's options
	FieldRange       FieldReason = "range"        // a number out of range
	FieldUnknown     FieldReason = "unknown"      // no such setting
	FieldNotAllowed  FieldReason = "not_allowed"  // allowed only in test mode (ca_file)
	FieldDuoRejected FieldReason = "duo_rejected" // Duo refused the credentials, or could not be reached or trusted
)

// DuoFailure is the kind of a failed Duo health check.
type DuoFailure string

// Duo failures. Only DuoUnreachable lets fail open skip Duo: the others
// are configuration (or attack) signals and refuse logins in both modes.
const (
	DuoUnreachable          DuoFailure = "unreachable"           // connection refused, timeout, DNS, 5xx
	DuoCredentialsRejected  DuoFailure = "credentials_rejected"  // Duo refused the Client ID or secret
	DuoCertificateUntrusted DuoFailure = "certificate_untrusted" // the TLS certificate did not verify
	DuoNotConfigured        DuoFailure = "not_configured"        // settings incomplete, or no Duo client
	DuoUnexpected           DuoFailure = "unexpected_answer"     // Duo answered something that makes no sense here
)
