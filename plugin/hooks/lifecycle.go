package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/duohealth"
	"github.com/helpdesk-duo/duo-plugin/plugin/secretbox"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// secretName binds the sealed client secret to its field.
const secretName = settings.KeyClientSecret

// Activate implements contract.Lifecycle.
func (p *Plugin) Activate(ctx context.Context, req contract.ActivateRequest) (contract.ActivateResponse, error) {
	dir := req.DataDir
	if dir == "" {
		dir = p.cfg.Runtime.DataDir
	}
	if dir == "" {
		return contract.ActivateResponse{}, invalid("activate: no data directory: the host must send one, or set DUO_PLUGIN_DATA_DIR")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return contract.ActivateResponse{}, invalid("activate: data directory %q: %v", req.DataDir, err)
	}
	if err := validateCallbackURL(req.CallbackURL); err != nil {
		return contract.ActivateResponse{}, err
	}

	p.mu.Lock()
	if err := p.permit(ctx, p.active, request{call: callActivate, actor: req.Actor}); err != nil {
		p.mu.Unlock()
		return contract.ActivateResponse{}, err
	}
	if a := p.active; a != nil {
		if a.dataDir != dir {
			p.mu.Unlock()
			return contract.ActivateResponse{}, contract.Errorf(contract.ReasonDataDirMismatch,
				"activate: already active with data directory %s; deactivate first to change it", a.dataDir)
		}
		a.callbackURL, a.host = req.CallbackURL, req.Host
		p.mu.Unlock()
		return p.activateResponse(ctx)
	}
	a, err := p.open(ctx, dir)
	if err != nil {
		p.mu.Unlock()
		return contract.ActivateResponse{}, err
	}
	a.callbackURL, a.host = req.CallbackURL, req.Host
	p.active, p.lastDataDir = a, dir
	p.startBackground(a)
	p.mu.Unlock()

	p.audit(ctx, a, by(store.Event{Kind: "plugin.activated", Outcome: "ok", Detail: fmt.Sprintf("host %s %s", req.Host.Name, req.Host.Version)}, req.Actor))
	p.log.Info("plugin activated", "data_dir", dir, "host", req.Host.Name, "host_version", req.Host.Version)
	return p.activateResponse(ctx)
}

func (p *Plugin) activateResponse(ctx context.Context) (contract.ActivateResponse, error) {
	st, err := p.Status(ctx, contract.StatusRequest{})
	return contract.ActivateResponse{Status: st}, err
}

// open prepares the data dir, key and store, undoing its work on failure.
func (p *Plugin) open(ctx context.Context, dir string) (*activeState, error) {
	if p.cfg.Store == nil {
		return nil, internalError("activate: no store backend configured", errors.New("hooks.Config.Store is nil"))
	}
	key, err := p.secretsKey(dir)
	if err != nil {
		return nil, err
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, storageError("activate: secrets key", err)
	}
	hasher, err := codes.NewHasher(key)
	if err != nil {
		return nil, storageError("activate: secrets key", err)
	}
	st, err := p.cfg.Store.Open(ctx, dir)
	if errors.Is(err, store.ErrSchemaTooNew) {
		return nil, &contract.Error{Reason: contract.ReasonSchemaTooNew, Message: "activate: " + err.Error()}
	}
	// A failed migration is refused, never run half-migrated; the message
	// says which and where the database stays, the cause goes to the log.
	if me := (*store.MigrationError)(nil); errors.As(err, &me) {
		return nil, &contract.Error{Reason: contract.ReasonStorage, Cause: err,
			Message: "activate: open database: " + me.Summary() + "; the plugin stays inactive; see the plugin log for the cause"}
	}
	if err != nil {
		return nil, storageError("activate: open database", err)
	}
	schema, err := st.SchemaVersion(ctx)
	if err != nil {
		_ = st.Close()
		return nil, storageError("activate: schema version", err)
	}
	if o, ok := st.(store.Observable); ok {
		o.ObserveEvents(p.metrics.observe)
	}
	if r, ok := st.(store.Retrier); ok {
		p.metrics.retried.Store(&r)
	}
	a := &activeState{dataDir: dir, store: st, box: box, codes: hasher, schema: schema, pageKey: pageTokenKey(key)}
	a.bg, a.stopBG = context.WithCancel(context.WithoutCancel(ctx))
	d, rev, err := p.loadSettings(ctx, a)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	a.duo.Store(&d)
	a.rev.Store(rev)
	return a, nil
}

