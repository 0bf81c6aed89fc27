package host

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host/internal/supervisor"
	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Defaults of Options.
const (
	DefaultCallTimeout       = 5 * time.Second
	DefaultExportTimeout     = 30 * time.Minute
	DefaultStartTimeout      = 15 * time.Second
	DefaultPingInterval      = 2 * time.Second
	DefaultRestartBackoffMin = 250 * time.Millisecond
	DefaultRestartBackoffMax = 10 * time.Second
	DefaultMaxRestarts       = 5
	DefaultRestartWindow     = time.Minute
	DefaultShutdownTimeout   = 4 * time.Second
)

// Options configure Start. Zero values take the defaults noted.
type Options struct {
	// ManifestPath is the plugin bundle's plugin.json. Set exactly one of
	// ManifestPath and Manifest.
	ManifestPath string
	// Manifest is an already loaded manifest; Start validates it again.
	Manifest *Manifest

	// TrustedKeys are the release keys the vendor pins (ParsePublicKeys
	// reads them). When set, Start needs ManifestPath and refuses, with an
	// error matching ErrBadSignature, a manifest whose signature (the file
	// ManifestPath + ".sig") is missing, malformed, made by another key or
	// does not verify; the manifest's bytes are verified and then parsed,
	// never read twice. The executable's sha256 from that manifest is still
	// checked at every launch. Pin a key once and every release signed with
	// it is accepted, without pinning a checksum per release.
	TrustedKeys []ed25519.PublicKey

	// AllowUnverified lets Start run a binary whose manifest entry has no
	// sha256. Development only: Start logs a loud warning. A sha256 that is
	// present is always verified.
	AllowUnverified bool

	// ExecDir is where the SDK writes the private copy of the plugin
	// executable it verifies and runs (each launch in a new subdirectory
	// only this user can read, removed once the process has started). It
	// must be on a file system that allows executing. Default os.TempDir()
	// ($TMPDIR on Unix); set it when /tmp is mounted noexec.
	ExecDir string

	// HostVersion is the helpdesk's semantic version. If set, Start refuses a
	// plugin whose min_host_version is newer (ErrHostTooOld).
	HostVersion string

	// Activation says whether the host wants the plugin active, and with
	// which request. The SDK asks it before every start and restart of the
	// process and activates the new process accordingly (Activate has
	// StartTimeout), so that a restarted plugin comes back as the host's
	// own record says: the host owns "is the plugin active?", and the SDK
	// keeps no copy of it. Each try has CallTimeout; an error is tried
	// again with the restart backoff, before any process is started (calls
	// fail closed meanwhile) and without counting as a crash; at Start,
	// until ctx ends. Without Activation a restarted plugin comes back
	// inactive and refuses logins with contract.ReasonInactive: still
	// closed, but every Duo login then fails until the host activates it
	// again.
	Activation func(ctx context.Context) (req contract.ActivateRequest, active bool, err error)

	// Logger receives the SDK's logs and the plugin's (go-plugin forwards the
	// plugin's hclog output). Default slog.Default().
	Logger *slog.Logger

	// CallTimeout bounds every call to the plugin, even when the caller's
	// context has no deadline; a caller's earlier deadline wins. The
	// deadline travels to the plugin, which bounds its calls to Duo inside
	// it, so the fail mode the admin chose decides, not this timeout.
	// Default 5s.
	CallTimeout time.Duration
	// ExportTimeout bounds a streamed export of the authentication log,
	// which may be long; a caller's earlier deadline wins. Default 30m.
	ExportTimeout time.Duration
	// StartTimeout bounds each launch of the process up to its handshake,
	// and the Activate that brings a new process to Options.Activation.
	// Default 15s.
	StartTimeout time.Duration
	// Env is extra environment for the plugin process (for example
	// DUO_PLUGIN_*), on top of the host's own; on duplicate keys Env wins.
	Env []string

	// PingInterval is how often the supervisor checks the process. Default 2s.
	PingInterval time.Duration
	// RestartBackoffMin and RestartBackoffMax bound the exponential delay
	// before a restart, and between tries of Options.Activation. Defaults
	// 250ms and 10s; a RestartBackoffMax below RestartBackoffMin is raised
	// to it.
	RestartBackoffMin, RestartBackoffMax time.Duration
	// MaxRestarts crashes within RestartWindow are restarted; one more and
	// the plugin goes PhaseFailed for good. Defaults 5 and 1m. A negative
	// MaxRestarts never restarts.
	MaxRestarts   int
	RestartWindow time.Duration

	// ShutdownTimeout is how long Close lets the plugin exit before killing
	// it. Close returns within about ShutdownTimeout plus one second.
	// It also bounds disposing of a crashed or wedged process before a
	// restart. Default 4s.
	ShutdownTimeout time.Duration

	// OnStateChange, if set, is called with every new State, in order, from
	// a goroutine of its own. It must not block for long.
	OnStateChange func(State)
}

