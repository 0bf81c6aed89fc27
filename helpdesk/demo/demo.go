// Package demo runs the reference helpdesk with everything it needs on one
// machine: it builds the Duo plugin bundle from this repository, starts the
// Duo simulator in-process (interactive: it shows an enrolment page and an
// Approve / Deny prompt), starts the helpdesk with the plugin as a real
// subprocess, and seeds an admin and a few agents.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Defaults of Config.
const (
	DefaultAddr    = "127.0.0.1:8080"
	DefaultDuoAddr = "127.0.0.1:8443"
	DefaultDataDir = ".data"
)

// Account is a seeded demo login.
type Account struct {
	Username, Password, Name, Role string
}

// Accounts are the demo's logins. The passwords are public: this is a demo.
var Accounts = []Account{
	{"admin", "admin-demo-pass", "Ada Admin", store.RoleAdmin},
	{"helen", "helen-demo-pass", "Helen Helpdesk", store.RoleHelpDesk},
	{"alice", "alice-demo-pass", "Alice Agent", store.RoleAgent},
	{"bob", "bob-demo-pass", "Bob Agent", store.RoleAgent},
	{"carol", "carol-demo-pass", "Carol Agent", store.RoleAgent},
}

// Config configures the demo.
type Config struct {
	Addr    string
	DuoAddr string
	DataDir string
	// Preconfigure activates the plugin and saves the simulator's
	// credentials in its settings, so that only the per-operator toggles
	// are left to do.
	Preconfigure bool
	// MetricsAddr, if set, serves Prometheus metrics there (app.Config).
	MetricsAddr string
	Logger      *slog.Logger
	// Out receives the banner with the URL, the logins and the simulator's
	// credentials.
	Out io.Writer
	// BcryptCost of the seeded passwords (0: the helpdesk's default).
	BcryptCost int
	// Build builds the plugin bundle from the repository at root into dir
	// and returns its manifest's path. Default pluginbuild.Bundle.
	Build func(ctx context.Context, root, dir string) (string, error)
}

// simApp is the simulator's application, kept in the data directory so
// that settings saved in one run still work in the next.
type simApp struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func loadOrCreateSimApp(path string) (duosim.App, error) {
	if b, err := os.ReadFile(path); err == nil {
		var a simApp
		if err := json.Unmarshal(b, &a); err == nil && a.ClientID != "" && a.ClientSecret != "" {
			return duosim.App{ClientID: a.ClientID, ClientSecret: secret.Value(a.ClientSecret)}, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return duosim.App{}, fmt.Errorf("read %s: %w", path, err)
	}
	a, err := duosim.NewApp()
	if err != nil {
		return duosim.App{}, err
	}
	b, _ := json.Marshal(simApp{ClientID: a.ClientID, ClientSecret: a.ClientSecret.Reveal()})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return duosim.App{}, fmt.Errorf("write %s: %w", path, err)
	}
	return a, nil
}

// Run runs the demo until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.DuoAddr == "" {
		cfg.DuoAddr = DefaultDuoAddr
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	log := cfg.Logger
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("demo: data dir: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("demo: data dir: %w", err)
	}

	// Listen first: a port in use is the likeliest failure, and it should
	// come before a minute of building. Until the helpdesk is ready, the
	// port answers with a page saying what is happening, not a hang.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("demo: listen on %s (use -addr to choose another address): %w", cfg.Addr, err)
	}
	handler := &switchHandler{}
	handler.set(startingPage)
	sctx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- app.ServeHTTP(sctx, ln, app.NewHTTPServer(handler, log), "", "") }()
	baseURL := app.BaseURLFor(ln.Addr().String())
	fmt.Fprintf(cfg.Out, "Starting the reference helpdesk at %s (it shows a \"starting\" page until it is ready).\n", baseURL)

	a, sim, sa, err := prepare(ctx, cfg, dataDir, baseURL)
	if err != nil {
		stopServing()
		<-served
		return err
	}
	defer sim.Close()
	defer a.Close()
	handler.set(a.Handler())
	if err := a.StartMetrics(ctx); err != nil {
		fmt.Fprintf(cfg.Out, "\n!!! %v: the demo runs without /metrics.\n", err)
	}
	go a.RunBackground(ctx)
	preconfigured := false
	if cfg.Preconfigure {
		if err := preconfigure(ctx, a, sim, sa); err != nil {
			fmt.Fprintf(cfg.Out, "\n!!! -preconfigure failed: %v\n    Configure the plugin by hand with the values below.\n", err)
		} else {
			preconfigured = true
		}
	}
	printBanner(cfg.Out, baseURL, dataDir, sim, sa, preconfigured)
	return <-served
}

