package duo

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"
	"github.com/golang-jwt/jwt/v5"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// This file pins the package's protocol to Duo's own Go client
// (duo_universal_golang v1.1.0, which it replaced): the same requests, and
// the same verdict on every id_token and token answer in a table, but for
// the differences documented there.

const diffRedirect = "https://helpdesk.example/login/duo/callback"

// answer is what the stand-in Duo endpoint says next.
type answer struct {
	status int
	body   string
}

// duoStandIn is a TLS stand-in for Duo's /oauth/v1/{token,health_check}:
// it answers with whatever set last gave it and keeps the forms it got.
type duoStandIn struct {
	mu    sync.Mutex
	next  answer
	keep  bool // keep the forms and User-Agents of the requests
	forms []url.Values
	uas   []string
	hang  chan struct{} // when not nil, requests wait for it (or their end)
}

func (s *duoStandIn) set(a answer) {
	s.mu.Lock()
	s.next = a
	s.mu.Unlock()
}

func (s *duoStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	a, hang := s.next, s.hang
	if s.keep {
		s.forms = append(s.forms, r.PostForm)
		s.uas = append(s.uas, r.UserAgent())
	}
	s.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// diffPair is our client and Duo's, both against one stand-in and both
// through the same HTTP client (our pinned-to-the-test-CA transport).
type diffPair struct {
	ours   *client
	lib    *duouniversal.Client
	host   string
	issuer string // the token endpoint, which must issue the id_token
	srv    *duoStandIn
}

func startDiffPair(tb testing.TB, timeout time.Duration) *diffPair {
	tb.Helper()
	s := &duoStandIn{next: answer{status: 200, body: "{}"}}
	srv := httptest.NewTLSServer(s)
	tb.Cleanup(srv.Close)
	ca := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		tb.Fatal(err)
	}
	host := srv.Listener.Addr().String()
	d := settings.Defaults()
	d.ClientID, d.ClientSecret, d.APIHostname, d.CAFile = fuzzClientID, secret.Value(fuzzSecret), host, ca
	ours, err := newClient(settings.Runtime{AllowTestDuoHost: true, DuoTimeout: timeout}, d, diffRedirect)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ours.http.CloseIdleConnections)
	lib, err := duouniversal.NewClient(fuzzClientID, fuzzSecret, host, diffRedirect, duouniversal.WithHTTPClient(ours.http))
	if err != nil {
		tb.Fatal(err)
	}
	return &diffPair{ours: ours, lib: lib, host: host, issuer: "https://" + host + "/oauth/v1/token", srv: s}
}

// duoClaims is an id_token's payload as Duo sends it (the simulator's
// shape), for the issuer and time now.
func duoClaims(issuer string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"aud":                fuzzClientID,
		"iss":                issuer,
		"exp":                now.Add(5 * time.Minute).Unix(),
		"iat":                now.Unix(),
		"auth_time":          now.Unix(),
		"sub":                fuzzUser,
		"preferred_username": fuzzUser,
		"auth_result":        map[string]any{"result": "allow", "status": "allow", "status_msg": "Login Successful"},
		"auth_context": map[string]any{
			"access_device": map[string]any{
				"browser": "Chrome", "browser_version": "131.0", "ip": "192.0.2.7", "is_encryption_enabled": "unknown",
				"is_firewall_enabled": true, "is_password_set": false, "os": "Linux", "location": map[string]any{"city": "Ghent", "country": "Belgium"},
			},
			"application":  map[string]any{"key": "DIAPPKEY", "name": "Helpdesk"},
			"auth_device":  map[string]any{"ip": "198.51.100.4", "name": "iPhone"},
			"event_type":   "authentication",
			"factor":       "duo_push",
			"isotimestamp": now.UTC().Format("2006-01-02T15:04:05.000000+00:00"),
			"reason":       "user_approved",
			"result":       "success",
			"timestamp":    now.Unix(),
			"txid":         "9a7c8d2e-1b3f-4e5a-8c6d-0f1e2d3c4b5a",
			"user":         map[string]any{"groups": []string{"ops"}, "key": "DUUSERKEY", "name": fuzzUser},
		},
	}
}

