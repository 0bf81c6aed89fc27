package hooks

import (
	"context"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Calls of the contract this plugin does not answer yet: each fails, so a
// host never mistakes silence for an answer.

func notYet(call string) error {
	return contract.Errorf(contract.ReasonInternal, "%s is not implemented by this plugin yet", call)
}

// UnlockOperator implements contract.Operators.
func (p *Plugin) UnlockOperator(context.Context, contract.UnlockOperatorRequest) (contract.UnlockOperatorResponse, error) {
	return contract.UnlockOperatorResponse{}, notYet("UnlockOperator")
}
