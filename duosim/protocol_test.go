package duosim_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
)

// failJSON is Duo's FAIL envelope; Timestamp is int64 so that a
// non-integer timestamp fails to decode.
type failJSON struct {
	Stat          string `json:"stat"`
	Code          int    `json:"code"`
	Message       string `json:"message"`
	MessageDetail string `json:"message_detail"`
	Timestamp     int64  `json:"timestamp"`
}

func decodeStrict(t *testing.T, body string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, body, err)
	}
}

func TestHealthCheckAssertions(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	now := time.Now()
	healthURL := "https://" + f.sim.APIHost() + "/oauth/v1/health_check"
	valid := func() jwt.MapClaims { return f.assertionClaims("/oauth/v1/health_check") }
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := valid()
		edit(c)
		return c
	}
	tests := []struct {
		name     string
		method   jwt.SigningMethod
		secret   string
		claims   jwt.MapClaims
		inQuery  bool   // send the fields as query parameters (Postman)
		clientID string // overrides the client_id field
		wantOK   bool
	}{
		{name: "HS512 like the Go client", claims: valid(), wantOK: true},
		{name: "HS256 like Postman", method: jwt.SigningMethodHS256, claims: valid(), wantOK: true},
		{name: "fields in the query", claims: valid(), inQuery: true, wantOK: true},
		{name: "with iat", claims: with(func(c jwt.MapClaims) { c["iat"] = now.Unix() }), wantOK: true},
		{name: "exp an hour ahead like Java", claims: with(func(c jwt.MapClaims) { c["exp"] = now.Add(time.Hour).Unix() }), wantOK: true},
		{name: "exp just past, within skew", claims: with(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() }), wantOK: true},
		{name: "exp past skew", claims: with(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() })},
		{name: "exp too far ahead", claims: with(func(c jwt.MapClaims) { c["exp"] = now.Add(2 * time.Hour).Unix() })},
		{name: "no exp", claims: with(func(c jwt.MapClaims) { delete(c, "exp") })},
		{name: "no jti", claims: with(func(c jwt.MapClaims) { delete(c, "jti") })},
		{name: "iat in the future", claims: with(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() })},
		{name: "aud without the path", claims: with(func(c jwt.MapClaims) { c["aud"] = "https://" + f.sim.APIHost() })},
		{name: "aud for the token endpoint", claims: with(func(c jwt.MapClaims) { c["aud"] = "https://" + f.sim.APIHost() + "/oauth/v1/token" })},
		{name: "aud with another host", claims: with(func(c jwt.MapClaims) { c["aud"] = "https://api-x.duosecurity.com/oauth/v1/health_check" })},
		{name: "sub differs from iss", claims: with(func(c jwt.MapClaims) { c["sub"] = "DIXXXXXXXXXXXXXXXXXX" })},
		{name: "iss differs from client_id", claims: with(func(c jwt.MapClaims) { c["iss"] = "DIXXXXXXXXXXXXXXXXXX" })},
		{name: "wrong secret", secret: strings.Repeat("s", 40), claims: valid()},
		{name: "HS384 not accepted", method: jwt.SigningMethodHS384, claims: valid()},
		{name: "unknown client", clientID: "DIXXXXXXXXXXXXXXXXXX", claims: valid()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method, secret, clientID := tc.method, tc.secret, tc.clientID
			if method == nil {
				method = jwt.SigningMethodHS512
			}
			if secret == "" {
				secret = f.app.ClientSecret.Reveal()
			}
			if clientID == "" {
				clientID = f.app.ClientID
			}
			form := url.Values{"client_id": {clientID}, "client_assertion": {sign(t, method, secret, tc.claims)}}
			var req *http.Request
			if tc.inQuery {
				req, _ = http.NewRequest(http.MethodPost, healthURL+"?"+form.Encode(), nil)
			} else {
				req, _ = http.NewRequest(http.MethodPost, healthURL, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := do(f.sim.HTTPClient(5*time.Second), req)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantOK {
				var ok struct {
					Stat     string `json:"stat"`
					Response struct {
						Timestamp int64 `json:"timestamp"`
					} `json:"response"`
				}
				decodeStrict(t, resp.body, &ok)
				if resp.status != http.StatusOK || ok.Stat != "OK" || ok.Response.Timestamp < now.Unix()-5 {
					t.Errorf("status %d body %s, want 200 OK", resp.status, resp.body)
				}
				return
			}
			var fail failJSON
			decodeStrict(t, resp.body, &fail)
			want := failJSON{Stat: "FAIL", Code: 40002, Message: "invalid_client",
				MessageDetail: "The provided client_assertion was invalid.", Timestamp: fail.Timestamp}
			if resp.status != http.StatusBadRequest || fail != want || fail.Timestamp < now.Unix()-5 {
				t.Errorf("status %d body %+v, want 400 %+v", resp.status, fail, want)
			}
		})
	}
}

