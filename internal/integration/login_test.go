package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

const callbackURL = "http://127.0.0.1:9/login/duo/callback"

type loginEnv struct {
	t   *testing.T
	p   *host.Plugin
	sim *duosim.Server
	s   started
	app duosim.App
	// record is the host's record of the activation, which the SDK asks
	// before every (re)start; activation is the request it holds.
	record     *hostRecord
	activation contract.ActivateRequest

	// seen holds every Duo state and duo_code the test handled (from
	// BeginLogin and from Duo's callback): closeAndCheckLogs looks for each
	// in the logs, as it does for the secrets it is given.
	seenMu sync.Mutex
	seen   []string
}

// saw records values that must never be logged; empty ones are skipped.
func (e *loginEnv) saw(values ...string) {
	e.seenMu.Lock()
	defer e.seenMu.Unlock()
	for _, v := range values {
		if v != "" {
			e.seen = append(e.seen, v)
		}
	}
}

// envConfig is what a login environment varies.
type envConfig struct {
	sim      duosim.Config
	failMode string
	// values override the saved settings (the simulator's app, its CA and
	// failMode); an empty value leaves the setting unset.
	values map[string]string
	// skipDuoCheck saves the settings without Duo's check.
	skipDuoCheck bool
	// tweak adjusts the SDK's options last.
	tweak func(*host.Options)
}

// newLoginEnv starts the Duo simulator (TLS, its own CA) and the real
// plugin in test-host mode, activates it, saves checked settings and
// enables the given operators.
func newLoginEnv(t *testing.T, simCfg duosim.Config, failMode string, ops ...contract.Operator) *loginEnv {
	t.Helper()
	return newLoginEnvWith(t, envConfig{sim: simCfg, failMode: failMode}, ops...)
}

// newLoginEnvWith is newLoginEnv with more choices. Like a real host, it
// records the activation it made, and the SDK asks that record before every
// start and restart (Options.Activation), unless tweak removes it.
func newLoginEnvWith(t *testing.T, cfg envConfig, ops ...contract.Operator) *loginEnv {
	t.Helper()
	ctx := ctxT(t)
	simCfg := cfg.sim
	if simCfg.SlowDelay == 0 {
		simCfg.SlowDelay = 10 * time.Second
	}
	sim := duosim.StartTest(t, simCfg)
	rec := &hostRecord{}
	s := startPlugin(t, "", func(o *host.Options) {
		o.Env = append(o.Env, "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s")
		o.Activation = rec.activation
		if cfg.tweak != nil {
			cfg.tweak(o)
		}
	})
	req := contract.ActivateRequest{Host: contract.HostInfo{Name: "test"}, CallbackURL: callbackURL,
		DataDir: filepath.Join(t.TempDir(), "plugin-data"), Actor: admin}
	act, err := s.p.Activate(ctx, req)
	if err != nil || !act.Status.Active {
		t.Fatalf("Activate = %+v, %v", act, err)
	}
	rec.set(req, true)
	app := sim.Apps()[0]
	values := map[string]string{
		"client_id": app.ClientID, "client_secret": app.ClientSecret.Reveal(), "api_hostname": sim.APIHost(),
		"ca_file": sim.CAFile(), "fail_mode": cfg.failMode,
	}
	for k, v := range cfg.values {
		if v == "" {
			delete(values, k)
		} else {
			values[k] = v
		}
	}
	res, err := s.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Actor: admin, Values: values, SkipDuoCheck: cfg.skipDuoCheck})
	switch {
	case err != nil || !res.Saved:
		t.Fatalf("UpdateSettings (skip Duo check: %v) = %+v, %v", cfg.skipDuoCheck, res, err)
	case cfg.skipDuoCheck && res.Duo.Checked:
		t.Fatalf("UpdateSettings with SkipDuoCheck called Duo: %+v", res)
	case !cfg.skipDuoCheck && !res.Duo.OK:
		t.Fatalf("UpdateSettings (checked with Duo) = %+v", res)
	}
	for _, op := range ops {
		if _, err := s.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: op, Enabled: true, Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	return &loginEnv{t: t, p: s.p, sim: sim, s: s, app: app, record: rec, activation: req}
}

// closeAndCheckLogs stops the plugin, so that all it wrote has reached
// the host's log, fails if any of the secrets, or any Duo state or
// duo_code the test handled, appears there, and returns the log.
func (e *loginEnv) closeAndCheckLogs(secrets ...string) string {
	e.t.Helper()
	if err := e.p.Close(); err != nil {
		e.t.Logf("close: %v", err)
	}
	logs := e.s.logs.String()
	e.seenMu.Lock()
	secrets = append(secrets, e.seen...)
	e.seenMu.Unlock()
	testlog.CheckNoSecret(e.t, "host log", logs, secrets...)
	return logs
}

