package service

import (
	"errors"
	"fmt"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Error is a failure the host can act on: a machine-readable reason and a
// message for the admin. The gRPC adapter turns it into a status.
type Error struct {
	Reason contract.Reason
	Msg    string
	Err    error // the cause, for the plugin's own log; never sent to the host
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func newError(reason contract.Reason, msg string, cause error) *Error {
	return &Error{Reason: reason, Msg: msg, Err: cause}
}

// ErrInactive is returned by every hook while the plugin is not active.
var ErrInactive = &Error{Reason: contract.ReasonInactive, Msg: "the Duo Security plugin is not active: activate it first"}

// ReasonOf returns the reason of an *Error, or ReasonInternal.
func ReasonOf(err error) contract.Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return contract.ReasonInternal
}

func invalid(format string, args ...any) *Error {
	return newError(contract.ReasonInvalidArgument, fmt.Sprintf(format, args...), nil)
}

func storageError(what string, err error) *Error {
	return newError(contract.ReasonStorage, what+" failed; see the plugin log", err)
}
