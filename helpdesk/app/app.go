// Package app wires the reference helpdesk together: its database, the Duo
// plugin (a real subprocess started through the host SDK) and the web
// server, with the HTTP timeouts and the background housekeeping.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/auth"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
)

// Name and Version of the reference helpdesk, as the plugin sees them.
const (
	Name    = "Reference Helpdesk"
	Version = "1.0.0"
)

// DBFile is the helpdesk's database inside the data directory.
const DBFile = "helpdesk.db"

// DBPath is the helpdesk's database inside the data directory.
func DBPath(dataDir string) string { return filepath.Join(dataDir, DBFile) }

// PluginDataDir is the Duo plugin's data directory inside the helpdesk's.
func PluginDataDir(dataDir string) string { return filepath.Join(dataDir, "plugin-data", plugins.ID) }

// DefaultBundleDir is where the plugin bundle is installed by default.
func DefaultBundleDir(dataDir string) string { return filepath.Join(dataDir, "plugins", plugins.ID) }

// Config configures the helpdesk.
type Config struct {
	// Addr is the listen address, like 127.0.0.1:8080.
	Addr string
	// DataDir holds helpdesk.db and the plugin's data directory.
	DataDir string
	// PluginDir is the plugin bundle directory (with plugin.json). Default
	// DataDir/plugins/duo-security.
	PluginDir string
	// AllowUnverifiedPlugin lets the SDK run a plugin binary whose manifest
	// has no sha256. Development only.
	AllowUnverifiedPlugin bool
	// BaseURL is the helpdesk's external URL; default http://Addr, or
	// https://Addr with TLS. Session cookies are Secure when it is https.
	BaseURL string
	// TLSCertFile and TLSKeyFile, if both set, make the helpdesk serve
	// HTTPS itself. (Behind a TLS-terminating proxy, set an https BaseURL
	// instead.)
	TLSCertFile, TLSKeyFile string
	// PluginEnv is extra environment for the plugin process.
	PluginEnv []string
	// PluginOptions, if set, adjusts the SDK options (supervisor timings,
	// for example) before the plugin starts.
	PluginOptions func(*host.Options)
	// Start, if set, replaces the SDK launch (tests).
	Start plugins.StartFunc
	// BcryptCost for new password hashes (0: auth.DefaultBcryptCost).
	BcryptCost int
	Logger     *slog.Logger
	// Web, if set, adjusts the web configuration (rate limits, lifetimes).
	Web func(*web.Config)
}

// App is a configured helpdesk.
type App struct {
	cfg     Config
	log     *slog.Logger
	base    *url.URL
	store   *store.Store
	plugins *plugins.Manager
	web     *web.Server
}

// BaseURLFor returns the default base URL for a listen address.
func BaseURLFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// New opens the database, starts the plugin (re-activating it if the
// helpdesk's record says it is active) and builds the web server.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("helpdesk: a data directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var err error
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("helpdesk: data dir: %w", err)
	}
	if cfg.PluginDir == "" {
		cfg.PluginDir = DefaultBundleDir(cfg.DataDir)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("helpdesk: set both the TLS certificate and key files, or neither")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = BaseURLFor(cfg.Addr)
		if cfg.TLSCertFile != "" {
			cfg.BaseURL = "https://" + strings.TrimPrefix(cfg.BaseURL, "http://")
		}
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("helpdesk: base URL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("helpdesk: create data dir: %w", err)
	}
	st, err := store.Open(ctx, DBPath(cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("helpdesk: %w", err)
	}
	a := &App{cfg: cfg, log: cfg.Logger, base: base, store: st}

	start := cfg.Start
	if start == nil {
		opts := host.Options{
			AllowUnverified: cfg.AllowUnverifiedPlugin,
			HostVersion:     Version,
			Logger:          cfg.Logger,
			Env:             cfg.PluginEnv,
		}
		if cfg.PluginOptions != nil {
			cfg.PluginOptions(&opts)
		}
		start = plugins.SDKStarter(opts)
	}
	a.plugins, err = plugins.New(plugins.Config{
		Store:       st,
		BundleDir:   cfg.PluginDir,
		DataDir:     PluginDataDir(cfg.DataDir),
		CallbackURL: web.CallbackURL(base),
		Host:        host.HostInfo{Name: Name, Version: Version},
		Start:       start,
		Logger:      cfg.Logger,
	})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := a.plugins.Init(ctx); err != nil {
		_ = a.plugins.Close()
		_ = st.Close()
		return nil, fmt.Errorf("helpdesk: plugins: %w", err)
	}
	wcfg := web.Config{
		Store: st, Plugins: a.plugins, BaseURL: base, Logger: cfg.Logger,
		SiteName: Name, BcryptCost: cfg.BcryptCost,
	}
	if cfg.Web != nil {
		cfg.Web(&wcfg)
	}
	a.web, err = web.New(wcfg)
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Store is the helpdesk's database.
func (a *App) Store() *store.Store { return a.store }

// Plugins is the plugin manager.
func (a *App) Plugins() *plugins.Manager { return a.plugins }

// Handler is the web server's handler.
func (a *App) Handler() http.Handler { return a.web.Handler() }

// BaseURL is the helpdesk's external URL.
func (a *App) BaseURL() string { return a.base.String() }

// NewHTTPServer returns the http.Server with the helpdesk's timeouts.
func (a *App) NewHTTPServer() *http.Server {
	return &http.Server{
		Handler:           a.web.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long enough for a settings save that waits for Duo's health
		// check, which the plugin bounds well below this.
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
}

// Serve serves on ln until ctx ends, then shuts down gracefully. It runs
// the housekeeping (expired sessions, old failed sign-ins, plugin
// reconciliation) meanwhile.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := a.NewHTTPServer()
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go a.housekeeping(hctx)
	go a.plugins.Run(hctx, 15*time.Second)

	errc := make(chan error, 1)
	go func() {
		if a.cfg.TLSCertFile != "" {
			errc <- srv.ServeTLS(ln, a.cfg.TLSCertFile, a.cfg.TLSKeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("helpdesk: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("helpdesk: serve: %w", err)
	}
	return nil
}

func (a *App) housekeeping(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		now := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if _, err := a.store.DeleteExpiredSessions(cctx, now); err != nil && ctx.Err() == nil {
			a.log.Warn("housekeeping: expired sessions", "error", err)
		}
		if _, err := a.store.DeleteFailuresBefore(cctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
			a.log.Warn("housekeeping: old failed sign-ins", "error", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops the plugin and closes the database.
func (a *App) Close() {
	if err := a.plugins.Close(); err != nil {
		a.log.Warn("closing the plugin", "error", err)
	}
	if err := a.store.Close(); err != nil {
		a.log.Warn("closing the database", "error", err)
	}
}

// SeedOperator creates an operator unless one with the username exists,
// and reports whether it did.
func SeedOperator(ctx context.Context, st *store.Store, n store.NewOperator, password string, cost int) (bool, error) {
	if _, err := st.OperatorByUsername(ctx, n.Username); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	hash, err := auth.HashPassword(password, cost)
	if err != nil {
		return false, err
	}
	n.PasswordHash = hash
	if _, err := st.CreateOperator(ctx, n); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