func (e *loginEnv) begin(op contract.Operator) contract.BeginLoginResponse {
	e.t.Helper()
	res, err := e.p.BeginLogin(ctxT(e.t), contract.BeginLoginRequest{Operator: op, Client: contract.ClientInfo{IP: "203.0.113.7", UserAgent: "test"}})
	if err != nil {
		e.t.Fatalf("BeginLogin(%s): %v", op.Username, err)
	}
	e.saw(res.State)
	return res
}

// complete is the host's Duo callback: CompleteLogin and, when the plugin
// shows the operator's first backup codes, the operator confirming them as
// one who saved them would. It returns the answer that decides the
// sign-in; completeRaw returns CompleteLogin's own.
func (e *loginEnv) complete(op contract.Operator, sessionState, callbackState, code string) contract.CompleteLoginResponse {
	e.t.Helper()
	res := e.completeRaw(op, sessionState, callbackState, code)
	if res.Decision != contract.DecisionConfirmBackupCodes {
		return res
	}
	return e.confirm(op, res.BackupCodesTicket)
}

func (e *loginEnv) completeRaw(op contract.Operator, sessionState, callbackState, code string) contract.CompleteLoginResponse {
	e.t.Helper()
	res, err := e.p.CompleteLogin(ctxT(e.t), contract.CompleteLoginRequest{Operator: op, SessionState: sessionState,
		CallbackState: callbackState, DuoCode: code, Client: contract.ClientInfo{IP: "203.0.113.7"}})
	if err != nil {
		e.t.Fatalf("CompleteLogin(%s): %v", op.Username, err)
	}
	return res
}

// confirm is the operator confirming they saved their backup codes.
func (e *loginEnv) confirm(op contract.Operator, ticket string) contract.CompleteLoginResponse {
	e.t.Helper()
	res, err := e.p.ConfirmBackupCodes(ctxT(e.t), contract.ConfirmBackupCodesRequest{Operator: op, Ticket: ticket, Client: contract.ClientInfo{IP: "203.0.113.7"}})
	if err != nil {
		e.t.Fatalf("ConfirmBackupCodes(%s): %v", op.Username, err)
	}
	return res
}

