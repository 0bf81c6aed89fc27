package duosim_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

func TestDuoClientLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		scripted  bool
		preEnroll bool
		wantPages []string
	}{
		{name: "scripted allow redirects at once", scripted: true, wantPages: nil},
		{name: "interactive new user enrols then approves", wantPages: []string{"enroll", "prompt"}},
		{name: "interactive enrolled user approves", preEnroll: true, wantPages: []string{"prompt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startSim(t, duosim.Config{Scripted: tc.scripted})
			const user = "alice"
			if tc.preEnroll {
				f.sim.Enroll(user)
			}
			hc, err := f.duo.HealthCheck()
			if err != nil {
				t.Fatalf("HealthCheck: %v", err)
			}
			if hc.Stat != "OK" || hc.Response.Time == 0 {
				t.Fatalf("HealthCheck = %+v, want stat OK and a timestamp", hc)
			}
			code, pages, err := f.login(user)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if !slices.Equal(pages, tc.wantPages) {
				t.Errorf("pages = %q, want %q", pages, tc.wantPages)
			}
			tok, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, user)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			wantResult := duouniversal.AuthResultInfo{Result: "allow", Status: "allow", StatusMsg: "Login Successful"}
			if tok.AuthResult != wantResult {
				t.Errorf("AuthResult = %+v, want %+v", tok.AuthResult, wantResult)
			}
			if tok.PreferredUsername != user || tok.Subject != user || tok.Audience != f.app.ClientID {
				t.Errorf("preferred_username, sub, aud = %q, %q, %q; want %q, %q, %q",
					tok.PreferredUsername, tok.Subject, tok.Audience, user, user, f.app.ClientID)
			}
			if got, want := tok.Issuer, "https://"+f.sim.APIHost()+"/oauth/v1/token"; got != want {
				t.Errorf("iss = %q, want %q", got, want)
			}
			ac := tok.AuthContext
			if ac.Reason != "user_approved" || ac.Result != "success" || ac.Factor != "duo_push" ||
				ac.EventType != "authentication" || ac.User.Name != user || ac.Application.Key != f.app.ClientID {
				t.Errorf("AuthContext = %+v", ac)
			}
			if ac.AccessDevice.IsPasswordSet != duouniversal.Unknown || ac.AccessDevice.Ip != "127.0.0.1" {
				t.Errorf("AccessDevice = %+v", ac.AccessDevice)
			}
			if tok.AuthTime == 0 || ac.Timestamp != tok.AuthTime || tok.Nonce != "" {
				t.Errorf("auth_time %d, timestamp %d, nonce %q", tok.AuthTime, ac.Timestamp, tok.Nonce)
			}
			if tc.scripted == f.sim.Enrolled(user) && !tc.preEnroll {
				t.Errorf("Enrolled(%q) = %v after a %s login", user, f.sim.Enrolled(user), tc.name)
			}
			st := f.sim.Stats()
			if st.HealthChecks != 1 || st.Authorizes != 1 || st.TokenExchanges != 1 || st.CodesIssued != 1 ||
				st.TokensIssued != 1 || st.PromptActions != int64(len(tc.wantPages)) || len(st.Failures) != 0 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

func TestScriptedOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		outcome    duosim.Outcome
		wantResult duouniversal.AuthResultInfo
		wantReason string
		wantCtx    string
	}{
		{duosim.OutcomeAllow, duouniversal.AuthResultInfo{Result: "allow", Status: "allow", StatusMsg: "Login Successful"}, "user_approved", "success"},
		{duosim.OutcomeDeny, duouniversal.AuthResultInfo{Result: "deny", Status: "deny", StatusMsg: "Login request denied"}, "user_cancelled", "denied"},
		{duosim.OutcomeFraud, duouniversal.AuthResultInfo{Result: "deny", Status: "fraud", StatusMsg: "Login request reported as fraudulent"}, "user_marked_fraud", "fraud"},
		{duosim.OutcomeLockedOut, duouniversal.AuthResultInfo{Result: "deny", Status: "locked_out", StatusMsg: "Your account is locked out due to excessive authentication failures"}, "locked_out", "denied"},
		{duosim.OutcomeEnrollRequired, duouniversal.AuthResultInfo{Result: "deny", Status: "deny", StatusMsg: "Enrollment is required to log in"}, "deny_unenrolled_user", "denied"},
		{duosim.OutcomeBypass, duouniversal.AuthResultInfo{Result: "allow", Status: "bypass", StatusMsg: "Login Successful"}, "bypass_user", "success"},
	}
	// One simulator, one user per outcome: outcomes are per user.
	f := startSim(t, duosim.Config{})
	for _, tc := range tests {
		t.Run(string(tc.outcome), func(t *testing.T) {
			t.Parallel()
			user := "user-" + string(tc.outcome)
			f.sim.SetOutcome(user, tc.outcome)
			code := f.mustLogin(t, user)
			tok, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, user)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if tok.AuthResult != tc.wantResult {
				t.Errorf("AuthResult = %+v, want %+v", tok.AuthResult, tc.wantResult)
			}
			if tok.AuthContext.Reason != tc.wantReason || tok.AuthContext.Result != tc.wantCtx {
				t.Errorf("auth_context reason, result = %q, %q; want %q, %q",
					tok.AuthContext.Reason, tok.AuthContext.Result, tc.wantReason, tc.wantCtx)
			}
		})
	}
}

