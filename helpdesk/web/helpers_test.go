package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// fakePlugin is a hand-written stand-in for the plugin process. Its login
// hooks answer what the test sets; it counts the calls.
type fakePlugin struct {
	contract.Recovery // nil until a test needs it
	contract.AuthLog  // nil until a test needs it
	contract.Metrics  // nil until a test needs it

	mu      sync.Mutex
	redeem  func(req contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error)
	confirm func(req contract.ConfirmBackupCodesRequest) (contract.CompleteLoginResponse, error)
	recover func(req contract.RedeemRecoveryLinkRequest) (contract.CompleteLoginResponse, error)
	regen   func(req contract.RegenerateBackupCodesRequest) (contract.RegenerateBackupCodesResponse, error)
	// setEnabled answers SetOperatorEnabled; nil sets the toggle as asked.
	setEnabled func(req contract.SetOperatorEnabledRequest) (contract.SetOperatorEnabledResponse, error)
	issued     []contract.IssueBypassCodeRequest
	// states and listCodes, when set, answer GetOperatorStates and
	// ListBypassCodes instead of the defaults.
	states    func(req contract.GetOperatorStatesRequest) (contract.GetOperatorStatesResponse, error)
	listCodes func(req contract.ListBypassCodesRequest) (contract.ListBypassCodesResponse, error)
	actors    []contract.Actor // of every call that carries one, in order
	begin     func(op contract.Operator) (contract.BeginLoginResponse, error)
	complete  func(req contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error)
	calls     map[string]int
	active    bool
	phase     host.Phase
	health    contract.DuoHealth
	// status, when set, answers Status instead of the default.
	status func() (contract.StatusResponse, error)
	// update, when set, answers UpdateSettings instead of saving.
	update func(req contract.UpdateSettingsRequest) (contract.UpdateSettingsResponse, error)
	logins contract.LoginCounts
	// statesAsked are the GetOperatorStates requests, in order.
	statesAsked []contract.GetOperatorStatesRequest
	// unlock answers UnlockOperator when set; unlocks are the requests.
	unlock  func(req contract.UnlockOperatorRequest) (contract.UnlockOperatorResponse, error)
	unlocks []contract.UnlockOperatorRequest
	// listEvents and export answer the authentication log's calls;
	// listed are ListAuthEvents's requests.
	listEvents func(req contract.ListAuthEventsRequest) (contract.ListAuthEventsResponse, error)
	listed     []contract.ListAuthEventsRequest
	export     func(ctx context.Context, req contract.ExportAuthEventsRequest, send func(contract.ExportChunk) error) error
}

func newFakePlugin() *fakePlugin {
	return &fakePlugin{calls: map[string]int{}, phase: host.PhaseRunning,
		begin: func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionNotRequired}, nil
		},
		complete: func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
			return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Message: "no"}, nil
		},
	}
}

func (f *fakePlugin) count(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[name]++
}

func (f *fakePlugin) Calls(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakePlugin) set(fn func(f *fakePlugin)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakePlugin) Activate(context.Context, contract.ActivateRequest) (contract.ActivateResponse, error) {
	f.count("Activate")
	f.set(func(f *fakePlugin) { f.active = true })
	return contract.ActivateResponse{Status: contract.StatusResponse{Active: true}}, nil
}

func (f *fakePlugin) Deactivate(context.Context, contract.DeactivateRequest) (contract.DeactivateResponse, error) {
	f.count("Deactivate")
	f.set(func(f *fakePlugin) { f.active = false })
	return contract.DeactivateResponse{}, nil
}

func (f *fakePlugin) Uninstall(_ context.Context, req contract.UninstallRequest) (contract.UninstallResponse, error) {
	f.count("Uninstall")
	return contract.UninstallResponse{Removed: []string{req.DataDir}}, nil
}

func (f *fakePlugin) Status(context.Context, contract.StatusRequest) (contract.StatusResponse, error) {
	f.count("Status")
	f.mu.Lock()
	status := f.status
	resp := contract.StatusResponse{Active: f.active, Duo: f.health, Logins: f.logins}
	f.mu.Unlock()
	if status != nil {
		return status()
	}
	return resp, nil
}

func (f *fakePlugin) GetSettings(context.Context, contract.GetSettingsRequest) (contract.GetSettingsResponse, error) {
	return contract.GetSettingsResponse{Values: map[string]string{}, SecretSet: map[string]bool{}}, nil
}

