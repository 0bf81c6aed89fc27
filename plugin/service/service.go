// Package service is the plugin's behaviour behind the contract: the
// lifecycle (activate, deactivate, uninstall), the Duo settings, the
// per-operator toggles and the login hooks. It speaks Go types; the gRPC
// adapter in plugin/grpcserver translates.
//
// Lifecycle rules:
//   - Activate opens the store in the data dir, applies migrations and
//     creates the secrets key. Idempotent while active with the same dir.
//   - Deactivate closes the store, keeps every file, and makes every hook
//     return ErrInactive. Idempotent.
//   - Uninstall is refused while active; its confirmation must be the plugin
//     id; it removes the database, its WAL files and the key, and reports
//     what it removed. Idempotent.
package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/secretbox"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// Version is the plugin's version; it must equal plugin.json's (a test
// checks).
const Version = "0.1.0"

// Files the plugin keeps in its data directory.
const (
	DBFile  = "duo.db"
	KeyFile = "secrets.key"
)

// storedFiles is everything Uninstall removes, in order.
var storedFiles = []string{DBFile, DBFile + "-wal", DBFile + "-shm", DBFile + "-journal", KeyFile}

// secretName binds the sealed client secret to its field.
const secretName = settings.KeyClientSecret

// HostInfo describes the host that activated the plugin.
type HostInfo struct{ Name, Version string }

// Actor is who performs a change, for the audit log.
type Actor struct{ ID, Username, IP string }

func (a Actor) String() string {
	if a.Username != "" {
		return a.Username
	}
	return a.ID
}

// ActivateParams are Activate's inputs.
type ActivateParams struct {
	Host        HostInfo
	CallbackURL string
	DataDir     string
	Actor       Actor
}

// DuoHealth is the result of the last Duo health check.
type DuoHealth struct {
	Checked   bool
	OK        bool
	CheckedAt time.Time
	Detail    string
}

// Status describes the plugin.
type Status struct {
	Active        bool
	SchemaVersion int64
	Configured    bool
	PluginVersion string
	Duo           DuoHealth
}

// DuoProvider reaches Duo: it proves that Duo accepts a set of settings
// (Duo's health check) and hands out clients for logins. *duo.Factory is
// the real one.
type DuoProvider interface {
	Check(ctx context.Context, d settings.Duo) error
	Client(d settings.Duo, redirectURI string) (duo.Client, error)
}

// Config wires a Service.
type Config struct {
	Runtime settings.Runtime
	Logger  hclog.Logger
	Now     func() time.Time
	// Duo reaches Duo. Without it, settings are saved unchecked and logins
	// that need Duo are denied.
	Duo DuoProvider
}

// Service is the plugin. The zero value is not usable; use New.
type Service struct {
	cfg Config
	log hclog.Logger
	now func() time.Time

	// mu guards active. Hooks hold the read lock for their whole call so
	// that Deactivate (write lock) never closes the store under them.
	mu     sync.RWMutex
	active *activeState
	// lastDataDir is where the plugin was last active, for Uninstall.
	lastDataDir string

	health atomic.Pointer[DuoHealth]
	// healthCache remembers the last health check for login decisions.
	healthCache struct {
		sync.Mutex
		key [32]byte
		h   DuoHealth
	}
	lastSweep atomic.Int64 // unix time of the last expired-login sweep
}

// activeState exists only while the plugin is active.
type activeState struct {
	dataDir     string
	callbackURL string
	host        HostInfo
	store       store.Store
	box         *secretbox.Box
	schema      int64                        // migrations run only at activation
	duo         atomic.Pointer[settings.Duo] // swapped whole on change
}

// New returns an inactive Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now}
}

// withActive runs fn while the plugin is active, or returns ErrInactive.
func (s *Service) withActive(fn func(a *activeState) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.active == nil {
		return ErrInactive
	}
	return fn(s.active)
}

// Activate implements the lifecycle hook.
func (s *Service) Activate(ctx context.Context, p ActivateParams) (Status, error) {
	dir := p.DataDir
	if dir == "" {
		dir = s.cfg.Runtime.DataDir
	}
	if dir == "" {
		return Status{}, invalid("activate: no data directory: the host must send one, or set DUO_PLUGIN_DATA_DIR")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Status{}, invalid("activate: data directory %q: %v", p.DataDir, err)
	}
	if err := validateCallbackURL(p.CallbackURL); err != nil {
		return Status{}, err
	}

	s.mu.Lock()
	if s.active != nil {
		a := s.active
		if a.dataDir != dir {
			s.mu.Unlock()
			return Status{}, newError(contract.ReasonDataDirMismatch,
				fmt.Sprintf("activate: already active with data directory %s; deactivate first to change it", a.dataDir), nil)
		}
		a.callbackURL, a.host = p.CallbackURL, p.Host
		s.mu.Unlock()
		return s.Status(ctx)
	}
	a, err := s.open(ctx, dir)
	if err != nil {
		s.mu.Unlock()
		return Status{}, err
	}
	a.callbackURL, a.host = p.CallbackURL, p.Host
	s.active, s.lastDataDir = a, dir
	s.mu.Unlock()

	s.audit(ctx, a, store.Event{Kind: "plugin.activated", Actor: p.Actor.String(), ClientIP: p.Actor.IP, Outcome: "ok",
		Detail: fmt.Sprintf("host %s %s", p.Host.Name, p.Host.Version)})
	s.log.Info("plugin activated", "data_dir", dir, "host", p.Host.Name, "host_version", p.Host.Version)
	return s.Status(ctx)
}