func TestWrongUserIsCaughtByDuoClient(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Outcomes: map[string]duosim.Outcome{"bob": duosim.OutcomeWrongUser}})
	code := f.mustLogin(t, "bob")
	tok, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, "bob")
	if err == nil {
		t.Fatalf("Exchange = %+v, want an error", tok)
	}
	if got, want := err.Error(), `"preferred_username" not satisfied: values do not match`; got != want {
		t.Errorf("Exchange error = %q, want %q", got, want)
	}
}

func TestClearOutcomeRestoresDefault(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	f.sim.SetOutcome("carol", duosim.OutcomeDeny)
	f.sim.ClearOutcome("carol")
	tok, err := f.duo.ExchangeAuthorizationCodeFor2faResult(f.mustLogin(t, "carol"), "carol")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AuthResult.Result != "allow" {
		t.Errorf("result = %q, want allow", tok.AuthResult.Result)
	}
}

func TestInteractiveDenyNeverRedirects(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	f.sim.Enroll("dave")
	state, _ := f.duo.GenerateState()
	authURL, err := f.duo.CreateAuthURL("dave", state)
	if err != nil {
		t.Fatal(err)
	}
	page, err := get(f.browser, authURL)
	if err != nil {
		t.Fatal(err)
	}
	if page.status != http.StatusOK || pageOf(page.body) != "prompt" {
		t.Fatalf("authorize = %d %q, want 200 prompt", page.status, pageOf(page.body))
	}
	for _, want := range []string{"<title>Duo Security</title>", `id="approve"`, `id="deny"`, ">Approve<", ">Deny<", "dave"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("prompt page lacks %q", want)
		}
	}
	if page.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(page.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("prompt headers = %v", page.header)
	}
	txid := txidRE.FindStringSubmatch(page.body)[1]
	promptURL := "https://" + f.sim.APIHost() + "/frame/prompt"

	steps := []struct {
		name       string
		action     string
		wantStatus int
		wantText   string
	}{
		{"deny ends on a terminal page", "deny", http.StatusOK, "Login request denied"},
		{"approve after deny is refused", "approve", http.StatusBadRequest, "This login request is unknown or has expired."},
	}
	for _, st := range steps {
		resp, err := postForm(f.browser, promptURL, url.Values{"txid": {txid}, "action": {st.action}})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if resp.status != st.wantStatus || !strings.Contains(resp.body, st.wantText) || resp.header.Get("Location") != "" {
			t.Errorf("%s: status %d, Location %q, body has %q: %v", st.name, resp.status, resp.header.Get("Location"),
				st.wantText, strings.Contains(resp.body, st.wantText))
		}
	}
	if st := f.sim.Stats(); st.CodesIssued != 0 || st.Denials != 1 || st.Failures[duosim.FailureUnknownTransaction] != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestCodeExchangeFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// run logs in and redeems; it returns the error of the redemption
		// that must fail.
		run func(t *testing.T, f *fixture, clock *testClock, other *duouniversal.Client) error
	}{
		{
			name: "reused code",
			run: func(t *testing.T, f *fixture, _ *testClock, _ *duouniversal.Client) error {
				code := f.mustLogin(t, "erin")
				if _, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, "erin"); err != nil {
					t.Fatalf("first Exchange: %v", err)
				}
				_, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, "erin")
				return err
			},
		},
		{
			name: "expired code",
			run: func(t *testing.T, f *fixture, clock *testClock, _ *duouniversal.Client) error {
				code := f.mustLogin(t, "erin")
				clock.Advance(duosim.DefaultCodeTTL + time.Second)
				_, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, "erin")
				return err
			},
		},
		{
			name: "redirect_uri differs from authorize",
			run: func(t *testing.T, f *fixture, _ *testClock, _ *duouniversal.Client) error {
				code := f.mustLogin(t, "erin")
				other := newDuoClient(t, f.sim, f.app, "https://app.example.test/other", 5*time.Second)
				_, err := other.ExchangeAuthorizationCodeFor2faResult(code, "erin")
				return err
			},
		},
		{
			name: "code issued to another client",
			run: func(t *testing.T, f *fixture, _ *testClock, other *duouniversal.Client) error {
				code := f.mustLogin(t, "erin")
				_, err := other.ExchangeAuthorizationCodeFor2faResult(code, "erin")
				return err
			},
		},
		{
			name: "unknown code",
			run: func(t *testing.T, f *fixture, _ *testClock, _ *duouniversal.Client) error {
				_, err := f.duo.ExchangeAuthorizationCodeFor2faResult("notacode", "erin")
				return err
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &testClock{}
			second, err := duosim.NewApp()
			if err != nil {
				t.Fatal(err)
			}
			f := startSim(t, duosim.Config{Scripted: true, Now: clock.Now, Apps: []duosim.App{mustApp(t), second}})
			other := newDuoClient(t, f.sim, second, redirectURI, 5*time.Second)
			err = tc.run(t, f, clock, other)
			if err == nil || err.Error() != "400 Bad Request" {
				t.Fatalf("Exchange error = %v, want 400 Bad Request", err)
			}
			if got := f.sim.Stats().Failures; got[duosim.FailureInvalidGrant] != 1 || len(got) != 1 {
				t.Errorf("Failures = %v, want one invalid_grant", got)
			}
		})
	}
}