func TestHealthCheckReplayedJTI(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	form := url.Values{
		"client_id":        {f.app.ClientID},
		"client_assertion": {sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), f.assertionClaims("/oauth/v1/health_check"))},
	}
	healthURL := "https://" + f.sim.APIHost() + "/oauth/v1/health_check"
	for i, want := range []int{http.StatusOK, http.StatusBadRequest, http.StatusBadRequest} {
		resp, err := postForm(f.sim.HTTPClient(5*time.Second), healthURL, form)
		if err != nil {
			t.Fatal(err)
		}
		if resp.status != want {
			t.Errorf("attempt %d: status %d, want %d", i+1, resp.status, want)
		}
	}
	if got := f.sim.Stats().Failures; got[duosim.FailureReplayedAssertion] != 2 || len(got) != 1 {
		t.Errorf("Failures = %v, want 2 replayed_assertion", got)
	}
}

func TestHealthCheckUnhealthyBody(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	f.sim.SetHealthy(false)
	form := url.Values{"client_id": {f.app.ClientID},
		"client_assertion": {sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), f.assertionClaims("/oauth/v1/health_check"))}}
	resp, err := postForm(f.sim.HTTPClient(5*time.Second), "https://"+f.sim.APIHost()+"/oauth/v1/health_check", form)
	if err != nil {
		t.Fatal(err)
	}
	var fail failJSON
	decodeStrict(t, resp.body, &fail)
	if resp.status != http.StatusServiceUnavailable || fail.Stat != "FAIL" || fail.Code != 50301 || fail.Message != "service_unavailable" {
		t.Errorf("status %d body %+v, want 503 FAIL 50301 service_unavailable", resp.status, fail)
	}
	f.sim.SetHealthy(true)
	if _, err := f.duo.HealthCheck(); err != nil {
		t.Errorf("HealthCheck after SetHealthy(true): %v", err)
	}
}