// signed is claims as a JWT signed with method under key.
func signed(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	tb.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// macUnder is a JWT whose header says alg but whose signature is an
// HS512 MAC under the client secret anyway.
func macUnder(tb testing.TB, alg string, claims jwt.MapClaims) string {
	tb.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	p, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sig, err := jwt.SigningMethodHS512.Sign(in, []byte(fuzzSecret))
	if err != nil {
		tb.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func tokenAnswer(idToken string) answer {
	b, _ := json.Marshal(map[string]any{"access_token": "access", "id_token": idToken, "expires_in": 3600, "token_type": "Bearer"})
	return answer{200, string(b)}
}

// with is claims with changes: a nil value deletes the claim.
func with(claims jwt.MapClaims, changes map[string]any) jwt.MapClaims {
	out := maps.Clone(claims)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// verdict tells how the two clients may differ on a case.
type verdict int

const (
	same         verdict = iota // both accept with the same result, or both refuse
	oursStricter                // Duo's client accepts, we refuse: documented below
)

// TestExchangeDifferential runs our Exchange and Duo's client's
// ExchangeAuthorizationCodeFor2faResult on the same answers from one
// token endpoint. They must accept and refuse alike, and agree on the
// result, except in two documented ways, where we are stricter:
//
//   - an id_token without an expiry (no exp, or exp 0, which Duo's JWT
//     library reads as none): Duo's client accepts it, we refuse it
//     (ErrNoExpiry), as the wrapper did before;
//   - an id_token whose header names another algorithm (none, HS256,
//     RS256) but which carries a valid HS512 MAC: Duo's client verifies
//     HS512 whatever the header says, golang-jwt refuses any header but
//     HS512;
//
// Only a holder of the client secret can make any of these tokens.
func TestExchangeDifferential(t *testing.T) {
	t.Parallel()
	p := startDiffPair(t, 5*time.Second)
	now := time.Now()
	good := duoClaims(p.issuer, now)
	hs512 := func(c jwt.MapClaims) answer {
		return tokenAnswer(signed(t, jwt.SigningMethodHS512, []byte(fuzzSecret), c))
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := signed(t, jwt.SigningMethodHS512, []byte(fuzzSecret), good)
	parts := strings.Split(valid, ".")
	body := func(m map[string]any) answer {
		b, _ := json.Marshal(m)
		return answer{200, string(b)}
	}
	full := map[string]any{"access_token": "access", "id_token": valid, "expires_in": 3600, "token_type": "Bearer"}

	cases := []struct {
		name    string
		answer  answer
		verdict verdict
		accept  bool // what Duo's client does
	}{
		{"valid", hs512(good), same, true},
		{"valid, exp with a fraction", hs512(with(good, map[string]any{"exp": float64(now.Add(time.Minute).Unix()) + 0.5})), same, true},
		{"valid, minimal claims", hs512(jwt.MapClaims{"aud": fuzzClientID, "iss": p.issuer, "exp": now.Add(time.Minute).Unix(), "preferred_username": fuzzUser}), same, true},
		{"deny verdict", hs512(with(good, map[string]any{"auth_result": map[string]any{"result": "deny", "status": "deny"}})), same, true},
		{"alg none, no signature", tokenAnswer(signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)), same, false},
		{"HS256 under the secret", tokenAnswer(signed(t, jwt.SigningMethodHS256, []byte(fuzzSecret), good)), same, false},
		{"HS384 under the secret", tokenAnswer(signed(t, jwt.SigningMethodHS384, []byte(fuzzSecret), good)), same, false},
		{"RS256 signature", tokenAnswer(signed(t, jwt.SigningMethodRS256, rsaKey, good)), same, false},
		{"RS256 header over an HS512 MAC", tokenAnswer(macUnder(t, "RS256", good)), oursStricter, true},
		{"HS256 header over an HS512 MAC", tokenAnswer(macUnder(t, "HS256", good)), oursStricter, true},
		{"none header over an HS512 MAC", tokenAnswer(macUnder(t, "none", good)), oursStricter, true},
		{"wrong key", tokenAnswer(signed(t, jwt.SigningMethodHS512, []byte("another-secret-0123456789abcdefghijklmno"), good)), same, false},
		{"secret's prefix as key", tokenAnswer(signed(t, jwt.SigningMethodHS512, []byte(fuzzSecret[:39]), good)), same, false},
		{"no exp", hs512(with(good, map[string]any{"exp": nil})), oursStricter, true},
		{"exp 0", hs512(with(good, map[string]any{"exp": 0})), oursStricter, true},
		{"expired beyond the skew", hs512(with(good, map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})), same, false},
		{"expired within the skew", hs512(with(good, map[string]any{"exp": now.Add(-30 * time.Second).Unix()})), same, true},
		{"exp a string of digits", hs512(with(good, map[string]any{"exp": fmt.Sprint(now.Add(time.Minute).Unix())})), same, true},
		{"exp a string of digits, expired", hs512(with(good, map[string]any{"exp": fmt.Sprint(now.Add(-time.Hour).Unix())})), same, false},
		{"exp not a number", hs512(with(good, map[string]any{"exp": "soon"})), same, false},
		{"iat in the future beyond the skew", hs512(with(good, map[string]any{"iat": now.Add(2 * time.Minute).Unix()})), same, false},
		{"iat in the future within the skew", hs512(with(good, map[string]any{"iat": now.Add(30 * time.Second).Unix()})), same, true},
		{"nbf in the future beyond the skew", hs512(with(good, map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})), same, false},
		{"nbf in the future within the skew", hs512(with(good, map[string]any{"nbf": now.Add(30 * time.Second).Unix()})), same, true},
		{"aud a string", hs512(with(good, map[string]any{"aud": fuzzClientID})), same, true},
		{"aud an array of one", hs512(with(good, map[string]any{"aud": []string{fuzzClientID}})), same, true},
		{"aud an array of two", hs512(with(good, map[string]any{"aud": []string{fuzzClientID, "DIOTHER0000000000000"}})), same, false},
		{"aud an array of the client id twice", hs512(with(good, map[string]any{"aud": []string{fuzzClientID, fuzzClientID}})), same, false},
		{"aud an empty array", hs512(with(good, map[string]any{"aud": []string{}})), same, false},
		{"wrong aud", hs512(with(good, map[string]any{"aud": "DIOTHER0000000000000"})), same, false},
		{"aud in another case", hs512(with(good, map[string]any{"aud": strings.ToLower(fuzzClientID)})), same, false},
		{"no aud", hs512(with(good, map[string]any{"aud": nil})), same, false},
		{"wrong iss", hs512(with(good, map[string]any{"iss": "https://api-evil.duosecurity.com/oauth/v1/token"})), same, false},
		{"iss with a trailing slash", hs512(with(good, map[string]any{"iss": p.issuer + "/"})), same, false},
		{"no iss", hs512(with(good, map[string]any{"iss": nil})), same, false},
		{"another preferred_username", hs512(with(good, map[string]any{"preferred_username": "bob"})), same, false},
		{"preferred_username in another case", hs512(with(good, map[string]any{"preferred_username": "Alice"})), same, false},
		{"preferred_username with a space", hs512(with(good, map[string]any{"preferred_username": fuzzUser + " "})), same, false},
		{"no preferred_username", hs512(with(good, map[string]any{"preferred_username": nil})), same, false},
		{"preferred_username a number", hs512(with(good, map[string]any{"preferred_username": 7})), same, false},
		{"PREFERRED_USERNAME for preferred_username", hs512(with(good, map[string]any{"preferred_username": nil, "PREFERRED_USERNAME": fuzzUser})), same, false},
		{"Preferred_Username overriding preferred_username", rawHS512(t, p.issuer, now, `"preferred_username":"bob","Preferred_Username":"alice"`), same, false},
		{"preferred_username overriding Preferred_Username", rawHS512(t, p.issuer, now, `"Preferred_Username":"bob","preferred_username":"alice"`), same, true},
		{"Iss overriding a wrong iss", rawHS512(t, p.issuer, now, `"iss":"https://evil.example/oauth/v1/token","Iss":"`+p.issuer+`"`), same, false},
		{"preferred_uſername (a long s) for preferred_username", rawHS512(t, p.issuer, now, `"preferred_uſername":"alice"`), same, false},
		{"preferred_username with an escape", rawHS512(t, p.issuer, now, `"preferred_\u0075sername":"alice"`), same, true},
		{"Preferred_Username with an escape", rawHS512(t, p.issuer, now, `"preferred_username":"bob","preferred_\u0055sername":"alice"`), same, false},
		{"preferred_username twice, the right one last", rawHS512(t, p.issuer, now, `"preferred_username":"bob","preferred_username":"alice"`), same, true},
		{"preferred_username twice, the right one first", rawHS512(t, p.issuer, now, `"preferred_username":"alice","preferred_username":"bob"`), same, false},
		{"EXP for exp", hs512(with(good, map[string]any{"exp": nil, "EXP": now.Add(time.Minute).Unix()})), oursStricter, true},
		{"Exp overriding an expired exp, raw", rawHS512(t, p.issuer, now, `"exp":1,"Exp":`+fmt.Sprint(now.Add(time.Minute).Unix())), same, false},
		{"Exp overriding an expired exp", hs512(with(good, map[string]any{"exp": now.Add(-time.Hour).Unix(), "Exp": now.Add(time.Minute).Unix()})), same, false},
		{"ISS for iss", hs512(with(good, map[string]any{"iss": nil, "ISS": p.issuer})), same, false},
		{"AUD for aud", hs512(with(good, map[string]any{"aud": nil, "AUD": fuzzClientID})), same, false},
		{"Aud overriding a wrong aud", hs512(with(good, map[string]any{"aud": "DIOTHER0000000000000", "Aud": fuzzClientID})), same, false},
		{"Iat overriding a future iat", hs512(with(good, map[string]any{"iat": now.Add(time.Hour).Unix(), "Iat": now.Unix()})), same, false},
		{"auth_result a string", hs512(with(good, map[string]any{"auth_result": "allow"})), same, false},
		{"no access_token", body(with(full, map[string]any{"access_token": nil})), same, false},
		{"no token_type", body(with(full, map[string]any{"token_type": nil})), same, false},
		{"no expires_in", body(with(full, map[string]any{"expires_in": nil})), same, false},
		{"expires_in 0", body(with(full, map[string]any{"expires_in": 0})), same, false},
		{"expires_in a string", body(with(full, map[string]any{"expires_in": "3600"})), same, false},
		{"no id_token", body(with(full, map[string]any{"id_token": nil})), same, false},
		{"503", answer{503, `{"error":"unavailable"}`}, same, false},
		{"401", answer{401, `{"error":"invalid_client"}`}, same, false},
		{"malformed JSON", answer{200, `{"access_token": "access", "id_token": "` + valid}, same, false},
		{"JSON array", answer{200, `[]`}, same, false},
		{"empty body", answer{200, ``}, same, false},
		{"token without its signature", tokenAnswer(parts[0] + "." + parts[1]), same, false},
		{"token with an empty signature", tokenAnswer(parts[0] + "." + parts[1] + "."), same, false},
		{"token cut short", tokenAnswer(valid[:len(valid)-5]), same, false},
		{"token with a fourth part", tokenAnswer(valid + ".x"), same, false},
		{"payload not JSON", tokenAnswer(macOver(t, parts[0]+"."+base64.RawURLEncoding.EncodeToString([]byte("not json")))), same, false},
	}
	for _, tc := range cases {
		p.srv.set(tc.answer)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := p.ours.Exchange(ctx, "duo-code", fuzzUser)
		cancel()
		lib, libErr := p.lib.ExchangeAuthorizationCodeFor2faResult("duo-code", fuzzUser)
		if (libErr == nil) != tc.accept {
			t.Errorf("%s: Duo's client: %v, want accepted %v; fix the case", tc.name, libErr, tc.accept)
			continue
		}
		switch {
		case tc.verdict == oursStricter:
			if err == nil {
				t.Errorf("%s: we accepted what the table says we refuse: %+v", tc.name, res)
			}
		case (err == nil) != (libErr == nil):
			t.Errorf("%s: ours %v (err %v), Duo's client %v (err %v)", tc.name, err == nil, err, libErr == nil, libErr)
		case err == nil:
			want := Result{Username: lib.PreferredUsername, Result: lib.AuthResult.Result, Status: lib.AuthResult.Status,
				Reason: lib.AuthContext.Reason, Factor: lib.AuthContext.Factor, TxID: lib.AuthContext.Txid}
			if *res != want {
				t.Errorf("%s: ours %+v, Duo's client %+v", tc.name, *res, want)
			}
		case tc.answer.status != 200:
			// Both errors read as the bare status line; ours carries the code.
			var se *statusError
			if !errors.As(err, &se) || se.code != tc.answer.status || se.Error() != libErr.Error() {
				t.Errorf("%s: ours %v (%#v), Duo's client %v; want status %d", tc.name, err, se, libErr, tc.answer.status)
			}
		}
	}

	// The differences, and their errors.
	p.srv.set(hs512(with(good, map[string]any{"exp": nil})))
	if _, err := p.ours.Exchange(context.Background(), "duo-code", fuzzUser); !errors.Is(err, ErrNoExpiry) {
		t.Errorf("no exp: %v, want ErrNoExpiry", err)
	}
	// The case of a code Duo's client refuses without asking.
	if _, err := p.ours.Exchange(context.Background(), "", fuzzUser); err == nil {
		t.Error("empty code accepted")
	}
	if _, err := p.lib.ExchangeAuthorizationCodeFor2faResult("", fuzzUser); err == nil {
		t.Error("Duo's client accepted an empty code")
	}
}

// rawHS512 is an id_token, HS512 under the client secret, whose payload
// is the JSON text claims (in that order) after aud, iss, exp and iat.
func rawHS512(tb testing.TB, issuer string, now time.Time, claims string) answer {
	tb.Helper()
	payload := fmt.Sprintf(`{"aud":%q,"iss":%q,"exp":%d,"iat":%d,"auth_result":{"result":"allow","status":"allow"},%s}`,
		fuzzClientID, issuer, now.Add(time.Minute).Unix(), now.Unix(), claims)
	if !json.Valid([]byte(payload)) {
		tb.Fatalf("invalid payload %s", payload)
	}
	return tokenAnswer(macOver(tb, base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS512","typ":"JWT"}`))+"."+base64.RawURLEncoding.EncodeToString([]byte(payload))))
}

// macOver is in.MAC: a valid HS512 signature over in.
func macOver(tb testing.TB, in string) string {
	tb.Helper()
	sig, err := jwt.SigningMethodHS512.Sign(in, []byte(fuzzSecret))
	if err != nil {
		tb.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// assertionClaimsOf verifies a client assertion or authorize request as
// Duo would (HS512 under the client secret) and returns its claims.
func assertionClaimsOf(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(fuzzSecret), nil },
		jwt.WithValidMethods([]string{"HS512"}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("%q: %v", tok, err)
	}
	if parsed.Header["typ"] != "JWT" || len(parsed.Header) != 2 {
		t.Errorf("header %v", parsed.Header)
	}
	return claims
}

// sameClaims compares two claim sets, exp within a few seconds and jti
// only in shape (36 characters of the state alphabet).
func sameClaims(t *testing.T, what string, ours, lib jwt.MapClaims) {
	t.Helper()
	if !slices.Equal(slices.Sorted(maps.Keys(ours)), slices.Sorted(maps.Keys(lib))) {
		t.Errorf("%s: claims %v, Duo's client's %v", what, slices.Sorted(maps.Keys(ours)), slices.Sorted(maps.Keys(lib)))
	}
	for k, v := range lib {
		switch k {
		case "exp":
			a, _ := ours[k].(float64)
			b, _ := v.(float64)
			if a-b > 3 || b-a > 3 || a < float64(time.Now().Add(299*time.Second).Unix()) {
				t.Errorf("%s: exp %v, Duo's client's %v", what, ours[k], v)
			}
		case "jti":
			s, _ := ours[k].(string)
			if len(s) != 36 || strings.Trim(s, stateCharacters) != "" {
				t.Errorf("%s: jti %q", what, s)
			}
		default:
			if fmt.Sprint(ours[k]) != fmt.Sprint(v) || fmt.Sprintf("%T", ours[k]) != fmt.Sprintf("%T", v) {
				t.Errorf("%s: %s = %#v, Duo's client's %#v", what, k, ours[k], v)
			}
		}
	}
}

// TestAuthURLMatchesLibrary: the authorize URL, its query and the claims
// of its request JWT are Duo's client's for the same inputs.
func TestAuthURLMatchesLibrary(t *testing.T) {
	t.Parallel()
	p := startDiffPair(t, 5*time.Second)
	state, err := p.ours.GenerateState()
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{fuzzUser, "Élodie.O'Brien+ops@example.com", "a b&c=d"} {
		ours, err := p.ours.AuthURL(user, state)
		if err != nil {
			t.Fatal(err)
		}
		lib, err := p.lib.CreateAuthURL(user, state)
		if err != nil {
			t.Fatal(err)
		}
		ou, err := url.Parse(ours)
		if err != nil {
			t.Fatal(err)
		}
		lu, err := url.Parse(lib)
		if err != nil {
			t.Fatal(err)
		}
		if ou.Scheme != lu.Scheme || ou.Host != lu.Host || ou.Path != lu.Path || ou.Path != "/oauth/v1/authorize" {
			t.Errorf("%s, Duo's client %s", ours, lib)
		}
		oq, lq := ou.Query(), lu.Query()
		if !slices.Equal(slices.Sorted(maps.Keys(oq)), []string{"client_id", "request", "response_type"}) ||
			!slices.Equal(slices.Sorted(maps.Keys(lq)), []string{"client_id", "request", "response_type"}) {
			t.Errorf("query %v, Duo's client's %v", oq, lq)
		}
		for _, k := range []string{"client_id", "response_type"} {
			if len(oq[k]) != 1 || !slices.Equal(oq[k], lq[k]) {
				t.Errorf("%s = %q, Duo's client's %q", k, oq[k], lq[k])
			}
		}
		// The parameters in url.Values.Encode order, as Duo's client.
		if strings.Split(ou.RawQuery, "request=")[0] != strings.Split(lu.RawQuery, "request=")[0] {
			t.Errorf("query %s, Duo's client's %s", ou.RawQuery, lu.RawQuery)
		}
		sameClaims(t, "authorize request for "+user, assertionClaimsOf(t, oq.Get("request")), assertionClaimsOf(t, lq.Get("request")))
	}

	// The same refusals.
	for _, tc := range []struct{ user, state string }{
		{fuzzUser, strings.Repeat("s", 21)}, {fuzzUser, strings.Repeat("s", 1025)}, {"", state},
	} {
		_, err := p.ours.AuthURL(tc.user, tc.state)
		_, libErr := p.lib.CreateAuthURL(tc.user, tc.state)
		if err == nil || libErr == nil {
			t.Errorf("AuthURL(%q, %d characters): ours %v, Duo's client %v", tc.user, len(tc.state), err, libErr)
		}
	}
	for _, n := range []int{22, 1024} {
		if _, err := p.ours.AuthURL(fuzzUser, strings.Repeat("s", n)); err != nil {
			t.Errorf("state of %d characters: %v", n, err)
		}
	}
}

// TestRequestsMatchLibrary: the token and health check requests carry
// Duo's client's form, and client assertions with its claims.
func TestRequestsMatchLibrary(t *testing.T) {
	t.Parallel()
	p := startDiffPair(t, 5*time.Second)
	p.srv.keep = true
	ctx := context.Background()

	p.srv.set(answer{200, `{"stat":"OK","response":{"timestamp":1700000000}}`})
	if err := p.ours.HealthCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.lib.HealthCheck(); err != nil {
		t.Fatal(err)
	}
	p.srv.set(tokenAnswer(signed(t, jwt.SigningMethodHS512, []byte(fuzzSecret), duoClaims(p.issuer, time.Now()))))
	if _, err := p.ours.Exchange(ctx, "the-code", fuzzUser); err != nil {
		t.Fatal(err)
	}
	if _, err := p.lib.ExchangeAuthorizationCodeFor2faResult("the-code", fuzzUser); err != nil {
		t.Fatal(err)
	}
	p.srv.mu.Lock()
	forms, uas := p.srv.forms, p.srv.uas
	p.srv.mu.Unlock()
	if len(forms) != 4 {
		t.Fatalf("%d requests", len(forms))
	}
	for i, what := range []string{"health check", "token"} {
		ours, lib := forms[2*i], forms[2*i+1]
		if !slices.Equal(slices.Sorted(maps.Keys(ours)), slices.Sorted(maps.Keys(lib))) {
			t.Errorf("%s form %v, Duo's client's %v", what, ours, lib)
		}
		for k := range lib {
			if len(ours[k]) != 1 {
				t.Errorf("%s: %s = %q", what, k, ours[k])
			}
			if k != "client_assertion" && !slices.Equal(ours[k], lib[k]) {
				t.Errorf("%s: %s = %q, Duo's client's %q", what, k, ours[k], lib[k])
			}
		}
		oc, lc := assertionClaimsOf(t, ours.Get("client_assertion")), assertionClaimsOf(t, lib.Get("client_assertion"))
		sameClaims(t, what+" assertion", oc, lc)
		if oc["jti"] == lc["jti"] {
			t.Errorf("%s: the same jti twice", what)
		}
	}
	for _, i := range []int{0, 2} {
		if !strings.HasPrefix(uas[i], "helpdesk-duo-plugin ") {
			t.Errorf("User-Agent %q", uas[i])
		}
	}
}

// TestGenerateState: 36 characters of the alphabet, each equally likely
// (Duo's client draws from an alphabet with the digits twice).
func TestGenerateState(t *testing.T) {
	t.Parallel()
	c := &client{}
	counts := map[rune]int{}
	const n = 2000
	seen := map[string]bool{}
	for range n {
		s, err := c.GenerateState()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 36 || seen[s] {
			t.Fatalf("state %q", s)
		}
		seen[s] = true
		for _, r := range s {
			counts[r]++
		}
	}
	if len(counts) != len(stateCharacters) {
		t.Fatalf("%d distinct characters: %v", len(counts), counts)
	}
	// Each character is expected 36·2000/62 ≈ 1161 times (σ ≈ 34); the
	// digits of a doubled-digit alphabet would come twice as often.
	for r, k := range counts {
		if !strings.ContainsRune(stateCharacters, r) || k < 930 || k > 1400 {
			t.Errorf("%q: %d times", r, k)
		}
	}
}

// TestContextEndsCalls: a Duo that never answers does not hold Exchange or
// HealthCheck past their caller's context, and the error says why as
// the callers read it (IsTimeout for a deadline, context.Canceled for a
// cancellation).
func TestContextEndsCalls(t *testing.T) {
	t.Parallel()
	p := startDiffPair(t, time.Minute) // far beyond the deadlines below
	p.srv.hang = make(chan struct{})
	t.Cleanup(func() { close(p.srv.hang) })
	calls := map[string]func(context.Context) error{
		"exchange": func(ctx context.Context) error {
			_, err := p.ours.Exchange(ctx, "duo-code", fuzzUser)
			return err
		},
		"health check": p.ours.HealthCheck,
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s past its deadline: %v", name, took)
		}
		if !IsTimeout(err) {
			t.Errorf("%s past its deadline: %v, not a timeout", name, err)
		}
		if f, d := Diagnose(err, false); f != contract.DuoUnreachable || d != "Duo did not answer in time" {
			t.Errorf("%s past its deadline: Diagnose %q, %q", name, f, d)
		}

		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start = time.Now()
		err = call(ctx)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s cancelled: %v", name, took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled: %v", name, err)
		}
	}
}

// BenchmarkExchange: one code exchange against a local TLS token endpoint
// over a warm connection, ours and Duo's client's through the same HTTP
// client.
func BenchmarkExchange(b *testing.B) {
	p := startDiffPair(b, 5*time.Second)
	claims := duoClaims(p.issuer, time.Now())
	claims["exp"] = time.Now().Add(time.Hour).Unix()
	p.srv.set(tokenAnswer(signed(b, jwt.SigningMethodHS512, []byte(fuzzSecret), claims)))
	b.Run("own", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.ours.Exchange(ctx, "duo-code", fuzzUser); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.lib.ExchangeAuthorizationCodeFor2faResult("duo-code", fuzzUser); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestIDTokenNames: idTokenNames are the JSON names of idTokenClaims's
// top-level fields, so UnmarshalJSON reads every one.
func TestIDTokenNames(t *testing.T) {
	t.Parallel()
	var names []string
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			names = append(names, strings.Split(f.Tag.Get("json"), ",")[0])
		}
	}
	walk(reflect.TypeFor[idTokenClaims]())
	if !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(idTokenNames[:]))) {
		t.Fatalf("idTokenClaims's names %v, idTokenNames %v", names, idTokenNames)
	}
}

