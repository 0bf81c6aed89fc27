package integration

import (
	"context"
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

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/duosim"
)

const callbackURL = "http://127.0.0.1:9/login/duo/callback"

type loginEnv struct {
	t   *testing.T
	p   *host.Plugin
	sim *duosim.Server
	s   started
	app duosim.App
}

// newLoginEnv starts the Duo simulator (TLS, its own CA) and the real
// plugin in test-host mode, activates it, saves checked settings and
// enables the given operators.
func newLoginEnv(t *testing.T, simCfg duosim.Config, failMode string, ops ...host.Operator) *loginEnv {
	t.Helper()
	ctx := ctxT(t)
	if simCfg.SlowDelay == 0 {
		simCfg.SlowDelay = 10 * time.Second
	}
	sim := duosim.StartTest(t, simCfg)
	s := startPlugin(t, "", func(o *host.Options) {
		o.Env = append(o.Env, "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s")
	})
	st, err := s.p.Activate(ctx, host.ActivateRequest{Host: host.HostInfo{Name: "test"}, CallbackURL: callbackURL,
		DataDir: filepath.Join(t.TempDir(), "plugin-data"), Actor: admin})
	if err != nil || !st.Active {
		t.Fatalf("Activate = %+v, %v", st, err)
	}
	app := sim.Apps()[0]
	res, err := s.p.UpdateSettings(ctx, host.UpdateSettingsRequest{Actor: admin, Values: map[string]string{
		"client_id": app.ClientID, "client_secret": app.ClientSecret, "api_hostname": sim.APIHost(),
		"ca_file": sim.CAFile(), "fail_mode": failMode,
	}})
	if err != nil || !res.Saved || !res.Duo.OK {
		t.Fatalf("UpdateSettings (checked with Duo) = %+v, %v", res, err)
	}
	for _, op := range ops {
		if _, err := s.p.SetOperatorEnabled(ctx, op, true, admin); err != nil {
			t.Fatal(err)
		}
	}
	return &loginEnv{t: t, p: s.p, sim: sim, s: s, app: app}
}

// closeAndCheckLogs stops the plugin, so that all it wrote has reached
// the host's log, and fails if any of the secrets appears there.
func (e *loginEnv) closeAndCheckLogs(secrets ...string) {
	e.t.Helper()
	if err := e.p.Close(); err != nil {
		e.t.Logf("close: %v", err)
	}
	logs := e.s.logs.String()
	if !strings.Contains(logs, "plugin") {
		e.t.Fatal("the host's log is empty: the check below would prove nothing")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			e.t.Fatal("a secret reached the log")
		}
	}
}

func (e *loginEnv) begin(op host.Operator) host.BeginLoginResult {
	e.t.Helper()
	res, err := e.p.BeginLogin(ctxT(e.t), op, host.ClientInfo{IP: "203.0.113.7", UserAgent: "test"})
	if err != nil {
		e.t.Fatalf("BeginLogin(%s): %v", op.Username, err)
	}
	return res
}

