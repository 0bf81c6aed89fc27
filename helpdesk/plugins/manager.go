// Package plugins is the helpdesk's plugin manager for the Duo Security
// plugin: it finds the installed bundle, starts the plugin process through
// the host SDK, and carries out Activate, Deactivate, Restart and Uninstall
// while keeping the helpdesk's own record (installed? active? where?) in its
// database.
//
// That record is the one owner of "is the plugin active?". The login path
// reads it on every sign-in (it must answer while the plugin process is
// down: an active plugin whose process is down fails sign-ins closed), the
// break-glass command edits it, and the SDK asks it (Options.Activation)
// whenever it starts or restarts the process. The plugin's own "active" is
// derived: set by the calls below and by the SDK.
//
// Several helpdesk instances may share the record (one PostgreSQL
// database), each with a plugin process of its own. An admin's Activate or
// Deactivate runs on one of them; every other one brings its process to
// the record before each use (Ready) and every few seconds (Run): it
// starts and activates it, or deactivates it, or, when the record says
// uninstalled, closes it. Uninstall refuses while another instance reports
// a running plugin process (Run reports this instance's).
package plugins

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// ID is the Duo Security plugin's id, as in its manifest.
const ID = contract.PluginID

// ManifestFile is the manifest's name inside a plugin bundle.
const ManifestFile = "plugin.json"

// Plugin is what the helpdesk uses of a running plugin: every call of the
// contract, and the process's state. *host.Plugin implements it; tests
// substitute fakes.
type Plugin interface {
	contract.Plugin
	State() host.State
	Close() error
}

var _ Plugin = (*host.Plugin)(nil)

// Activation says whether the plugin should be active, and how: the SDK
// asks it at every start and restart of the process.
type Activation = func(ctx context.Context) (contract.ActivateRequest, bool, error)

// StartFunc starts the plugin described by the manifest at manifestPath,
// bringing every process it starts to activation.
type StartFunc func(ctx context.Context, manifestPath string, activation Activation) (Plugin, error)