// TestIDTokenClaimsExact: idTokenClaims reads every claim from its exact
// name only.
func TestIDTokenClaimsExact(t *testing.T) {
	t.Parallel()
	const base = `"aud":"DIFUZZ0000000000CLID","iss":"https://x/oauth/v1/token","exp":1900000000,"iat":1800000000,"sub":"alice","jti":"j",` +
		`"auth_result":{"result":"allow","status":"allow"},"auth_context":{"reason":"user_approved","factor":"duo_push","txid":"t","user":{"name":"alice"}}`
	cases := []struct {
		name    string
		payload string
		user    string // the preferred_username read, "" if none
		exp     int64  // the exp read, 0 if none
	}{
		{"Duo's shape", `{` + base + `,"preferred_username":"alice"}`, "alice", 1900000000},
		{"names in another case as values", `{` + base + `,"preferred_username":"alice","x":"EXP","y":"Preferred_Username"}`, "alice", 1900000000},
		{"PREFERRED_USERNAME", `{` + base + `,"PREFERRED_USERNAME":"alice"}`, "", 1900000000},
		{"Preferred_Username after", `{` + base + `,"preferred_username":"bob","Preferred_Username":"alice"}`, "bob", 1900000000},
		{"preferredusername (no underscore)", `{` + base + `,"preferredusername":"alice"}`, "", 1900000000},
		{"preferred-username", `{` + base + `,"preferred-username":"alice"}`, "", 1900000000},
		{"EXP", `{"EXP":1,` + base + `,"preferred_username":"alice"}`, "alice", 1900000000},
		{"Exp after exp", `{` + base + `,"preferred_username":"alice","Exp":1}`, "alice", 1900000000},
		{"only EXP", `{"EXP":1,"preferred_username":"alice"}`, "alice", 0},
		{"escaped exact name", `{` + base + `,"preferred_\u0075sername":"alice"}`, "alice", 1900000000},
		{"escaped name in another case", `{` + base + `,"preferred_\u0055sername":"alice"}`, "", 1900000000},
		{"long s (ſ folds to s)", `{` + base + `,"preferred_uſername":"alice"}`, "", 1900000000},
		{"non-ASCII value", `{` + base + `,"preferred_username":"élodie"}`, "élodie", 1900000000},
	}
	for _, tc := range cases {
		var c idTokenClaims
		if err := json.Unmarshal([]byte(tc.payload), &c); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var exp int64
		if c.ExpiresAt != nil {
			exp = c.ExpiresAt.Unix()
		}
		if c.PreferredUsername != tc.user || exp != tc.exp {
			t.Errorf("%s: preferred_username %q, exp %d; want %q, %d", tc.name, c.PreferredUsername, exp, tc.user, tc.exp)
		}
	}
}