func TestAuthorizeRejects(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	const state = "abcdefghijklmnopqrstuvwxyz0123456789"
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := f.requestClaims("ivan", state)
		edit(c)
		return c
	}
	tests := []struct {
		name     string
		request  func() string
		clientID string
		wantText string
	}{
		{
			name: "tampered payload",
			request: func() string {
				tok := sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), f.requestClaims("ivan", state))
				parts := strings.Split(tok, ".")
				evil, _ := json.Marshal(with(func(c jwt.MapClaims) { c["duo_uname"] = "admin" }))
				parts[1] = jwtSegment(evil)
				return strings.Join(parts, ".")
			},
			wantText: "token signature is invalid",
		},
		{name: "wrong secret", request: func() string {
			return sign(t, jwt.SigningMethodHS512, strings.Repeat("k", 40), f.requestClaims("ivan", state))
		}, wantText: "token signature is invalid"},
		{name: "HS256", request: func() string {
			return sign(t, jwt.SigningMethodHS256, f.app.ClientSecret.Reveal(), f.requestClaims("ivan", state))
		}, wantText: "signing method HS256 is invalid"},
		{name: "unknown client", clientID: "DIXXXXXXXXXXXXXXXXXX", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), f.requestClaims("ivan", state))
		}, wantText: "unauthorized_request: Unauthorized OIDC request"},
		{name: "expired", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() }))
		}, wantText: "token is expired"},
		{name: "exp too far ahead", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(time.Hour).Unix() }))
		}, wantText: "exp: more than 5m0s ahead"},
		{name: "no exp", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { delete(c, "exp") }))
		}, wantText: "token is missing required claim: exp claim is required"},
		{name: "state too short", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { c["state"] = "short" }))
		}, wantText: "state: must be 16 to 1024 characters"},
		{name: "no username", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { delete(c, "duo_uname") }))
		}, wantText: "duo_uname: missing"},
		{name: "plain http redirect", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { c["redirect_uri"] = "http://app.example.test/cb" }))
		}, wantText: "redirect_uri: http is allowed only for 127.0.0.1, ::1 and localhost"},
		{name: "redirect over 256 characters", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) {
				c["redirect_uri"] = "https://app.example.test/" + strings.Repeat("a", 240)
			}))
		}, wantText: "redirect_uri: longer than 256 characters"},
		{name: "response_type token", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { c["response_type"] = "token" }))
		}, wantText: `response_type: must be &#34;code&#34;`},
		{name: "scope without openid", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { c["scope"] = "profile" }))
		}, wantText: `scope: must contain &#34;openid&#34;`},
		{name: "wrong aud", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { c["aud"] = "https://api-x.duosecurity.com" }))
		}, wantText: "aud: must be https://{api host} or the authorize URL"},
		{name: "wrong iss", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) { c["iss"] = "someone" }))
		}, wantText: "iss: must be the client id"},
		{name: "several problems at once", request: func() string {
			return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), with(func(c jwt.MapClaims) {
				c["state"] = "short"
				c["scope"] = "profile"
			}))
		}, wantText: "state: must be 16 to 1024 characters"},
		{name: "no request", request: func() string { return "" }, wantText: "request: missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clientID := tc.clientID
			if clientID == "" {
				clientID = f.app.ClientID
			}
			resp, err := get(f.browser, f.authorizeURL(clientID, tc.request()))
			if err != nil {
				t.Fatal(err)
			}
			if resp.status != http.StatusBadRequest || resp.header.Get("Location") != "" {
				t.Errorf("status %d Location %q, want 400 without redirect", resp.status, resp.header.Get("Location"))
			}
			if pageOf(resp.body) != "error" || !strings.Contains(resp.body, tc.wantText) || !strings.Contains(resp.body, "<title>Duo Security</title>") {
				t.Errorf("body lacks %q:\n%s", tc.wantText, resp.body)
			}
			if ct := resp.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	if st := f.sim.Stats(); st.CodesIssued != 0 {
		t.Errorf("CodesIssued = %d, want 0", st.CodesIssued)
	}
}

func jwtSegment(b []byte) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(encodeStd(b)), "=")
}

// TestAuthorizeOtherClientShapes drives requests shaped like the other
// Duo SDKs and checks the redirect and the id_token.
func TestAuthorizeOtherClientShapes(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	const state = "abcdefghijklmnopqrstuvwxyz0123456789"
	tests := []struct {
		name      string
		edit      func(jwt.MapClaims)
		outer     url.Values // extra outer parameters
		post      bool
		redirect  string
		wantParam string
		wantNonce string // "" means the nonce claim must be absent
	}{
		{name: "Go client shape", wantParam: "duo_code"},
		{name: "no use_duo_code_attribute gives code", edit: func(c jwt.MapClaims) { delete(c, "use_duo_code_attribute") }, wantParam: "code"},
		{name: "C# aud and string flag", edit: func(c jwt.MapClaims) {
			c["aud"] = "https://" + f.sim.APIHost() + "/oauth/v1/authorize"
			c["use_duo_code_attribute"] = "true"
		}, wantParam: "duo_code"},
		{name: "Java without iss and aud", edit: func(c jwt.MapClaims) { delete(c, "iss"); delete(c, "aud") }, wantParam: "duo_code"},
		{name: "nonce in the JWT", edit: func(c jwt.MapClaims) { c["nonce"] = "n0nce-in-the-request-jwt" }, wantParam: "duo_code", wantNonce: "n0nce-in-the-request-jwt"},
		{name: "Python outer nonce and scope", outer: url.Values{"nonce": {"outer-nonce-value-1234"}, "scope": {"openid"}, "redirect_uri": {redirectURI}},
			wantParam: "duo_code", wantNonce: "outer-nonce-value-1234"},
		{name: "Postman POST", post: true, wantParam: "duo_code"},
		{name: "loopback http redirect", edit: func(c jwt.MapClaims) { c["redirect_uri"] = "http://127.0.0.1:9/cb" },
			redirect: "http://127.0.0.1:9/cb", wantParam: "duo_code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			claims := f.requestClaims("judy", state)
			if tc.edit != nil {
				tc.edit(claims)
			}
			q := url.Values{"response_type": {"code"}, "client_id": {f.app.ClientID},
				"request": {sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), claims)}}
			for k, v := range tc.outer {
				q[k] = v
			}
			authorize := "https://" + f.sim.APIHost() + "/oauth/v1/authorize"
			var resp response
			var err error
			if tc.post {
				resp, err = postForm(f.browser, authorize, q)
			} else {
				resp, err = get(f.browser, authorize+"?"+q.Encode())
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.status != http.StatusFound {
				t.Fatalf("status %d, want 302: %s", resp.status, resp.body)
			}
			loc, _ := url.Parse(resp.header.Get("Location"))
			redirect := tc.redirect
			if redirect == "" {
				redirect = redirectURI
			}
			var code string
			if tc.redirect == "" {
				code, err = codeFrom(loc, tc.wantParam, state)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				code = loc.Query().Get(tc.wantParam)
			}
			other := "duo_code"
			if tc.wantParam == "duo_code" {
				other = "code"
			}
			if loc.Query().Has(other) {
				t.Errorf("redirect has both %s and %s", tc.wantParam, other)
			}
			tokResp := f.exchangeRaw(t, code, redirect)
			claimsOut := idTokenClaims(t, f, tokResp)
			nonce, present := claimsOut["nonce"]
			if tc.wantNonce == "" && present {
				t.Errorf("nonce claim %v present, want absent", nonce)
			}
			if tc.wantNonce != "" && nonce != tc.wantNonce {
				t.Errorf("nonce claim = %v, want %q", nonce, tc.wantNonce)
			}
		})
	}
}

