package duosim_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"
	"github.com/golang-jwt/jwt/v5"

	"github.com/helpdesk-duo/duo-plugin/duosim"
)

// redirectURI carries a query of its own, which the simulator must keep.
const redirectURI = "https://app.example.test/duo/callback?tenant=acme"

// testClock is a wall clock that a test can move forward.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

type fixture struct {
	sim     *duosim.Server
	app     duosim.App
	duo     *duouniversal.Client
	browser *http.Client // does not follow redirects
}

func startSim(t testing.TB, cfg duosim.Config) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sim, err := duosim.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	app := sim.Apps()[0]
	return &fixture{
		sim:     sim,
		app:     app,
		duo:     newDuoClient(t, sim, app, redirectURI, 5*time.Second),
		browser: browserClient(sim),
	}
}

// startCtx bounds a Start call.
func startCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newDuoClient(t testing.TB, sim *duosim.Server, app duosim.App, redirect string, timeout time.Duration) *duouniversal.Client {
	t.Helper()
	c, err := duouniversal.NewClient(app.ClientID, app.ClientSecret.Reveal(), sim.APIHost(), redirect,
		duouniversal.WithHTTPClient(sim.HTTPClient(timeout)))
	if err != nil {
		t.Fatalf("duouniversal.NewClient: %v", err)
	}
	return c
}

func browserClient(sim *duosim.Server) *http.Client {
	c := sim.HTTPClient(5 * time.Second)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(c *http.Client, req *http.Request) (response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

func get(c *http.Client, u string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return response{}, err
	}
	return do(c, req)
}

func postForm(c *http.Client, u string, form url.Values) (response, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(c, req)
}

var (
	pageRE = regexp.MustCompile(`<main class="frame" id="page-([a-z]+)">`)
	txidRE = regexp.MustCompile(`<input type="hidden" name="txid" value="([A-Za-z0-9]+)">`)
)

func pageOf(body string) string {
	if m := pageRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// browse follows an authorize URL like a user who enrols when asked and
// approves, and returns the redirect it ends on and the pages it saw.
func (f *fixture) browse(authURL string) (loc *url.URL, pages []string, err error) {
	resp, err := get(f.browser, authURL)
	if err != nil {
		return nil, nil, fmt.Errorf("GET authorize: %w", err)
	}
	for range 4 {
		switch resp.status {
		case http.StatusFound:
			loc, err := url.Parse(resp.header.Get("Location"))
			return loc, pages, err
		case http.StatusOK:
		default:
			return nil, pages, fmt.Errorf("status %d on page %q", resp.status, pageOf(resp.body))
		}
		page := pageOf(resp.body)
		pages = append(pages, page)
		m := txidRE.FindStringSubmatch(resp.body)
		if m == nil {
			return nil, pages, fmt.Errorf("no txid on page %q", page)
		}
		action := map[string]string{"enroll": "enroll", "prompt": "approve"}[page]
		if action == "" {
			return nil, pages, fmt.Errorf("unexpected page %q", page)
		}
		resp, err = postForm(f.browser, "https://"+f.sim.APIHost()+"/frame/prompt", url.Values{"txid": {m[1]}, "action": {action}})
		if err != nil {
			return nil, pages, fmt.Errorf("POST %s: %w", action, err)
		}
	}
	return nil, pages, errors.New("too many pages")
}

// codeFrom checks a redirect's target, state and kept query, and returns
// the code under param.
func codeFrom(loc *url.URL, param, wantState string) (string, error) {
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != "https://app.example.test/duo/callback" {
		return "", fmt.Errorf("redirect to %q", got)
	}
	q := loc.Query()
	if q.Get("tenant") != "acme" {
		return "", errors.New("redirect dropped the redirect_uri's own query")
	}
	if q.Get("state") != wantState {
		return "", errors.New("redirect state does not match")
	}
	code := q.Get(param)
	if code == "" {
		return "", fmt.Errorf("redirect has no %s", param)
	}
	return code, nil
}

// login runs the whole flow with the Duo client up to the code.
func (f *fixture) login(username string) (code string, pages []string, err error) {
	state, err := f.duo.GenerateState()
	if err != nil {
		return "", nil, err
	}
	authURL, err := f.duo.CreateAuthURL(username, state)
	if err != nil {
		return "", nil, err
	}
	loc, pages, err := f.browse(authURL)
	if err != nil {
		return "", pages, err
	}
	code, err = codeFrom(loc, "duo_code", state)
	return code, pages, err
}

func (f *fixture) mustLogin(t testing.TB, username string) string {
	t.Helper()
	code, _, err := f.login(username)
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return code
}

func sign(t testing.TB, method jwt.SigningMethod, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// requestClaims mirrors what duo_universal_golang puts in the authorize
// request JWT.
func (f *fixture) requestClaims(username, state string) jwt.MapClaims {
	return jwt.MapClaims{
		"scope":                  "openid",
		"redirect_uri":           redirectURI,
		"client_id":              f.app.ClientID,
		"iss":                    f.app.ClientID,
		"aud":                    "https://" + f.sim.APIHost(),
		"exp":                    time.Now().Add(300 * time.Second).Unix(),
		"state":                  state,
		"response_type":          "code",
		"duo_uname":              username,
		"use_duo_code_attribute": true,
	}
}

func (f *fixture) authorizeURL(clientID, request string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "request": {request}}
	return "https://" + f.sim.APIHost() + "/oauth/v1/authorize?" + q.Encode()
}

// assertionClaims mirrors duo_universal_golang's client assertion.
func (f *fixture) assertionClaims(path string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": f.app.ClientID,
		"sub": f.app.ClientID,
		"aud": "https://" + f.sim.APIHost() + path,
		"exp": time.Now().Add(300 * time.Second).Unix(),
		"jti": randomJTI(),
	}
}

var jtiSeq atomic.Int64

func randomJTI() string { return fmt.Sprintf("jti-%d-%d", time.Now().UnixNano(), jtiSeq.Add(1)) }

// exchangeRaw redeems code by hand, for looking at the raw response.
func (f *fixture) exchangeRaw(t testing.TB, code, redirect string) response {
	t.Helper()
	form := url.Values{
		"grant_type":            {"authorization_code"},
		"code":                  {code},
		"redirect_uri":          {redirect},
		"client_id":             {f.app.ClientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), f.assertionClaims("/oauth/v1/token"))},
	}
	resp, err := postForm(f.sim.HTTPClient(5*time.Second), "https://"+f.sim.APIHost()+"/oauth/v1/token", form)
	if err != nil {
		t.Fatalf("POST token: %v", err)
	}
	return resp
}
