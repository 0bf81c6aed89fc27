package conformance

import (
	"crypto/tls"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
)

// maxBody caps what the browser reads of one answer.
const maxBody = 4 << 20

// maxRedirects caps the redirects Follow takes on the vendor's site.
const maxRedirects = 10

// A Browser is one browser: a cookie jar, a client that trusts the Duo
// simulator's CA, and redirects that it follows only when asked (Follow),
// so that every hop can be checked. Relative targets are resolved against
// the vendor's base URL. It is not safe for concurrent use.
type Browser struct {
	base *url.URL
	duo  string // the simulator's host:port
	hc   *http.Client
}

// Page is one answer: the URL asked for, the status, the headers and the
// body (at most 4 MiB).
type Page struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
}

func newBrowser(base *url.URL, sim *duosim.Server) *Browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the helpdesk under test and the simulator are local
	tr.TLSClientConfig = &tls.Config{RootCAs: sim.CertPool(), MinVersion: tls.VersionTLS12}
	return &Browser{base: base, duo: sim.APIHost(), hc: &http.Client{
		Jar: jar, Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Clone is a second browser with a copy of this one's cookies for the
// vendor's site: the same session, in another tab or in an attacker's
// hands.
func (b *Browser) Clone() *Browser {
	jar, _ := cookiejar.New(nil)
	var cs []*http.Cookie
	for _, c := range b.hc.Jar.Cookies(b.base) {
		cs = append(cs, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/"})
	}
	jar.SetCookies(b.base, cs)
	hc := *b.hc
	hc.Jar = jar
	return &Browser{base: b.base, duo: b.duo, hc: &hc}
}

// URL resolves target (a path, or an absolute URL) against the vendor's
// base URL.
func (b *Browser) URL(target string) (*url.URL, error) {
	ref, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", redact(target), err)
	}
	return b.base.ResolveReference(ref), nil
}

// Get asks for target without following a redirect.
func (b *Browser) Get(target string) (*Page, error) {
	u, err := b.URL(target)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

// Post posts form to target, url-encoded, without following a redirect.
func (b *Browser) Post(target string, form url.Values) (*Page, error) {
	u, err := b.URL(target)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *Browser) do(req *http.Request) (*Page, error) {
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, redact(req.URL.String()), stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", req.Method, redact(req.URL.String()), err)
	}
	return &Page{URL: req.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, nil
}

// stripURL drops the URL (and so the query) from a client error.
func stripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// Redirected reports whether the page is a redirect with a Location.
func (p *Page) Redirected() bool {
	switch p.Status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return p.Header.Get("Location") != ""
	}
	return false
}

// Location is the redirect's target resolved against the page's URL, or
// nil when the page is no redirect or its Location does not parse.
func (p *Page) Location() *url.URL {
	if !p.Redirected() {
		return nil
	}
	ref, err := url.Parse(p.Header.Get("Location"))
	if err != nil {
		return nil
	}
	return p.URL.ResolveReference(ref)
}

// String describes the page for a failure message: status, the path
// asked for (never the query: it may hold a state or a code), where it
// redirects, and the start of its text.
func (p *Page) String() string {
	if p == nil {
		return "no answer"
	}
	s := fmt.Sprintf("%d at %s", p.Status, p.URL.Path)
	if p.Redirected() {
		s += ", redirecting to " + redact(p.Header.Get("Location"))
	}
	if text := pageText(p.Body); text != "" {
		s += ": " + text
	}
	return s
}

var (
	tags   = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)
	spaces = regexp.MustCompile(`\s+`)
)

// pageText is the start of a page's visible text.
func pageText(body string) string {
	text := strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(tags.ReplaceAllString(body, " ")), " "))
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	return text
}

// redact drops the query of a URL for messages: it may hold a state, a
// duo_code or a token. It keeps the parameter names.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	if u.RawQuery == "" {
		return u.String()
	}
	var names []string
	for k := range u.Query() {
		names = append(names, k)
	}
	u.RawQuery = ""
	return u.String() + "?(" + strings.Join(names, ", ") + ")"
}