func (f *fakePlugin) UpdateSettings(_ context.Context, req contract.UpdateSettingsRequest) (contract.UpdateSettingsResponse, error) {
	f.count("UpdateSettings")
	f.mu.Lock()
	update := f.update
	f.mu.Unlock()
	if update != nil {
		return update(req)
	}
	return contract.UpdateSettingsResponse{Saved: true}, nil
}

func (f *fakePlugin) CheckDuo(context.Context, contract.CheckDuoRequest) (contract.CheckDuoResponse, error) {
	return contract.CheckDuoResponse{Duo: contract.DuoHealth{Checked: true, OK: true}}, nil
}

func (f *fakePlugin) SetOperatorEnabled(_ context.Context, req contract.SetOperatorEnabledRequest) (contract.SetOperatorEnabledResponse, error) {
	f.count("SetOperatorEnabled")
	f.mu.Lock()
	fn := f.setEnabled
	f.mu.Unlock()
	if fn != nil {
		return fn(req)
	}
	return contract.SetOperatorEnabledResponse{State: contract.OperatorState{OperatorID: req.Operator.ID, Enabled: req.Enabled}}, nil
}

func (f *fakePlugin) GetOperatorStates(_ context.Context, req contract.GetOperatorStatesRequest) (contract.GetOperatorStatesResponse, error) {
	f.count("GetOperatorStates")
	f.mu.Lock()
	fn := f.states
	f.statesAsked = append(f.statesAsked, req)
	f.mu.Unlock()
	if fn != nil {
		return fn(req)
	}
	// As the contract says: the ids first, then the operators.
	var out contract.GetOperatorStatesResponse
	for _, id := range req.OperatorIDs {
		out.States = append(out.States, contract.OperatorState{OperatorID: id})
	}
	for _, op := range req.Operators {
		out.States = append(out.States, contract.OperatorState{OperatorID: op.ID})
	}
	return out, nil
}

func (f *fakePlugin) ListEnabledOperators(context.Context, contract.ListEnabledOperatorsRequest) (contract.ListEnabledOperatorsResponse, error) {
	return contract.ListEnabledOperatorsResponse{}, nil
}

func (f *fakePlugin) SetOperatorAlias(_ context.Context, req contract.SetOperatorAliasRequest) (contract.SetOperatorAliasResponse, error) {
	return contract.SetOperatorAliasResponse{State: contract.OperatorState{OperatorID: req.Operator.ID, DuoAlias: req.DuoAlias}}, nil
}

func (f *fakePlugin) BeginLogin(_ context.Context, req contract.BeginLoginRequest) (contract.BeginLoginResponse, error) {
	f.count("BeginLogin")
	f.mu.Lock()
	fn := f.begin
	f.mu.Unlock()
	return fn(req.Operator)
}

func (f *fakePlugin) CompleteLogin(_ context.Context, req contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
	f.count("CompleteLogin")
	f.mu.Lock()
	fn := f.complete
	f.mu.Unlock()
	return fn(req)
}

func (f *fakePlugin) RedeemCode(_ context.Context, req contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error) {
	f.count("RedeemCode")
	f.mu.Lock()
	fn := f.redeem
	f.mu.Unlock()
	return fn(req)
}

func (f *fakePlugin) ConfirmBackupCodes(_ context.Context, req contract.ConfirmBackupCodesRequest) (contract.CompleteLoginResponse, error) {
	f.count("ConfirmBackupCodes")
	f.mu.Lock()
	fn := f.confirm
	f.mu.Unlock()
	return fn(req)
}

func (f *fakePlugin) saw(a contract.Actor) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actors = append(f.actors, a)
}

func (f *fakePlugin) IssueBypassCode(_ context.Context, req contract.IssueBypassCodeRequest) (contract.IssueBypassCodeResponse, error) {
	f.count("IssueBypassCode")
	f.saw(req.Actor)
	f.set(func(f *fakePlugin) { f.issued = append(f.issued, req) })
	return contract.IssueBypassCodeResponse{Code: "12345-67890", BypassCode: contract.BypassCode{ID: "b1", OperatorID: req.Operator.ID, UsesLeft: 1,
		IssuedBy: req.Actor.Username, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}}, nil
}

func (f *fakePlugin) RegenerateBackupCodes(_ context.Context, req contract.RegenerateBackupCodesRequest) (contract.RegenerateBackupCodesResponse, error) {
	f.count("RegenerateBackupCodes")
	f.saw(req.Actor)
	f.mu.Lock()
	fn := f.regen
	f.mu.Unlock()
	return fn(req)
}

