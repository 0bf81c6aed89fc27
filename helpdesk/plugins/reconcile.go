package plugins

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// reconcileActor is who activates or deactivates this instance's process
// when the shared record changed elsewhere: no administrator here, and the
// plugin's audit log should say so.
var reconcileActor = Actor{ID: "helpdesk", Username: "helpdesk (another instance changed the shared record; this instance follows it)", Role: contract.RoleSystem}

func (m *Manager) setProcActive(active bool) {
	m.mu.Lock()
	m.procActive = active
	m.mu.Unlock()
}

// Ready brings this instance's plugin process to the helpdesk's record, as
// Reconcile does, and returns it: the one way a page or the notice poller
// gets the plugin for a call. When the record says active and no active
// process could be had, the error matches ErrNotRunning and
// host.ErrUnavailable, so that callers fail closed. When the record says
// inactive, the process is returned as it is (callers that need an active
// plugin check the record first).
func (m *Manager) Ready(ctx context.Context) (Plugin, error) {
	rec, err := m.Reconcile(ctx)
	if err != nil {
		return nil, err
	}
	return m.ready(rec)
}

// ActivePlugin is Active and Ready on one read of the record, for a
// request that asks the plugin only while the helpdesk uses it: active
// false (no plugin, no error) when the record says the plugin is not
// installed and active; otherwise active true, and the plugin or why this
// instance cannot serve it (the caller fails closed). An error with active
// false is the record's.
func (m *Manager) ActivePlugin(ctx context.Context) (p Plugin, active bool, err error) {
	rec, err := m.Reconcile(ctx)
	if err != nil {
		return nil, false, err
	}
	if !rec.Installed || !rec.Active {
		return nil, false, nil
	}
	p, err = m.ready(rec)
	return p, true, err
}

// ready is Ready once the record is read.
func (m *Manager) ready(rec store.PluginRecord) (Plugin, error) {
	p, err := m.Plugin()
	if err != nil {
		return nil, err
	}
	if rec.Installed && rec.Active {
		m.mu.RLock()
		active := m.procActive
		m.mu.RUnlock()
		if !active {
			return nil, fmt.Errorf("%w: this instance's plugin process is not active, though the helpdesk's record says it is", ErrNotRunning)
		}
	}
	return p, nil
}

// Reconcile reads the helpdesk's record (one cheap query) and, when this
// instance's process differs from it, which happens when an admin on
// another instance sharing the database changed it, brings the process to
// it: record active, it starts the process if there is none (at most once
// per RetryStart after a failed start) and activates it; record inactive,
// it deactivates an active process; record uninstalled, it closes the
// process. It returns the record. An error is the record's; a process
// that could not be brought to it is logged, and Ready says so.
func (m *Manager) Reconcile(ctx context.Context) (store.PluginRecord, error) {
	rec, err := m.Record(ctx)
	if err != nil {
		return rec, err
	}
	if m.matches(rec) {
		return rec, nil
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	// Read again under the lock: a lifecycle call here may have just
	// changed both the record and the process.
	if rec, err = m.Record(ctx); err != nil {
		return rec, err
	}
	if m.matches(rec) {
		return rec, nil
	}
	m.reconcileLocked(ctx, rec)
	return rec, nil
}

// matches reports whether there is nothing to do to bring the process
// to rec: it is as rec says, or nothing here can change it (a process the
// supervisor gave up on, or one that could not start, waits for an admin's
// Restart, as with one instance).
func (m *Manager) matches(rec store.PluginRecord) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch {
	case !rec.Installed:
		return m.p == nil
	case !rec.Active:
		return !m.procActive
	case m.p == nil:
		return !m.startableLocked()
	}
	switch m.p.State().Phase {
	case host.PhaseFailed, host.PhaseClosed:
		return true
	}
	return m.procActive
}

// startableLocked reports whether reconciling may start a process where
// there is none: none was started because the record said uninstalled
// (at Init, or it was closed to follow an uninstall elsewhere). A start
// that failed is not retried here. mu held.
func (m *Manager) startableLocked() bool {
	return m.startErr == nil || errors.Is(m.startErr, ErrNotInstalled)
}

// reconcileLocked brings the process to rec. opMu held.
func (m *Manager) reconcileLocked(ctx context.Context, rec store.PluginRecord) {
	switch {
	case !rec.Installed:
		m.mu.Lock()
		p := m.p
		m.p, m.manifest, m.procActive = nil, nil, false
		m.startErr = ErrNotInstalled
		m.mu.Unlock()
		if p != nil {
			m.log.Warn("duo plugin uninstalled per the shared record: stopping this instance's process")
			if err := p.Close(); err != nil {
				m.log.Warn("closing the uninstalled plugin", "error", err)
			}
		}
	case rec.Active:
		m.mu.RLock()
		p, startable := m.p, m.startableLocked()
		m.mu.RUnlock()
		if p == nil {
			if !startable {
				return
			}
			m.log.Info("duo plugin active per the shared record: starting this instance's process")
			// The SDK activates the new process from the record.
			if err := m.startLocked(ctx); err != nil {
				return
			}
			m.mu.RLock()
			p, active := m.p, m.procActive
			m.mu.RUnlock()
			if active || p == nil {
				return
			}
		}
		cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
		defer cancel()
		if _, err := p.Activate(cctx, m.activateRequest(reconcileActor)); err != nil {
			m.log.Error("duo plugin active per the shared record, but this instance's process refused activation; sign-ins here fail closed",
				"reason", string(contract.ReasonOf(err)), "error", err)
			return
		}
		m.setProcActive(true)
		m.log.Info("duo plugin activated to follow the shared record")
	default:
		m.mu.RLock()
		p := m.p
		m.mu.RUnlock()
		if p == nil {
			m.setProcActive(false)
			return
		}
		cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
		defer cancel()
		if _, err := p.Deactivate(cctx, contract.DeactivateRequest{Actor: reconcileActor}); err != nil {
			// The record already keeps Duo out of this instance's sign-ins;
			// the next reconcile tries again.
			m.log.Warn("duo plugin inactive per the shared record; deactivating this instance's process failed", "error", err)
			return
		}
		m.setProcActive(false)
		m.log.Info("duo plugin deactivated to follow the shared record")
	}
}

// Run reconciles the process with the record and reports this instance
// (whether its plugin process runs) every ReconcileInterval until ctx
// ends, so that an instance without traffic follows an admin's change
// too and an uninstall elsewhere knows it is here.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, m.cfg.StartTimeout+m.cfg.CallTimeout)
		if _, err := m.Reconcile(cctx); err != nil && ctx.Err() == nil {
			m.log.Warn("reconciling the plugin with the helpdesk's record", "error", err)
		}
		if err := m.cfg.Store.ReportInstance(cctx, m.instanceID, m.cfg.Instance, m.running()); err != nil && ctx.Err() == nil {
			m.log.Warn("reporting this instance", "error", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// running reports whether this instance has a plugin process that is not
// closed.
func (m *Manager) running() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.p != nil && m.p.State().Phase != host.PhaseClosed
}