// Follow follows p's redirects while they stay on the vendor's site
// (same scheme and host as the base URL), at most 10, and returns the
// last answer: a page, a redirect to Duo, or a redirect that leaves the
// site (the caller decides whether that is wrong). 301, 302 and 303 are
// followed with GET; 307 and 308 are not followed (the kit never posts
// to a redirect).
func (b *Browser) Follow(p *Page) (*Page, error) {
	for range maxRedirects {
		loc := p.Location()
		if loc == nil || !b.onSite(loc) || p.Status == http.StatusTemporaryRedirect || p.Status == http.StatusPermanentRedirect {
			return p, nil
		}
		next, err := b.Get(loc.String())
		if err != nil {
			return nil, err
		}
		p = next
	}
	return nil, fmt.Errorf("more than %d redirects on the site, the last %s", maxRedirects, p)
}

// onSite reports whether u is on the vendor's site.
func (b *Browser) onSite(u *url.URL) bool {
	return u.Scheme == b.base.Scheme && u.Host == b.base.Host && u.User == nil
}

// A Form is one <form> of a page: its method, action (resolved against
// the page) and the values of its inputs that a browser would send
// without the user touching them (hidden and text inputs with a value,
// checked checkboxes and radios; repeated names keep every value).
type Form struct {
	Method string
	Action *url.URL
	Values url.Values
}

var (
	formPattern  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputPattern = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrPattern  = regexp.MustCompile(`(?is)([a-z_:][-a-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrPattern.FindAllStringSubmatch(s, -1) {
		name := strings.ToLower(a[1])
		if _, seen := m[name]; seen {
			continue
		}
		m[name] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

// Forms lists the page's forms. It reads HTML as helpdesks write it
// (quoted attributes, no forms inside comments or scripts), not every
// HTML a browser would accept.
func (p *Page) Forms() []Form {
	var forms []Form
	for _, f := range formPattern.FindAllStringSubmatch(p.Body, -1) {
		fa := attrs(f[1])
		method := strings.ToUpper(fa["method"])
		if method == "" {
			method = http.MethodGet
		}
		action := p.URL
		if a, ok := fa["action"]; ok && a != "" {
			if ref, err := url.Parse(a); err == nil {
				action = p.URL.ResolveReference(ref)
			}
		}
		values := url.Values{}
		for _, in := range inputPattern.FindAllStringSubmatch(f[2], -1) {
			ia := attrs(in[1])
			name := ia["name"]
			_, disabled := ia["disabled"]
			if name == "" || disabled {
				continue
			}
			switch strings.ToLower(ia["type"]) {
			case "checkbox", "radio":
				if _, checked := ia["checked"]; checked {
					v := ia["value"]
					if v == "" {
						v = "on"
					}
					values.Add(name, v)
				}
			case "submit", "button", "image", "file", "reset":
			default:
				if v, ok := ia["value"]; ok {
					values.Add(name, v)
				}
			}
		}
		forms = append(forms, Form{Method: method, Action: action, Values: values})
	}
	return forms
}

// Form is the page's first form whose action's path is action, and false
// when there is none.
func (p *Page) Form(action string) (Form, bool) {
	for _, f := range p.Forms() {
		if f.Action.Path == action {
			return f, true
		}
	}
	return Form{}, false
}

// Submit sends the form with values set over its own (a value set here
// replaces every value of that name in the form) and returns the answer,
// without following a redirect.
func (b *Browser) Submit(f Form, values url.Values) (*Page, error) {
	form := url.Values{}
	for k, v := range f.Values {
		form[k] = append([]string(nil), v...)
	}
	for k, v := range values {
		form[k] = v
	}
	if f.Method == http.MethodGet {
		u := *f.Action
		u.RawQuery = form.Encode()
		return b.Get(u.String())
	}
	return b.Post(f.Action.String(), form)
}

// DuoLink is where the page sends the browser to Duo: a redirect to the
// simulator's authorize endpoint, or the first link or URL to it in the
// page's HTML. False when the page does neither.
func (b *Browser) DuoLink(p *Page) (*url.URL, bool) {
	if loc := p.Location(); loc != nil {
		if b.atDuo(loc) {
			return loc, true
		}
		return nil, false
	}
	prefix := regexp.QuoteMeta("https://" + b.duo + "/oauth/v1/authorize")
	m := regexp.MustCompile(prefix + `[^"'\s<>]*`).FindString(p.Body)
	if m == "" {
		return nil, false
	}
	u, err := url.Parse(html.UnescapeString(m))
	if err != nil {
		return nil, false
	}
	return u, true
}

// atDuo reports whether u is the simulator's authorize endpoint.
func (b *Browser) atDuo(u *url.URL) bool {
	return u.Scheme == "https" && u.Host == b.duo && u.Path == "/oauth/v1/authorize"
}