func (e *loginEnv) complete(op host.Operator, sessionState, callbackState, code string) host.CompleteLoginResult {
	e.t.Helper()
	res, err := e.p.CompleteLogin(ctxT(e.t), host.CompleteLoginRequest{Operator: op, SessionState: sessionState,
		CallbackState: callbackState, DuoCode: code, Client: host.ClientInfo{IP: "203.0.113.7"}})
	if err != nil {
		e.t.Fatalf("CompleteLogin(%s): %v", op.Username, err)
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
			return loc.Query()
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
	alice = host.Operator{ID: "1", Username: "alice", Email: "alice@example.com"}
	bob   = host.Operator{ID: "2", Username: "bob", Email: "bob@example.com"}
)

// loginAs runs a whole scripted login and returns CompleteLogin's answer.
func (e *loginEnv) loginAs(op host.Operator) host.CompleteLoginResult {
	e.t.Helper()
	b := e.begin(op)
	if b.Decision != host.DecisionRedirect {
		e.t.Fatalf("BeginLogin = %+v, want REDIRECT", b)
	}
	q := e.browser(b.RedirectURL)
	if q == nil {
		e.t.Fatal("Duo did not send the browser back")
	}
	return e.complete(op, b.State, q.Get("state"), q.Get("duo_code"))
}

func wantDenied(t *testing.T, what string, res host.CompleteLoginResult, reason string) {
	t.Helper()
	if res.Decision != host.DecisionDenied || res.Reason != reason {
		t.Fatalf("%s: %+v, want DENIED %s", what, res, reason)
	}
	if res.Message == "" || strings.Contains(res.Message, reason) {
		t.Fatalf("%s: message for the browser %q is empty or leaks the reason", what, res.Message)
	}
}

func TestDuoScriptedOutcomes(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice)
	cases := []struct {
		outcome duosim.Outcome
		allowed bool
		reason  string
	}{
		{duosim.OutcomeAllow, true, ""},
		{duosim.OutcomeBypass, true, ""},
		{duosim.OutcomeDeny, false, "duo_denied"},
		{duosim.OutcomeFraud, false, "duo_denied"},
		{duosim.OutcomeLockedOut, false, "duo_denied"},
		{duosim.OutcomeEnrollRequired, false, "duo_denied"},
		{duosim.OutcomeWrongUser, false, "duo_code_rejected"},
	}
	for _, tc := range cases {
		e.sim.SetOutcome("alice", tc.outcome)
		res := e.loginAs(alice)
		if tc.allowed {
			if res.Decision != host.DecisionAllowed {
				t.Fatalf("%s: %+v, want ALLOWED", tc.outcome, res)
			}
			continue
		}
		wantDenied(t, string(tc.outcome), res, tc.reason)
	}
	states, err := e.p.GetOperatorStates(ctxT(t), []string{alice.ID})
	if err != nil || states[alice.ID].EnrolledAt.IsZero() || states[alice.ID].LastLogin.IsZero() {
		t.Fatalf("alice not recorded as enrolled: %+v %v", states[alice.ID], err)
	}
	e.closeAndCheckLogs(e.app.ClientSecret)
}

func TestNotEnabledOperatorIsNotRequired(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice)
	if res := e.begin(bob); res.Decision != host.DecisionNotRequired || res.RedirectURL != "" {
		t.Fatalf("bob: %+v", res)
	}
}