// idTokenClaims checks a successful token response and verifies its
// id_token.
func idTokenClaims(t *testing.T, f *fixture, resp response) jwt.MapClaims {
	t.Helper()
	if resp.status != http.StatusOK {
		t.Fatalf("token status %d: %s", resp.status, resp.body)
	}
	var body struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	decodeStrict(t, resp.body, &body)
	if body.IDToken == "" || body.AccessToken == "" || body.ExpiresIn != 3600 || body.TokenType != "Bearer" {
		t.Errorf("token body = %+v", body)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS512"}), jwt.WithJSONNumber()).
		ParseWithClaims(body.IDToken, claims, func(*jwt.Token) (any, error) { return []byte(f.app.ClientSecret), nil })
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	return claims
}

func TestIDTokenClaimTypes(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	claims := idTokenClaims(t, f, f.exchangeRaw(t, f.mustLogin(t, "kim@example.com"), redirectURI))

	for name, want := range map[string]string{
		"iss": "https://" + f.sim.APIHost() + "/oauth/v1/token", "aud": f.app.ClientID,
		"sub": "kim@example.com", "preferred_username": "kim@example.com",
	} {
		if got, ok := claims[name].(string); !ok || got != want {
			t.Errorf("%s = %#v, want string %q", name, claims[name], want)
		}
	}
	ints := map[string]int64{}
	for _, name := range []string{"exp", "iat", "auth_time"} {
		n, ok := claims[name].(json.Number)
		v, err := n.Int64()
		if !ok || err != nil {
			t.Fatalf("%s = %#v, want an integer", name, claims[name])
		}
		ints[name] = v
	}
	if ints["exp"]-ints["iat"] != 3600 {
		t.Errorf("exp - iat = %d, want 3600", ints["exp"]-ints["iat"])
	}
	if jti, _ := claims["jti"].(string); len(jti) != 36 {
		t.Errorf("jti = %#v, want 36 characters", claims["jti"])
	}
	if _, ok := claims["nonce"]; ok {
		t.Error("nonce present though none was sent")
	}

	ctx, _ := claims["auth_context"].(map[string]any)
	dev, _ := ctx["access_device"].(map[string]any)
	for _, k := range []string{"is_encryption_enabled", "is_firewall_enabled", "is_password_set"} {
		if dev[k] != "unknown" {
			t.Errorf("access_device.%s = %#v, want \"unknown\"", k, dev[k])
		}
	}
	for _, k := range []string{"host_name", "browser", "browser_version", "flash_version", "ip", "java_version", "os", "os_version"} {
		if _, ok := dev[k].(string); !ok {
			t.Errorf("access_device.%s = %#v, want a string", k, dev[k])
		}
	}
	if _, ok := dev["location"].(map[string]any); !ok {
		t.Errorf("access_device.location = %#v, want an object", dev["location"])
	}
	if _, err := ctx["timestamp"].(json.Number).Int64(); err != nil {
		t.Errorf("auth_context.timestamp = %#v, want an integer", ctx["timestamp"])
	}
	user, _ := ctx["user"].(map[string]any)
	if groups, ok := user["groups"].([]any); !ok || len(groups) != 0 || user["name"] != "kim@example.com" || len(user["key"].(string)) != 20 {
		t.Errorf("auth_context.user = %#v", user)
	}
	if ctx["email"] != "kim@example.com" || ctx["event_type"] != "authentication" || ctx["factor"] != "duo_push" {
		t.Errorf("auth_context = %#v", ctx)
	}
	if iso, _ := ctx["isotimestamp"].(string); !strings.HasSuffix(iso, "+00:00") {
		t.Errorf("isotimestamp = %q", iso)
	}
	if txid, _ := ctx["txid"].(string); len(txid) != 36 {
		t.Errorf("txid = %q, want a UUID", txid)
	}
	for _, k := range []string{"alias", "ood_software", "reason", "result"} {
		if _, ok := ctx[k].(string); !ok {
			t.Errorf("auth_context.%s = %#v, want a string", k, ctx[k])
		}
	}
	app, _ := ctx["application"].(map[string]any)
	authDev, _ := ctx["auth_device"].(map[string]any)
	if app["key"] != f.app.ClientID || authDev["name"] == "" {
		t.Errorf("application %#v, auth_device %#v", app, authDev)
	}
}

func TestNonceWithDuoClient(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	const state = "abcdefghijklmnopqrstuvwxyz0123456789"
	const nonce = "a-nonce-the-go-client-cannot-send"
	claims := f.requestClaims("liam", state)
	claims["nonce"] = nonce
	resp, err := get(f.browser, f.authorizeURL(f.app.ClientID, sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), claims)))
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := url.Parse(resp.header.Get("Location"))
	code, err := codeFrom(loc, "duo_code", state)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.duo.ExchangeAuthorizationCodeFor2faResultWithNonce(code, "liam", nonce)
	if err != nil {
		t.Fatalf("ExchangeWithNonce: %v", err)
	}
	if tok.Nonce != nonce {
		t.Errorf("Nonce = %q, want %q", tok.Nonce, nonce)
	}

	// Without a nonce in the request, a caller expecting one is refused.
	code = f.mustLogin(t, "liam")
	if _, err := f.duo.ExchangeAuthorizationCodeFor2faResultWithNonce(code, "liam", nonce); err == nil ||
		err.Error() != `"nonce" not satisfied: claim "nonce" does not exist` {
		t.Errorf("ExchangeWithNonce without a sent nonce: error %v", err)
	}
}

