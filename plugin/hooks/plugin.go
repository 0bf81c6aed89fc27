// Package hooks is the Duo Security plugin's answer to every call of the
// contract: lifecycle (activate, deactivate, uninstall, status), Duo
// settings, per-operator toggles, the login hooks, and recovery of a lost
// second factor (backup codes, bypass codes, recovery links, notices).
// Every call that carries an actor is checked against one table of who
// may do what (roles.go). *Plugin implements
// contract.Plugin; it speaks the contract's Go types and never protobuf
// (the contract's server adapter does that), and it keeps its state behind
// store.Store, opened through a store.Backend.
//
// Lifecycle rules:
//   - Activate opens the store in the data dir, applies migrations and
//     creates the secrets key. Idempotent while active with the same dir.
//   - Deactivate closes the store, keeps every file, and makes every hook
//     but Status fail with ReasonInactive. Idempotent.
//   - Uninstall is refused while active; its confirmation must be the plugin
//     id; it removes the store, the key and the directory if empty, and
//     reports what it removed. Idempotent.
//
// Every call to Duo is bounded by what is left of the host's deadline (less
// a reserve to decide and answer), so the decision the admin configured is
// the one taken, not the host's timeout.
package hooks

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	duoplugin "github.com/helpdesk-duo/duo-plugin"
	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/duohealth"
	"github.com/helpdesk-duo/duo-plugin/plugin/secretbox"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// KeyFile is the secrets key inside the data directory.
const KeyFile = "secrets.key"

// DuoProvider reaches Duo: it proves that Duo accepts a set of settings
// (Duo's health check) and hands out clients for logins. *duo.Factory is
// the real one.
type DuoProvider interface {
	Check(ctx context.Context, d settings.Duo) error
	Client(d settings.Duo, redirectURI string) (duo.Client, error)
}

// Config wires a Plugin.
type Config struct {
	Runtime settings.Runtime
	// Store opens and removes the plugin's store; required.
	Store  store.Backend
	Logger hclog.Logger
	Now    func() time.Time
	// Duo reaches Duo. Without it, settings are saved unchecked and logins
	// that need Duo are denied.
	Duo DuoProvider
}

// Plugin is the plugin's behaviour. The zero value is not usable; use New.
type Plugin struct {
	cfg    Config
	log    hclog.Logger
	now    func() time.Time
	health *duohealth.Cache

	// mu guards active and lastDataDir. Hooks hold the read lock for their
	// whole call so that Deactivate (write lock) never closes the store
	// under them.
	mu     sync.RWMutex
	active *activeState
	// lastDataDir is where the plugin was last active, for Uninstall.
	lastDataDir string

	lastSweep atomic.Int64 // unix time of the last sweep of expired pending logins

	metrics   *metrics        // the plugin's own Prometheus registry (metrics.go)
	retention retentionTiming // when old audit events are pruned (retention.go)
	logins    loginCountCache // Status's 24-hour counts (loginstats.go)
}

var _ contract.Plugin = (*Plugin)(nil)

// activeState exists only while the plugin is active.
type activeState struct {
	dataDir     string
	callbackURL string
	host        contract.HostInfo
	store       store.Store
	box         *secretbox.Box
	codes       *codes.Hasher                // keyed hashes of codes, tokens and tickets
	schema      int64                        // migrations run only at activation
	duo         atomic.Pointer[settings.Duo] // swapped whole on change
	// rev is the settings revision duo was loaded at (store.Store's
	// SettingsRevision); refresh reloads duo when the store's differs:
	// another instance on a shared store saved settings. reload serializes
	// the reloads and this process's own saves, so duo and rev always
	// change together and never go back.
	rev     atomic.Int64
	reload  sync.Mutex
	pageKey []byte // signs the auth log's page tokens (authlog.go)

	// bg ends when deactivation starts: background work (retention) and
	// exports stop on it; wg waits for both before the store closes.
	bg     context.Context
	stopBG context.CancelFunc
	wg     sync.WaitGroup
}

// stop ends the background work of a and waits for it.
func (a *activeState) stop() {
	a.stopBG()
	a.wg.Wait()
}