func mustApp(t testing.TB) duosim.App {
	t.Helper()
	a, err := duosim.NewApp()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHealthCheckWithDuoClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		secret     func(duosim.App) string
		unhealthy  bool
		wantErr    string
		wantReason duosim.FailureReason
	}{
		{name: "ok", secret: func(a duosim.App) string { return a.ClientSecret.Reveal() }},
		{name: "wrong secret", secret: func(duosim.App) string { return strings.Repeat("x", 40) },
			wantErr: "400 Bad Request", wantReason: duosim.FailureInvalidClient},
		{name: "unhealthy", secret: func(a duosim.App) string { return a.ClientSecret.Reveal() }, unhealthy: true,
			wantErr: "503 Service Unavailable", wantReason: duosim.FailureUnhealthy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startSim(t, duosim.Config{})
			f.sim.SetHealthy(!tc.unhealthy)
			c := newDuoClient(t, f.sim, duosim.App{ClientID: f.app.ClientID, ClientSecret: secret.Value(tc.secret(f.app))}, redirectURI, 5*time.Second)
			_, err := c.HealthCheck()
			if got := fmt.Sprint(err); (tc.wantErr == "" && err != nil) || (tc.wantErr != "" && got != tc.wantErr) {
				t.Fatalf("HealthCheck error = %v, want %q", err, tc.wantErr)
			}
			if tc.wantReason != "" && f.sim.Stats().Failures[tc.wantReason] != 1 {
				t.Errorf("Failures = %v, want one %s", f.sim.Stats().Failures, tc.wantReason)
			}
		})
	}
}

