package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/auth"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	c := e.client()
	for _, path := range []string{"/login", "/nowhere", web.CallbackPath + "?duo_code=x&state=y"} {
		resp := c.get(path)
		h := resp.Header
		if got := h.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", path, got)
		}
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", path, got)
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	resp := c.get("/login")
	for _, ck := range resp.Cookies() {
		if ck.Name == web.CookieName(false) && (!ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode) {
			t.Errorf("session cookie %+v: want HttpOnly and SameSite=Lax", ck)
		}
	}
}

func TestCSRFRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})

	t.Run("login without a session", func(t *testing.T) {
		c := e.client()
		resp := c.post("/login", url.Values{"username": {"admin"}, "password": {password}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	})

	cases := []struct {
		name  string
		token func(own, other string) string
	}{
		{"no token", func(string, string) string { return "" }},
		{"wrong token", func(own, _ string) string { return own[:len(own)-2] + "xx" }},
		{"another session's token", func(_, other string) string { return other }},
	}
	for _, tc := range cases {
		t.Run("login with "+tc.name, func(t *testing.T) {
			other := e.client()
			other.get("/login")
			c := e.client()
			c.get("/login")
			resp := c.post("/login", url.Values{"csrf_token": {tc.token(c.csrf(), other.csrf())}, "username": {"admin"}, "password": {password}})
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
		})
		t.Run("activate with "+tc.name, func(t *testing.T) {
			other := e.client()
			other.get("/login")
			c := e.client()
			c.signedIn("admin")
			before := e.fake.Calls("Activate")
			resp := c.post("/admin/plugins/duo-security/activate", url.Values{"csrf_token": {tc.token(c.csrf(), other.csrf())}})
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
			if e.fake.Calls("Activate") != before {
				t.Fatal("the plugin was activated without a valid CSRF token")
			}
			if active, _ := e.mgr.Active(t.Context()); active {
				t.Fatal("recorded active without a valid CSRF token")
			}
		})
	}

	t.Run("the right token works", func(t *testing.T) {
		c := e.client()
		c.signedIn("admin")
		resp := c.post("/logout", url.Values{"csrf_token": {c.csrf()}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestRateLimiting(t *testing.T) {
	t.Parallel()

	t.Run("per username", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{})
		c := e.client()
		for i := range 5 {
			if resp := c.login("alice", "wrong password "+fmt.Sprint(i), ""); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("attempt %d: status %d, want 401", i+1, resp.StatusCode)
			}
		}
		// Even the right password is refused now, with a clear page.
		resp := c.login("alice", password, "")
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(c.last, "Too many attempts") {
			t.Fatalf("6th attempt: status %d, want 429 with a clear page:\n%s", resp.StatusCode, c.last)
		}
		// Another operator from another address is not affected... but this
		// one shares the address; bob is below the per-address limit (20).
		if resp := c.login("bob", password, ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("bob: status %d, want 303", resp.StatusCode)
		}
	})

	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{web: func(c *web.Config) { c.IPFailureLimit = 4 }})
		c := e.client()
		for i, user := range []string{"nobody1", "nobody2", "alice", "nobody3"} {
			if resp := c.login(user, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("attempt %d: status %d, want 401", i+1, resp.StatusCode)
			}
		}
		if resp := c.login("bob", password, ""); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("after the address's limit: status %d, want 429", resp.StatusCode)
		}
	})

	t.Run("the message does not say which was wrong", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{})
		c := e.client()
		c.login("no-such-user", "whatever1", "")
		unknown := c.last
		c.login("alice", "whatever1", "")
		wrongPass := c.last
		for _, body := range []string{unknown, wrongPass} {
			if !strings.Contains(body, "Wrong username or password.") {
				t.Fatalf("no generic message in:\n%s", body)
			}
		}
		clean := func(s string) string {
			return csrfPattern.ReplaceAllString(strings.ReplaceAll(s, "no-such-user", "alice"), "")
		}
		if clean(unknown) != clean(wrongPass) {
			t.Fatal("the page for an unknown username differs from the page for a wrong password")
		}
	})
}

func TestNextRedirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	cases := []struct {
		next, want string
	}{
		{"/account", "/account"},
		{"/admin/operators?x=1", "/admin/operators?x=1"},
		{"", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"/%2Fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"/ok\r\nSet-Cookie: x=y", "/"},
	}
	for _, tc := range cases {
		t.Run(tc.next, func(t *testing.T) {
			c := e.client()
			resp := c.login("alice", password, tc.next)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want {
				t.Fatalf("next %q: %d to %q, want 303 to %q", tc.next, resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
			if got := auth.SafeNext(tc.next); (got != "") != (tc.want == tc.next && tc.next != "") {
				t.Fatalf("SafeNext(%q) = %q", tc.next, got)
			}
		})
	}
	// An unauthenticated page sends to /login with next, and back.
	c := e.client()
	resp := c.get("/account")
	if loc := resp.Header.Get("Location"); loc != "/login?next=%2Faccount" {
		t.Fatalf("redirect to %q", loc)
	}
}

func TestSessionRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	c := e.client()
	c.get("/login")
	anon := c.sessionCookie()
	if anon == "" {
		t.Fatal("no session before the password")
	}
	resp := c.post("/login", url.Values{"csrf_token": {c.csrf()}, "username": {"alice"}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	authed := c.sessionCookie()
	if authed == "" || authed == anon {
		t.Fatal("the session id was not replaced at sign-in")
	}
	if resp := c.get("/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in: %d", resp.StatusCode)
	}
	// The id from before the sign-in is worthless (no fixation).
	fixated := e.client()
	u, _ := url.Parse(e.srv.URL)
	fixated.hc.Jar.SetCookies(u, []*http.Cookie{{Name: web.CookieName(false), Value: anon, Path: "/"}})
	if resp := fixated.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("old session id still signed in: %d", resp.StatusCode)
	}
	// Only the hash of the id is stored.
	if _, err := e.st.SessionByHash(t.Context(), []byte(authed), time.Now()); err == nil {
		t.Fatal("the raw session id is a key in the database")
	}
	if _, err := e.st.SessionByHash(t.Context(), auth.HashToken(authed), time.Now()); err != nil {
		t.Fatalf("hashed session id not found: %v", err)
	}

	// With TOTP: anonymous → pending → authenticated, three ids.
	op, _ := e.st.OperatorByUsername(t.Context(), "bob")
	key, _ := auth.NewTOTPKey("Test", "bob")
	if err := e.st.SetTOTP(t.Context(), op.ID, key.Secret, true); err != nil {
		t.Fatal(err)
	}
	b := e.client()
	resp = b.login("bob", password, "/account")
	if loc := resp.Header.Get("Location"); loc != "/login/totp" {
		t.Fatalf("bob: to %q, want /login/totp", loc)
	}
	pending := b.sessionCookie()
	if resp := b.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("a pending session reaches the helpdesk")
	}
	b.get("/login/totp")
	for _, want := range []string{`action="/login/totp"`, `inputmode="numeric"`, `maxlength="8"`, `id="verify"`} {
		if !strings.Contains(b.last, want) {
			t.Fatalf("the TOTP form lacks %s:\n%s", want, b.last)
		}
	}
	code, _ := totp.GenerateCode(key.Secret, time.Now())
	resp = b.post("/login/totp", url.Values{"csrf_token": {b.csrf()}, "code": {code}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("totp: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if s := b.sessionCookie(); s == pending || s == "" {
		t.Fatal("the session id was not replaced after the second factor")
	}
	// The same code again is refused (no replay).
	b2 := e.client()
	b2.login("bob", password, "")
	b2.get("/login/totp")
	if resp := b2.post("/login/totp", url.Values{"csrf_token": {b2.csrf()}, "code": {code}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed TOTP code: %d, want 401", resp.StatusCode)
	}
}

func TestFailClosed(t *testing.T) {
	t.Parallel()
	unavailable := fmt.Errorf("begin login: %w", host.ErrUnavailable)
	pluginErr := contract.Errorf(contract.ReasonInactive, "inactive")
	cases := []struct {
		name       string
		begin      func(contract.Operator) (contract.BeginLoginResponse, error)
		wantStatus int
		wantMsg    string
	}{
		{"unavailable", func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{}, unavailable
		}, 503, web.MsgFailClosed},
		{"plugin error", func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{}, pluginErr
		}, 503, web.MsgFailClosed},
		{"any other error", func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{}, errBoom
		}, 503, web.MsgFailClosed},
		{"denied", func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionDenied, Reason: "locked_out", Message: "Your Duo account is locked."}, nil
		}, 403, "Your Duo account is locked."},
		{"unspecified decision", func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{}, nil
		}, 403, "did not succeed"},
		{"allowed is not a BeginLogin answer", func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionAllowed}, nil
		}, 403, "did not succeed"},
		{"redirect to http", func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, RedirectURL: "http://duo.example/x", State: "s"}, nil
		}, 502, web.MsgFailClosed},
		{"redirect without state", func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, RedirectURL: "https://duo.example/x"}, nil
		}, 502, web.MsgFailClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			e.activate()
			e.fake.set(func(f *fakePlugin) { f.begin = tc.begin })
			c := e.client()
			resp := c.login("alice", password, "")
			if resp.StatusCode != tc.wantStatus || !strings.Contains(c.last, tc.wantMsg) {
				t.Fatalf("status %d, want %d with %q:\n%s", resp.StatusCode, tc.wantStatus, tc.wantMsg, c.last)
			}
			if strings.Contains(c.last, "locked_out") {
				t.Fatal("the reason reached the browser")
			}
			if resp := c.get("/"); resp.StatusCode != http.StatusSeeOther {
				t.Fatal("signed in although the plugin did not allow it")
			}
		})
	}

	t.Run("plugin process never started", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{startErr: errBoom})
		// The record says active (as after a restart of the helpdesk).
		if err := e.st.SetPluginActive(t.Context(), plugins.ID, true, "test"); err != nil {
			t.Fatal(err)
		}
		c := e.client()
		resp := c.login("alice", password, "")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(c.last, web.MsgFailClosed) {
			t.Fatalf("status %d:\n%s", resp.StatusCode, c.last)
		}
	})

	t.Run("break-glass deactivation takes effect at the next sign-in", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{})
		e.activate()
		e.fake.set(func(f *fakePlugin) {
			f.begin = func(contract.Operator) (contract.BeginLoginResponse, error) {
				return contract.BeginLoginResponse{}, unavailable
			}
		})
		c := e.client()
		if resp := c.login("alice", password, ""); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("before: %d", resp.StatusCode)
		}
		calls := e.fake.Calls("BeginLogin")
		// What `helpdesk plugins deactivate` does, from another process.
		if err := e.st.SetPluginActive(t.Context(), plugins.ID, false, "shell"); err != nil {
			t.Fatal(err)
		}
		if resp := c.login("alice", password, ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("after break-glass: %d:\n%s", resp.StatusCode, c.last)
		}
		if e.fake.Calls("BeginLogin") != calls {
			t.Fatal("the plugin was asked although the helpdesk's record says inactive")
		}
		// The Plugins page shows the record, the one truth: inactive, with
		// Activate offered, though the process was never told.
		a := e.client()
		a.signedIn("admin")
		a.get("/admin/plugins")
		if !strings.Contains(a.last, `id="plugin-state">Inactive`) || !strings.Contains(a.last, `id="activate"`) {
			t.Fatalf("the Plugins page does not show the break-glass deactivation:\n%s", a.last)
		}
	})
}