func TestInteractiveEnrolmentThenPlainCheck(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{}, "closed", alice)
	// First login: Duo enrols alice (add a device), then checks.
	b := e.begin(alice)
	q := e.browser(b.RedirectURL, "enroll", "approve")
	if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != host.DecisionAllowed {
		t.Fatalf("first login: %+v", res)
	}
	if !e.sim.Enrolled("alice") {
		t.Fatal("simulator did not enrol alice")
	}
	// Second login: a plain check, no enrolment page.
	b = e.begin(alice)
	q = e.browser(b.RedirectURL, "approve")
	if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != host.DecisionAllowed {
		t.Fatalf("second login: %+v", res)
	}
	// Deny: Duo keeps the browser on its page; there is no code to complete.
	b = e.begin(alice)
	if q := e.browser(b.RedirectURL, "deny"); q != nil {
		t.Fatalf("Duo sent the browser back after Deny: %v", q)
	}
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
				if res.Decision != host.DecisionDenied || res.Reason != "duo_unavailable" || res.RedirectURL != "" {
					t.Fatalf("fail closed: %+v", res)
				}
			case "open":
				if res.Decision != host.DecisionNotRequired || res.Reason != "duo_unavailable_fail_open" {
					t.Fatalf("fail open: %+v", res)
				}
				// The plugin's log reaches the host asynchronously, via stderr.
				eventually(t, 5*time.Second, "fail open logged loudly", func() bool {
					return strings.Contains(e.s.logs.String(), "FAIL OPEN")
				})
			}
			// Duo comes back: the next login goes to Duo again.
			e.sim.SetHealthy(true)
			if res := e.begin(alice); res.Decision != host.DecisionRedirect {
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
	wantDenied(t, "slow Duo", res, "duo_timeout")
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
		if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != host.DecisionAllowed {
			t.Fatalf("first: %+v", res)
		}
		wantDenied(t, "replay", e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")), "state_already_used")
	})

	t.Run("two concurrent callbacks, one state", func(t *testing.T) {
		b := e.begin(alice)
		q := e.browser(b.RedirectURL)
		const n = 8
		results := make([]host.CompleteLoginResult, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := e.p.CompleteLogin(context.Background(), host.CompleteLoginRequest{Operator: alice,
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
			if r.Decision == host.DecisionAllowed {
				allowed++
			} else if r.Decision != host.DecisionDenied {
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
		wantDenied(t, "other operator", e.complete(bob, b.State, q.Get("state"), q.Get("duo_code")), "state_other_operator")
		// …and alice's login is still hers to complete.
		if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != host.DecisionAllowed {
			t.Fatalf("alice after bob's attempt: %+v", res)
		}
	})

	t.Run("session state differs from callback state", func(t *testing.T) {
		b1 := e.begin(alice)
		b2 := e.begin(alice)
		q := e.browser(b2.RedirectURL)
		wantDenied(t, "mismatch", e.complete(alice, b1.State, q.Get("state"), q.Get("duo_code")), "state_mismatch")
	})

	badStates := []struct {
		name   string
		state  string
		reason string
	}{
		{"empty", "", "invalid_request"},
		{"unknown", strings.Repeat("u", 36), "state_unknown"},
		{"oversized", strings.Repeat("o", 1025), "invalid_request"},
		{"too short", "short", "invalid_request"},
	}
	for _, tc := range badStates {
		t.Run(tc.name+" state", func(t *testing.T) {
			wantDenied(t, tc.name, e.complete(alice, tc.state, tc.state, "somecode"), tc.reason)
		})
	}

	t.Run("forged duo_code", func(t *testing.T) {
		b := e.begin(alice)
		wantDenied(t, "forged code", e.complete(alice, b.State, b.State, "forged-"+strings.Repeat("x", 30)), "duo_code_rejected")
		// The state was consumed by the attempt: a second try with a real code is refused too.
		q := e.browser(b.RedirectURL)
		wantDenied(t, "after forgery", e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")), "state_already_used")
	})

	t.Run("empty and oversized duo_code", func(t *testing.T) {
		for _, code := range []string{"", strings.Repeat("c", 5000)} {
			b := e.begin(alice)
			wantDenied(t, fmt.Sprintf("code of %d bytes", len(code)), e.complete(alice, b.State, b.State, code), "invalid_request")
		}
	})
}

func TestCredentialsRejectedOnSave(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed")
	ctx := ctxT(t)
	wrong := strings.Repeat("W", 40)
	res, err := e.p.UpdateSettings(ctx, host.UpdateSettingsRequest{Actor: admin, Values: map[string]string{"client_secret": wrong}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Saved || len(res.Errors) != 1 || res.Errors[0].Reason != "duo_rejected" || res.Duo.OK {
		t.Fatalf("wrong secret: %+v", res)
	}
	// The good credentials are still in force.
	if h, err := e.p.CheckDuo(ctx); err != nil || !h.OK {
		t.Fatalf("CheckDuo after refused save: %+v %v", h, err)
	}
	// Offline set-up: the same values save when the check is skipped.
	res, err = e.p.UpdateSettings(ctx, host.UpdateSettingsRequest{Actor: admin, SkipDuoCheck: true, Values: map[string]string{"client_secret": wrong}})
	if err != nil || !res.Saved {
		t.Fatalf("skip check: %+v %v", res, err)
	}
	if h, _ := e.p.CheckDuo(ctx); h.OK {
		t.Fatal("CheckDuo OK with the wrong secret")
	}
	e.closeAndCheckLogs(e.app.ClientSecret, wrong)
}

// TestDuoGoClientAgainstSimulator: Duo's own Go client, unmodified,
// completes a login against the simulator.
func TestDuoGoClientAgainstSimulator(t *testing.T) {
	t.Parallel()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	app := sim.Apps()[0]
	c, err := duouniversal.NewClient(app.ClientID, app.ClientSecret, sim.APIHost(), callbackURL, duouniversal.WithHTTPClient(sim.HTTPClient(5*time.Second)))
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