// withDefaults fills in the defaults and puts the backoff bounds in
// order. It is the one place they are decided: the supervisor and the
// Activation retries take the values as they come out of it.
func (o Options) withDefaults() Options {
	defaults.Set(&o.CallTimeout, DefaultCallTimeout)
	defaults.Set(&o.ExportTimeout, DefaultExportTimeout)
	defaults.Set(&o.StartTimeout, DefaultStartTimeout)
	defaults.Set(&o.PingInterval, DefaultPingInterval)
	defaults.Set(&o.RestartBackoffMin, DefaultRestartBackoffMin)
	defaults.Set(&o.RestartBackoffMax, DefaultRestartBackoffMax)
	defaults.Set(&o.RestartWindow, DefaultRestartWindow)
	defaults.Set(&o.ShutdownTimeout, DefaultShutdownTimeout)
	o.RestartBackoffMax = max(o.RestartBackoffMax, o.RestartBackoffMin)
	if o.MaxRestarts == 0 {
		o.MaxRestarts = DefaultMaxRestarts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// instanceSource is where calls get the live instance: the supervisor, or a
// fixed connection in the in-process tests.
type instanceSource interface {
	Current() (*instance, bool)
	State() supervisor.State
	Kick()
	Close(timeout time.Duration) error
}

// Plugin is a running, supervised Duo plugin; it implements
// contract.Plugin. Its methods are safe for concurrent use, including while
// the supervisor restarts the process: a call then either fails with
// ErrUnavailable or reaches the new process.
type Plugin struct {
	opts     Options
	log      *slog.Logger
	manifest *Manifest
	checksum []byte // from the manifest; nil only with AllowUnverified
	src      instanceSource

	closeOnce sync.Once
	closeErr  error
}

// Start loads and validates the manifest (and, with Options.TrustedKeys,
// verifies its signature: ErrBadSignature), picks the executable for this
// platform, verifies its SHA-256 against the manifest (ErrChecksumMismatch;
// ErrUnverified when the manifest has none and AllowUnverified is not set),
// launches it, brings it to Options.Activation, and starts supervising it.
// ctx bounds the first launch only; the plugin runs until Close.
//
// The checksum is checked at each launch (and each restart) on a private
// copy of the executable, made under os.TempDir, and that copy is what
// runs: a file swapped in the bundle once it is checked never runs.
func Start(ctx context.Context, opts Options) (*Plugin, error) {
	opts = opts.withDefaults()
	log := opts.Logger.With("plugin", "duo")

	var m *Manifest
	switch {
	case opts.Manifest != nil && opts.ManifestPath != "":
		return nil, errors.New("start duo plugin: set Options.ManifestPath or Options.Manifest, not both")
	case opts.Manifest != nil && len(opts.TrustedKeys) > 0:
		return nil, fmt.Errorf("start duo plugin: %w", sentinelError(ErrBadSignature,
			"Options.TrustedKeys needs Options.ManifestPath: a loaded Manifest carries no signature to verify"))
	case opts.Manifest != nil:
		if err := opts.Manifest.Validate(); err != nil {
			return nil, fmt.Errorf("start duo plugin: %w", err)
		}
		m = opts.Manifest.clone()
	case opts.ManifestPath != "":
		var err error
		if m, err = readSignedManifest(opts.ManifestPath, opts.TrustedKeys); err != nil {
			return nil, fmt.Errorf("start duo plugin: %w", err)
		}
	default:
		return nil, errors.New("start duo plugin: Options.ManifestPath or Options.Manifest is required")
	}
	log = log.With("plugin_id", m.ID, "plugin_version", m.Version)

	if err := checkHostVersion(opts.HostVersion, m.MinHostVersion); err != nil {
		return nil, fmt.Errorf("start duo plugin %s %s: %w", m.ID, m.Version, err)
	}

	path, sum, err := m.Executable(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("start duo plugin: %w", err)
	}
	var checksum []byte // nil only with AllowUnverified
	if sum == "" {
		if !opts.AllowUnverified {
			return nil, fmt.Errorf("start duo plugin: %w", sentinelError(ErrUnverified,
				"the manifest has no sha256 for %s-%s, so %s cannot be verified; refusing to run it (Options.AllowUnverified is for development only)",
				runtime.GOOS, runtime.GOARCH, path))
		}
		log.Warn("STARTING AN UNVERIFIED PLUGIN BINARY: the manifest has no sha256 and AllowUnverified is set. Never do this in production.",
			"path", path)
	} else if checksum, err = hex.DecodeString(sum); err != nil {
		// Validate already checked the shape; this is belt and braces.
		return nil, fmt.Errorf("start duo plugin: manifest sha256: %w", err)
	}

	p := &Plugin{opts: opts, log: log, manifest: m, checksum: checksum}
	var onState func(supervisor.State)
	if opts.OnStateChange != nil {
		onState = func(s supervisor.State) { opts.OnStateChange(stateOf(s)) }
	}
	// The first launch runs the executable just resolved; every later one
	// resolves it again.
	first := path
	launch := func(ctx context.Context) (*instance, error) {
		path := first
		first = "" // launches run one at a time: the first in Start, the rest in the supervisor's loop
		return p.launch(ctx, path)
	}
	sup, err := supervisor.Start(ctx, supervisor.Config[*instance]{
		Launch:        launch,
		Permanent:     permanentLaunchError,
		PingInterval:  opts.PingInterval,
		PingTimeout:   opts.CallTimeout,
		BackoffMin:    opts.RestartBackoffMin,
		BackoffMax:    opts.RestartBackoffMax,
		MaxRestarts:   opts.MaxRestarts,
		Window:        opts.RestartWindow,
		KillTimeout:   opts.ShutdownTimeout,
		Logger:        log,
		OnStateChange: onState,
	})
	if err != nil {
		return nil, fmt.Errorf("start duo plugin: %w", err)
	}
	p.src = sup
	log.Info("duo plugin started", "pid", sup.State().PID)
	return p, nil
}

// permanentLaunchError reports launch failures that no restart fixes.
func permanentLaunchError(err error) bool {
	return errors.Is(err, ErrChecksumMismatch) || errors.Is(err, ErrNoExecutable) || errors.Is(err, ErrIncompatibleProtocol)
}

// Manifest returns a copy of the manifest the plugin was started from.
func (p *Plugin) Manifest() Manifest {
	return *p.manifest.clone()
}

// State returns a snapshot of the plugin process's state.
func (p *Plugin) State() State {
	return stateOf(p.src.State())
}

// Close stops supervising, asks the plugin to exit and kills it if it has
// not exited within Options.ShutdownTimeout. It returns within about that
// bound plus one second, even when the plugin hangs. Close is idempotent;
// every call returns the first call's result. Calls made after Close fail
// with an error matching ErrClosed and ErrUnavailable.
func (p *Plugin) Close() error {
	p.closeOnce.Do(func() {
		p.closeErr = p.src.Close(p.opts.ShutdownTimeout)
		if p.closeErr != nil {
			p.log.Error("duo plugin closed with an error", "error", p.closeErr)
		} else {
			p.log.Info("duo plugin closed")
		}
	})
	return p.closeErr
}

// current returns the live instance or an error matching ErrUnavailable,
// without waiting.
func (p *Plugin) current() (*instance, error) {
	in, ok := p.src.Current()
	if !ok {
		st := p.State()
		switch st.Phase {
		case PhaseClosed:
			return nil, unavailable(contract.ReasonPluginUnavailable, "the plugin was closed", ErrClosed)
		case PhaseFailed:
			return nil, unavailable(contract.ReasonPluginUnavailable, "the plugin failed and will not be restarted ("+st.LastError+")", nil)
		default:
			return nil, unavailable(contract.ReasonPluginUnavailable, "the plugin is "+st.Phase.String(), nil)
		}
	}
	if in.Exited() {
		p.src.Kick()
		return nil, unavailable(contract.ReasonPluginUnavailable, "the plugin process exited", nil)
	}
	return in, nil
}
