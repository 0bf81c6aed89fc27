package hooks

import (
	"context"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// ListNotices implements contract.Recovery: the second-factor changes a
// host tells operators about (by e-mail, say), oldest first, so a host
// remembers the last id it handled and asks for what came after.
func (p *Plugin) ListNotices(ctx context.Context, req contract.ListNoticesRequest) (contract.ListNoticesResponse, error) {
	if req.AfterID < 0 {
		return contract.ListNoticesResponse{}, invalid("list notices: after_id is %d; use 0 for the first page", req.AfterID)
	}
	limit := pageSize(req.Limit, defNoticesPage)
	var out contract.ListNoticesResponse
	err := p.withActive(ctx, func(a *activeState) error {
		if err := p.permit(ctx, a, request{call: callListNotices, actor: req.Actor}); err != nil {
			return err
		}
		notices, err := a.store.Notices(ctx, req.AfterID, limit)
		if err != nil {
			return storageError("list notices", err)
		}
		out.Notices = notices
		return nil
	})
	return out, err
}
