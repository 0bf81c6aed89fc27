package duosim_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/helpdesk-duo/duo-plugin/duosim"
)

// Each token fault is in the id_token as documented, and Duo's own Go
// client refuses it; cleared, the next token is good again.
func TestTokenFaults(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	const user = "alice"
	for _, fault := range duosim.TokenFaults() {
		t.Run(string(fault), func(t *testing.T) {
			f.sim.SetTokenFault(user, fault)
			defer f.sim.SetTokenFault(user, "")

			resp := f.exchangeRaw(t, f.mustLogin(t, user), redirectURI)
			var body struct {
				IDToken string `json:"id_token"`
			}
			if err := json.Unmarshal([]byte(resp.body), &body); err != nil || body.IDToken == "" {
				t.Fatalf("token response %d %q: %v", resp.status, resp.body, err)
			}
			claims := jwt.MapClaims{}
			tok, _, err := jwt.NewParser().ParseUnverified(body.IDToken, claims)
			if err != nil {
				t.Fatal(err)
			}
			exp, _ := claims.GetExpirationTime()
			var faulty bool
			switch fault {
			case duosim.TokenFaultBadSignature:
				_, err := jwt.Parse(body.IDToken, func(*jwt.Token) (any, error) { return []byte(f.app.ClientSecret.Reveal()), nil })
				faulty = tok.Method == jwt.SigningMethodHS512 && err != nil
			case duosim.TokenFaultWrongAudience:
				faulty = claims["aud"] != f.app.ClientID
			case duosim.TokenFaultWrongIssuer:
				faulty = !strings.Contains(claims["iss"].(string), f.sim.APIHost())
			case duosim.TokenFaultExpired:
				faulty = exp != nil && exp.Before(time.Now().Add(-30*time.Minute))
			case duosim.TokenFaultAlgNone:
				faulty = tok.Header["alg"] == "none" && strings.HasSuffix(body.IDToken, ".")
			case duosim.TokenFaultHS256:
				faulty = tok.Method == jwt.SigningMethodHS256
			}
			if !faulty {
				t.Fatalf("the id_token does not carry the fault %s: header %v claims %v", fault, tok.Header, claims)
			}
			if _, err := f.duo.ExchangeAuthorizationCodeFor2faResult(f.mustLogin(t, user), user); err == nil {
				t.Fatalf("Duo's Go client accepted a token with the fault %s", fault)
			}
		})
	}
	if _, err := f.duo.ExchangeAuthorizationCodeFor2faResult(f.mustLogin(t, user), user); err != nil {
		t.Fatalf("after the faults were cleared: %v", err)
	}
}

// A claimed username is the token's preferred_username, exactly.
func TestClaimedUsername(t *testing.T) {
	t.Parallel()
	f := startSim(t, duosim.Config{Scripted: true})
	f.sim.SetClaimedUsername("alice", " Alice")
	if _, err := f.duo.ExchangeAuthorizationCodeFor2faResult(f.mustLogin(t, "alice"), "alice"); err == nil {
		t.Fatal("Duo's Go client accepted a token naming another user")
	}
	if tok, err := f.duo.ExchangeAuthorizationCodeFor2faResult(f.mustLogin(t, "alice"), " Alice"); err != nil || tok.PreferredUsername != " Alice" {
		t.Fatalf("token for the claimed name = %+v, %v", tok, err)
	}
	f.sim.SetClaimedUsername("alice", "")
	if _, err := f.duo.ExchangeAuthorizationCodeFor2faResult(f.mustLogin(t, "alice"), "alice"); err != nil {
		t.Fatalf("after clearing: %v", err)
	}
}
