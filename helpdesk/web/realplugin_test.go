package web_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// realEnv is the whole reference helpdesk (helpdesk/app, as the command
// runs it) with the real plugin binary, activated and set up against a
// scripted Duo simulator (every Duo prompt approves at once). Duo is on
// for alice and bob (agents); admin is an admin without Duo.
type realEnv struct {
	t      *testing.T
	app    *app.App
	sim    *duosim.Server
	base   string // the helpdesk's URL
	dbPath string
	log    *testlog.Buffer
	ops    map[string]store.Operator
}

var realAdmin = contract.Actor{ID: "0", Username: "system", Role: contract.RoleAdmin}

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	return newRealEnvOf(t, pluginbuild.ForTest(t))
}

// newRealEnvOf is newRealEnv with the plugin bundle of manifest (one built
// with test-only tags, say).
func newRealEnvOf(t *testing.T, manifest string) *realEnv {
	t.Helper()
	ctx := t.Context()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logged := &testlog.Buffer{}
	a, err := app.New(ctx, app.Config{
		Addr: ln.Addr().String(), DataDir: dir, PluginDir: filepath.Dir(manifest),
		BaseURL:   "http://" + ln.Addr().String(),
		PluginEnv: []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s"},
		// A stopped plugin stays stopped.
		PluginOptions: func(o *host.Options) { o.MaxRestarts = -1 },
		Getenv:        func(string) string { return "" },
		BcryptCost:    bcrypt.MinCost,
		Logger:        slog.New(slog.NewTextHandler(logged, nil)),
		// The tests make many wrong attempts on purpose.
		Web: func(c *web.Config) { c.UserFailureLimit, c.IPFailureLimit = 1000, 1000 },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(sctx, ln) }()
	t.Cleanup(func() { stop(); <-served })

	e := &realEnv{t: t, app: a, sim: sim, base: "http://" + ln.Addr().String(),
		dbPath: filepath.Join(dir, app.DBFile), log: logged, ops: map[string]store.Operator{}}
	for _, u := range []struct{ name, role string }{{"admin", store.RoleAdmin}, {"alice", store.RoleAgent}, {"bob", store.RoleAgent}} {
		if _, err := app.SeedOperator(ctx, a.Store(), store.NewOperator{Username: u.name, Email: u.name + "@example.com", Role: u.role}, password, bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
		op, err := a.Store().OperatorByUsername(ctx, u.name)
		if err != nil {
			t.Fatal(err)
		}
		e.ops[u.name] = op
	}
	if _, err := a.Plugins().Activate(ctx, realAdmin); err != nil {
		t.Fatal(err)
	}
	duoApp := sim.Apps()[0]
	p := e.plugin()
	res, err := p.UpdateSettings(e.ctx(), contract.UpdateSettingsRequest{Actor: realAdmin, Values: map[string]string{
		"client_id": duoApp.ClientID, "client_secret": duoApp.ClientSecret.Reveal(),
		"api_hostname": sim.APIHost(), "ca_file": sim.CAFile(), "lockout_threshold": "100"}})
	if err != nil || !res.Saved || !res.Duo.OK {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	for _, name := range []string{"alice", "bob"} {
		if _, err := p.SetOperatorEnabled(e.ctx(), contract.SetOperatorEnabledRequest{Operator: web.PluginOperator(e.ops[name]), Enabled: true, Actor: realAdmin}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *realEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

func (e *realEnv) plugin() plugins.Plugin {
	e.t.Helper()
	p, err := e.app.Plugins().Plugin()
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *realEnv) client() *client { return newClient(e.t, e.base) }

// callbackURL is the Duo callback URL the helpdesk gave the plugin.
func (e *realEnv) callbackURL() string {
	u, _ := url.Parse(e.base)
	return web.CallbackURL(u)
}

// events is the operator's audit log, newest first, read back as an admin.
func (e *realEnv) events(name string) []contract.AuthEvent {
	e.t.Helper()
	res, err := e.plugin().ListAuthEvents(e.ctx(), contract.ListAuthEventsRequest{Actor: realAdmin, PageSize: 500,
		Filter: contract.AuthEventFilter{OperatorID: strconv.FormatInt(e.ops[name].ID, 10)}})
	if err != nil {
		e.t.Fatalf("ListAuthEvents: %v", err)
	}
	return res.Events
}

// authenticatedSessions counts the signed-in sessions of an operator in
// the helpdesk's database, whichever browser holds them.
func (e *realEnv) authenticatedSessions(name string) int {
	e.t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(e.ctx(), `SELECT COUNT(*) FROM sessions WHERE kind = 'authenticated' AND operator_id = ?`, e.ops[name].ID).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// duoURL is the authorization URL of the Duo step page c shows.
func duoURL(t *testing.T, c *client) string {
	t.Helper()
	m := regexp.MustCompile(`href="([^"]+)" id="continue-to-duo"`).FindStringSubmatch(c.last)
	if m == nil {
		t.Fatalf("no link to Duo in the page:\n%s", c.last)
	}
	return html.UnescapeString(m[1])
}

// requestClaims are the claims of the request JWT in an authorization URL
// (read, not verified: the simulator verifies it).
func requestClaims(t *testing.T, authURL string) map[string]any {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(u.Query().Get("request"), ".")
	if len(parts) != 3 {
		t.Fatalf("authorization URL %q has no request JWT", authURL)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// atDuo follows an authorization URL at the scripted simulator, which
// approves at once, and returns where Duo sends the browser back.
func (e *realEnv) atDuo(authURL string) *url.URL {
	e.t.Helper()
	hc := e.sim.HTTPClient(10 * time.Second)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(authURL)
	if err != nil {
		e.t.Fatalf("browser at Duo: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		e.t.Fatalf("Duo answered %d %q, want a redirect back", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc
}

// passwordThenDuo signs name in with the password and next, and brings
// back Duo's callback (path and query, as the browser would request it)
// without requesting it.
func (e *realEnv) passwordThenDuo(c *client, name, next string) string {
	e.t.Helper()
	if resp := c.login(name, password, next); resp.StatusCode != http.StatusOK {
		e.t.Fatalf("password of %s: %d, want the Duo step", name, resp.StatusCode)
	}
	back := e.atDuo(duoURL(e.t, c))
	if got := back.Scheme + "://" + back.Host + back.Path; got != e.callbackURL() {
		e.t.Fatalf("Duo sent the browser to %q, want the callback %q", got, e.callbackURL())
	}
	return back.RequestURI()
}

// signInWithDuo signs name in all the way (confirming the first backup
// codes when asked) and returns the last answer: a redirect where the
// sign-in lands.
func (e *realEnv) signInWithDuo(c *client, name, next string) *http.Response {
	e.t.Helper()
	resp, _ := e.signInWithDuoCodes(c, name, next)
	return resp
}

// shownCodes are the backup codes on the page c shows.
func shownCodes(c *client) []string {
	var codes []string
	for _, m := range regexp.MustCompile(`name="code" value="([^"]+)"`).FindAllStringSubmatch(c.last, -1) {
		codes = append(codes, m[1])
	}
	return codes
}

// signInWithDuoCodes is signInWithDuo, and the first backup codes it
// confirmed, if any.
func (e *realEnv) signInWithDuoCodes(c *client, name, next string) (*http.Response, []string) {
	e.t.Helper()
	resp := c.get(e.passwordThenDuo(c, name, next))
	var codes []string
	if resp.StatusCode == http.StatusOK && strings.Contains(c.last, `action="/login/backup-codes"`) {
		codes = shownCodes(c)
		resp = c.postForm("/login/backup-codes", url.Values{"saved": {"yes"}, "code": codes})
	}
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign-in of %s with Duo: %d\n%s", name, resp.StatusCode, c.last)
	}
	return resp, codes
}
