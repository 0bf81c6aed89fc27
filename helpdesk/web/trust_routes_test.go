package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/auth"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
)

// routeClass is what case 14 expects of a route: its access, and for a
// sign-in route driven from a Duo step under way (with a correct password
// and wrong codes, state and token) the plugin's audit event, or none
// when the helpdesk refuses without asking the plugin.
type routeClass struct {
	access                string
	kind, outcome, reason string
}

// case14Routes classifies every route the helpdesk registers. A route
// the server registers and this table does not name fails the test: a
// new route must say whether it can sign anyone in.
var case14Routes = map[string]routeClass{
	"GET /healthz": {access: "open"},
	"POST /logout": {access: "open"},
	"/":            {access: "open"}, // the not-found page

	// The only routes that may start an authenticated session.
	"GET /login":               {access: "sign-in"},                        // the form
	"POST /login":              {"sign-in", "login.begin", "redirect", ""}, // the password, then BeginLogin
	"GET /login/totp":          {access: "sign-in"},                        // the built-in method: only after the plugin said NOT_REQUIRED or is inactive
	"POST /login/totp":         {access: "sign-in"},                        // a right TOTP code does not stand in for Duo
	"GET " + web.CallbackPath:  {"sign-in", "login.complete", "denied", "state_mismatch"},
	"GET /login/code":          {access: "sign-in"},
	"POST /login/code":         {"sign-in", "login.code", "denied", "code_wrong"},
	"GET /login/backup-codes":  {access: "sign-in"}, // only after Duo vouched
	"POST /login/backup-codes": {access: "sign-in"},
	"GET " + web.RecoverPath:   {access: "sign-in"},
	"POST " + web.RecoverPath:  {"sign-in", "recovery_link.redeem", "denied", "recovery_link_unknown"},

	"GET /{$}":                   {access: "signed-in"},
	"POST /tickets":              {access: "signed-in"},
	"POST /tickets/{id}/close":   {access: "signed-in"},
	"GET /account":               {access: "signed-in"},
	"POST /account/totp/setup":   {access: "signed-in"},
	"POST /account/totp/confirm": {access: "signed-in"},
	"POST /account/totp/remove":  {access: "signed-in"},
	"POST /account/backup-codes": {access: "signed-in"},
	"POST /account/duo/disable":  {access: "signed-in"},

	"GET /admin/plugins":                              {access: "admin"},
	"POST /admin/plugins/duo-security/activate":       {access: "admin"},
	"POST /admin/plugins/duo-security/deactivate":     {access: "admin"},
	"POST /admin/plugins/duo-security/restart":        {access: "admin"},
	"POST /admin/plugins/duo-security/check":          {access: "admin"},
	"GET /admin/plugins/duo-security/settings":        {access: "admin"},
	"POST /admin/plugins/duo-security/settings":       {access: "admin"},
	"GET /admin/plugins/duo-security/uninstall":       {access: "admin"},
	"POST /admin/plugins/duo-security/uninstall":      {access: "admin"},
	"GET /admin/operators":                            {access: "staff"},
	"GET /admin/operators/{id}":                       {access: "staff"},
	"POST /admin/operators/{id}/bypass":               {access: "staff"},
	"POST /admin/operators/{id}/bypass/{code}/revoke": {access: "staff"},
	"POST /admin/operators/{id}/unlock":               {access: "staff"},
	"GET /admin/log":                                  {access: "admin"},
	"GET /admin/log/export":                           {access: "admin"},
	"GET /admin/operators/{id}/recovery-link":         {access: "admin"},
	"POST /admin/operators/{id}/recovery-link":        {access: "admin"},
	"GET /admin/outbox":                               {access: "admin"},
	"POST /admin/operators/{id}/duo":                  {access: "admin"},
	"POST /admin/operators/{id}/alias":                {access: "admin"},
}

// driveValues are the values case 14 sends, by parameter: the right
// password, and codes, state and token that are wrong.
var driveValues = map[string]string{
	"username": "alice", "password": password, "next": "/", "code": "abcde-fghjk", "saved": "yes",
	"token": "bogus-recovery-token", "state": "forged-state-0123456789abcdef", "duo_code": "forged-duo-code",
	"subject": "pwned", "requester": "x", "enabled": "false", "alias": "someone-else", "confirm": "duo-security",
	"uses": "5", "hours": "24", "skip_duo_check": "on",
}