// SDKStarter returns a StartFunc that launches the real plugin process with
// the host SDK and opts (ManifestPath and Activation are filled in).
func SDKStarter(opts host.Options) StartFunc {
	return func(ctx context.Context, manifestPath string, activation Activation) (Plugin, error) {
		o := opts
		o.ManifestPath, o.Activation = manifestPath, activation
		o.Env = append([]string(nil), opts.Env...)
		p, err := host.Start(ctx, o)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// Config configures a Manager.
type Config struct {
	Store *store.Store
	// BundleDir is the plugin bundle: a directory with plugin.json and the
	// executables it names, or, with InstallRoot, an install root that
	// host.Install fills. Uninstall removes it.
	BundleDir string
	// InstallRoot says BundleDir is an install root (host.Install's
	// layout: releases/ and the current pointer): every start of the
	// process runs the current release (host.CurrentManifest, read again
	// at each start, so an install takes effect at the next start). The
	// StartFunc must verify the release's signature (host.Options.TrustedKeys).
	InstallRoot bool
	// DataDir is the directory the plugin owns for its database and key.
	// Uninstall removes it.
	DataDir string
	// CallbackURL is the helpdesk's Duo callback, given at Activate.
	CallbackURL string
	Host        contract.HostInfo
	Start       StartFunc
	Logger      *slog.Logger
	// CallTimeout bounds each lifecycle call: the helpdesk's one plugin
	// call budget. Default 10s.
	CallTimeout time.Duration
	// StartTimeout bounds one launch of the plugin process. Default 30s.
	StartTimeout time.Duration
	// Instance names this helpdesk instance (logs, the instances table);
	// a random suffix keeps two instances of one name apart. Default the
	// host name.
	Instance string
	// ReconcileInterval is how often Run brings the process to the record
	// and reports this instance. Default 5s. An instance not heard of for
	// three intervals is taken to be gone.
	ReconcileInterval time.Duration
}

// Errors callers branch on.
var (
	// ErrNotInstalled: there is no plugin to act on.
	ErrNotInstalled = errors.New("the Duo Security plugin is not installed")
	// ErrNotRunning: the plugin is installed but its process is not
	// running. It matches host.ErrUnavailable, so that callers that fail
	// closed on that error do so here too.
	ErrNotRunning = &notRunningError{}
	// ErrConfirmation: the uninstall confirmation does not name the plugin.
	ErrConfirmation = errors.New("type the plugin id to confirm")
	// ErrActive: uninstall while active.
	ErrActive = errors.New("the plugin is active: deactivate it first")
	// ErrOtherInstances: uninstall while another helpdesk instance on the
	// same database still runs the plugin.
	ErrOtherInstances = errors.New("another helpdesk instance still runs the plugin: stop the other instances, then uninstall on the last one")
)

// OtherInstancesError is Uninstall refused because other instances on the
// same database still run the plugin; it matches ErrOtherInstances.
type OtherInstancesError struct {
	Names []string // the instances' names (Config.Instance)
}

func (e *OtherInstancesError) Error() string {
	return ErrOtherInstances.Error() + " (running on " + strings.Join(e.Names, ", ") + ")"
}

func (e *OtherInstancesError) Is(target error) bool { return target == ErrOtherInstances }

type notRunningError struct{}

func (*notRunningError) Error() string        { return "the Duo Security plugin process is not running" }
func (*notRunningError) Is(target error) bool { return target == host.ErrUnavailable }

// Actor is who acts, for the plugin's audit log and the helpdesk's record.
type Actor = contract.Actor

// Manager owns the plugin's lifecycle. Safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	// opMu serialises lifecycle operations.
	opMu sync.Mutex

	// instanceID is this instance in the instances table and as the
	// notice lease's holder: Config.Instance and a random suffix.
	instanceID string

	mu       sync.RWMutex
	p        Plugin
	manifest *host.Manifest
	release  string // with InstallRoot, the release directory last started (or tried)
	startErr error
	// procActive is whether the process was last activated (by a call
	// here or by the SDK from the record) rather than deactivated. After
	// a failed Deactivate it stays true, so that reconciling tries again.
	procActive bool
}

// New returns a Manager; call Init to start the plugin.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Start == nil {
		return nil, errors.New("plugins: Config.Store and Config.Start are required")
	}
	if cfg.BundleDir == "" || cfg.DataDir == "" {
		return nil, errors.New("plugins: Config.BundleDir and Config.DataDir are required")
	}
	var err error
	if cfg.BundleDir, err = filepath.Abs(cfg.BundleDir); err != nil {
		return nil, fmt.Errorf("plugins: bundle dir: %w", err)
	}
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("plugins: data dir: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	defaults.Set(&cfg.CallTimeout, 10*time.Second)
	defaults.Set(&cfg.StartTimeout, 30*time.Second)
	defaults.Set(&cfg.ReconcileInterval, 5*time.Second)
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname()
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails (Go 1.24+)
	return &Manager{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "plugins", "plugin_id", ID),
		instanceID: cfg.Instance + "-" + hex.EncodeToString(suffix[:]),
	}, nil
}

// InstanceID is this instance's id among those sharing the database: the
// configured name and a random suffix.
func (m *Manager) InstanceID() string { return m.instanceID }

// BundleDir is where the plugin's bundle is installed.
func (m *Manager) BundleDir() string { return m.cfg.BundleDir }

// DataDir is the plugin's data directory.
func (m *Manager) DataDir() string { return m.cfg.DataDir }

// InstallRoot reports whether BundleDir is an install root of signed
// releases (Config.InstallRoot).
func (m *Manager) InstallRoot() bool { return m.cfg.InstallRoot }

// Release is, with an install root, the directory of the release the
// plugin was last started from (or that failed to start), "" before any
// or for a development bundle.
func (m *Manager) Release() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.release
}

// manifestPath is the manifest to start: the bundle's, or the install
// root's current release's (an error matching host.ErrNotInstalled when
// nothing was installed).
func (m *Manager) manifestPath() (string, error) {
	if !m.cfg.InstallRoot {
		return filepath.Join(m.cfg.BundleDir, ManifestFile), nil
	}
	p, err := host.CurrentManifest(m.cfg.BundleDir)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	m.release = filepath.Dir(p)
	m.mu.Unlock()
	return p, nil
}

// startActor is the actor of the activations the SDK makes when it starts
// or restarts the process: no administrator did them, and the audit log
// should say so.
var startActor = Actor{ID: "helpdesk", Username: "helpdesk (plugin process started; activated as the helpdesk's record says)", Role: contract.RoleSystem}