func (f *fakePlugin) ListBypassCodes(_ context.Context, req contract.ListBypassCodesRequest) (contract.ListBypassCodesResponse, error) {
	f.count("ListBypassCodes")
	f.saw(req.Actor)
	f.mu.Lock()
	fn := f.listCodes
	f.mu.Unlock()
	if fn != nil {
		return fn(req)
	}
	return contract.ListBypassCodesResponse{}, nil
}

func (f *fakePlugin) RevokeBypassCode(_ context.Context, req contract.RevokeBypassCodeRequest) (contract.RevokeBypassCodeResponse, error) {
	f.count("RevokeBypassCode")
	f.saw(req.Actor)
	return contract.RevokeBypassCodeResponse{}, nil
}

func (f *fakePlugin) CreateRecoveryLink(_ context.Context, req contract.CreateRecoveryLinkRequest) (contract.CreateRecoveryLinkResponse, error) {
	f.count("CreateRecoveryLink")
	f.saw(req.Actor)
	if req.Actor.Role != contract.RoleAdmin {
		return contract.CreateRecoveryLinkResponse{}, contract.Errorf(contract.ReasonPermission, "admins only")
	}
	return contract.CreateRecoveryLinkResponse{Token: "recovery-token-for-" + req.Operator.ID, ExpiresAt: time.Now().Add(24 * time.Hour)}, nil
}

func (f *fakePlugin) RedeemRecoveryLink(_ context.Context, req contract.RedeemRecoveryLinkRequest) (contract.CompleteLoginResponse, error) {
	f.count("RedeemRecoveryLink")
	f.mu.Lock()
	fn := f.recover
	f.mu.Unlock()
	return fn(req)
}

func (f *fakePlugin) State() host.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return host.State{Phase: f.phase, PID: 4242}
}

func (f *fakePlugin) Close() error { return nil }

// testManifest is a valid plugin.json; the fake never runs its executable.
const testManifest = `{"id":"duo-security","name":"Duo Security","version":"0.1.0","protocol_version":1,
"executables":{"linux-amd64":{"path":"bin/duo-plugin"}},
"settings_schema":[{"key":"client_id","display_name":"Client ID","type":"text","required":true},
{"key":"client_secret","display_name":"Client secret","type":"secret","required":true}]}`

type env struct {
	t      *testing.T
	st     *store.Store
	mgr    *plugins.Manager
	fake   *fakePlugin
	srv    *httptest.Server
	mail   *mailbox
	log    *testlog.Buffer
	dbPath string // the helpdesk's SQLite file (with its -wal beside it)
}

// dbBytes is everything the helpdesk's database files hold on disk.
func (e *env) dbBytes() []byte {
	e.t.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(e.dbPath + suffix)
		if err != nil && !os.IsNotExist(err) {
			e.t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// logs is everything the helpdesk logged so far.
func (e *env) logs() string { return e.log.String() }

// mailbox keeps what the helpdesk mailed.
type mailbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	if err := msg.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

func (m *mailbox) all() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mail.Message(nil), m.sent...)
}

type envOpts struct {
	web      func(*web.Config)
	manifest string // the bundle's plugin.json; testManifest when empty
	startErr error  // the plugin process does not start
	// start, when set, starts the plugin instead of the fake (startErr
	// is then unused); bundle holds more files of the bundle, by their
	// path in it, written executable.
	start  plugins.StartFunc
	bundle map[string]string
	// installRoot, when set, is an install root (host.Install's layout)
	// the manager runs the current release of; manifest and bundle are
	// then unused.
	installRoot string
	// open, when set, opens the helpdesk's database instead of a new
	// SQLite file: another instance's, shared. seeded says its operators
	// are there already.
	open   func(t *testing.T) *store.Store
	seeded bool
}

const password = "correct horse battery"