// New returns an inactive Plugin. A zero Runtime.DuoTimeout takes the
// default.
func New(cfg Config) *Plugin {
	defaults.Set(&cfg.Runtime.DuoTimeout, settings.DefaultRuntime().DuoTimeout)
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	health := duohealth.New(duohealth.Config{TTL: cfg.Runtime.HealthCacheTTL, Timeout: cfg.Runtime.DuoTimeout, Now: cfg.Now})
	m := newMetrics(health)
	if cfg.Duo != nil {
		cfg.Duo = timedDuo{DuoProvider: cfg.Duo, seconds: m.duoSeconds}
	}
	return &Plugin{
		cfg: cfg, log: cfg.Logger, now: cfg.Now, health: health,
		metrics: m, retention: defaultRetentionTiming(),
	}
}

// Version is the plugin's version, from the embedded plugin.json.
func Version() string { return duoplugin.Embedded.Version }

// withActive runs fn while the plugin is active, or fails with
// ReasonInactive. fn sees the stored settings as they are now (refresh):
// a call never decides on settings another instance has replaced. When
// that cannot be known (the store does not answer), the call fails.
func (p *Plugin) withActive(ctx context.Context, fn func(a *activeState) error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.active == nil {
		return errInactive()
	}
	if err := p.refresh(ctx, p.active); err != nil {
		return err
	}
	return fn(p.active)
}

// withActiveToggle is withActive for the login path's first step: the
// operator's toggle and the settings revision come in one read, and the
// settings are reloaded only when that revision is not theirs, so a call
// that needs no write reads the store once.
func (p *Plugin) withActiveToggle(ctx context.Context, call, operatorID string, fn func(a *activeState, st store.Toggle) error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	a := p.active
	if a == nil {
		return errInactive()
	}
	// An unreadable toggle is an error, which the host treats as deny:
	// Duo is never skipped because the plugin could not tell.
	st, err := a.store.OperatorToggle(ctx, operatorID)
	if err != nil {
		return storageError(call+": operator state", err)
	}
	if err := p.refreshTo(ctx, a, st.SettingsRevision); err != nil {
		return err
	}
	return fn(a, st)
}

// refresh reloads a's settings when the stored revision is not the one
// they were loaded at: one read of one row when nothing changed.
func (p *Plugin) refresh(ctx context.Context, a *activeState) error {
	rev, err := a.store.SettingsRevision(ctx)
	if err != nil {
		return storageError("read the settings revision", err)
	}
	return p.refreshTo(ctx, a, rev)
}

// refreshTo reloads a's settings unless they are at revision rev (or
// newer: another call reloaded them meanwhile).
func (p *Plugin) refreshTo(ctx context.Context, a *activeState, rev int64) error {
	if rev == a.rev.Load() {
		return nil
	}
	a.reload.Lock()
	defer a.reload.Unlock()
	if a.rev.Load() == rev {
		return nil // reloaded meanwhile
	}
	d, loaded, err := p.loadSettings(ctx, a)
	if err != nil {
		return err
	}
	a.duo.Store(&d)
	a.rev.Store(loaded)
	return nil
}

// minFairDuoWait is the shortest wait after which a silent Duo counts as
// unreachable (and fail open may apply): settings.MinDuoTimeout, the
// shortest Duo timeout an admin may configure.
const minFairDuoWait = settings.MinDuoTimeout

// timeLeft is how long ctx still runs; long when it has no deadline.
func timeLeft(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return time.Hour
}

// duoContext bounds a call to Duo: at most the configured Duo timeout, and
// never past the host's deadline less a reserve to decide, audit and
// answer (a fifth of what is left, between 250 ms and 1 s: deciding takes
// a durable audit write, which a loaded machine's fsync can stretch to
// hundreds of milliseconds; a tenth, at least 100 ms, was seen too short).
func (p *Plugin) duoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := p.cfg.Runtime.DuoTimeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		reserve := min(max(left/5, 250*time.Millisecond), time.Second)
		d = min(d, left-reserve)
	}
	return context.WithTimeout(ctx, d)
}
