package hooks

import (
	"fmt"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Errors the plugin returns are *contract.Error: a reason the host branches
// on and a message for its administrator; the cause stays in this process.

func errInactive() error {
	return contract.Errorf(contract.ReasonInactive, "the Duo Security plugin is not active: activate it first")
}

func invalid(format string, args ...any) error {
	return contract.Errorf(contract.ReasonInvalidArgument, format, args...)
}

func storageError(what string, cause error) error {
	return &contract.Error{Reason: contract.ReasonStorage, Message: what + " failed; see the plugin log", Cause: cause}
}

func internalError(what string, cause error) error {
	return &contract.Error{Reason: contract.ReasonInternal, Message: fmt.Sprintf("%s failed; see the plugin log", what), Cause: cause}
}