func TestTokenErrorBodies(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	code := f.mustLogin(t, "mia")
	tokenURL := "https://" + f.sim.APIHost() + "/oauth/v1/token"
	assertion := func() string {
		return sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), f.assertionClaims("/oauth/v1/token"))
	}
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{"wrong grant type", url.Values{"grant_type": {"refresh_token"}}, 400, "unsupported_grant_type", "The authorization grant type is not supported."},
		{"wrong assertion type", url.Values{"grant_type": {"authorization_code"}, "client_assertion_type": {"password"}},
			400, "invalid_client", "The provided client_assertion was invalid."},
		{"assertion for the health check", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), f.assertionClaims("/oauth/v1/health_check"))}},
			400, "invalid_client", "The provided client_assertion was invalid."},
		{"wrong redirect, no client_id like Java", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example.test/x"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion()}},
			400, "invalid_grant", "The provided authorization grant or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."},
	}
	for _, tc := range tests { // sequential: the last case consumes the code
		resp, err := postForm(f.sim.HTTPClient(5*time.Second), tokenURL, tc.form)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		decodeStrict(t, resp.body, &body)
		if resp.status != tc.wantStatus || body.Error != tc.wantError || body.ErrorDescription != tc.wantDesc {
			t.Errorf("%s: %d %+v, want %d %s %q", tc.name, resp.status, body, tc.wantStatus, tc.wantError, tc.wantDesc)
		}
	}
}

