package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// malformed is one request a sign-in route must refuse.
type malformed struct {
	name   string
	method string
	path   string
	query  string // raw
	body   string // raw; sent as a form whatever the method
	// also403: the CSRF middleware may refuse it first, with 403 (the body
	// does not parse, so it finds no token; or a POST made of a GET's
	// query, as another site would send it, has none).
	also403 bool
}

// encode is url.Values.Encode in the order of names, with repeats.
func encode(pairs [][2]string) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p[0]) + "=" + url.QueryEscape(p[1]))
	}
	return b.String()
}

// malformedRequests are, for a sign-in route, every way of sending its own
// right values wrongly: each parameter (the CSRF token too) repeated with
// the same value, each moved to where it does not belong (a POST's into the
// query, a GET's into a body), an unknown parameter beside them, Duo's
// "code" beside duo_code, and a query or body that does not parse; and
// for Duo's callback, state or duo_code missing.
func malformedRequests(rt web.Route, values map[string]string, csrf string) []malformed {
	method, path, _ := strings.Cut(rt.Pattern, " ")
	var own [][2]string
	names := rt.Query
	if method == http.MethodPost {
		own = append(own, [2]string{"csrf_token", csrf})
		names = rt.Form
	}
	for _, k := range names {
		if k == "error" || k == "error_description" {
			continue // Duo's error stands for the state and code
		}
		own = append(own, [2]string{k, values[k]})
	}
	without := func(i int) [][2]string {
		return slices.Concat(own[:i], own[i+1:])
	}
	send := func(name string, pairs [][2]string, other string) malformed {
		m := malformed{name: name, method: method, path: path}
		if method == http.MethodPost {
			m.body, m.query = encode(pairs), other
		} else {
			m.query, m.body = encode(pairs), other
		}
		return m
	}
	var out []malformed
	for i, p := range own {
		if !slices.Contains(rt.Repeat, p[0]) {
			out = append(out, send(p[0]+" repeated", append(slices.Clone(own), p), ""))
		}
		if p[0] == "csrf_token" {
			continue
		}
		out = append(out, send(p[0]+" in the wrong place", without(i), encode([][2]string{p})))
	}
	out = append(out, send("an unknown parameter", append(slices.Clone(own), [2]string{"extra", "1"}), ""))
	if method == http.MethodPost {
		out = append(out, malformed{name: "a query on the POST", method: method, path: path, body: encode(own), query: "x=1"})
		out = append(out, malformed{name: "a body that does not parse", method: method, path: path, body: encode(own) + "&%zz", also403: true})
	} else {
		out = append(out, malformed{name: "a query that does not parse", method: method, path: path, query: encode(own) + "&%zz"})
		out = append(out, malformed{name: "the query sent as a POST body", method: http.MethodPost, path: path, body: encode(own), also403: true})
	}
	if strings.HasSuffix(rt.Pattern, web.CallbackPath) {
		out = append(out, send("code beside duo_code", append(slices.Clone(own), [2]string{"code", values["duo_code"]}), ""))
		// Not Duo's answer either: refused by parseDuoCallback, before
		// the pending sign-in is consumed.
		for i, p := range own {
			out = append(out, send(p[0]+" missing", without(i), ""))
		}
	}
	return out
}

func (c *client) raw(m malformed) *http.Response {
	c.t.Helper()
	target := m.path
	if m.query != "" {
		target += "?" + m.query
	}
	req, _ := http.NewRequest(m.method, c.base+target, strings.NewReader(m.body))
	if m.body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	return c.do(req)
}