// browser is what the operator's browser does at Duo: it follows the
// authorize URL and, on the interactive prompt, presses the buttons given
// (enroll, approve, deny). It returns the callback's query, or nil when
// Duo did not send the browser back.
func (e *loginEnv) browser(authURL string, presses ...string) url.Values {
	e.t.Helper()
	c := e.sim.HTTPClient(10 * time.Second)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	for i := 0; ; i++ {
		if err != nil {
			e.t.Fatalf("browser at Duo: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusFound {
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || !strings.HasPrefix(loc.String(), callbackURL) {
				e.t.Fatalf("redirected to %q, want the callback", resp.Header.Get("Location"))
			}
			q := loc.Query()
			e.saw(q.Get("state"), q.Get("duo_code"))
			return q
		}
		if i >= len(presses) {
			return nil // a terminal page: Duo keeps the browser
		}
		m := regexp.MustCompile(`name="txid" value="([^"]+)"`).FindSubmatch(body)
		if m == nil {
			e.t.Fatalf("no prompt form on the page (status %d)", resp.StatusCode)
		}
		resp, err = c.PostForm("https://"+e.sim.APIHost()+"/frame/prompt", url.Values{"txid": {string(m[1])}, "action": {presses[i]}})
	}
}

var (
	alice = contract.Operator{ID: "1", Username: "alice", Email: "alice@example.com"}
	bob   = contract.Operator{ID: "2", Username: "bob", Email: "bob@example.com"}
)

// duoFirstLogin runs a scripted Duo sign-in and returns CompleteLogin's
// answer as the plugin gives it (no confirmation).
func (e *loginEnv) duoFirstLogin(op contract.Operator) contract.CompleteLoginResponse {
	e.t.Helper()
	b := e.begin(op)
	if b.Decision != contract.DecisionRedirect {
		e.t.Fatalf("BeginLogin(%s) = %+v, want REDIRECT", op.Username, b)
	}
	q := e.browser(b.RedirectURL)
	if q == nil {
		e.t.Fatal("Duo did not send the browser back")
	}
	return e.completeRaw(op, b.State, q.Get("state"), q.Get("duo_code"))
}

// loginAs runs a whole scripted login, confirming first backup codes as
// complete does, and returns the answer that decides the sign-in.
func (e *loginEnv) loginAs(op contract.Operator) contract.CompleteLoginResponse {
	e.t.Helper()
	res := e.duoFirstLogin(op)
	if res.Decision != contract.DecisionConfirmBackupCodes {
		return res
	}
	return e.confirm(op, res.BackupCodesTicket)
}

func wantDenied(t *testing.T, what string, res contract.CompleteLoginResponse, reason contract.LoginReason) {
	t.Helper()
	wantDeniedMsg(t, what, res.Decision, res.Reason, res.Message, reason)
}

// wantBeginDenied is wantDenied for BeginLogin: no redirect, no state.
func wantBeginDenied(t *testing.T, what string, res contract.BeginLoginResponse, reason contract.LoginReason) {
	t.Helper()
	wantDeniedMsg(t, what, res.Decision, res.Reason, res.Message, reason)
	if res.RedirectURL != "" || res.State != "" {
		t.Fatalf("%s: a denial carries a redirect or a state: %+v", what, res)
	}
}

func wantDeniedMsg(t *testing.T, what string, d contract.LoginDecision, got contract.LoginReason, msg string, want contract.LoginReason) {
	t.Helper()
	if d != contract.DecisionDenied || got != want {
		t.Fatalf("%s: decision %v reason %q, want DENIED %s", what, d, got, want)
	}
	if msg == "" || strings.Contains(msg, string(want)) {
		t.Fatalf("%s: message for the browser %q is empty or leaks the reason", what, msg)
	}
}

func TestDuoScriptedOutcomes(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice)
	cases := []struct {
		outcome duosim.Outcome
		allowed bool
		reason  contract.LoginReason
	}{
		{duosim.OutcomeAllow, true, ""},
		{duosim.OutcomeBypass, true, ""},
		{duosim.OutcomeDeny, false, contract.LoginReasonDuoDenied},
		{duosim.OutcomeFraud, false, contract.LoginReasonDuoFraud},
		{duosim.OutcomeLockedOut, false, contract.LoginReasonDuoLockedOut},
		{duosim.OutcomeEnrollRequired, false, contract.LoginReasonDuoDenied},
		{duosim.OutcomeWrongUser, false, contract.LoginReasonCodeRejected},
	}
	for _, tc := range cases {
		e.sim.SetOutcome("alice", tc.outcome)
		res := e.loginAs(alice)
		if tc.allowed {
			if res.Decision != contract.DecisionAllowed {
				t.Fatalf("%s: %+v, want ALLOWED", tc.outcome, res)
			}
			continue
		}
		wantDenied(t, string(tc.outcome), res, tc.reason)
	}
	// Each login handed the test a state from BeginLogin, and Duo's
	// callback a state and a duo_code: all three are looked for in the log.
	e.seenMu.Lock()
	seen := len(e.seen)
	e.seenMu.Unlock()
	if want := 3 * len(cases); seen != want {
		t.Fatalf("%d states and codes recorded for %d logins, want %d", seen, len(cases), want)
	}
	got, err := e.p.GetOperatorStates(ctxT(t), contract.GetOperatorStatesRequest{OperatorIDs: []string{alice.ID}, Actor: admin})
	if err != nil || len(got.States) != 1 || got.States[0].OperatorID != alice.ID || got.States[0].EnrolledAt.IsZero() || got.States[0].LastLogin.IsZero() {
		t.Fatalf("alice not recorded as enrolled: %+v %v", got, err)
	}
	e.closeAndCheckLogs(e.app.ClientSecret.Reveal())
}

func TestNotEnabledOperatorIsNotRequired(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice)
	if res := e.begin(bob); res.Decision != contract.DecisionNotRequired || res.RedirectURL != "" {
		t.Fatalf("bob: %+v", res)
	}
}

func TestInteractiveEnrolmentThenPlainCheck(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{}, "closed", alice)
	// First login: Duo enrols alice (add a device), then checks.
	b := e.begin(alice)
	q := e.browser(b.RedirectURL, "enroll", "approve")
	if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionAllowed {
		t.Fatalf("first login: %+v", res)
	}
	if !e.sim.Enrolled("alice") {
		t.Fatal("simulator did not enrol alice")
	}
	// Second login: a plain check, no enrolment page.
	b = e.begin(alice)
	q = e.browser(b.RedirectURL, "approve")
	if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionAllowed {
		t.Fatalf("second login: %+v", res)
	}
	// Deny: Duo keeps the browser on its page; there is no code to complete.
	b = e.begin(alice)
	if q := e.browser(b.RedirectURL, "deny"); q != nil {
		t.Fatalf("Duo sent the browser back after Deny: %v", q)
	}
	e.closeAndCheckLogs(e.app.ClientSecret.Reveal())
}