// TestTokenRequestShapes redeems codes the way the other SDKs send the
// token request.
func TestTokenRequestShapes(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	tokenURL := "https://" + f.sim.APIHost() + "/oauth/v1/token"
	fields := func(code string, withClientID bool) url.Values {
		v := url.Values{
			"grant_type":            {"authorization_code"},
			"code":                  {code},
			"redirect_uri":          {redirectURI},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {sign(t, jwt.SigningMethodHS512, f.app.ClientSecret.Reveal(), f.assertionClaims("/oauth/v1/token"))},
		}
		if withClientID {
			v.Set("client_id", f.app.ClientID)
		}
		return v
	}
	tests := []struct {
		name  string
		build func(form url.Values) *http.Request
		// withClientID: Java and Vaultwarden leave client_id out.
		withClientID bool
	}{
		{name: "Python: query parameters, no body", withClientID: true, build: func(form url.Values) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, tokenURL+"?"+form.Encode(), nil)
			return req
		}},
		{name: "PHP: multipart body", withClientID: true, build: func(form url.Values) *http.Request {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			for k, vs := range form {
				_ = mw.WriteField(k, vs[0])
			}
			_ = mw.Close()
			req, _ := http.NewRequest(http.MethodPost, tokenURL, &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			return req
		}},
		{name: "Java: form without client_id", build: func(form url.Values) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code := f.mustLogin(t, "omar")
			resp, err := do(f.sim.HTTPClient(5*time.Second), tc.build(fields(code, tc.withClientID)))
			if err != nil {
				t.Fatal(err)
			}
			if claims := idTokenClaims(t, f, resp); claims["preferred_username"] != "omar" {
				t.Errorf("preferred_username = %v, want omar", claims["preferred_username"])
			}
		})
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{})
	base := "https://" + f.sim.APIHost()
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantCode           int
		wantMessage        string
	}{
		{"unknown path", http.MethodGet, "/nope", 404, 40401, "Resource not found"},
		{"auth API path", http.MethodPost, "/auth/v2/auth", 404, 40401, "Resource not found"},
		{"GET token", http.MethodGet, "/oauth/v1/token", 405, 40501, "Method not allowed"},
		{"GET health check", http.MethodGet, "/oauth/v1/health_check", 405, 40501, "Method not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tc.method, base+tc.path, nil)
			resp, err := do(f.sim.HTTPClient(5*time.Second), req)
			if err != nil {
				t.Fatal(err)
			}
			var fail failJSON
			decodeStrict(t, resp.body, &fail)
			if resp.status != tc.wantStatus || fail.Stat != "FAIL" || fail.Code != tc.wantCode || fail.Message != tc.wantMessage {
				t.Errorf("%d %+v, want %d FAIL %d %q", resp.status, fail, tc.wantStatus, tc.wantCode, tc.wantMessage)
			}
		})
	}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	var buf testlog.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := startSim(t, duosim.Config{Logger: logger})
	const user = "nina.secretname"
	state, _ := f.duo.GenerateState()
	authURL, _ := f.duo.CreateAuthURL(user, state)
	loc, _, err := f.browse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	code := loc.Query().Get("duo_code")
	if _, err := f.duo.ExchangeAuthorizationCodeFor2faResult(code, user); err != nil {
		t.Fatal(err)
	}
	_, _ = f.duo.ExchangeAuthorizationCodeFor2faResult(code, user) // a refusal gets logged too
	_, _ = get(f.browser, authURL+"x")                             // and a bad request JWT
	reqJWT, _ := url.Parse(authURL)
	logs := buf.String()
	for what, secret := range map[string]string{
		"client secret": f.app.ClientSecret.Reveal(), "code": code, "state": state, "username": user,
		"request JWT": reqJWT.Query().Get("request")[:40], "query string": "request=",
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the %s", what)
		}
	}
	if !strings.Contains(logs, `"reason":"invalid_grant"`) || !strings.Contains(logs, f.app.ClientID) {
		t.Errorf("logs lack the expected records:\n%s", logs)
	}
}