// Case 36: every sign-in route (the forms and Duo's callback) refuses,
// with 400, a request that repeats a parameter (state, duo_code, the
// codes, the CSRF token, username, password, token…) or carries one where
// it does not belong (a form's fields in the query of its POST, the
// callback's in a body, a name it does not take, Duo's code beside
// duo_code), each time with the right values: the handler would have
// succeeded on them. Nothing is lost: the refusal comes before the handler
// (no audit event, no failure counted, no session), and the genuine
// request afterwards completes the sign-in the malformed ones did not
// consume.
func TestCase36RepeatedOrMisplacedParametersRefused(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	_, aliceCodes := e.signInWithDuoCodes(e.client(), "alice", "")
	if len(aliceCodes) < 3 {
		t.Fatalf("alice's first backup codes: %v", aliceCodes)
	}
	link, err := e.plugin().CreateRecoveryLink(e.ctx(), contract.CreateRecoveryLinkRequest{Operator: web.PluginOperator(e.ops["alice"]), Actor: realAdmin})
	if err != nil {
		t.Fatal(err)
	}

	// A route's world: the browser in the state the route expects, the
	// right values for it, and the genuine request (nil: none to make).
	type world struct {
		c       *client
		csrf    string
		op      string
		values  map[string]string
		genuine func(c *client) bool
	}
	atDuoStep := func(name string) (*client, string) {
		c := e.client()
		if resp := c.login(name, password, "/account"); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s's password: %d", name, resp.StatusCode)
		}
		return c, sessionCSRF(c)
	}
	signedIn := func(c *client) bool { return c.get("/account").StatusCode == http.StatusOK }
	worlds := map[string]func() world{
		"GET /login": func() world {
			return world{c: e.client(), op: "alice", values: map[string]string{"next": "/account"}}
		},
		"POST /login": func() world {
			c := e.client()
			c.get("/login")
			csrf := c.csrf()
			return world{c: c, csrf: csrf, op: "alice", values: map[string]string{"username": "alice", "password": password, "next": "/account"},
				genuine: func(c *client) bool {
					return c.post("/login", url.Values{"csrf_token": {csrf}, "username": {"alice"}, "password": {password}}).StatusCode == http.StatusOK &&
						strings.Contains(c.last, "continue-to-duo")
				}}
		},
		"GET /login/totp": func() world {
			c, csrf := atDuoStep("alice")
			return world{c: c, csrf: csrf, op: "alice"}
		},
		"POST /login/totp": func() world {
			c, csrf := atDuoStep("alice")
			return world{c: c, csrf: csrf, op: "alice", values: map[string]string{"code": "123456"}}
		},
		"GET " + web.CallbackPath: func() world {
			c := e.client()
			back, _ := url.Parse(e.passwordThenDuo(c, "alice", "/account"))
			q := back.Query()
			return world{c: c, op: "alice", values: map[string]string{"state": q.Get("state"), "duo_code": q.Get("duo_code")},
				genuine: func(c *client) bool { c.get(back.RequestURI()); return signedIn(c) }}
		},
		"GET /login/code": func() world {
			c, csrf := atDuoStep("alice")
			return world{c: c, csrf: csrf, op: "alice"}
		},
		"POST /login/code": func() world {
			c, csrf := atDuoStep("alice")
			return world{c: c, csrf: csrf, op: "alice", values: map[string]string{"code": aliceCodes[0]},
				genuine: func(c *client) bool {
					c.post("/login/code", url.Values{"csrf_token": {csrf}, "code": {aliceCodes[0]}})
					return signedIn(c)
				}}
		},
		"GET /login/backup-codes": func() world {
			c := e.client()
			c.get(e.passwordThenDuo(c, "bob", ""))
			return world{c: c, csrf: c.csrf(), op: "bob"}
		},
		"POST /login/backup-codes": func() world {
			c := e.client()
			c.get(e.passwordThenDuo(c, "bob", ""))
			codes := shownCodes(c)
			if len(codes) == 0 {
				t.Fatalf("bob's first Duo sign-in shows no backup codes:\n%s", c.last)
			}
			csrf := c.csrf()
			return world{c: c, csrf: csrf, op: "bob", values: map[string]string{"saved": "yes", "code": codes[0]},
				genuine: func(c *client) bool {
					c.post("/login/backup-codes", url.Values{"csrf_token": {csrf}, "saved": {"yes"}, "code": codes})
					return signedIn(c)
				}}
		},
		"GET " + web.RecoverPath: func() world {
			return world{c: e.client(), op: "alice", values: map[string]string{"token": link.Token}}
		},
		"POST " + web.RecoverPath: func() world {
			c := e.client()
			c.get(web.RecoverPath + "?token=" + url.QueryEscape(link.Token))
			csrf := c.csrf()
			return world{c: c, csrf: csrf, op: "alice", values: map[string]string{"token": link.Token, "username": "alice", "password": password},
				genuine: func(c *client) bool {
					c.post(web.RecoverPath, url.Values{"csrf_token": {csrf}, "token": {link.Token}, "username": {"alice"}, "password": {password}})
					return signedIn(c)
				}}
		},
	}

	var signIn []web.Route
	for _, rt := range web.Routes() {
		if rt.Access == "sign-in" {
			signIn = append(signIn, rt)
		}
	}
	// The recovery link resets alice's second factor: its route goes last.
	slices.SortStableFunc(signIn, func(a, b web.Route) int {
		last := func(rt web.Route) int {
			if rt.Pattern == "POST "+web.RecoverPath {
				return 1
			}
			return 0
		}
		return last(a) - last(b)
	})
	failures := func(name string) int {
		n, err := e.app.Store().CountFailures(e.ctx(), store.ScopeUser, name, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, rt := range signIn {
		mk, ok := worlds[rt.Pattern]
		if !ok {
			t.Errorf("sign-in route %q has no world in case 36: add how to reach it and its genuine request", rt.Pattern)
			continue
		}
		w := mk()
		newest := e.events(w.op)[0].ID
		sessions := e.authenticatedSessions(w.op)
		failed := failures(w.op)
		for _, m := range malformedRequests(rt, w.values, w.csrf) {
			resp := w.c.raw(m)
			if resp.StatusCode != http.StatusBadRequest && !(m.also403 && resp.StatusCode == http.StatusForbidden) {
				t.Errorf("%s with %s: %d, want 400", rt.Pattern, m.name, resp.StatusCode)
			}
			if ev := e.events(w.op)[0]; ev.ID != newest {
				t.Errorf("%s with %s reached the plugin: %s %s %s", rt.Pattern, m.name, ev.Kind, ev.Outcome, ev.Reason)
				newest = ev.ID
			}
			if n := e.authenticatedSessions(w.op); n != sessions {
				t.Fatalf("%s with %s: %s has %d authenticated sessions, had %d", rt.Pattern, m.name, w.op, n, sessions)
			}
		}
		if n := failures(w.op); n != failed {
			t.Errorf("%s: the malformed requests counted %d failed sign-ins", rt.Pattern, n-failed)
		}
		if w.genuine != nil && !w.genuine(w.c) {
			t.Errorf("%s: after the malformed requests the genuine one fails (%s)", rt.Pattern, strings.TrimSpace(w.c.last[:min(len(w.c.last), 200)]))
		}
	}
}
