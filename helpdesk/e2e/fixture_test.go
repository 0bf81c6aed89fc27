package e2e

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

// fixture is one test's world: a Duo simulator, the reference helpdesk
// (its own database, its own copy of the real plugin bundle, its mail kept
// in the Outbox) and a headless Chromium. Tests that each start one share
// nothing, so they run in parallel.
type fixture struct {
	t       *testing.T
	began   time.Time
	app     *app.App
	sim     *duosim.Server
	duoApp  duosim.App
	hdHost  string // the helpdesk's host:port
	simHost string // the simulator's host:port
	dataDir string
	// bundleDir is the plugin bundle the helpdesk loads.
	bundleDir string
	artifacts string
	// tmp is the test's temporary directory (t.TempDir()).
	tmp     string
	logPath string // the in-process helpdesk's log
	logFile *os.File
	// logPaths are every log the secrecy check reads: the in-process
	// helpdesk's, or each helpdesk process's (hdProc).
	logPaths []string
	browser  context.Context
	nshots   int
	// a11yChecked are the helpdesk paths axe-core has checked.
	a11yChecked map[string]bool
	// secrets are what the log must never contain, by name.
	secrets []namedSecret
}

type namedSecret struct{ name, value string }

// startFixture starts the simulator, the helpdesk and Chromium, and stops
// them when the test ends.
func startFixture(t *testing.T) *fixture {
	t.Helper()
	f := startWorld(t)
	ctx := t.Context()
	f.dataDir = filepath.Join(f.tmp, "data")

	// Everything the helpdesk and the plugin log, to check for secrets at
	// the end.
	f.logPath = filepath.Join(f.artifacts, "helpdesk.log")
	logFile, err := os.Create(f.logPath)
	if err != nil {
		t.Fatal(err)
	}
	f.logFile = logFile
	f.logPaths = append(f.logPaths, f.logPath)
	t.Cleanup(func() { _ = logFile.Close() })
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.hdHost = ln.Addr().String()
	f.app, err = app.New(ctx, app.Config{
		Addr:      f.hdHost,
		DataDir:   f.dataDir,
		PluginDir: f.bundleDir,
		BaseURL:   "http://" + f.hdHost,
		PluginEnv: pluginEnv,
		// A killed plugin stays down until an admin restarts it, so the
		// fail-closed step sees it down.
		PluginOptions: func(o *host.Options) { o.MaxRestarts = -1 },
		// No HELPDESK_SMTP_* from the machine's environment: mail goes to
		// the Outbox, where the test reads it.
		Getenv:     func(string) string { return "" },
		BcryptCost: bcrypt.MinCost,
		Logger:     logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.app.Close)
	srvCtx, stopServer := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- f.app.Serve(srvCtx, ln) }()
	t.Cleanup(func() {
		stopServer()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return f
}

// pluginEnv is what the plugin gets from the e2e helpdesks: the
// simulator's host (a loopback address) allowed as Duo's API host, and
// every line it logs, for the secrecy check.
var pluginEnv = []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_LOG_LEVEL=debug"}

// startWorld starts what every fixture has around its helpdesk(s): the
// simulator, a copy of the plugin bundle, Chromium and the artifacts
// directory, all stopped when the test ends. The caller starts the
// helpdesk and sets hdHost, the host:port the tabs browse.
func startWorld(t *testing.T) *fixture {
	t.Helper()
	chromium := findChromium(t)
	f := &fixture{t: t, began: time.Now()}
	f.artifacts = artifactsDir(t)
	t.Logf("screenshots and the helpdesk log go to %s", f.artifacts)
	f.tmp = t.TempDir()

	var err error
	f.sim, err = duosim.Start(t.Context(), duosim.Config{CAFile: filepath.Join(f.tmp, "duo-ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.sim.Close() })
	f.duoApp = f.sim.Apps()[0]
	f.simHost = f.sim.APIHost()
	f.secret("client secret", f.duoApp.ClientSecret.Reveal())

	manifest := pluginbuild.ForTest(t)
	f.bundleDir = filepath.Dir(manifest)
	t.Logf("plugin bundle ready after %v", time.Since(f.began).Round(time.Millisecond))

	// Trust the simulator's certificate, and only it.
	f.browser = startBrowser(t, chromium, filepath.Join(f.tmp, "chromium-profile"),
		chromedp.Flag("ignore-certificate-errors-spki-list", f.sim.SPKIHash()))
	return f
}

// newTab opens a tab with its own cookie jar.
func (f *fixture) newTab(name string) *tab {
	f.t.Helper()
	c, cancel := chromedp.NewContext(f.browser, chromedp.WithNewBrowserContext())
	f.t.Cleanup(cancel)
	// The first run opens the tab and binds it to the context it gets:
	// give it one without the per-step timeout.
	if err := chromedp.Do(c); err != nil {
		f.t.Fatalf("open tab %s: %v", name, err)
	}
	return &tab{t: f.t, name: name, ctx: c, base: "http://" + f.hdHost, fx: f}
}

// seed creates an operator (e-mail user@example.com) whose password the
// log must never show.
func (f *fixture) seed(username, password, role string) store.Operator {
	f.t.Helper()
	ctx := f.t.Context()
	if _, err := app.SeedOperator(ctx, f.app.Store(), store.NewOperator{
		Username: username, Email: username + "@example.com", Role: role,
	}, password, bcrypt.MinCost); err != nil {
		f.t.Fatal(err)
	}
	op, err := f.app.Store().OperatorByUsername(ctx, username)
	if err != nil {
		f.t.Fatal(err)
	}
	f.secret(username+"'s password", password)
	return op
}

// secret adds value to what the log must not contain.
func (f *fixture) secret(name, value string) {
	if value == "" {
		f.t.Fatalf("secret %s is empty", name)
	}
	f.secrets = append(f.secrets, namedSecret{name, value})
}

// code adds a backup or bypass code, as shown (xxxxx-xxxxx), to what the
// log must not contain, and also as the plugin reads it (no dash).
func (f *fixture) code(name, shown string) {
	f.secret(name, shown)
	f.secret(name+" without its dash", strings.ReplaceAll(shown, "-", ""))
}

// setUpDuo is the admin's part, through the pages: activate the plugin,
// save the simulator's credentials, and turn Duo on for users. The journey
// test checks each of these pages; here they only have to work.
func (f *fixture) setUpDuo(admin *tab, users ...string) {
	f.t.Helper()
	const pluginsPath = "/admin/plugins"
	admin.open(pluginsPath)
	admin.click("activate")
	admin.want([]string{"deactivate", "settings"}, []string{"activate"})
	admin.click("settings")
	admin.fill("client_id", f.duoApp.ClientID)
	admin.fill("client_secret", f.duoApp.ClientSecret.Reveal())
	admin.fill("api_hostname", f.simHost)
	admin.fill("ca_file", f.sim.CAFile())
	admin.click("save")
	if msg := admin.text("flash"); !strings.Contains(msg, "Settings saved") {
		admin.fail("saving the Duo settings: %q", msg)
	}
	for _, u := range users {
		admin.open("/admin/operators")
		admin.click("enable-" + u)
		if got := admin.text("duo-state-" + u); got != "Enabled" {
			admin.fail("%s's Duo state %q after enabling", u, got)
		}
	}
}

// checkLog fails the test if the helpdesk's logs (its own lines and the
// plugin's; every process's, when they are processes) hold any secret the test saw, or a query string that carries
// one.
func (f *fixture) checkLog() {
	f.t.Helper()
	if f.logFile != nil {
		_ = f.logFile.Sync()
	}
	var logged []byte
	for _, p := range f.logPaths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.t.Fatal(err)
		}
		logged = append(logged, b...)
	}
	// The check means something only if the plugin's own lines reached
	// this log (go-plugin forwards them under its module name).
	if !strings.Contains(string(logged), "duo-plugin") || !strings.Contains(string(logged), "plugin activated") {
		f.t.Fatalf("the log holds no line of the plugin's own, so the secrecy check would prove nothing:\n%.2000s", logged)
	}
	all := append([]namedSecret{
		{"duo_code", "duo_code="}, {"state query", "state="}, {"recovery token query", "token="},
	}, f.secrets...)
	for _, s := range all {
		if strings.Contains(string(logged), s.value) {
			f.t.Errorf("the log contains the %s", s.name)
		}
	}
	f.t.Logf("%d secrets checked absent from the log", len(all))
}

// done logs how long the test took and where its screenshots are.
func (f *fixture) done() {
	f.t.Logf("took %v (%d screenshots in %s)", time.Since(f.began).Round(time.Millisecond), f.nshots, f.artifacts)
}