func TestDuoUnavailable(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"closed", "open"} {
		t.Run("fail "+mode, func(t *testing.T) {
			t.Parallel()
			e := newLoginEnv(t, duosim.Config{Scripted: true}, mode, alice)
			e.sim.SetHealthy(false)
			res := e.begin(alice)
			switch mode {
			case "closed":
				if res.Decision != contract.DecisionDenied || res.Reason != contract.LoginReasonDuoUnavailable || res.RedirectURL != "" {
					t.Fatalf("fail closed: %+v", res)
				}
			case "open":
				if res.Decision != contract.DecisionNotRequired || res.Reason != contract.LoginReasonFailOpen {
					t.Fatalf("fail open: %+v", res)
				}
				// The plugin's log reaches the host asynchronously, via stderr.
				waitfor.Until(t, 5*time.Second, "fail open logged loudly", func() bool {
					return strings.Contains(e.s.logs.String(), "FAIL OPEN")
				})
			}
			// Duo comes back: the next login goes to Duo again.
			e.sim.SetHealthy(true)
			if res := e.begin(alice); res.Decision != contract.DecisionRedirect {
				t.Fatalf("after recovery: %+v", res)
			}
		})
	}
}

func TestSlowDuoIsDeniedWithinTheTimeout(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true, SlowDelay: 20 * time.Second}, "closed", alice)
	e.sim.SetOutcome("alice", duosim.OutcomeSlow)
	b := e.begin(alice)
	q := e.browser(b.RedirectURL)
	start := time.Now()
	res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
	wantDenied(t, "slow Duo", res, contract.LoginReasonDuoTimeout)
	if waited := time.Since(start); waited > 15*time.Second {
		t.Fatalf("CompleteLogin waited %v for a stalled Duo (plugin timeout is 2s)", waited)
	}
}

func TestCallbackAttacks(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice, bob)

	t.Run("replayed callback", func(t *testing.T) {
		b := e.begin(alice)
		q := e.browser(b.RedirectURL)
		if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionAllowed {
			t.Fatalf("first: %+v", res)
		}
		wantDenied(t, "replay", e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")), contract.LoginReasonStateUsed)
	})

	t.Run("two concurrent callbacks, one state", func(t *testing.T) {
		b := e.begin(alice)
		q := e.browser(b.RedirectURL)
		const n = 8
		results := make([]contract.CompleteLoginResponse, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := e.p.CompleteLogin(context.Background(), contract.CompleteLoginRequest{Operator: alice,
					SessionState: b.State, CallbackState: q.Get("state"), DuoCode: q.Get("duo_code")})
				if err != nil {
					t.Errorf("CompleteLogin: %v", err)
				}
				results[i] = r
			}()
		}
		wg.Wait()
		allowed := 0
		for _, r := range results {
			if r.Decision == contract.DecisionAllowed {
				allowed++
			} else if r.Decision != contract.DecisionDenied {
				t.Fatalf("decision %v", r.Decision)
			}
		}
		if allowed != 1 {
			t.Fatalf("%d of %d concurrent callbacks allowed, want exactly 1", allowed, n)
		}
	})

	t.Run("state from another operator's session", func(t *testing.T) {
		b := e.begin(alice)
		q := e.browser(b.RedirectURL)
		// Bob's browser presents alice's state and code.
		wantDenied(t, "other operator", e.complete(bob, b.State, q.Get("state"), q.Get("duo_code")), contract.LoginReasonStateOtherOperator)
		// …and alice's login is still hers to complete.
		if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionAllowed {
			t.Fatalf("alice after bob's attempt: %+v", res)
		}
	})

	t.Run("session state differs from callback state", func(t *testing.T) {
		b1 := e.begin(alice)
		b2 := e.begin(alice)
		q := e.browser(b2.RedirectURL)
		wantDenied(t, "mismatch", e.complete(alice, b1.State, q.Get("state"), q.Get("duo_code")), contract.LoginReasonStateMismatch)
	})

	badStates := []struct {
		name   string
		state  string
		reason contract.LoginReason
	}{
		{"empty", "", contract.LoginReasonBadRequest},
		{"unknown", strings.Repeat("u", 36), contract.LoginReasonStateUnknown},
		{"oversized", strings.Repeat("o", 1025), contract.LoginReasonBadRequest},
		{"too short", "short", contract.LoginReasonBadRequest},
	}
	for _, tc := range badStates {
		t.Run(tc.name+" state", func(t *testing.T) {
			wantDenied(t, tc.name, e.complete(alice, tc.state, tc.state, "somecode"), tc.reason)
		})
	}

	t.Run("forged duo_code", func(t *testing.T) {
		b := e.begin(alice)
		wantDenied(t, "forged code", e.complete(alice, b.State, b.State, "forged-"+strings.Repeat("x", 30)), contract.LoginReasonCodeRejected)
		// The state was consumed by the attempt: a second try with a real code is refused too.
		q := e.browser(b.RedirectURL)
		wantDenied(t, "after forgery", e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")), contract.LoginReasonStateUsed)
	})

	t.Run("empty and oversized duo_code", func(t *testing.T) {
		for _, code := range []string{"", strings.Repeat("c", 5000)} {
			b := e.begin(alice)
			wantDenied(t, fmt.Sprintf("code of %d bytes", len(code)), e.complete(alice, b.State, b.State, code), contract.LoginReasonBadRequest)
		}
	})
	e.closeAndCheckLogs(e.app.ClientSecret.Reveal())
}

