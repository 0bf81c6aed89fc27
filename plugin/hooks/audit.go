package hooks

import (
	"context"

	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
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

// auditRelaxed writes an event that records no change of state (a login
// Duo was not required for) without a durable commit: it is written before
// the call answers, so a crash of the plugin loses nothing, but a power cut
// may take the last such events back (store.Store.AppendEventRelaxed).
// Concurrent ones share one commit.
func (p *Plugin) auditRelaxed(ctx context.Context, a *activeState, ev store.Event) {
	if err := a.store.AppendEventRelaxed(ctx, ev); err != nil {
		p.log.Error("audit event not written", "kind", ev.Kind, "error", err)
	}
}

// by stamps ev with who acted: their name, the host's id and role for
// them (as sent: "unspecified" tells the admin the host sent none), and
// their address.
func by(ev store.Event, actor contract.Actor) store.Event {
	ev.Actor, ev.ActorID, ev.ActorRole, ev.ClientIP = actor.String(), actor.ID, actor.Role.String(), actor.IP
	return ev
}