func TestSlowOutcomeTripsClientTimeout(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{SlowDelay: 5 * time.Second,
		Outcomes: map[string]duosim.Outcome{"frank": duosim.OutcomeSlow}})
	code := f.mustLogin(t, "frank")
	impatient := newDuoClient(t, f.sim, f.app, redirectURI, 300*time.Millisecond)
	if tok, err := impatient.ExchangeAuthorizationCodeFor2faResult(code, "frank"); err == nil {
		t.Fatalf("Exchange = %+v, want a timeout error", tok)
	}
}

func TestCloseUnblocksSlowRequest(t *testing.T) {
	t.Parallel()
	sim, err := duosim.Start(startCtx(t), duosim.Config{Scripted: true, SlowDelay: time.Minute,
		Outcomes: map[string]duosim.Outcome{"gina": duosim.OutcomeSlow}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sim: sim, app: sim.Apps()[0], browser: browserClient(sim)}
	f.duo = newDuoClient(t, sim, f.app, redirectURI, 30*time.Second)
	code := f.mustLogin(t, "gina")
	done := make(chan error, 1)
	go func() {
		_, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, "gina")
		done <- err
	}()
	// Wait until the token request is stalled inside the simulator.
	for deadline := time.Now().Add(5 * time.Second); sim.Stats().TokenExchanges == 0; {
		if time.Now().After(deadline) {
			t.Fatal("token request never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := sim.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Exchange succeeded, want an error once the simulator closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exchange still blocked after Close")
	}
}

func TestUnavailableOutcome(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})

	f.sim.SetOutcome("hank", duosim.OutcomeUnavailable)
	state, _ := f.duo.GenerateState()
	authURL, _ := f.duo.CreateAuthURL("hank", state)
	resp, err := get(f.browser, authURL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Location") != "" {
		t.Errorf("authorize = %d (Location %q), want 503 without redirect", resp.status, resp.header.Get("Location"))
	}

	// Duo going away between the redirect and the token call.
	f.sim.ClearOutcome("hank")
	code := f.mustLogin(t, "hank")
	f.sim.SetOutcome("hank", duosim.OutcomeUnavailable)
	if _, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, "hank"); err == nil || err.Error() != "503 Service Unavailable" {
		t.Errorf("Exchange error = %v, want 503 Service Unavailable", err)
	}
	if got := f.sim.Stats().Failures[duosim.FailureUnavailable]; got != 2 {
		t.Errorf("unavailable failures = %d, want 2", got)
	}
}

func TestConcurrentLogins(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			user := fmt.Sprintf("user%02d", i)
			if i%2 == 0 {
				f.sim.SetOutcome(user, duosim.OutcomeAllow)
			}
			if _, err := f.duo.HealthCheck(); err != nil {
				errs <- fmt.Errorf("%s: HealthCheck: %w", user, err)
				return
			}
			code, _, err := f.login(user)
			if err != nil {
				errs <- fmt.Errorf("%s: login: %w", user, err)
				return
			}
			tok, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, user)
			if err != nil {
				errs <- fmt.Errorf("%s: Exchange: %w", user, err)
				return
			}
			if tok.AuthResult.Result != "allow" || tok.PreferredUsername != user {
				errs <- fmt.Errorf("%s: got %q for %q", user, tok.AuthResult.Result, tok.PreferredUsername)
			}
			_ = f.sim.Stats()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := f.sim.Stats()
	if st.HealthChecks != n || st.TokensIssued != n || st.CodesIssued != n || len(st.Failures) != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// BenchmarkScriptedLogin measures a whole scripted login (health check,
// authorize, token exchange) through Duo's Go client.
func BenchmarkScriptedLogin(b *testing.B) {
	f := startSim(b, duosim.Config{Scripted: true})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.duo.HealthCheck(); err != nil {
				b.Error(err)
				return
			}
			code, _, err := f.login("bench")
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, "bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
