package contract

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
)

// ErrorReason is the machine-readable cause of a failed call. On the wire
// it travels in a google.rpc.ErrorInfo detail (domain ErrorDomain) of the
// gRPC status.
type ErrorReason string

// Error reasons. Hosts branch on these, never on messages.
const (
	ReasonInactive        ErrorReason = "PLUGIN_INACTIVE"       // the plugin is deactivated: activate it first
	ReasonActive          ErrorReason = "PLUGIN_ACTIVE"         // uninstall while active: deactivate first
	ReasonConfirmation    ErrorReason = "CONFIRMATION_MISMATCH" // uninstall confirmation does not name the plugin
	ReasonInvalidArgument ErrorReason = "INVALID_ARGUMENT"      // a request field is malformed
	ReasonSchemaTooNew    ErrorReason = "SCHEMA_TOO_NEW"        // the database was written by a newer plugin
	ReasonDataDirMismatch ErrorReason = "DATA_DIR_MISMATCH"     // activate with another data dir while active
	ReasonStorage         ErrorReason = "STORAGE"               // the database or key file failed
	ReasonInternal        ErrorReason = "INTERNAL"              // a bug, or an answer that breaks the contract; details in the logs
	ReasonPermission      ErrorReason = "PERMISSION_DENIED"     // the actor's role does not allow the call
	ReasonNotFound        ErrorReason = "NOT_FOUND"             // no such bypass code (for this operator)
	ReasonReauthenticate  ErrorReason = "REAUTHENTICATE"        // the operator must sign in with Duo again first
	ReasonNoBackupCodes   ErrorReason = "NO_BACKUP_CODES"       // no set to replace: the first comes with the first Duo sign-in

	// Set by the client side, never sent by the plugin.
	ReasonPluginUnavailable ErrorReason = "PLUGIN_UNAVAILABLE" // the plugin process is down or unreachable
	ReasonDeadline          ErrorReason = "DEADLINE_EXCEEDED"  // the call took too long
	ReasonCanceled          ErrorReason = "CANCELED"           // the caller cancelled the call
	ReasonUnimplemented     ErrorReason = "UNIMPLEMENTED"      // the plugin does not serve this RPC: it is older than the host's contract
	ReasonUnknown           ErrorReason = "UNKNOWN"            // an error without a reason
)

// ErrorDomain is the google.rpc.ErrorInfo domain of the plugin's errors.
const ErrorDomain = "duo-plugin"

// Error is a failed call: a reason hosts branch on and a message for logs
// and administrators (not for operators at the login page). The plugin
// returns it from its methods; the adapters carry Reason and Message across
// the boundary, never Cause.
type Error struct {
	Reason  ErrorReason
	Message string
	// Text is Message, translatable, when the plugin wrote it for a person
	// (an administrator reading a refusal); the zero Text otherwise.
	Text Text
	// Cause is what went wrong underneath, for the log of the side that
	// saw it. It never crosses the boundary.
	Cause error
}

// Errorf returns an *Error with a formatted message.
func Errorf(reason ErrorReason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Error formats reason, message and cause.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("duo plugin: %s: %s: %v", e.Reason, e.Message, e.Cause)
	}
	return fmt.Sprintf("duo plugin: %s: %s", e.Reason, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// ReasonOf returns the reason of the first *Error in err's chain, "" for
// nil, and ReasonUnknown for any other error.
func ReasonOf(err error) ErrorReason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonUnknown
}

// code is the gRPC status code a reason travels with.
func (r ErrorReason) code() codes.Code {
	switch r {
	case ReasonInactive, ReasonActive, ReasonSchemaTooNew, ReasonDataDirMismatch, ReasonReauthenticate, ReasonNoBackupCodes:
		return codes.FailedPrecondition
	case ReasonConfirmation, ReasonInvalidArgument:
		return codes.InvalidArgument
	case ReasonPermission:
		return codes.PermissionDenied
	case ReasonNotFound:
		return codes.NotFound
	case ReasonPluginUnavailable:
		return codes.Unavailable
	case ReasonDeadline:
		return codes.DeadlineExceeded
	case ReasonCanceled:
		return codes.Canceled
	case ReasonUnimplemented:
		return codes.Unimplemented
	default:
		return codes.Internal
	}
}

// reasonForCode names the failure of a call whose status carries no reason
// of ours: transport failures and go-plugin's own answers.
func reasonForCode(c codes.Code) ErrorReason {
	switch c {
	case codes.Unavailable:
		return ReasonPluginUnavailable
	case codes.DeadlineExceeded:
		return ReasonDeadline
	case codes.Canceled:
		return ReasonCanceled
	case codes.Unimplemented:
		// gRPC's own answer for a service or method the server does not
		// register: a plugin older than this contract.
		return ReasonUnimplemented
	default:
		return ReasonUnknown
	}
}
