package trust

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The minimum of internal/integration's set-up, copied (a _test package
// cannot be imported): the real plugin bundle built once, the simulator
// over TLS, and the SDK.

func TestMain(m *testing.M) {
	// This binary also plays two other processes: the host of case 27
	// and the impostor of case 37.
	if manifest := os.Getenv(hostHelperEnv); manifest != "" {
		runHostHelper(manifest)
	}
	if marker := os.Getenv(impostorEnv); marker != "" {
		runImpostor(marker)
	}
	// Build before any test runs, so that no test's deadline is spent on it.
	if err := pluginbuild.Prepare(); err != nil {
		fmt.Fprintf(os.Stderr, "trust: cannot build the plugin bundle, so no test can run: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	pluginbuild.Cleanup()
	os.Exit(code)
}

const callbackURL = "http://127.0.0.1:9/login/duo/callback"

var (
	admin = contract.Actor{ID: "100", Username: "admin", IP: "127.0.0.1", Role: contract.RoleAdmin}
	alice = contract.Operator{ID: "1", Username: "alice", Email: "alice@example.com"}
	bob   = contract.Operator{ID: "2", Username: "bob", Email: "bob@example.com"}
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// activateRequest is the host's activation of the plugin on dataDir.
func activateRequest(dataDir string) contract.ActivateRequest {
	return contract.ActivateRequest{Host: contract.HostInfo{Name: "trust"}, CallbackURL: callbackURL, DataDir: dataDir, Actor: admin}
}

// startPlugin starts the real plugin through the SDK, its log (and the
// SDK's) at debug level in the returned buffer, and closes it when the
// test ends. With record, the host's record says the plugin is active
// with it, so every process the SDK starts is activated (and one that
// cannot be stays inactive); without, it starts inactive.
func startPlugin(t *testing.T, record *contract.ActivateRequest, tweak func(*host.Options)) (*host.Plugin, *testlog.Buffer) {
	t.Helper()
	logs := &testlog.Buffer{}
	opts := host.Options{
		ManifestPath: pluginbuild.ForTest(t),
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Env: []string{"DUO_PLUGIN_LOG_LEVEL=debug", "DUO_PLUGIN_DUO_TIMEOUT=2s",
			"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s"},
		CallTimeout: 10 * time.Second,
	}
	if record != nil {
		req := *record
		opts.Activation = func(context.Context) (contract.ActivateRequest, bool, error) { return req, true, nil }
	}
	if tweak != nil {
		tweak(&opts)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := host.Start(sctx, opts)
	if err != nil {
		t.Fatalf("host.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Logf("close plugin: %v", err)
		}
	})
	return p, logs
}

// env is one plugin process, activated against its own simulator, with
// the settings saved and checked with Duo.
type env struct {
	t       *testing.T
	p       *host.Plugin
	sim     *duosim.Server
	logs    *testlog.Buffer
	dataDir string
}

type envConfig struct {
	sim      duosim.Config
	failMode string // "" is the default setting
	// values override the saved settings; an empty value unsets one.
	values       map[string]string
	skipDuoCheck bool
	tweak        func(*host.Options)
}

func newEnv(t *testing.T, cfg envConfig, ops ...contract.Operator) *env {
	t.Helper()
	ctx := ctxT(t)
	if cfg.sim.SlowDelay == 0 {
		cfg.sim.SlowDelay = 10 * time.Second
	}
	sim := duosim.StartTest(t, cfg.sim)
	dataDir := filepath.Join(t.TempDir(), "plugin-data")
	req := activateRequest(dataDir)
	p, logs := startPlugin(t, &req, cfg.tweak)
	if act, err := p.Activate(ctx, req); err != nil || !act.Status.Active {
		t.Fatalf("Activate = %+v, %v", act, err)
	}
	app := sim.Apps()[0]
	values := map[string]string{"client_id": app.ClientID, "client_secret": app.ClientSecret.Reveal(),
		"api_hostname": sim.APIHost(), "ca_file": sim.CAFile()}
	if cfg.failMode != "" {
		values["fail_mode"] = cfg.failMode
	}
	for k, v := range cfg.values {
		if v == "" {
			delete(values, k)
		} else {
			values[k] = v
		}
	}
	res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Actor: admin, Values: values, SkipDuoCheck: cfg.skipDuoCheck})
	if err != nil || !res.Saved || (!cfg.skipDuoCheck && !res.Duo.OK) {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	for _, op := range ops {
		if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: op, Enabled: true, Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	return &env{t: t, p: p, sim: sim, logs: logs, dataDir: dataDir}
}

var client = contract.ClientInfo{IP: "203.0.113.7", UserAgent: "trust"}

func (e *env) begin(op contract.Operator) contract.BeginLoginResponse {
	e.t.Helper()
	res, err := e.p.BeginLogin(ctxT(e.t), contract.BeginLoginRequest{Operator: op, Client: client})
	if err != nil {
		e.t.Fatalf("BeginLogin(%s): %v", op.Username, err)
	}
	return res
}

// redirect is BeginLogin that must answer REDIRECT.
func (e *env) redirect(op contract.Operator) contract.BeginLoginResponse {
	e.t.Helper()
	b := e.begin(op)
	if b.Decision != contract.DecisionRedirect || b.State == "" {
		e.t.Fatalf("BeginLogin(%s) = %+v, want REDIRECT", op.Username, b)
	}
	return b
}

func (e *env) complete(op contract.Operator, sessionState, callbackState, code string) contract.CompleteLoginResponse {
	e.t.Helper()
	res, err := e.p.CompleteLogin(ctxT(e.t), contract.CompleteLoginRequest{Operator: op, SessionState: sessionState,
		CallbackState: callbackState, DuoCode: code, Client: client})
	if err != nil {
		e.t.Fatalf("CompleteLogin(%s): %v", op.Username, err)
	}
	return res
}

func (e *env) confirm(op contract.Operator, ticket string) contract.CompleteLoginResponse {
	e.t.Helper()
	res, err := e.p.ConfirmBackupCodes(ctxT(e.t), contract.ConfirmBackupCodesRequest{Operator: op, Ticket: ticket, Client: client})
	if err != nil {
		e.t.Fatalf("ConfirmBackupCodes(%s): %v", op.Username, err)
	}
	return res
}

func (e *env) redeem(op contract.Operator, code string) contract.CompleteLoginResponse {
	e.t.Helper()
	res, err := e.p.RedeemCode(ctxT(e.t), contract.RedeemCodeRequest{Operator: op, Code: code, Client: client})
	if err != nil {
		e.t.Fatalf("RedeemCode(%s): %v", op.Username, err)
	}
	return res
}

// browser follows the authorize URL at the (scripted) simulator and
// returns the callback's query.
func (e *env) browser(authURL string) url.Values {
	e.t.Helper()
	c := e.sim.HTTPClient(10 * time.Second)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	if err != nil {
		e.t.Fatalf("browser at Duo: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("Duo answered %d, want a redirect to the callback (prompt form: %v)", resp.StatusCode,
			regexp.MustCompile(`name="txid"`).Match(body))
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), callbackURL) {
		e.t.Fatalf("redirected to %q, want the callback", resp.Header.Get("Location"))
	}
	return loc.Query()
}

// setUpCodes signs op in with Duo for the first time, confirms the backup
// codes shown and returns them.
func (e *env) setUpCodes(op contract.Operator) []string {
	e.t.Helper()
	b := e.redirect(op)
	q := e.browser(b.RedirectURL)
	res := e.complete(op, b.State, q.Get("state"), q.Get("duo_code"))
	if res.Decision != contract.DecisionConfirmBackupCodes || len(res.BackupCodes) == 0 {
		e.t.Fatalf("first Duo login of %s = %+v, want CONFIRM_BACKUP_CODES", op.Username, res)
	}
	if c := e.confirm(op, res.BackupCodesTicket); c.Decision != contract.DecisionAllowed {
		e.t.Fatalf("confirm = %+v", c)
	}
	return res.BackupCodes
}

// events is the operator's audit log of kind, newest first, read back as
// an admin.
func (e *env) events(op contract.Operator, kind string) []contract.AuthEvent {
	e.t.Helper()
	res, err := e.p.ListAuthEvents(ctxT(e.t), contract.ListAuthEventsRequest{Actor: admin, PageSize: 500,
		Filter: contract.AuthEventFilter{OperatorID: op.ID, Kinds: []string{kind}}})
	if err != nil {
		e.t.Fatalf("ListAuthEvents: %v", err)
	}
	if res.NextPageToken != "" {
		e.t.Fatal("more than one page of events: the test reads only one")
	}
	return res.Events
}

// wantLastEvent fails unless the operator's newest event of kind has the
// outcome and reason.
func (e *env) wantLastEvent(op contract.Operator, kind, outcome string, reason contract.LoginReason) contract.AuthEvent {
	e.t.Helper()
	evs := e.events(op, kind)
	if len(evs) == 0 {
		e.t.Fatalf("no %s event for operator %s", kind, op.ID)
	}
	ev := evs[0]
	if ev.Outcome != outcome || ev.Reason != string(reason) {
		e.t.Fatalf("newest %s event of operator %s: outcome %q reason %q (detail %q), want %q %q",
			kind, op.ID, ev.Outcome, ev.Reason, ev.Detail, outcome, reason)
	}
	return ev
}

// wantDenied fails unless res is DENIED for reason with a message for the
// browser that does not name the reason.
func wantDenied(t *testing.T, what string, d contract.LoginDecision, got contract.LoginReason, msg string, want contract.LoginReason) {
	t.Helper()
	if d != contract.DecisionDenied || got != want {
		t.Fatalf("%s: decision %v reason %q, want DENIED %s", what, d, got, want)
	}
	if msg == "" || strings.Contains(msg, string(want)) {
		t.Fatalf("%s: message for the browser %q is empty or leaks the reason", what, msg)
	}
}

// oneWins makes call n times at once and checks that exactly one is
// ALLOWED and every other DENIED with loser.
func oneWins(t *testing.T, what string, n int, loser contract.LoginReason, call func() (contract.CompleteLoginResponse, error)) {
	t.Helper()
	results := make([]contract.CompleteLoginResponse, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = call()
		})
	}
	close(start)
	wg.Wait()
	allowed, lost := 0, 0
	for i, r := range results {
		switch {
		case errs[i] != nil:
			t.Fatalf("%s %d: %v", what, i, errs[i])
		case r.Decision == contract.DecisionAllowed:
			allowed++
		case r.Decision == contract.DecisionDenied && r.Reason == loser:
			lost++
		default:
			t.Fatalf("%s %d = %+v, want ALLOWED or DENIED %s", what, i, r, loser)
		}
	}
	if allowed != 1 || lost != n-1 {
		t.Fatalf("%s %d times at once: %d allowed and %d denied %s, want 1 and %d", what, n, allowed, lost, loser, n-1)
	}
}
