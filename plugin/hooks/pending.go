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

// ListAuthEvents implements contract.AuthLog.
func (p *Plugin) ListAuthEvents(context.Context, contract.ListAuthEventsRequest) (contract.ListAuthEventsResponse, error) {
	return contract.ListAuthEventsResponse{}, notYet("ListAuthEvents")
}

// ExportAuthEvents implements contract.AuthLog.
func (p *Plugin) ExportAuthEvents(context.Context, contract.ExportAuthEventsRequest, func(contract.ExportChunk) error) error {
	return notYet("ExportAuthEvents")
}

// GetMetrics implements contract.Metrics.
func (p *Plugin) GetMetrics(context.Context, contract.GetMetricsRequest) (contract.GetMetricsResponse, error) {
	return contract.GetMetricsResponse{}, notYet("GetMetrics")
}
