package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// ErrUnavailable means the plugin process is down, restarting, failed,
// closed, or did not answer in time. Treat it as deny: a login that needs
// Duo must be refused while the plugin cannot vouch for it.
//
// Every call made while the plugin is not running returns an error matching
// ErrUnavailable at once, without waiting for a restart; so do transport
// failures and the call deadline. contract.ReasonOf names such an error
// contract.ReasonPluginUnavailable or contract.ReasonDeadline.
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
// platform: no entry, or the file is missing, not executable, or outside the
// bundle.
var ErrNoExecutable = errors.New("no usable plugin executable")

// ErrHostTooOld means the manifest's min_host_version is newer than
// Options.HostVersion.
var ErrHostTooOld = errors.New("host version is older than the plugin's min_host_version")

// ErrUnsupported means the plugin does not serve the call: it is older than
// the contract this SDK was built with (its RPC answered Unimplemented).
// The plugin is up and every other call works; contract.ReasonOf names such
// an error contract.ReasonUnimplemented. Treat it as the feature being
// absent (Plugin.Supports asks ahead); on the login path, as deny, like any
// error.
var ErrUnsupported = errors.New("duo plugin does not support this call")

// ErrIncompatibleProtocol means the plugin speaks no major version of the
// contract this SDK offers (contract.ProtocolVersion): Start refuses it.
// Install a plugin built for this protocol, or a host SDK built for the
// plugin's.
var ErrIncompatibleProtocol = errors.New("duo plugin speaks another protocol version")

// unsupportedError is a *contract.Error that matches ErrUnsupported.
type unsupportedError struct{ err *contract.Error }

func (e *unsupportedError) Error() string        { return ErrUnsupported.Error() + ": " + e.err.Error() }
func (e *unsupportedError) Is(target error) bool { return target == ErrUnsupported }
func (e *unsupportedError) Unwrap() error        { return e.err }

// unavailableError is a *contract.Error that matches ErrUnavailable: the
// host's fail-closed reading of a call that never got a plugin's answer.
type unavailableError struct{ err *contract.Error }

func (e *unavailableError) Error() string        { return ErrUnavailable.Error() + ": " + e.err.Error() }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
func (e *unavailableError) Unwrap() error        { return e.err }

func unavailable(reason contract.ErrorReason, msg string, cause error) error {
	return &unavailableError{err: &contract.Error{Reason: reason, Message: msg, Cause: cause}}
}

// fromCall maps what the contract's client returned. Transport failures
// become ErrUnavailable (fail closed); an RPC the plugin does not serve
// becomes ErrUnsupported; the caller's own cancellation is reported as
// such; the plugin's refusals (*contract.Error) pass through.
func fromCall(parent context.Context, err error) error {
	var ce *contract.Error
	if !errors.As(err, &ce) {
		return unavailable(contract.ReasonPluginUnavailable, "unexpected error", err)
	}
	switch ce.Reason {
	case contract.ReasonPluginUnavailable, contract.ReasonDeadline:
		return &unavailableError{err: ce}
	case contract.ReasonUnimplemented:
		return &unsupportedError{err: ce}
	case contract.ReasonCanceled:
		// The contract's client reports CANCELED only once the call's own
		// context has ended; that context also ends at CallTimeout, so it
		// is the caller's doing only if the caller's ctx (parent) ended.
		if cause := context.Cause(parent); cause != nil {
			return &contract.Error{Reason: contract.ReasonCanceled, Message: "the caller cancelled the call", Cause: cause}
		}
		return &unavailableError{err: &contract.Error{Reason: contract.ReasonPluginUnavailable, Message: "call cancelled by the transport", Cause: ce}}
	}
	return ce
}

// sentinelErr is an error with its own message that matches a sentinel.
type sentinelErr struct {
	msg      string
	sentinel error
}

func (e *sentinelErr) Error() string        { return e.msg }
func (e *sentinelErr) Is(target error) bool { return target == e.sentinel }

func sentinelError(sentinel error, format string, args ...any) error {
	return &sentinelErr{msg: fmt.Sprintf(format, args...), sentinel: sentinel}
}