func TestCredentialsRejectedOnSave(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed")
	ctx := ctxT(t)
	wrong := strings.Repeat("W", 40)
	res, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Actor: admin, Values: map[string]string{"client_secret": wrong}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Saved || len(res.Errors) != 1 || res.Errors[0].Reason != contract.FieldDuoRejected || res.Duo.OK ||
		res.Errors[0].Field != "client_secret" || res.Duo.Failure != contract.DuoCredentialsRejected {
		t.Fatalf("wrong secret: %+v", res)
	}
	// The good credentials are still in force.
	if h, err := e.p.CheckDuo(ctx, contract.CheckDuoRequest{Actor: admin}); err != nil || !h.Duo.OK {
		t.Fatalf("CheckDuo after refused save: %+v %v", h, err)
	}
	// Offline set-up: the same values save when the check is skipped.
	res, err = e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Actor: admin, SkipDuoCheck: true, Values: map[string]string{"client_secret": wrong}})
	if err != nil || !res.Saved {
		t.Fatalf("skip check: %+v %v", res, err)
	}
	if h, err := e.p.CheckDuo(ctx, contract.CheckDuoRequest{Actor: admin}); err != nil || h.Duo.OK || h.Duo.Failure != contract.DuoCredentialsRejected {
		t.Fatalf("CheckDuo with the wrong secret = %+v, %v; want credentials rejected", h, err)
	}
	e.closeAndCheckLogs(e.app.ClientSecret.Reveal(), wrong)
}

