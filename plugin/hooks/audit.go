package hooks

import (
	"context"

	"github.com/helpdesk-duo/duo-plugin/plugin/store"
)

// audit writes an event; a failure is logged, not returned, because the
// action it describes has already happened.
func (p *Plugin) audit(ctx context.Context, a *activeState, ev store.Event) {
	if ev.At.IsZero() {
		ev.At = p.now()
	}
	if err := a.store.AppendEvent(ctx, ev); err != nil {
		p.log.Error("audit event not written", "kind", ev.Kind, "error", err)
	}
}
