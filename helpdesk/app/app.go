// Package app wires the reference helpdesk together: its database, the Duo
// plugin (a real subprocess started through the host SDK) and the web
// server, with the HTTP timeouts and the background housekeeping.
package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/auth"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/notify"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
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
	// PluginDir is the plugin bundle directory (with plugin.json), or with
	// PluginKeys the install root that `helpdesk plugins install` fills.
	// Default DataDir/plugins/duo-security (DefaultBundleDir).
	PluginDir string
	// PluginKeys are the pinned release keys (host.ParsePublicKeys). When
	// set, the helpdesk runs only signed releases: each start of the
	// plugin runs PluginDir's current release (host.CurrentManifest), and
	// the SDK refuses it unless one of these keys signed it. Unset, it
	// runs the unsigned bundle in PluginDir (the demo, development).
	PluginKeys []ed25519.PublicKey
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
	// Mail, if set, delivers the helpdesk's mail (tests). Otherwise it is
	// SMTP when HELPDESK_SMTP_* say so (read through Getenv), else the
	// outbox in the database, which admins read on the Outbox page.
	Mail   mail.Sender
	Getenv func(string) string
	// NoticeInterval is how often second-factor notices are mailed.
	// Default 10s.
	NoticeInterval time.Duration

	// PluginCallTimeout is the one budget of a call to the plugin, from a
	// page or from the plugin manager; the SDK's call deadline is the same,
	// and the plugin fits its calls to Duo inside it, so the fail mode the
	// admin chose decides, never a timeout. Default 10s.
	PluginCallTimeout time.Duration
	// BcryptCost for new password hashes (0: auth.DefaultBcryptCost).
	BcryptCost int
	Logger     *slog.Logger
	// Web, if set, adjusts the web configuration (rate limits, lifetimes).
	Web func(*web.Config)
	// MetricsAddr, if set, is where Serve answers GET /metrics for
	// Prometheus (the helpdesk's process and the plugin's metrics), apart
	// from the pages. Off when empty.
	MetricsAddr string
	// DatabaseURL, if set, is a PostgreSQL database that several
	// instances share: the helpdesk's state goes to its schema "helpdesk"
	// (store.OpenPostgres) instead of DataDir's helpdesk.db, and the
	// plugin process gets DUO_PLUGIN_DATABASE_URL set to it unless the
	// environment or PluginEnv already sets one. Never logged, never in an
	// error.
	DatabaseURL string
	// Instance names this instance in the logs (and in the instances
	// table the plugin manager keeps): which of several served what.
	// Default the host name.
	Instance string
}

// EnvPluginDatabaseURL is the plugin's variable naming its PostgreSQL
// database.
const EnvPluginDatabaseURL = "DUO_PLUGIN_DATABASE_URL"

// PluginDatabaseEnv is the environment to add for the plugin process so
// that it keeps its state in the database at url too: its
// DUO_PLUGIN_DATABASE_URL, unless url is empty or getenv (nil:
// os.Getenv) or env already set one, which then wins.
func PluginDatabaseEnv(url string, env []string, getenv func(string) string) []string {
	if url == "" {
		return nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if getenv(EnvPluginDatabaseURL) != "" {
		return nil
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, EnvPluginDatabaseURL+"=") {
			return nil
		}
	}
	return []string{EnvPluginDatabaseURL + "=" + url}
}