// accountFields are what the account and admin forms take, all sent to
// each of their routes: a route that forgot its check would act on them.
var accountFields = []string{"password", "code", "subject", "requester", "enabled", "alias", "confirm", "uses", "hours", "skip_duo_check"}

// drive sends rt the parameters it takes (a sign-in route only those,
// each once; any other the account and admin forms' fields), with the
// session's CSRF token on a POST (override's csrf_token, else read from a
// page), as alice's browser. override replaces values by name.
func (e *realEnv) drive(c *client, rt web.Route, override map[string]string) *http.Response {
	e.t.Helper()
	method, path, ok := strings.Cut(rt.Pattern, " ")
	if !ok {
		method, path = http.MethodGet, "/no-such-page"
	}
	path = strings.NewReplacer("{$}", "", "{id}", strconv.FormatInt(e.ops["alice"].ID, 10), "{code}", "b1").Replace(path)
	value := func(k string) string {
		if v, ok := override[k]; ok {
			return v
		}
		return driveValues[k]
	}
	if method == http.MethodGet {
		q := url.Values{}
		for _, k := range rt.Query {
			if k != "error" && k != "error_description" { // Duo's error stands for a code and state
				q.Set(k, value(k))
			}
		}
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		return c.get(path)
	}
	csrf := override["csrf_token"]
	if csrf == "" {
		csrf = sessionCSRF(c)
	}
	form := url.Values{"csrf_token": {csrf}}
	names := rt.Form
	if rt.Access != "sign-in" {
		names = accountFields
	}
	for _, k := range names {
		form.Set(k, value(k))
	}
	return c.post(path, form)
}

// sessionCSRF is the CSRF token of c's session, read from a sign-in page
// that does not change the session: the code form while a second factor
// is under way, else the sign-in form.
func sessionCSRF(c *client) string {
	c.t.Helper()
	c.get("/login/code")
	if m := csrfPattern.FindStringSubmatch(c.last); m != nil {
		return m[1]
	}
	c.get("/login")
	return c.csrf()
}