// secretsKey is the key that seals the client secret and keys the hashes
// of codes. On a shared PostgreSQL store every instance must use the same
// one: it comes from the runtime configuration (DUO_PLUGIN_SECRETS_KEY),
// and the data directory is neither created nor read. With SQLite it is
// KeyFile in the data directory, created on first activation.
func (p *Plugin) secretsKey(dir string) ([]byte, error) {
	if p.cfg.Runtime.Shared() {
		key, err := p.cfg.Runtime.SecretsKeyBytes()
		if err != nil {
			return nil, invalid("activate: secrets key: %v", err)
		}
		return key, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, storageError("activate: create data directory", err)
	}
	key, created, err := secretbox.LoadOrCreateKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, storageError("activate: secrets key", err)
	}
	if created {
		p.log.Info("created secrets key", "path", filepath.Join(dir, KeyFile))
	}
	return key, nil
}

// loadSettings reads the stored settings and the revision they are at.
func (p *Plugin) loadSettings(ctx context.Context, a *activeState) (settings.Duo, int64, error) {
	raw, err := a.store.LoadSettings(ctx)
	if err != nil {
		return settings.Duo{}, 0, storageError("load settings", err)
	}
	var clientSecret secret.Value
	if ct, ok := raw.Secrets[secretName]; ok {
		plain, err := a.box.Open(secretName, ct)
		if err != nil {
			return settings.Duo{}, 0, storageError("load settings: the stored client secret cannot be decrypted with the secrets key", err)
		}
		clientSecret = secret.Value(plain)
	}
	d, err := settings.ParseStored(raw.Values, clientSecret)
	if err != nil {
		return settings.Duo{}, 0, storageError("load settings", err)
	}
	return d, raw.Revision, nil
}

// Deactivate implements contract.Lifecycle. It waits for in-flight hooks,
// then ends the exports in flight and the background work and waits for
// them, before the store closes.
func (p *Plugin) Deactivate(ctx context.Context, req contract.DeactivateRequest) (contract.DeactivateResponse, error) {
	p.mu.Lock()
	a := p.active
	if err := p.permit(ctx, a, request{call: callDeactivate, actor: req.Actor}); err != nil {
		p.mu.Unlock()
		return contract.DeactivateResponse{}, err
	}
	p.active = nil
	p.mu.Unlock()
	if a == nil {
		return contract.DeactivateResponse{}, nil
	}
	a.stop()
	p.audit(ctx, a, by(store.Event{Kind: "plugin.deactivated", Outcome: "ok"}, req.Actor))
	if err := a.store.Close(); err != nil {
		return contract.DeactivateResponse{}, storageError("deactivate: close database", err)
	}
	p.log.Info("plugin deactivated")
	return contract.DeactivateResponse{}, nil
}

// Status implements contract.Lifecycle. It answers in every state, from
// memory, so hosts may poll it. Duo is the last health check of the saved
// settings (a rejected submission never changes it).
func (p *Plugin) Status(ctx context.Context, _ contract.StatusRequest) (contract.StatusResponse, error) {
	st := contract.StatusResponse{PluginVersion: Version()}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if a := p.active; a != nil {
		// From memory, but up to date when the store answers: a store
		// that does not must not make Status fail.
		_ = p.refresh(ctx, a)
		d := a.duo.Load()
		st.Active, st.SchemaVersion, st.Configured = true, a.schema, d.Complete()
		st.Duo, _ = p.health.Last(healthKey(*d))
		st.Logins = p.loginCounts(ctx, a)
	}
	return st, nil
}

// healthKey identifies the settings a health result belongs to.
func healthKey(d settings.Duo) duohealth.Key { return duohealth.Key(duo.Fingerprint(d, "")) }