// Init records the installed bundle and starts the plugin process, which
// the SDK activates if the helpdesk's record says so. A plugin that fails
// to start is not an error of Init: it is reported by StartError and on the
// Plugins page, and sign-ins fail closed while it is active. Init fails
// only when the helpdesk's own database does.
func (m *Manager) Init(ctx context.Context) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()

	// With an install root, the manifest read here is the current
	// release's, unverified: it only names the version for the record.
	// Start verifies its signature before anything runs.
	path, merr := m.manifestPath()
	var man *host.Manifest
	if merr == nil {
		man, merr = host.LoadManifest(path)
	}
	switch {
	case merr == nil:
		if man.ID != ID {
			merr = fmt.Errorf("the bundle in %s is plugin %q, not %q", m.cfg.BundleDir, man.ID, ID)
			break
		}
		if err := m.cfg.Store.MarkPluginInstalled(ctx, ID, m.cfg.BundleDir, m.cfg.DataDir, man.Version, "helpdesk start-up"); err != nil {
			return err
		}
		m.mu.Lock()
		m.manifest = man
		m.mu.Unlock()
	case errors.Is(merr, fs.ErrNotExist):
		merr = fmt.Errorf("no plugin bundle in %s", m.cfg.BundleDir)
	}

	rec, err := m.cfg.Store.Plugin(ctx, ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !rec.Installed) {
		if merr != nil {
			m.log.Info("duo plugin not installed", "bundle_dir", m.cfg.BundleDir)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if merr != nil {
		// Installed per the record but the bundle is unusable: keep the
		// record (an active plugin keeps sign-ins failing closed rather than
		// silently dropping Duo) and say why.
		m.setStartErr(merr)
		m.log.Error("duo plugin bundle unusable", "error", merr, "active", rec.Active)
		return nil
	}
	_ = m.startLocked(ctx) // a failure is recorded in startErr and logged
	return nil
}

// activation is the SDK's Options.Activation: the helpdesk's record. What
// it answers is what the new process will be (an activation that fails
// fails the process, whose calls then fail closed).
func (m *Manager) activation(ctx context.Context) (contract.ActivateRequest, bool, error) {
	active, err := m.cfg.Store.PluginActive(ctx, ID)
	m.mu.Lock()
	m.procActive = err == nil && active
	m.mu.Unlock()
	if err != nil || !active {
		return contract.ActivateRequest{}, false, err
	}
	return m.activateRequest(startActor), true, nil
}

func (m *Manager) setStartErr(err error) {
	m.mu.Lock()
	m.startErr = err
	m.mu.Unlock()
}

// startLocked launches a new plugin process, closing the old one. opMu held.
func (m *Manager) startLocked(ctx context.Context) error {
	m.mu.Lock()
	old := m.p
	m.p, m.procActive = nil, false
	m.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	failed := func(err error) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.startErr = fmt.Errorf("start plugin: %w", err)
		m.log.Error("duo plugin did not start", "error", err)
		return m.startErr
	}
	path, err := m.manifestPath()
	if err != nil {
		return failed(err)
	}
	sctx, cancel := context.WithTimeout(ctx, m.cfg.StartTimeout)
	defer cancel()
	p, err := m.cfg.Start(sctx, path, m.activation)
	if err != nil {
		return failed(err)
	}
	man, merr := host.LoadManifest(path)
	m.mu.Lock()
	m.p, m.startErr = p, nil
	if merr == nil {
		m.manifest = man
	}
	m.mu.Unlock()
	// A release installed since the helpdesk started runs now: the record
	// names its version (the release the SDK verified and started).
	if m.cfg.InstallRoot && merr == nil {
		if err := m.cfg.Store.MarkPluginInstalled(ctx, ID, m.cfg.BundleDir, m.cfg.DataDir, man.Version, "helpdesk (plugin started)"); err != nil {
			m.log.Warn("recording the started release's version", "error", err)
		}
	}
	return nil
}

// Plugin returns the running plugin, or an error matching ErrNotRunning
// (and host.ErrUnavailable). The plugin it returns may still be down or
// restarting: its calls then fail with host.ErrUnavailable.
func (m *Manager) Plugin() (Plugin, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		if m.startErr != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotRunning, m.startErr)
		}
		return nil, ErrNotRunning
	}
	return m.p, nil
}

// StartError is why the plugin process could not be started, or nil.
func (m *Manager) StartError() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.startErr
}

