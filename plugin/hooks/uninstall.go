package hooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Uninstall implements contract.Lifecycle: the store (through its backend),
// then the key, then the directory if nothing else is in it (on a shared
// PostgreSQL store: its schema only; the key is not a file). Files the
// plugin did not write are not the plugin's to delete.
func (p *Plugin) Uninstall(ctx context.Context, req contract.UninstallRequest) (contract.UninstallResponse, error) {
	if req.Confirm != contract.PluginID {
		return contract.UninstallResponse{}, contract.Errorf(contract.ReasonConfirmation,
			"uninstall: type the plugin id %q to confirm; nothing was removed", contract.PluginID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.permit(ctx, p.active, request{call: callUninstall, actor: req.Actor}); err != nil {
		return contract.UninstallResponse{}, err
	}
	if p.active != nil {
		return contract.UninstallResponse{}, contract.Errorf(contract.ReasonActive, "uninstall: the plugin is active: deactivate it first; nothing was removed")
	}
	dir := p.lastDataDir
	for _, alt := range []string{req.DataDir, p.cfg.Runtime.DataDir} {
		if dir == "" {
			dir = alt
		}
	}
	if dir == "" && !p.cfg.Runtime.Shared() {
		return contract.UninstallResponse{}, invalid("uninstall: no data directory known: the host must send the one it activated the plugin with")
	}
	if p.cfg.Store == nil {
		return contract.UninstallResponse{}, internalError("uninstall: no store backend configured", errors.New("hooks.Config.Store is nil"))
	}
	removed, err := p.cfg.Store.Remove(dir)
	if removed == nil {
		removed = []string{}
	}
	if err != nil {
		return contract.UninstallResponse{Removed: removed}, storageError("uninstall: remove the database", err)
	}
	if p.cfg.Runtime.Shared() {
		// The store was a PostgreSQL schema, now dropped for every
		// instance; the key is the runtime configuration's, not a file.
		p.lastDataDir = dir
		p.log.Warn("plugin uninstalled: all stored data removed", "removed", len(removed), "actor", req.Actor.String())
		return contract.UninstallResponse{Removed: removed}, nil
	}
	key := filepath.Join(dir, KeyFile)
	switch err := os.Remove(key); {
	case err == nil:
		removed = append(removed, key)
	case !errors.Is(err, os.ErrNotExist):
		return contract.UninstallResponse{Removed: removed}, storageError("uninstall: remove "+key, err)
	}
	if err := os.Remove(dir); err == nil {
		removed = append(removed, dir)
	}
	p.lastDataDir = dir // a second Uninstall finds nothing left and says so
	p.log.Warn("plugin uninstalled: all stored data removed", "data_dir", dir, "removed", len(removed), "actor", req.Actor.String())
	return contract.UninstallResponse{Removed: removed}, nil
}