// prepare builds the plugin, starts the simulator and the helpdesk, and
// seeds the demo's operators and tickets.
func prepare(ctx context.Context, cfg Config, dataDir, baseURL string) (*app.App, *duosim.Server, duosim.App, error) {
	log := cfg.Logger
	root, err := pluginbuild.RepoRoot()
	if err != nil {
		return nil, nil, duosim.App{}, fmt.Errorf("demo: run it from inside the repository: %w", err)
	}
	bundleDir := app.DefaultBundleDir(dataDir)
	fmt.Fprintf(cfg.Out, "Building the Duo Security plugin into %s …\n", bundleDir)
	build := cfg.Build
	if build == nil {
		build = pluginbuild.Bundle
	}
	if _, err := build(ctx, root, bundleDir); err != nil {
		return nil, nil, duosim.App{}, fmt.Errorf("demo: build the plugin: %w", err)
	}

	simAppFile := filepath.Join(dataDir, "duo-simulator-app.json")
	sa, err := loadOrCreateSimApp(simAppFile)
	if err != nil {
		return nil, nil, duosim.App{}, fmt.Errorf("demo: simulator app: %w", err)
	}
	sim, err := duosim.Start(ctx, duosim.Config{
		Addr:   cfg.DuoAddr,
		Apps:   []duosim.App{sa},
		CAFile: filepath.Join(dataDir, "duo-simulator-ca.pem"),
		Logger: log,
	})
	if err != nil {
		return nil, nil, duosim.App{}, fmt.Errorf("demo: start the Duo simulator (use -duo-addr to choose another address): %w", err)
	}

	a, err := app.New(ctx, app.Config{
		DataDir:   dataDir,
		PluginDir: bundleDir,
		BaseURL:   baseURL,
		// The simulator's CA may be trusted only in this test mode.
		PluginEnv:   []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true"},
		MetricsAddr: cfg.MetricsAddr,
		Logger:      log,
	})
	if err != nil {
		_ = sim.Close()
		return nil, nil, duosim.App{}, fmt.Errorf("demo: %w", err)
	}

	for _, acc := range Accounts {
		created, err := app.SeedOperator(ctx, a.Store(), store.NewOperator{
			Username: acc.Username, Email: acc.Username + "@example.com", DisplayName: acc.Name, Role: acc.Role,
		}, acc.Password, cfg.BcryptCost)
		if err != nil {
			a.Close()
			_ = sim.Close()
			return nil, nil, duosim.App{}, fmt.Errorf("demo: seed %s: %w", acc.Username, err)
		}
		if created {
			log.Info("seeded demo operator", "username", acc.Username, "role", acc.Role)
		}
	}
	if n, err := a.Store().CountTickets(ctx); err == nil && n == 0 {
		for _, t := range [][2]string{
			{"Printer on floor 3 is jammed again", "dana@example.com"},
			{"Cannot reset my VPN password", "erik@example.com"},
			{"Request: new laptop for onboarding", "fatima@example.com"},
		} {
			_, _ = a.Store().CreateTicket(ctx, t[0], t[1], 0)
		}
	}
	return a, sim, sa, nil
}

// switchHandler serves the "starting" page until the helpdesk is ready,
// then the helpdesk.
type switchHandler struct{ h atomic.Pointer[http.Handler] }