// App is a configured helpdesk.
type App struct {
	cfg     Config
	log     *slog.Logger
	base    *url.URL
	store   *store.Store
	plugins *plugins.Manager
	web     *web.Server
	mail    mail.Sender
	notices *notify.Poller
	metrics http.Handler
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
	if cfg.Instance != "" {
		cfg.Logger = cfg.Logger.With("instance", cfg.Instance)
	}
	var err error
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("helpdesk: data dir: %w", err)
	}
	if cfg.PluginDir == "" {
		cfg.PluginDir = DefaultBundleDir(cfg.DataDir)
	}
	defaults.Set(&cfg.PluginCallTimeout, 10*time.Second)
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
	// Checked before anything is opened or started: a typo in the mail
	// configuration starts no plugin process.
	var mailCfg Mail
	if cfg.Mail == nil {
		if mailCfg, err = MailFromEnv(cfg.Getenv); err != nil {
			return nil, fmt.Errorf("helpdesk: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("helpdesk: create data dir: %w", err)
	}
	var st *store.Store
	if cfg.DatabaseURL != "" {
		st, err = store.OpenPostgres(ctx, cfg.DatabaseURL)
	} else {
		st, err = store.Open(ctx, DBPath(cfg.DataDir))
	}
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
			Env:             append(slices.Clip(cfg.PluginEnv), PluginDatabaseEnv(cfg.DatabaseURL, cfg.PluginEnv, cfg.Getenv)...),
			CallTimeout:     cfg.PluginCallTimeout,
			TrustedKeys:     cfg.PluginKeys,
		}
		if cfg.PluginOptions != nil {
			cfg.PluginOptions(&opts)
		}
		start = plugins.SDKStarter(opts)
	}
	a.plugins, err = plugins.New(plugins.Config{
		Store:       st,
		BundleDir:   cfg.PluginDir,
		InstallRoot: len(cfg.PluginKeys) > 0,
		DataDir:     PluginDataDir(cfg.DataDir),
		CallbackURL: web.CallbackURL(base),
		Host:        contract.HostInfo{Name: Name, Version: Version},
		Start:       start,
		Logger:      cfg.Logger,
		CallTimeout: cfg.PluginCallTimeout,
		Instance:    cfg.Instance,
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
	a.metrics = newMetricsHandler(a.plugins)
	var outbox web.OutboxReader
	a.mail = cfg.Mail
	if a.mail == nil {
		a.mail, outbox = mailCfg.Sender(st)
	}
	a.notices = &notify.Poller{Plugins: a.plugins, Store: st, Mail: a.mail, Site: Name, Log: cfg.Logger, Interval: cfg.NoticeInterval,
		Timeout: noticeTimeout}
	if st.Postgres() {
		// Instances share the notice cursor: one mails at a time.
		a.notices.Lease = func(ctx context.Context) (bool, error) {
			return st.TakeLease(ctx, noticeLease, a.plugins.InstanceID(), 2*noticeTimeout)
		}
	}
	wcfg := web.Config{
		Store: st, Plugins: a.plugins, BaseURL: base, Logger: cfg.Logger,
		SiteName: Name, BcryptCost: cfg.BcryptCost, PluginCallTimeout: cfg.PluginCallTimeout,
		Mail: a.mail, Outbox: outbox,
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

// NewHTTPServer returns an http.Server for h with the helpdesk's timeouts.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Longer than any plugin call (PluginCallTimeout), so that a page
		// waiting on the plugin always gets its answer written.
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// Serve serves on ln until ctx ends, then shuts down gracefully. It runs
// the housekeeping (expired sessions, old failed sign-ins) meanwhile.
// With Config.MetricsAddr it serves /metrics there too; a metrics address
// it cannot listen on fails Serve at once.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := a.StartMetrics(hctx); err != nil {
		return err
	}
	go a.RunBackground(hctx)
	return ServeHTTP(ctx, ln, NewHTTPServer(a.web.Handler(), a.log), a.cfg.TLSCertFile, a.cfg.TLSKeyFile)
}

// StartMetrics serves /metrics on Config.MetricsAddr, if set, until ctx
// ends. It fails at once when it cannot listen there.
func (a *App) StartMetrics(ctx context.Context) error {
	if a.cfg.MetricsAddr == "" {
		return nil
	}
	mln, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("helpdesk: metrics: listen on %s: %w", a.cfg.MetricsAddr, err)
	}
	a.log.Info("metrics listening", "url", "http://"+mln.Addr().String()+"/metrics")
	go func() {
		if err := a.serveMetrics(ctx, mln); err != nil {
			a.log.Error("metrics server stopped", "error", err)
		}
	}()
	return nil
}

// ServeHTTP runs srv on ln (with TLS when both files are set) until ctx
// ends, then shuts it down gracefully.
func ServeHTTP(ctx context.Context, ln net.Listener, srv *http.Server, certFile, keyFile string) error {
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
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

// noticeLease names the lease of mailing notices; noticeTimeout bounds one
// poll, well within the lease (twice as long), which each poll renews.
const (
	noticeLease   = "notices"
	noticeTimeout = 30 * time.Second
)

// RunBackground runs what the helpdesk does besides answering pages until
// ctx ends: the housekeeping, mailing second-factor notices, and keeping
// the plugin process as the helpdesk's record says (which another instance
// on the same database may change).
func (a *App) RunBackground(ctx context.Context) {
	go a.notices.Run(ctx)
	go a.plugins.Run(ctx)
	a.housekeeping(ctx)
}

// Mail is the helpdesk's mail as HELPDESK_SMTP_* configure it: SMTP when
// they name a server, else the outbox in the helpdesk's database (the
// demo). The zero value is the outbox.
type Mail struct {
	smtp *mail.SMTP
}

// MailFromEnv reads and checks HELPDESK_SMTP_* through getenv (nil means
// os.Getenv); the error is a *mail.ConfigError naming every variable at
// fault. It opens and starts nothing, so that a configuration error is
// reported before anything else is.
func MailFromEnv(getenv func(string) string) (Mail, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg, err := mail.ConfigFromEnv(getenv)
	if err != nil || !cfg.Configured() {
		return Mail{}, err
	}
	smtp, err := mail.NewSMTP(cfg)
	if err != nil {
		return Mail{}, err
	}
	return Mail{smtp: smtp}, nil
}

// Sender is how the helpdesk sends mail: SMTP when configured, else the
// outbox kept in st. The reader is what the Outbox page lists: st with the
// outbox, nil with SMTP, which keeps no copy.
func (m Mail) Sender(st *store.Store) (mail.Sender, web.OutboxReader) {
	if m.smtp != nil {
		return m.smtp, nil
	}
	return mail.NewOutbox(st), st
}

// housekeeping deletes expired sessions and old failed sign-ins every ten
// minutes until ctx ends.
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

// Close stops the plugin and closes the database, giving up the notices'
// lease first so that another instance takes them over at once.
func (a *App) Close() {
	if a.notices != nil && a.notices.Lease != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.store.ReleaseLease(ctx, noticeLease, a.plugins.InstanceID()); err != nil {
			a.log.Warn("releasing the notices' lease", "error", err)
		}
		cancel()
	}
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