func TestDuoCallback(t *testing.T) {
	t.Parallel()
	allowAll := func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
		return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
	}
	const state = "state-0123456789-abcdefghij"
	redirect := func(contract.Operator) (contract.BeginLoginResponse, error) {
		return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, RedirectURL: "https://duo.example/oauth/v1/authorize?x=1", State: state}, nil
	}
	start := func(t *testing.T, complete func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error)) (*env, *client) {
		e := newEnv(t, envOpts{})
		e.activate()
		e.fake.set(func(f *fakePlugin) { f.begin, f.complete = redirect, complete })
		c := e.client()
		resp := c.login("alice", password, "/account")
		// The Duo step: on to Duo, or a code instead.
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login: %d\n%s", resp.StatusCode, c.last)
		}
		if !strings.Contains(c.last, `href="https://duo.example/oauth/v1/authorize?x=1"`) || !strings.Contains(c.last, `id="use-code"`) {
			t.Fatalf("the Duo step lacks the way to Duo or the code option:\n%s", c.last)
		}
		return e, c
	}

	t.Run("allowed", func(t *testing.T) {
		t.Parallel()
		var got contract.CompleteLoginRequest
		e, c := start(t, func(req contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
			got = req
			return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
		})
		resp := c.get(web.CallbackPath + "?duo_code=the-code&state=" + state)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
			t.Fatalf("callback: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if got.SessionState != state || got.CallbackState != state || got.DuoCode != "the-code" || got.Operator.Username != "alice" {
			t.Fatalf("CompleteLogin got %+v", got)
		}
		if resp := c.get("/account"); resp.StatusCode != http.StatusOK {
			t.Fatalf("not signed in: %d", resp.StatusCode)
		}
		// The pending sign-in is single use.
		if resp := c.get(web.CallbackPath + "?duo_code=the-code&state=" + state); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("replayed callback: %d", resp.StatusCode)
		}
		if n := e.fake.Calls("CompleteLogin"); n != 1 {
			t.Fatalf("CompleteLogin called %d times", n)
		}
	})

	for _, tc := range []struct {
		name       string
		complete   func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error)
		query      string
		wantStatus int
		wantCalls  int
	}{
		{"denied", func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
			return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: "state_mismatch", Message: "Two-factor verification with Duo failed."}, nil
		}, "?duo_code=c&state=" + state, 403, 1},
		{"unavailable", func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
			return contract.CompleteLoginResponse{}, fmt.Errorf("complete login: %w", host.ErrUnavailable)
		}, "?duo_code=c&state=" + state, 503, 1},
		{"not-required is not an answer", func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
			return contract.CompleteLoginResponse{Decision: contract.DecisionNotRequired}, nil
		}, "?duo_code=c&state=" + state, 403, 1},
		{"error from Duo", nil, "?error=access_denied&error_description=The+user+cancelled&state=" + state, 403, 0},
		// Repeated parameters are refused whichever copy would win (RFC 6749 §3.1).
		{"repeated state", allowAll, "?duo_code=c&state=" + state + "&state=" + state, 400, 0},
		{"repeated duo_code", allowAll, "?duo_code=c&duo_code=d&state=" + state, 400, 0},
		{"repeated error", allowAll, "?error=a&error=b&state=" + state, 400, 0},
		{"repeat spelt differently", allowAll, "?duo_code=c&state=" + state + "&st%61te=x", 400, 0},
		{"any parameter repeated", allowAll, "?duo_code=c&state=" + state + "&x=1&x=2", 400, 0},
		// url.Values would drop the pair that does not decode and see one state.
		{"repeat hidden by a pair that does not decode", allowAll, "?duo_code=c&state=" + state + "&state=%zz", 400, 0},
		{"no duo_code", allowAll, "?state=" + state, 400, 0},
		{"empty state", allowAll, "?duo_code=c&state=", 400, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, c := start(t, tc.complete)
			resp := c.get(web.CallbackPath + tc.query)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d:\n%s", resp.StatusCode, tc.wantStatus, c.last)
			}
			if strings.Contains(c.last, "state_mismatch") || strings.Contains(c.last, "cancelled") {
				t.Fatal("details reached the browser")
			}
			if n := e.fake.Calls("CompleteLogin"); n != tc.wantCalls {
				t.Fatalf("CompleteLogin called %d times, want %d", n, tc.wantCalls)
			}
			if resp := c.get("/"); resp.StatusCode != http.StatusSeeOther {
				t.Fatal("signed in after a refusal")
			}
		})
	}

	// A link on another site can send ?error= as easily as Duo: without the
	// sign-in's own state it is refused and the sign-in under way is kept.
	t.Run("an error without this sign-in's state", func(t *testing.T) {
		t.Parallel()
		_, c := start(t, allowAll)
		for _, q := range []string{"?error=access_denied", "?error=access_denied&state=", "?error=access_denied&state=someone-elses-state"} {
			if resp := c.get(web.CallbackPath + q); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s: %d, want 400", q, resp.StatusCode)
			}
		}
		resp := c.get(web.CallbackPath + "?duo_code=the-code&state=" + state)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
			t.Fatalf("Duo's own callback after the forged errors: %d %s; want the sign-in kept", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("another browser", func(t *testing.T) {
		t.Parallel()
		e, _ := start(t, func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
			return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
		})
		attacker := e.client()
		if resp := attacker.get(web.CallbackPath + "?duo_code=c&state=" + state); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback without the pending session: %d", resp.StatusCode)
		}
		if e.fake.Calls("CompleteLogin") != 0 {
			t.Fatal("CompleteLogin called without a pending session")
		}
	})
}

func TestNotRequiredFallsBackToTOTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	e.fake.set(func(f *fakePlugin) {
		f.begin = func(contract.Operator) (contract.BeginLoginResponse, error) {
			// Fail open: Duo unreachable, the admin chose to let sign-ins on.
			return contract.BeginLoginResponse{Decision: contract.DecisionNotRequired, Reason: "duo_unavailable_fail_open"}, nil
		}
	})
	op, _ := e.st.OperatorByUsername(t.Context(), "alice")
	key, _ := auth.NewTOTPKey("Test", "alice")
	if err := e.st.SetTOTP(t.Context(), op.ID, key.Secret, true); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	if resp := c.login("alice", password, ""); resp.Header.Get("Location") != "/login/totp" {
		t.Fatalf("fail-open sign-in skipped the built-in second factor: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Without TOTP, NOT_REQUIRED signs in on the password.
	b := e.client()
	if resp := b.login("bob", password, ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("bob: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAdminPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	agent := e.client()
	agent.signedIn("alice")
	for _, path := range []string{"/admin/plugins", "/admin/operators", "/admin/plugins/duo-security/settings"} {
		if resp := agent.get(path); resp.StatusCode != http.StatusForbidden {
			t.Errorf("agent GET %s: %d, want 403", path, resp.StatusCode)
		}
	}
	if resp := agent.post("/admin/plugins/duo-security/activate", url.Values{"csrf_token": {agent.csrf()}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent activate: %d, want 403", resp.StatusCode)
	}

	a := e.client()
	a.signedIn("admin")
	a.get("/admin/operators")
	if !strings.Contains(a.last, `id="duo-inactive"`) || strings.Contains(a.last, `id="enable-alice"`) {
		t.Fatal("inactive plugin: the Operators page must say so and show no toggles")
	}
	a.get("/admin/plugins")
	for id, want := range map[string]bool{"activate": true, "uninstall": true, "deactivate": false, "settings": false} {
		if got := strings.Contains(a.last, `id="`+id+`"`); got != want {
			t.Errorf("inactive Plugins page: #%s shown=%v, want %v", id, got, want)
		}
	}
	// Settings while inactive: back to Plugins.
	if resp := a.get("/admin/plugins/duo-security/settings"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("settings while inactive: %d", resp.StatusCode)
	}
	a.get("/admin/plugins")
	if resp := a.post("/admin/plugins/duo-security/activate", url.Values{"csrf_token": {a.csrf()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("activate: %d", resp.StatusCode)
	}
	a.get("/admin/plugins")
	for id, want := range map[string]bool{"activate": false, "uninstall": false, "deactivate": true, "settings": true} {
		if got := strings.Contains(a.last, `id="`+id+`"`); got != want {
			t.Errorf("active Plugins page: #%s shown=%v, want %v", id, got, want)
		}
	}
	a.get("/admin/operators")
	if !strings.Contains(a.last, `id="enable-alice"`) {
		t.Fatal("active plugin: no Enable button for alice")
	}
	alice, _ := e.st.OperatorByUsername(t.Context(), "alice")
	if resp := a.post(fmt.Sprintf("/admin/operators/%d/duo", alice.ID), url.Values{"csrf_token": {a.csrf()}, "enabled": {"true"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", resp.StatusCode)
	}
	if e.fake.Calls("SetOperatorEnabled") != 1 {
		t.Fatal("SetOperatorEnabled not called")
	}
	// Uninstall is refused while active, whatever is typed.
	a.get("/admin/plugins")
	a.post("/admin/plugins/duo-security/uninstall", url.Values{"csrf_token": {a.csrf()}, "confirm": {"duo-security"}})
	if e.fake.Calls("Uninstall") != 0 {
		t.Fatal("uninstalled while active")
	}
	if rec, _ := e.st.Plugin(t.Context(), plugins.ID); !rec.Installed {
		t.Fatal("record says uninstalled")
	}
}

func TestTOTPSetup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	c := e.client()
	c.signedIn("alice")
	c.get("/account")
	c.post("/account/totp/setup", url.Values{"csrf_token": {c.csrf()}})
	c.get("/account")
	secret := ""
	if i := strings.Index(c.last, `id="totp-secret">`); i >= 0 {
		secret = c.last[i+len(`id="totp-secret">`):]
		secret = secret[:strings.Index(secret, "<")]
	}
	if secret == "" || !strings.Contains(c.last, "otpauth://totp/") {
		t.Fatalf("set-up page shows no secret or URI:\n%s", c.last)
	}
	op, _ := e.st.OperatorByUsername(t.Context(), "alice")
	if op.HasTOTP() {
		t.Fatal("TOTP applies before it is confirmed")
	}
	c.post("/account/totp/confirm", url.Values{"csrf_token": {c.csrf()}, "code": {"000000"}})
	if op, _ = e.st.OperatorByUsername(t.Context(), "alice"); op.HasTOTP() {
		t.Fatal("confirmed with a wrong code")
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	c.get("/account")
	c.post("/account/totp/confirm", url.Values{"csrf_token": {c.csrf()}, "code": {code}})
	if op, _ = e.st.OperatorByUsername(t.Context(), "alice"); !op.HasTOTP() {
		t.Fatal("not confirmed with the right code")
	}
	if op.TOTPSecret.Reveal() != secret {
		t.Fatal("secret changed")
	}
}

// The Plugins page says when Duo's health check failed for a reason fail
// open does not cover, and does not say it for an outage.
func TestPluginsPageNamesConfigurationFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		health  contract.DuoHealth
		refuses bool
	}{
		{"credentials rejected", contract.DuoHealth{Checked: true, Failure: contract.DuoCredentialsRejected, Detail: "Duo rejected the Client ID or Client secret (invalid_client)"}, true},
		{"certificate untrusted", contract.DuoHealth{Checked: true, Failure: contract.DuoCertificateUntrusted, Detail: "Duo's TLS certificate could not be verified"}, true},
		{"unreachable", contract.DuoHealth{Checked: true, Failure: contract.DuoUnreachable, Detail: "Duo did not answer in time"}, false},
		{"ok", contract.DuoHealth{Checked: true, OK: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			e.activate()
			e.fake.set(func(f *fakePlugin) { f.health = tc.health })
			a := e.client()
			a.signedIn("admin")
			a.get("/admin/plugins")
			if got := strings.Contains(a.last, `id="duo-refuses"`); got != tc.refuses {
				t.Fatalf("refusal notice shown: %t, want %t:\n%s", got, tc.refuses, a.last)
			}
			if tc.health.Detail != "" && !strings.Contains(a.last, html.EscapeString(tc.health.Detail)) {
				t.Fatalf("detail %q not shown", tc.health.Detail)
			}
		})
	}
}

// Every call the sign-in pages make to the plugin refuses the sign-in when
// the plugin fails, and says at which step.
func TestEveryLoginCallFailsClosed(t *testing.T) {
	t.Parallel()
	const state = "state-0123456789-abcdefghij"
	toDuo := func(contract.Operator) (contract.BeginLoginResponse, error) {
		return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, RedirectURL: "https://duo.example/authorize", State: state}, nil
	}
	failed := func() (contract.CompleteLoginResponse, error) {
		return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, fmt.Errorf("call: %w", host.ErrUnavailable)
	}
	for _, tc := range []struct {
		step  string
		fake  func(f *fakePlugin)
		reach func(c *client) *http.Response
	}{
		{"begin login", func(f *fakePlugin) {
			f.begin = func(contract.Operator) (contract.BeginLoginResponse, error) {
				return contract.BeginLoginResponse{Decision: contract.DecisionNotRequired}, errBoom
			}
		}, func(c *client) *http.Response { return c.login("alice", password, "") }},
		{"complete login", func(f *fakePlugin) {
			f.begin = toDuo
			f.complete = func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) { return failed() }
		}, func(c *client) *http.Response {
			c.login("alice", password, "")
			return c.get(web.CallbackPath + "?duo_code=c&state=" + state)
		}},
		{"redeem code", func(f *fakePlugin) {
			f.begin = toDuo
			f.redeem = func(contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error) { return failed() }
		}, func(c *client) *http.Response {
			c.login("alice", password, "")
			c.get("/login/code")
			return c.postForm("/login/code", url.Values{"code": {"abcde-fghij"}})
		}},
		{"confirm backup codes", func(f *fakePlugin) {
			f.begin = toDuo
			f.complete = func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
				return contract.CompleteLoginResponse{Decision: contract.DecisionConfirmBackupCodes, BackupCodes: []string{"aaaaa-bbbbb"}, BackupCodesTicket: "t"}, nil
			}
			f.confirm = func(contract.ConfirmBackupCodesRequest) (contract.CompleteLoginResponse, error) { return failed() }
		}, func(c *client) *http.Response {
			c.login("alice", password, "")
			c.get(web.CallbackPath + "?duo_code=c&state=" + state)
			return c.postForm("/login/backup-codes", url.Values{"saved": {"yes"}})
		}},
		{"redeem recovery link", func(f *fakePlugin) {
			f.recover = func(contract.RedeemRecoveryLinkRequest) (contract.CompleteLoginResponse, error) { return failed() }
		}, func(c *client) *http.Response {
			c.get("/recover?token=some-token")
			return c.postForm("/recover", url.Values{"token": {"some-token"}, "username": {"alice"}, "password": {password}})
		}},
	} {
		t.Run(tc.step, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			e.activate()
			e.fake.set(tc.fake)
			c := e.client()
			if resp := tc.reach(c); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(c.last, web.MsgFailClosed) {
				t.Fatalf("status %d, want 503 with the fail-closed message:\n%s", resp.StatusCode, c.last)
			}
			if !strings.Contains(e.logs(), `sign-in refused (fail closed)`) || !strings.Contains(e.logs(), `step="`+tc.step+`"`) {
				t.Fatalf("the log does not name the step %q:\n%s", tc.step, e.logs())
			}
			if resp := c.get("/"); resp.StatusCode != http.StatusSeeOther {
				t.Fatal("signed in although the plugin failed")
			}
		})
	}
}

// The sign-in form, the recovery link's form and the account page check a
// password the one way: counted against the same limits, cleared by a
// right password, logged without unknown usernames.
func TestEveryPasswordFormSharesTheLimits(t *testing.T) {
	t.Parallel()
	recoverWith := func(c *client, username, pass string) *http.Response {
		c.t.Helper()
		c.get("/recover?token=some-token")
		return c.postForm("/recover", url.Values{"token": {"some-token"}, "username": {username}, "password": {pass}})
	}
	unknownLink := func(f *fakePlugin) {
		f.recover = func(contract.RedeemRecoveryLinkRequest) (contract.CompleteLoginResponse, error) {
			return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonLinkUnknown}, nil
		}
	}

	t.Run("recovery link", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{})
		e.activate()
		e.fake.set(unknownLink)
		c := e.client()
		for i := range 5 {
			if resp := recoverWith(c, "alice", fmt.Sprint("wrong ", i)); resp.StatusCode != http.StatusUnauthorized ||
				!strings.Contains(c.last, "Wrong username or password.") {
				t.Fatalf("attempt %d: %d, want 401\n%s", i+1, resp.StatusCode, c.last)
			}
		}
		if resp := recoverWith(c, "alice", password); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("right password after 5 failures: %d, want 429", resp.StatusCode)
		}
		if resp := c.login("alice", password, ""); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("sign-in after 5 failures on the recovery form: %d, want 429", resp.StatusCode)
		}
		if n := e.fake.Calls("RedeemRecoveryLink"); n != 0 {
			t.Fatalf("RedeemRecoveryLink called %d times", n)
		}
		// Not counted, not checked: too long to be real.
		if resp := recoverWith(c, strings.Repeat("b", 129), password); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("over-long username: %d, want 400", resp.StatusCode)
		}
		// Only known usernames reach the log.
		recoverWith(e.client(), "password-typed-as-username", "x")
		logs := e.logs()
		if !strings.Contains(logs, `form="recovery link" username_known=false`) || strings.Contains(logs, "password-typed-as-username") {
			t.Fatalf("the log of an unknown username:\n%s", logs)
		}
	})

	t.Run("a right password clears the username's failures", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{})
		e.activate()
		e.fake.set(unknownLink)
		c := e.client()
		for i := range 4 {
			c.login("alice", fmt.Sprint("wrong ", i), "")
		}
		// The right password, with a link that is not alice's: the refused
		// link counts once, after the password cleared the four.
		if resp := recoverWith(c, "alice", password); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("unknown link: %d, want 403\n%s", resp.StatusCode, c.last)
		}
		if resp := c.login("alice", password, ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in after the failures were cleared: %d, want 303\n%s", resp.StatusCode, c.last)
		}
	})

	t.Run("the right password removes the authenticator app", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{})
		c := e.client()
		c.signedIn("bob")
		op, _ := e.st.OperatorByUsername(t.Context(), "bob")
		key, _ := auth.NewTOTPKey("Test", "bob")
		if err := e.st.SetTOTP(t.Context(), op.ID, key.Secret, true); err != nil {
			t.Fatal(err)
		}
		c.get("/account")
		c.postForm("/account/totp/remove", url.Values{"password": {password}})
		if op, _ := e.st.OperatorByUsername(t.Context(), "bob"); op.TOTPSecret.IsSet() {
			t.Fatal("not removed with the right password")
		}
	})

	t.Run("removing the authenticator app", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{})
		c := e.client()
		c.signedIn("bob")
		op, _ := e.st.OperatorByUsername(t.Context(), "bob")
		key, _ := auth.NewTOTPKey("Test", "bob")
		if err := e.st.SetTOTP(t.Context(), op.ID, key.Secret, true); err != nil {
			t.Fatal(err)
		}
		remove := func(pass string) string {
			c.get("/account")
			if resp := c.postForm("/account/totp/remove", url.Values{"password": {pass}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("remove: %d", resp.StatusCode)
			}
			c.get("/account")
			return c.last
		}
		for i := range 5 {
			if page := remove(fmt.Sprint("wrong ", i)); !strings.Contains(page, "password is not right") {
				t.Fatalf("attempt %d:\n%s", i+1, page)
			}
		}
		if page := remove(password); !strings.Contains(page, "Too many attempts") {
			t.Fatalf("the right password after 5 failures:\n%s", page)
		}
		if op, _ := e.st.OperatorByUsername(t.Context(), "bob"); !op.HasTOTP() {
			t.Fatal("the authenticator app was removed past the limit")
		}
		if resp := e.client().login("bob", password, ""); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("sign-in after 5 failures on the account page: %d, want 429", resp.StatusCode)
		}
	})
}