// TestDuoGoClientAgainstSimulator: Duo's own Go client, unmodified,
// completes a login against the simulator.
func TestDuoGoClientAgainstSimulator(t *testing.T) {
	t.Parallel()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	app := sim.Apps()[0]
	c, err := duouniversal.NewClient(app.ClientID, app.ClientSecret.Reveal(), sim.APIHost(), callbackURL, duouniversal.WithHTTPClient(sim.HTTPClient(5*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.HealthCheck(); err != nil {
		t.Fatalf("HealthCheck: %v", err)
	}
	state, _ := c.GenerateState()
	authURL, err := c.CreateAuthURL("alice", state)
	if err != nil {
		t.Fatal(err)
	}
	e := &loginEnv{t: t, sim: sim}
	q := e.browser(authURL)
	if q.Get("state") != state {
		t.Fatal("state not returned")
	}
	tok, err := c.ExchangeAuthorizationCodeFor2faResult(q.Get("duo_code"), "alice")
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.AuthResult.Result != "allow" || tok.PreferredUsername != "alice" {
		t.Fatalf("token = %+v", tok)
	}
}

// TestTimeoutsNest: Duo accepts the connection and never answers, and the
// plugin's own Duo timeout (30 s) is longer than the call's deadline on
// purpose. The deadline travels from the host to the plugin, which fits
// its call to Duo inside it, so the host gets the plugin's decision for
// the admin's fail mode, never ErrUnavailable, and before the deadline;
// whichever deadline is sooner, the SDK's CallTimeout or the caller's own.
func TestTimeoutsNest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		failMode    string
		callTimeout time.Duration // the SDK's Options.CallTimeout
		caller      time.Duration // the caller's own deadline; 0 for none
		decision    contract.LoginDecision
		reason      contract.LoginReason
	}{
		{"fail closed, SDK call timeout", "closed", 3 * time.Second, 0, contract.DecisionDenied, contract.LoginReasonDuoUnavailable},
		{"fail open, SDK call timeout", "open", 3 * time.Second, 0, contract.DecisionNotRequired, contract.LoginReasonFailOpen},
		{"fail closed, caller's shorter deadline", "closed", 10 * time.Second, 2 * time.Second, contract.DecisionDenied, contract.LoginReasonDuoUnavailable},
		{"fail open, caller's shorter deadline", "open", 10 * time.Second, 2 * time.Second, contract.DecisionNotRequired, contract.LoginReasonFailOpen},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newLoginEnvWith(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: tc.failMode, skipDuoCheck: true,
				tweak: func(o *host.Options) {
					o.Env = append(o.Env, "DUO_PLUGIN_DUO_TIMEOUT=30s") // the last value of a key wins
					o.CallTimeout = tc.callTimeout
				}}, alice)
			e.sim.SetUnresponsive(true)

			// call returns a context bounded as the case says, and the
			// deadline the answer must beat.
			call := func() (context.Context, time.Time) {
				budget := tc.callTimeout
				ctx := ctxT(t)
				if tc.caller > 0 {
					budget = tc.caller
					c, cancel := context.WithTimeout(ctx, tc.caller)
					t.Cleanup(cancel)
					ctx = c
				}
				return ctx, time.Now().Add(budget)
			}

			ctx, deadline := call()
			res, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: contract.ClientInfo{IP: "203.0.113.7"}})
			answered := time.Now()
			if err != nil {
				t.Fatalf("BeginLogin = %v (matches ErrUnavailable: %v); want the plugin's own decision for fail %s",
					err, errors.Is(err, host.ErrUnavailable), tc.failMode)
			}
			if tc.decision == contract.DecisionDenied {
				wantBeginDenied(t, "fail closed", res, tc.reason)
			} else if res.Decision != tc.decision || res.Reason != tc.reason || res.Message != "" || res.RedirectURL != "" || res.State != "" {
				t.Fatalf("BeginLogin = %+v, want %v with reason %s and nothing else", res, tc.decision, tc.reason)
			}
			if !answered.Before(deadline) {
				t.Fatalf("BeginLogin answered %v after its deadline", answered.Sub(deadline))
			}
			t.Logf("BeginLogin answered %v before its deadline", deadline.Sub(answered))
			held := e.sim.Stats().Held
			if held < 1 {
				t.Fatal("Duo held no request: the plugin decided without calling Duo")
			}

			// Saving settings with the Duo check while Duo hangs: refused in
			// time, as a field error, and nothing saved.
			before, err := e.p.GetSettings(ctxT(t), contract.GetSettingsRequest{Actor: admin})
			if err != nil {
				t.Fatal(err)
			}
			ctx, deadline = call()
			up, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Actor: admin, Values: map[string]string{"login_timeout_seconds": "90"}})
			answered = time.Now()
			if err != nil {
				t.Fatalf("UpdateSettings while Duo hangs = %v (matches ErrUnavailable: %v); want a field error", err, errors.Is(err, host.ErrUnavailable))
			}
			if up.Saved || len(up.Errors) != 1 || up.Errors[0].Reason != contract.FieldDuoRejected || up.Errors[0].Field != "api_hostname" ||
				up.Errors[0].Message == "" || !up.Duo.Checked || up.Duo.OK || up.Duo.Failure != contract.DuoUnreachable {
				t.Fatalf("UpdateSettings while Duo hangs = %+v; want not saved, one duo_rejected error on api_hostname, Duo unreachable", up)
			}
			if !answered.Before(deadline) {
				t.Fatalf("UpdateSettings answered %v after its deadline", answered.Sub(deadline))
			}
			t.Logf("UpdateSettings answered %v before its deadline", deadline.Sub(answered))
			if e.sim.Stats().Held <= held {
				t.Fatal("the settings check did not call Duo")
			}
			after, err := e.p.GetSettings(ctxT(t), contract.GetSettingsRequest{Actor: admin})
			if err != nil || !mapsEqual(before.Values, after.Values) {
				t.Fatalf("settings changed by a refused save:\nbefore %v\nafter  %v (%v)", before.Values, after.Values, err)
			}
		})
	}
}