// Case 14: every route of the reference helpdesk is in one table, and each
// is classified here (an unclassified route fails). No route takes basic
// authentication (there is no API, and no remember-me). Each is driven as
// alice (Duo on, and the built-in TOTP method set up too) with her right
// password and wrong second factors: from a Duo step under way, with Duo
// down (fail closed), and with the plugin process killed. No request
// leaves an authenticated session; the sign-in routes that take a second
// factor reach the plugin, which audits each refusal with its reason; the
// others answer without it.
func TestCase14EveryRouteGoesThroughThePlugin(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	routes := web.Routes()

	// Every route is classified, with the access the table gives it.
	var seen []string
	for _, rt := range routes {
		seen = append(seen, rt.Pattern)
		want, ok := case14Routes[rt.Pattern]
		switch {
		case !ok:
			t.Errorf("route %q is not classified in case14Routes: say whether it can sign anyone in, and how", rt.Pattern)
		case want.access != rt.Access:
			t.Errorf("route %q has access %q, want %q", rt.Pattern, rt.Access, want.access)
		}
	}
	for p := range case14Routes {
		if !slices.Contains(seen, p) {
			t.Errorf("case14Routes names %q, which the server no longer registers", p)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// alice also has the built-in TOTP method: a right code of it must
	// not stand in for Duo.
	key, err := auth.NewTOTPKey("test", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.app.Store().SetTOTP(t.Context(), e.ops["alice"].ID, key.Secret, false); err != nil {
		t.Fatal(err)
	}
	if err := e.app.Store().ConfirmTOTP(t.Context(), e.ops["alice"].ID, key.Secret, 1); err != nil {
		t.Fatal(err)
	}
	rightTOTP := func() map[string]string {
		code, err := totp.GenerateCode(key.Secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"code": code}
	}

	// The test can see a sign-in: bob's, with Duo, is one.
	e.signInWithDuo(e.client(), "bob", "")
	if n := e.authenticatedSessions("bob"); n != 1 {
		t.Fatalf("bob signed in with Duo: %d authenticated sessions, want 1", n)
	}

	notSignedIn := func(state string, rt web.Route, c *client, resp *http.Response) {
		t.Helper()
		if n := e.authenticatedSessions("alice"); n != 0 {
			t.Fatalf("%s: %s answered %d and left alice %d authenticated sessions without her second factor", state, rt.Pattern, resp.StatusCode, n)
		}
		if r := c.get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: after %s the browser opens /account: %d", state, rt.Pattern, r.StatusCode)
		}
	}

	// 0. No API or basic authentication: the right password in an
	// Authorization header opens nothing.
	for _, rt := range routes {
		if rt.Access == "open" || rt.Access == "sign-in" {
			continue
		}
		c := e.client()
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.NewReplacer("{$}", "", "{id}", strconv.FormatInt(e.ops["admin"].ID, 10), "{code}", "b1").Replace(path)
		req, _ := http.NewRequest(method, e.base+path, nil)
		req.SetBasicAuth("admin", password)
		if resp := c.do(req); resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with the admin's password as basic authentication: %d, want a redirect to sign in (GET) or 403 (no CSRF token)", rt.Pattern, resp.StatusCode)
		}
		if n := e.authenticatedSessions("admin"); n != 0 {
			t.Fatalf("%s with basic authentication left the admin %d authenticated sessions", rt.Pattern, n)
		}
	}

	// 1. From the Duo step (the password was right, Duo is up).
	for _, rt := range routes {
		c := e.client()
		if resp := c.login("alice", password, ""); resp.StatusCode != http.StatusOK || !strings.Contains(c.last, "continue-to-duo") {
			t.Fatalf("alice's password: %d, want the Duo step", resp.StatusCode)
		}
		before := e.events("alice")[0]
		if before.Kind != "login.begin" || before.Outcome != "redirect" {
			t.Fatalf("the Duo step's audit event: %+v", before)
		}
		var override map[string]string
		if rt.Pattern == "POST /login/totp" {
			override = rightTOTP()
		}
		resp := e.drive(c, rt, override)
		notSignedIn("Duo step", rt, c, resp)
		want := case14Routes[rt.Pattern]
		after := e.events("alice")[0]
		switch {
		case want.kind == "" && after.ID != before.ID:
			t.Errorf("Duo step: %s reached the plugin (%s %s %s), which the table does not expect", rt.Pattern, after.Kind, after.Outcome, after.Reason)
		case want.kind != "" && (after.ID == before.ID || after.Kind != want.kind || after.Outcome != want.outcome || after.Reason != want.reason):
			t.Errorf("Duo step: after %s the newest audit event is %s %s %s, want %s %s %s", rt.Pattern,
				after.Kind, after.Outcome, after.Reason, want.kind, want.outcome, want.reason)
		}
	}

	// 2. Duo down: the plugin fails closed; a code is offered instead.
	e.sim.SetHealthy(false)
	for _, rt := range routes {
		if case14Routes[rt.Pattern].access != "sign-in" {
			continue // refused before any session is read, as step 1 showed
		}
		c := e.client()
		if resp := c.login("alice", password, ""); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("alice's password with Duo down: %d, want 403", resp.StatusCode)
		}
		if ev := e.events("alice")[0]; ev.Kind != "login.begin" || ev.Outcome != "denied" || ev.Reason != "duo_unavailable" {
			t.Fatalf("Duo down: the audit event is %s %s %s, want login.begin denied duo_unavailable", ev.Kind, ev.Outcome, ev.Reason)
		}
		var override map[string]string
		if rt.Pattern == "POST /login/totp" {
			override = rightTOTP()
		}
		notSignedIn("Duo down", rt, c, e.drive(c, rt, override))
	}
	e.sim.SetHealthy(true)

	// 3. The plugin process is killed (and stays down): every sign-in is
	// refused, whatever the route.
	p := e.plugin()
	pid := p.State().PID
	if pid <= 0 {
		t.Fatalf("plugin pid %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill plugin %d: %v", pid, err)
	}
	waitfor.Until(t, 10*time.Second, "the plugin to be seen down", func() bool { return p.State().Phase != host.PhaseRunning })
	for _, rt := range routes {
		if case14Routes[rt.Pattern].access != "sign-in" {
			continue
		}
		c := e.client()
		if resp := c.login("alice", password, ""); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("alice's password with the plugin down: %d, want 503", resp.StatusCode)
		}
		var override map[string]string
		if rt.Pattern == "POST /login/totp" {
			override = rightTOTP()
		}
		resp := e.drive(c, rt, override)
		notSignedIn("plugin down", rt, c, resp)
		if want := case14Routes[rt.Pattern]; want.kind != "" && resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plugin down: %s answered %d, want 503 (fail closed) or 400 (no sign-in under way)", rt.Pattern, resp.StatusCode)
		}
	}
}
