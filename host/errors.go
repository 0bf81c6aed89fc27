package host

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// ErrUnavailable means the plugin process is down, restarting, failed, closed,
// or did not answer in time. Treat it as deny: a login that needs Duo must
// be refused while the plugin cannot vouch for it.
//
// Every call made while the plugin is not running returns an error matching
// ErrUnavailable at once, without waiting for a restart. gRPC Unavailable and
// DeadlineExceeded answers, connection errors and the SDK's own call deadline
// match it too.
var ErrUnavailable = errors.New("duo plugin unavailable")

// ErrClosed is returned (wrapped, and matching ErrUnavailable too) by calls
// made after Close.
var ErrClosed = errors.New("duo plugin closed")

// ErrChecksumMismatch means the plugin executable's SHA-256 differs from the
// one in the manifest: the binary was replaced or corrupted. Start refuses to
// run it, and the supervisor refuses to restart it.
var ErrChecksumMismatch = errors.New("plugin executable does not match the manifest's sha256")

// ErrUnverified means the manifest has no sha256 for the executable and
// Options.AllowUnverified is not set.
var ErrUnverified = errors.New("manifest has no sha256 for the plugin executable")

// ErrNoExecutable means the manifest has no usable executable for this
// platform: no entry, or the file is missing or not executable.
var ErrNoExecutable = errors.New("no usable plugin executable")

// ErrHostTooOld means the manifest's min_host_version is newer than
// Options.HostVersion.
var ErrHostTooOld = errors.New("host version is older than the plugin's min_host_version")

// Error is a failure the plugin reported: the call reached the plugin and it
// refused it, for a machine-readable Reason (for example
// contract.ReasonInactive when the plugin is not active). Branch on Reason,
// never on Message.
type Error struct {
	// Code is the gRPC status code name, for example "FailedPrecondition".
	Code string
	// Reason is the machine-readable cause; contract.ReasonUnknown when the
	// plugin gave none.
	Reason contract.Reason
	// Message is the plugin's description. It is meant for logs and
	// administrators, not for operators at the login page.
	Message string
}

// Error formats code, reason and message.
func (e *Error) Error() string {
	return fmt.Sprintf("duo plugin: %s (%s): %s", e.Code, e.Reason, e.Message)
}

// ReasonOf returns the machine-readable reason of an error from this package:
// the plugin's reason for an *Error, contract.ReasonPluginUnavailable or
// contract.ReasonDeadline for errors matching ErrUnavailable, "" for nil and
// contract.ReasonUnknown for anything else.
func ReasonOf(err error) contract.Reason {
	if err == nil {
		return ""
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return ue.reason
	}
	if errors.Is(err, ErrUnavailable) {
		return contract.ReasonPluginUnavailable
	}
	return contract.ReasonOf(err)
}

// unavailableError matches ErrUnavailable and carries the reason and the
// underlying cause.
type unavailableError struct {
	reason contract.Reason
	msg    string
	cause  error
}

func (e *unavailableError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", ErrUnavailable, e.msg, e.cause)
	}
	return fmt.Sprintf("%s: %s", ErrUnavailable, e.msg)
}

func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
func (e *unavailableError) Unwrap() error        { return e.cause }

func unavailable(reason contract.Reason, msg string, cause error) error {
	return &unavailableError{reason: reason, msg: msg, cause: cause}
}

// fromCallError turns what a gRPC call returned into this package's errors.
// parent is the caller's context: when the caller cancelled it, the error
// says so rather than blaming the plugin.
func fromCallError(parent context.Context, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.DeadlineExceeded) {
			return unavailable(contract.ReasonDeadline, "no answer in time", err)
		}
		if errors.Is(err, context.Canceled) && parent.Err() != nil {
			return fmt.Errorf("call cancelled: %w", context.Cause(parent))
		}
		return unavailable(contract.ReasonPluginUnavailable, "transport error", err)
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return unavailable(contract.ReasonDeadline, "no answer in time", err)
	case codes.Canceled:
		if parent.Err() == context.Canceled {
			return fmt.Errorf("call cancelled: %w", context.Canceled)
		}
		return unavailable(contract.ReasonPluginUnavailable, "call cancelled by the transport", err)
	case codes.Unavailable:
		return unavailable(contract.ReasonPluginUnavailable, "plugin not reachable", err)
	}
	return &Error{Code: st.Code().String(), Reason: contract.ReasonOf(err), Message: st.Message()}
}

// protocolError reports an answer that breaks the contract (for example a
// REDIRECT without a URL). It is an error so that it can only ever deny.
func protocolError(format string, args ...any) error {
	return &Error{Code: codes.Internal.String(), Reason: contract.ReasonInternal, Message: "contract violation: " + fmt.Sprintf(format, args...)}
}
