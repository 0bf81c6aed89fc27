package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// offSiteNexts are next parameters that point off the helpdesk, or would
// once a browser or proxy reads them leniently (decodes them, drops tabs
// and newlines, reads a backslash as a slash, folds lookalike slashes).
var offSiteNexts = []string{
	"//evil.example", "///evil.example", "////evil.example/x",
	`/\evil.example`, `\\evil.example`, `\/evil.example`, `/\/evil.example`,
	"/%2F%2Fevil.example", "%2F%2Fevil.example", "/%2Fevil.example", "%2f%2fevil.example",
	"/%252F%252Fevil.example", "/%25252F%25252Fevil.example", "/%5Cevil.example", "/%5cevil.example", "/%255Cevil.example",
	"https://evil.example", "http://evil.example/", "HTTPS://evil.example", "https:evil.example", "https:/evil.example",
	"//evil.example@127.0.0.1/", "/@evil.example", "evil.example", "@evil.example", "?next=//evil.example",
	"javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "javascript%3Aalert(1)", "data:text/html,<script>alert(1)</script>",
	"/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", " //evil.example", "//evil.example\t",
	"/%09/evil.example", "/%0a/evil.example", "/%0d%0a/evil.example", "/%2509/evil.example", "/\x00/evil.example", "/%00/evil.example",
	"/\u2215\u2215evil.example", "\uff0f\uff0fevil.example", "/\uff0fevil.example", "/\u29f5evil.example", "\u3002evil.example",
	"/%E2%88%95%E2%88%95evil.example", "/%EF%BC%8F%EF%BC%8Fevil.example",
	"/.//evil.example", "/..//evil.example", "/./\\evil.example",
}

// onSite reports whether a Location the helpdesk sent keeps the browser on
// the helpdesk, read as leniently as any browser would: tabs and newlines
// dropped, backslashes as slashes, percent-escapes decoded (any number of
// times), lookalike slashes folded.
func onSite(base, loc string) bool {
	b, err := url.Parse(base)
	if err != nil {
		return false
	}
	lenient := strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/", "\u2215", "/", "\uff0f", "/", "\u29f5", "/").Replace(loc)
	for range 8 {
		if !strings.HasPrefix(lenient, "/") || strings.HasPrefix(lenient, "//") {
			return false
		}
		dec, err := url.PathUnescape(lenient)
		if err != nil || dec == lenient {
			break
		}
		lenient = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/", "\u2215", "/", "\uff0f", "/", "\u29f5", "/").Replace(dec)
	}
	u, err := b.Parse(loc)
	return err == nil && u.Scheme == b.Scheme && u.Host == b.Host && u.User == nil
}

var hiddenNext = regexp.MustCompile(`name="next" value="([^"]*)"`)

// Case 21: a next parameter pointing off-site, in any encoding, given in
// the sign-in link or posted with the form: after a complete sign-in with
// the real plugin and Duo, the operator lands on the helpdesk's home (or a
// local path), and Duo is asked to send the browser back to exactly the
// configured callback URL, whatever next said.
func TestCase21OffSiteNextLandsOnTheHelpdesk(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	// The check can fail.
	for _, off := range []string{"//evil.example", `/\evil.example`, "https://evil.example", "/%2F%2Fevil.example", "/%EF%BC%8Fevil.example", "/\t/evil.example"} {
		if onSite(e.base, off) {
			t.Fatalf("onSite(%q) = true", off)
		}
	}
	// The first sign-in sets up the backup codes; the rest are plain.
	e.signInWithDuo(e.client(), "alice", "")

	for _, next := range offSiteNexts {
		for _, via := range []string{"link", "form"} {
			c := e.client()
			resp := c.get("/login?next=" + url.QueryEscape(next))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("next %q: sign-in page %d", next, resp.StatusCode)
			}
			m := hiddenNext.FindStringSubmatch(c.last)
			if m == nil {
				t.Fatalf("next %q: no next field in the sign-in form", next)
			}
			formNext := html.UnescapeString(m[1])
			if formNext != "" && !onSite(e.base, formNext) {
				t.Errorf("next %q: the sign-in form carries it on as %q", next, formNext)
			}
			if via == "form" {
				formNext = next // as a hand-made form would post it
			}
			resp = c.post("/login", url.Values{"csrf_token": {c.csrf()}, "username": {"alice"}, "password": {password}, "next": {formNext}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("next %q by %s: password step %d", next, via, resp.StatusCode)
			}
			authURL := duoURL(t, c)
			au, err := url.Parse(authURL)
			if err != nil || au.Scheme != "https" || au.Host != e.sim.APIHost() {
				t.Fatalf("next %q by %s: sent to %q, want Duo at %s", next, via, authURL, e.sim.APIHost())
			}
			if got := requestClaims(t, authURL)["redirect_uri"]; got != e.callbackURL() {
				t.Fatalf("next %q by %s: the request JWT's redirect_uri is %q, want exactly %q", next, via, got, e.callbackURL())
			}
			if outer, ok := au.Query()["redirect_uri"]; ok && (len(outer) != 1 || outer[0] != e.callbackURL()) {
				t.Fatalf("next %q by %s: the authorization URL's redirect_uri is %q", next, via, outer)
			}
			back := e.atDuo(authURL)
			resp = c.get(back.RequestURI())
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || !onSite(e.base, loc) {
				t.Fatalf("next %q by %s: after Duo %d, sent to %q: off the helpdesk", next, via, resp.StatusCode, loc)
			}
			if loc != "/" {
				t.Logf("next %q by %s: kept as the local path %q", next, via, loc)
			}
		}
	}

	// The sign-in link a signed-out visitor of a page is sent to carries
	// the page as next; odd pages stay on the helpdesk too.
	for _, page := range []string{
		"/account?x=%0d%0aLocation:%20//evil.example", "/admin/operators/%2F%2Fevil.example",
		"/admin/operators/%5Cevil.example", "/admin/log?kind=%EF%BC%8F%EF%BC%8Fevil.example", "/account?next=https://evil.example",
	} {
		c := e.client()
		resp := c.get(page)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Path != "/login" {
			t.Fatalf("signed-out %s: %d %q, want the sign-in page", page, resp.StatusCode, resp.Header.Get("Location"))
		}
		next := loc.Query().Get("next")
		if next != "" && !onSite(e.base, next) {
			t.Errorf("signed-out %s: the sign-in link carries next %q", page, next)
		}
		resp = e.signInWithDuo(c, "alice", next)
		if got := resp.Header.Get("Location"); !onSite(e.base, got) {
			t.Errorf("signed in from %s: sent to %q, off the helpdesk", page, got)
		}
	}

	// The page a signed-out visitor asked for is where they land.
	c := e.client()
	resp := c.get("/account?back=" + url.QueryEscape("//evil.example"))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/login" {
		t.Fatalf("a signed-out page: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = e.signInWithDuo(c, "alice", loc.Query().Get("next"))
	if got := resp.Header.Get("Location"); got != "/account?back=%2F%2Fevil.example" {
		t.Fatalf("signed in from a page's link: sent to %q, want back to the page", got)
	}
}
