package duo

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

const (
	fuzzClientID = "DIFUZZ0000000000CLID"                     // 20 characters, as Duo's
	fuzzSecret   = "fuzz-secret-0123456789abcdefghijklmnopqr" // 40 characters, as Duo's
	fuzzUser     = "alice"
)

// tokenEndpoint is a stand-in for Duo's /oauth/v1/token that answers every
// exchange with the id_token the fuzz function last set.
type tokenEndpoint struct {
	mu      sync.Mutex
	idToken string
}

func (e *tokenEndpoint) set(tok string) {
	e.mu.Lock()
	e.idToken = tok
	e.mu.Unlock()
}

func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	tok := e.idToken
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "access", "id_token": tok, "expires_in": 3600, "token_type": "Bearer",
	})
}

// startTokenEndpoint serves e over TLS and returns a plugin client that
// trusts it, and the issuer the client must require.
func startTokenEndpoint(f *testing.F, e *tokenEndpoint) (*client, string) {
	srv := httptest.NewTLSServer(e)
	f.Cleanup(srv.Close)
	ca := filepath.Join(f.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		f.Fatal(err)
	}
	d := settings.Defaults()
	host := srv.Listener.Addr().String()
	d.ClientID, d.ClientSecret, d.APIHostname, d.CAFile = fuzzClientID, secret.Value(fuzzSecret), host, ca
	c, err := newClient(settings.Runtime{AllowTestDuoHost: true, DuoTimeout: 5 * time.Second}, d, "https://helpdesk.example/login/duo/callback")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.http.CloseIdleConnections)
	return c, "https://" + host + "/oauth/v1/token"
}

// idTokenSpec picks each part of an id_token from a few choices; choice 0
// is always the right one, so the fuzzer reaches valid tokens and every
// single defect.
type idTokenSpec struct{ alg, key, aud, iss, exp, user uint8 }

func (s idTokenSpec) valid() bool {
	return s.alg%4 == 0 && s.key%3 == 0 && s.aud%6 <= 1 && s.iss%4 == 0 && s.exp%4 != 1 && s.exp%4 != 2 && s.user%5 == 0
}

func (s idTokenSpec) build(t testing.TB, issuer string, now time.Time) string {
	claims := jwt.MapClaims{"auth_result": map[string]any{"result": "allow", "status": "allow"}, "iat": now.Unix()}
	switch s.aud % 6 {
	case 0:
		claims["aud"] = fuzzClientID
	case 1:
		claims["aud"] = []string{fuzzClientID}
	case 2:
		claims["aud"] = "DIOTHER0000000000000"
	case 3:
		claims["aud"] = []string{fuzzClientID, "DIOTHER0000000000000"}
	case 4: // none
	case 5:
		claims["aud"] = strings.ToLower(fuzzClientID)
	}
	switch s.iss % 4 {
	case 0:
		claims["iss"] = issuer
	case 1:
		claims["iss"] = "https://api-evil.duosecurity.com/oauth/v1/token"
	case 2: // none
	case 3:
		claims["iss"] = issuer + "/"
	}
	switch s.exp % 4 {
	case 0:
		claims["exp"] = now.Add(5 * time.Minute).Unix()
	case 1:
		claims["exp"] = now.Add(-time.Hour).Unix()
	case 2: // none
	case 3:
		claims["exp"] = float64(now.Add(5*time.Minute).Unix()) + 0.5
	}
	switch s.user % 5 {
	case 0:
		claims["preferred_username"] = fuzzUser
	case 1:
		claims["preferred_username"] = "Alice"
	case 2:
		claims["preferred_username"] = "bob"
	case 3: // none
	case 4:
		claims["preferred_username"] = fuzzUser + " "
	}
	key := []byte(fuzzSecret)
	switch s.key % 3 {
	case 1:
		key = []byte("another-secret-0123456789abcdefghijklmno")
	case 2:
		key = []byte(fuzzSecret[:39] + "s")
	}
	var method jwt.SigningMethod
	switch s.alg % 4 {
	case 0:
		method = jwt.SigningMethodHS512
	case 1:
		method = jwt.SigningMethodHS256
	case 2:
		method = jwt.SigningMethodHS384
	case 3:
		tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// independentlyValid checks a raw id_token with golang-jwt's stock map
// claims, not Exchange's own claims type and checks: HS512 under the client
// secret, aud the client id, the issuer, an expiry not past (with Duo's
// minute of skew), and the expected preferred_username.
func independentlyValid(raw, issuer string) bool {
	tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte(fuzzSecret), nil },
		jwt.WithValidMethods([]string{"HS512"}), jwt.WithAudience(fuzzClientID), jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(), jwt.WithLeeway(61*time.Second))
	if err != nil {
		return false
	}
	claims, ok := tok.Claims.(jwt.MapClaims)
	return ok && claims["preferred_username"] == fuzzUser
}

// FuzzExchangeIDToken: the plugin's Exchange, against a token endpoint
// serving fuzzed id_tokens, accepts a token only if it carries a valid
// HS512 MAC under the client secret over the right claims (aud = client
// id, iss = the token endpoint, exp present and not past, preferred_username
// = the operator's Duo username). A token built from the choices in
// idTokenSpec is accepted exactly when every choice is the right one; a raw
// fuzzed token (raw != "") is accepted only if golang-jwt, checking
// independently, finds it valid. Never panics.
func FuzzExchangeIDToken(f *testing.F) {
	e := &tokenEndpoint{}
	c, issuer := startTokenEndpoint(f, e)
	valid := idTokenSpec{}
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), "") // valid
	f.Add(uint8(3), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), "") // alg none
	f.Add(uint8(1), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), "") // HS256
	f.Add(uint8(0), uint8(0), uint8(2), uint8(0), uint8(0), uint8(0), "") // wrong aud
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(2), uint8(0), "") // no exp
	f.Add(uint8(0), uint8(1), uint8(0), uint8(0), uint8(0), uint8(0), "") // wrong key
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(1), "") // username in another case
	// Raw tokens: the valid one re-signed as none, and malformed ones.
	now := time.Now()
	good := valid.build(f, issuer, now)
	parts := strings.Split(good, ".")
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), good)
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), `eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.`+parts[1]+`.`)
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), parts[0]+"."+parts[1])
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), "a.b.c")
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), "{}")
	f.Fuzz(func(t *testing.T, alg, key, aud, iss, exp, user uint8, raw string) {
		spec := idTokenSpec{alg, key, aud, iss, exp, user}
		tok := raw
		if raw == "" {
			tok = spec.build(t, issuer, time.Now())
		}
		e.set(tok)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Exchange(ctx, "duo-code", fuzzUser)
		accepted := err == nil
		if accepted && (res == nil || res.Username != fuzzUser) {
			t.Fatalf("Exchange accepted %q with result %+v", tok, res)
		}
		if raw != "" {
			if accepted && !independentlyValid(tok, issuer) {
				t.Fatalf("Exchange accepted %q, which golang-jwt finds invalid", tok)
			}
			return
		}
		if accepted != spec.valid() {
			t.Fatalf("Exchange of the token %+v (%q): accepted %v (err %v), want %v", spec, tok, accepted, err, spec.valid())
		}
	})
}