func (s *switchHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *switchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// startingPage answers while the plugin builds: 503 with Retry-After, and
// a page that reloads itself (no script: a Refresh header).
var startingPage = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", "2")
	h.Set("Refresh", "2")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Starting…</title></head>`+
		`<body style="font-family:sans-serif;margin:3em"><h1>Starting: building the Duo Security plugin…</h1>`+
		`<p>The first start compiles the plugin, which can take a few minutes on a new machine. This page reloads by itself.</p></body></html>`)
})

var demoActor = contract.Actor{ID: "demo", Username: "demo (-preconfigure)", Role: contract.RoleSystem}

func preconfigure(ctx context.Context, a *app.App, sim *duosim.Server, sa duosim.App) error {
	active, err := a.Plugins().Active(ctx)
	if err != nil {
		return err
	}
	if !active {
		if _, err := a.Plugins().Activate(ctx, demoActor); err != nil {
			return err
		}
	}
	p, err := a.Plugins().Plugin()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := p.UpdateSettings(cctx, contract.UpdateSettingsRequest{
		Values: map[string]string{
			"client_id":             sa.ClientID,
			"client_secret":         sa.ClientSecret.Reveal(),
			"api_hostname":          sim.APIHost(),
			"ca_file":               sim.CAFile(),
			"fail_mode":             "closed",
			"username_format":       "username",
			"login_timeout_seconds": "300",
		},
		Actor: demoActor,
	})
	if err != nil {
		return err
	}
	if !res.Saved {
		msg := "the plugin refused the settings"
		for _, fe := range res.Errors {
			msg += "; " + fe.Field + ": " + fe.Message
		}
		return errors.New(msg)
	}
	return nil
}

func printBanner(w io.Writer, baseURL, dataDir string, sim *duosim.Server, sa duosim.App, preconfigured bool) {
	fmt.Fprintf(w, "\n================================================================\n")
	fmt.Fprintf(w, " Reference helpdesk with the Duo Security plugin — demo\n")
	fmt.Fprintf(w, "================================================================\n\n")
	fmt.Fprintf(w, " Open %s and sign in:\n\n", baseURL)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, acc := range Accounts {
		fmt.Fprintf(tw, "   %s\t%s\t(%s)\n", acc.Username, acc.Password, acc.Role)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n Duo simulator (stands in for Duo; no account needed):\n\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   Client ID\t%s\n", sa.ClientID)
	fmt.Fprintf(tw, "   Client secret\t%s\n", sa.ClientSecret.Reveal()) // printed on purpose: the demo's admin pastes it into Settings
	fmt.Fprintf(tw, "   API hostname\t%s\n", sim.APIHost())
	fmt.Fprintf(tw, "   Trusted CA file (testing only)\t%s\n", sim.CAFile())
	_ = tw.Flush()
	if preconfigured {
		fmt.Fprintf(w, "\n The plugin is activated and these settings are saved (-preconfigure).\n")
		fmt.Fprintf(w, " Next: as admin, Operators > Enable for alice; sign out; sign in as alice.\n")
	} else {
		fmt.Fprintf(w, "\n Next, as admin: Plugins > Duo Security > Activate > Settings, paste the\n")
		fmt.Fprintf(w, " four values above and Save (or restart with -preconfigure to skip this).\n")
		fmt.Fprintf(w, " Then Operators > Enable for alice; sign out; sign in as alice.\n")
	}
	fmt.Fprintf(w, "\n Note: the simulator's certificate is self-signed, so the browser warns\n")
	fmt.Fprintf(w, " once when it is first sent to https://%s: accept it to go on.\n", sim.APIHost())
	fmt.Fprintf(w, "\n Mail (recovery links, notices) goes to the admin's Outbox page, as no SMTP server is set.\n")
	fmt.Fprintf(w, "\n Data: %s\n", dataDir)
	fmt.Fprintf(w, " Locked out? In another shell: go run ./helpdesk/cmd/helpdesk plugins deactivate -data-dir %s\n", dataDir)
	fmt.Fprintf(w, " Stop with Ctrl-C.\n\n")
}