// Manifest returns the installed plugin's manifest, or nil when none.
func (m *Manager) Manifest() *host.Manifest {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.manifest == nil {
		return nil
	}
	cp := *m.manifest
	return &cp
}

// Record returns the helpdesk's record of the plugin; Installed is false
// when there is none.
func (m *Manager) Record(ctx context.Context) (store.PluginRecord, error) {
	rec, err := m.cfg.Store.Plugin(ctx, ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.PluginRecord{ID: ID}, nil
	}
	return rec, err
}

// Active reports whether the helpdesk considers the plugin active. It reads
// the database every time, so that a break-glass deactivation from the
// shell takes effect at the next sign-in.
func (m *Manager) Active(ctx context.Context) (bool, error) {
	return m.cfg.Store.PluginActive(ctx, ID)
}

func (m *Manager) activateRequest(actor Actor) contract.ActivateRequest {
	return contract.ActivateRequest{Host: m.cfg.Host, CallbackURL: m.cfg.CallbackURL, DataDir: m.cfg.DataDir, Actor: actor}
}

// ensureRunningLocked starts the process if it is not there or has failed
// for good. opMu held.
func (m *Manager) ensureRunningLocked(ctx context.Context) (Plugin, error) {
	m.mu.RLock()
	p := m.p
	m.mu.RUnlock()
	if p != nil {
		switch p.State().Phase {
		case host.PhaseFailed, host.PhaseClosed:
		default:
			return p, nil
		}
	}
	if err := m.startLocked(ctx); err != nil {
		return nil, err
	}
	return m.Plugin()
}

func (m *Manager) installedLocked(ctx context.Context) error {
	rec, err := m.Record(ctx)
	if err != nil {
		return err
	}
	if !rec.Installed {
		return ErrNotInstalled
	}
	return nil
}

// Activate records the plugin active and activates it. A process that is
// not running is started first, while the record still says inactive, so
// the admin's own Activate is the one that activates it (and the one the
// plugin's authentication log names); the record comes before that call,
// so a process the SDK restarts meanwhile is activated too. If the plugin
// refuses, the record is set back.
func (m *Manager) Activate(ctx context.Context, actor Actor) (contract.StatusResponse, error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.installedLocked(ctx); err != nil {
		return contract.StatusResponse{}, err
	}
	p, err := m.ensureRunningLocked(ctx)
	if err != nil {
		return contract.StatusResponse{}, err
	}
	if err := m.cfg.Store.SetPluginActive(ctx, ID, true, actorName(actor)); err != nil {
		return contract.StatusResponse{}, err
	}
	undo := func(cause error) (contract.StatusResponse, error) {
		if err := m.cfg.Store.SetPluginActive(ctx, ID, false, actorName(actor)+" (activation failed)"); err != nil {
			return contract.StatusResponse{}, errors.Join(cause, err)
		}
		return contract.StatusResponse{}, cause
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
	defer cancel()
	res, err := p.Activate(cctx, m.activateRequest(actor))
	if err != nil {
		return undo(fmt.Errorf("activate: %w", err))
	}
	m.setProcActive(true)
	m.log.Info("duo plugin activated", "actor", actorName(actor))
	return res.Status, nil
}

// Deactivate records the plugin inactive and tells the plugin. The record
// changes even when the plugin process cannot be reached (then the returned
// error matches ErrNotRunning or host.ErrUnavailable; a process the SDK
// starts later stays inactive, as the record says): deactivating is how an
// admin stops Duo from gating sign-ins, so it must not depend on the plugin
// answering.
func (m *Manager) Deactivate(ctx context.Context, actor Actor) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.installedLocked(ctx); err != nil {
		return err
	}
	if err := m.cfg.Store.SetPluginActive(ctx, ID, false, actorName(actor)); err != nil {
		return err
	}
	m.log.Info("duo plugin deactivated", "actor", actorName(actor))
	p, err := m.Plugin()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
	defer cancel()
	if _, err := p.Deactivate(cctx, contract.DeactivateRequest{Actor: actor}); err != nil {
		return fmt.Errorf("deactivate: %w", err)
	}
	m.setProcActive(false)
	return nil
}