// open prepares the data dir, key and store, undoing its work on failure.
func (s *Service) open(ctx context.Context, dir string) (*activeState, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, storageError("activate: create data directory", err)
	}
	key, created, err := secretbox.LoadOrCreateKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, storageError("activate: secrets key", err)
	}
	if created {
		s.log.Info("created secrets key", "path", filepath.Join(dir, KeyFile))
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, storageError("activate: secrets key", err)
	}
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, DBFile))
	if errors.Is(err, store.ErrSchemaTooNew) {
		return nil, newError(contract.ReasonSchemaTooNew, "activate: "+err.Error(), err)
	}
	if err != nil {
		return nil, storageError("activate: open database", err)
	}
	schema, err := st.SchemaVersion(ctx)
	if err != nil {
		_ = st.Close()
		return nil, storageError("activate: schema version", err)
	}
	a := &activeState{dataDir: dir, store: st, box: box, schema: schema}
	d, err := s.loadSettings(ctx, a)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	a.duo.Store(&d)
	return a, nil
}

func (s *Service) loadSettings(ctx context.Context, a *activeState) (settings.Duo, error) {
	raw, err := a.store.LoadSettings(ctx)
	if err != nil {
		return settings.Duo{}, storageError("load settings", err)
	}
	var secret settings.Secret
	if ct, ok := raw.Secrets[secretName]; ok {
		plain, err := a.box.Open(secretName, ct)
		if err != nil {
			return settings.Duo{}, storageError("load settings: the stored client secret cannot be decrypted with "+KeyFile, err)
		}
		secret = settings.Secret(plain)
	}
	d, err := settings.ParseStored(raw.Values, secret)
	if err != nil {
		return settings.Duo{}, storageError("load settings", err)
	}
	return d, nil
}

// Deactivate implements the lifecycle hook. It waits for in-flight hooks.
func (s *Service) Deactivate(ctx context.Context, actor Actor) error {
	s.mu.Lock()
	a := s.active
	s.active = nil
	s.mu.Unlock()
	if a == nil {
		return nil
	}
	s.audit(ctx, a, store.Event{Kind: "plugin.deactivated", Actor: actor.String(), ClientIP: actor.IP, Outcome: "ok"})
	if err := a.store.Close(); err != nil {
		return storageError("deactivate: close database", err)
	}
	s.log.Info("plugin deactivated")
	return nil
}

// Uninstall implements the lifecycle hook.
func (s *Service) Uninstall(_ context.Context, confirm, dataDir string, actor Actor) ([]string, error) {
	if confirm != contract.PluginID {
		return nil, newError(contract.ReasonConfirmation,
			fmt.Sprintf("uninstall: type the plugin id %q to confirm; nothing was removed", contract.PluginID), nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active != nil {
		return nil, newError(contract.ReasonActive, "uninstall: the plugin is active: deactivate it first; nothing was removed", nil)
	}
	dir := s.lastDataDir
	if dir == "" {
		dir = dataDir
	}
	if dir == "" {
		dir = s.cfg.Runtime.DataDir
	}
	if dir == "" {
		return nil, invalid("uninstall: no data directory known: the host must send the one it activated the plugin with")
	}
	removed := []string{}
	for _, name := range storedFiles {
		path := filepath.Join(dir, name)
		err := os.Remove(path)
		switch {
		case err == nil:
			removed = append(removed, path)
		case errors.Is(err, os.ErrNotExist):
		default:
			return removed, storageError("uninstall: remove "+path, err)
		}
	}
	// The directory goes too if nothing else is in it; files the plugin did
	// not write are not the plugin's to delete.
	if err := os.Remove(dir); err == nil {
		removed = append(removed, dir)
	}
	s.lastDataDir = dir // a second Uninstall finds nothing left and says so
	s.log.Warn("plugin uninstalled: all stored data removed", "data_dir", dir, "removed", len(removed), "actor", actor.String())
	return removed, nil
}

// Status implements the lifecycle hook. It answers in every state, from
// memory, so hosts may poll it.
func (s *Service) Status(_ context.Context) (Status, error) {
	st := Status{PluginVersion: Version}
	if h := s.health.Load(); h != nil {
		st.Duo = *h
	}
	_ = s.withActive(func(a *activeState) error {
		st.Active, st.SchemaVersion, st.Configured = true, a.schema, a.duo.Load().Complete()
		return nil
	})
	return st, nil
}

// audit writes an event; a failure is logged, not returned, because the
// action it describes has already happened.
func (s *Service) audit(ctx context.Context, a *activeState, ev store.Event) {
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	if err := a.store.AppendEvent(ctx, ev); err != nil {
		s.log.Error("audit event not written", "kind", ev.Kind, "error", err)
	}
}
