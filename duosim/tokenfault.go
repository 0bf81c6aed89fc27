package duosim

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenFault makes the id_tokens the simulator mints for a user wrong in
// one way, so that a test can prove its client refuses them. A real Duo
// never sends such a token; these exist for tests only. Every fault keeps
// the user's outcome (auth_result allow for a scripted allow), so that
// only the token's validation stands between it and a login.
type TokenFault string

// The token faults.
const (
	// TokenFaultBadSignature: HS512 under a key that is not the client
	// secret.
	TokenFaultBadSignature TokenFault = "bad_signature"
	// TokenFaultWrongAudience: aud names another client id.
	TokenFaultWrongAudience TokenFault = "wrong_audience"
	// TokenFaultWrongIssuer: iss is another host's token endpoint.
	TokenFaultWrongIssuer TokenFault = "wrong_issuer"
	// TokenFaultExpired: exp an hour ago, far beyond any clock skew a
	// client allows.
	TokenFaultExpired TokenFault = "expired"
	// TokenFaultAlgNone: unsigned, with alg "none" and an empty signature.
	TokenFaultAlgNone TokenFault = "alg_none"
	// TokenFaultHS256: HS256 under the client secret instead of HS512.
	TokenFaultHS256 TokenFault = "hs256"
)

// TokenFaults lists every TokenFault.
func TokenFaults() []TokenFault {
	return []TokenFault{TokenFaultBadSignature, TokenFaultWrongAudience, TokenFaultWrongIssuer,
		TokenFaultExpired, TokenFaultAlgNone, TokenFaultHS256}
}

func (f TokenFault) valid() bool {
	for _, v := range TokenFaults() {
		if f == v {
			return true
		}
	}
	return false
}

// SetTokenFault makes the id_tokens of username's next token exchanges
// carry fault; the empty TokenFault restores correct tokens. It panics on
// an unknown fault. For tests only.
func (s *Server) SetTokenFault(username string, fault TokenFault) {
	if fault != "" && !fault.valid() {
		panic(fmt.Sprintf("duosim: SetTokenFault: unknown fault %q", string(fault)))
	}
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if fault == "" {
		delete(s.tokenFaults, username)
		return
	}
	if s.tokenFaults == nil {
		s.tokenFaults = make(map[string]TokenFault)
	}
	s.tokenFaults[username] = fault
}

// SetClaimedUsername makes the id_tokens of username's next token
// exchanges name claimed, exactly as given, in preferred_username (and
// sub and the user's name), like OutcomeWrongUser but with the name the
// test chooses: another case, surrounding spaces, an alias. The empty
// string restores username. For tests only.
func (s *Server) SetClaimedUsername(username, claimed string) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if claimed == "" {
		delete(s.claimedNames, username)
		return
	}
	if s.claimedNames == nil {
		s.claimedNames = make(map[string]string)
	}
	s.claimedNames[username] = claimed
}

// tokenTweaks is what SetTokenFault and SetClaimedUsername hold for
// username.
func (s *Server) tokenTweaks(username string) (TokenFault, string) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	return s.tokenFaults[username], s.claimedNames[username]
}

// signIDToken signs claims under secret as Duo does (HS512), or as fault
// says it must not.
func signIDToken(claims jwt.MapClaims, secret string, fault TokenFault, now time.Time) (string, error) {
	method, key := jwt.SigningMethod(jwt.SigningMethodHS512), any([]byte(secret))
	switch fault {
	case TokenFaultBadSignature:
		key = []byte("not-the-client-secret-" + secret)
	case TokenFaultWrongAudience:
		claims["aud"] = "DIWRONGAUDIENCE00000"
	case TokenFaultWrongIssuer:
		claims["iss"] = "https://wrong-issuer.invalid" + pathToken
	case TokenFaultExpired:
		claims["iat"] = now.Add(-2 * idTokenLifetime).Unix()
		claims["auth_time"] = now.Add(-2 * idTokenLifetime).Unix()
		claims["exp"] = now.Add(-idTokenLifetime).Unix()
	case TokenFaultAlgNone:
		method, key = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
	case TokenFaultHS256:
		method = jwt.SigningMethodHS256
	}
	return jwt.NewWithClaims(method, claims).SignedString(key)
}