// Restart closes the plugin process and starts a new one (for a plugin the
// supervisor gave up on); the SDK activates it if the helpdesk's record
// says it is active.
func (m *Manager) Restart(ctx context.Context, actor Actor) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	rec, err := m.Record(ctx)
	if err != nil {
		return err
	}
	if !rec.Installed {
		return ErrNotInstalled
	}
	m.log.Info("restarting the duo plugin", "actor", actorName(actor))
	return m.startLocked(ctx)
}

// Uninstall removes the plugin for good: the plugin deletes what it stored,
// then the helpdesk stops its process, records it uninstalled (resetting
// the notice cursor with it: a reinstalled plugin numbers its notices from
// 1 again), and removes its data directory and its bundle directory.
// confirm must be the plugin's id (ErrConfirmation) and the plugin must be
// inactive (ErrActive). It returns what was removed.
func (m *Manager) Uninstall(ctx context.Context, actor Actor, confirm string) ([]string, error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if confirm != ID {
		return nil, ErrConfirmation
	}
	rec, err := m.Record(ctx)
	if err != nil {
		return nil, err
	}
	if !rec.Installed {
		return nil, ErrNotInstalled
	}
	if rec.Active {
		return nil, ErrActive
	}
	// The plugin's uninstall deletes what it stored, which with a shared
	// database is every instance's: none may still be running it.
	others, err := m.cfg.Store.OtherPluginProcesses(ctx, m.instanceID, time.Now().Add(-3*m.cfg.ReconcileInterval))
	if err != nil {
		return nil, fmt.Errorf("uninstall: %w", err)
	}
	if len(others) > 0 {
		oe := &OtherInstancesError{}
		for _, o := range others {
			oe.Names = append(oe.Names, o.Name)
		}
		return nil, oe
	}
	p, err := m.ensureRunningLocked(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
	defer cancel()
	// The record says inactive; the process may still be active in memory
	// (a break-glass deactivation only changes the record), so tell it.
	if _, err := p.Deactivate(cctx, contract.DeactivateRequest{Actor: actor}); err != nil {
		return nil, fmt.Errorf("uninstall: deactivate first: %w", err)
	}
	res, err := p.Uninstall(cctx, contract.UninstallRequest{Confirm: confirm, Actor: actor, DataDir: m.cfg.DataDir})
	if err != nil {
		return nil, fmt.Errorf("uninstall: %w", err)
	}
	removed := res.Removed
	m.mu.Lock()
	m.p, m.manifest, m.startErr, m.procActive = nil, nil, nil, false
	m.mu.Unlock()
	if err := p.Close(); err != nil {
		m.log.Warn("closing the uninstalled plugin", "error", err)
	}
	// One transaction with the notice cursor's reset, so that no reinstall
	// can find the record gone and the old cursor still there.
	if err := m.cfg.Store.MarkPluginUninstalled(ctx, ID, actorName(actor)); err != nil {
		return removed, err
	}
	var errs []error
	for _, dir := range []string{m.cfg.DataDir, m.cfg.BundleDir} {
		_, statErr := os.Stat(dir)
		if err := removeDir(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		if statErr == nil {
			removed = append(removed, dir)
		}
	}
	m.log.Warn("duo plugin uninstalled: its data and bundle were removed", "actor", actorName(actor), "removed", len(removed))
	return removed, errors.Join(errs...)
}

// removeDir removes a plugin directory, refusing paths that are clearly not
// one (the root, a relative path, a home directory).
func removeDir(dir string) error {
	clean := filepath.Clean(dir)
	if !filepath.IsAbs(clean) || clean == filepath.Dir(clean) {
		return fmt.Errorf("refusing to remove %q", dir)
	}
	if home, err := os.UserHomeDir(); err == nil && clean == filepath.Clean(home) {
		return fmt.Errorf("refusing to remove the home directory %q", dir)
	}
	if err := os.RemoveAll(clean); err != nil {
		return fmt.Errorf("remove %s: %w", clean, err)
	}
	return nil
}

// Close stops the plugin process and removes this instance from the
// instances table.
func (m *Manager) Close() error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.CallTimeout)
	if err := m.cfg.Store.ForgetInstance(ctx, m.instanceID); err != nil {
		m.log.Warn("removing this instance from the instances table", "error", err)
	}
	cancel()
	m.mu.Lock()
	p := m.p
	m.p, m.procActive = nil, false
	m.startErr = errors.New("the helpdesk is shutting down")
	m.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Close()
}

func actorName(a Actor) string {
	if a.Username != "" {
		return a.Username
	}
	return a.ID
}