// newEnv starts a helpdesk with a fake plugin and the operators admin,
// alice and bob (all with password).
func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	var st *store.Store
	if o.open != nil {
		st = o.open(t)
	} else {
		var err error
		if st, err = store.Open(ctx, filepath.Join(dir, "helpdesk.db")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
	}
	bundle := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := o.manifest
	if manifest == "" {
		manifest = testManifest
	}
	if err := os.WriteFile(filepath.Join(bundle, "plugin.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range o.bundle {
		path := filepath.Join(bundle, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if o.installRoot != "" {
		bundle = o.installRoot
	}
	fake := newFakePlugin()
	start := o.start
	if start == nil {
		start = func(context.Context, string, plugins.Activation) (plugins.Plugin, error) {
			if o.startErr != nil {
				return nil, o.startErr
			}
			return fake, nil
		}
	}
	logged := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logged, nil))
	mgr, err := plugins.New(plugins.Config{
		Store: st, BundleDir: bundle, InstallRoot: o.installRoot != "", DataDir: filepath.Join(dir, "plugin-data"),
		CallbackURL: "http://helpdesk.test" + web.CallbackPath, Logger: log,
		Start: start,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Init(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Close() })
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ name, role string }{{"admin", store.RoleAdmin}, {"alice", store.RoleAgent}, {"bob", store.RoleAgent}, {"helen", store.RoleHelpDesk}} {
		if o.seeded {
			break
		}
		if _, err := st.CreateOperator(ctx, store.NewOperator{Username: u.name, Email: u.name + "@example.com", Role: u.role, PasswordHash: string(hash)}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewUnstartedServer(nil)
	base, _ := url.Parse("http://" + srv.Listener.Addr().String())
	box := &mailbox{}
	cfg := web.Config{Store: st, Plugins: mgr, BaseURL: base, Logger: log, Mail: box, Outbox: st}
	if o.web != nil {
		o.web(&cfg)
	}
	w, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = w.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, mgr: mgr, fake: fake, srv: srv, mail: box, log: logged, dbPath: filepath.Join(dir, "helpdesk.db")}
}

// activate marks the plugin active, as the Plugins page does.
func (e *env) activate() {
	e.t.Helper()
	if _, err := e.mgr.Activate(e.t.Context(), contract.Actor{ID: "test"}); err != nil {
		e.t.Fatal(err)
	}
}

// client is one browser: a cookie jar, no automatic redirects.
type client struct {
	t    *testing.T
	base string // the helpdesk's URL
	hc   *http.Client
	last string // body of the last response
	lang string // Accept-Language of every request, if set
}

func (e *env) client() *client { return newClient(e.t, e.srv.URL) }

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *client) do(req *http.Request) *http.Response {
	c.t.Helper()
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.last = string(b)
	return resp
}

func (c *client) get(path string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.do(req)
}

func (c *client) post(path string, form url.Values) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// postForm posts form with the CSRF token of the last page.
func (c *client) postForm(path string, form url.Values) *http.Response {
	c.t.Helper()
	form.Set("csrf_token", c.csrf())
	return c.post(path, form)
}

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf is the token in the last page.
func (c *client) csrf() string {
	c.t.Helper()
	m := csrfPattern.FindStringSubmatch(c.last)
	if m == nil {
		c.t.Fatalf("no CSRF token in the page:\n%s", c.last)
	}
	return m[1]
}

func (c *client) sessionCookie() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == web.CookieName(false) {
			return ck.Value
		}
	}
	return ""
}

// login fills the sign-in form and returns the answer to the POST.
func (c *client) login(username, pass, next string) *http.Response {
	c.t.Helper()
	c.get("/login")
	return c.post("/login", url.Values{"csrf_token": {c.csrf()}, "username": {username}, "password": {pass}, "next": {next}})
}

// signedIn logs in with no second factor and asserts it worked.
func (c *client) signedIn(username string) {
	c.t.Helper()
	resp := c.login(username, password, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		c.t.Fatalf("sign-in of %s: %d %s", username, resp.StatusCode, resp.Header.Get("Location"))
	}
	c.get("/")
}

var errBoom = errors.New("boom")

func (f *fakePlugin) UnlockOperator(_ context.Context, req contract.UnlockOperatorRequest) (contract.UnlockOperatorResponse, error) {
	f.count("UnlockOperator")
	f.saw(req.Actor)
	f.mu.Lock()
	f.unlocks = append(f.unlocks, req)
	fn := f.unlock
	f.mu.Unlock()
	if fn != nil {
		return fn(req)
	}
	return contract.UnlockOperatorResponse{State: contract.OperatorState{OperatorID: req.Operator.ID}}, nil
}

func (f *fakePlugin) ListAuthEvents(_ context.Context, req contract.ListAuthEventsRequest) (contract.ListAuthEventsResponse, error) {
	f.count("ListAuthEvents")
	f.saw(req.Actor)
	f.mu.Lock()
	f.listed = append(f.listed, req)
	fn := f.listEvents
	f.mu.Unlock()
	if fn == nil {
		return contract.ListAuthEventsResponse{}, nil
	}
	return fn(req)
}

func (f *fakePlugin) ExportAuthEvents(ctx context.Context, req contract.ExportAuthEventsRequest, send func(contract.ExportChunk) error) error {
	f.count("ExportAuthEvents")
	f.saw(req.Actor)
	f.mu.Lock()
	fn := f.export
	f.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(ctx, req, send)
}
