package duosim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	pathHealthCheck = "/oauth/v1/health_check"
	pathAuthorize   = "/oauth/v1/authorize"
	pathToken       = "/oauth/v1/token"
	pathPrompt      = "/frame/prompt"

	// clockSkew is the leeway Duo's clients allow; the simulator allows
	// the same on everything it receives.
	clockSkew = 60 * time.Second
	// maxAssertionLifetime: Go and Python send exp = now+300 s, Java
	// now+3600 s; anything further out is refused.
	maxAssertionLifetime = time.Hour
	// maxRequestLifetime: the authorize request JWT, like Python insists.
	maxRequestLifetime = 300 * time.Second
	// idTokenLifetime is the exp of issued id_tokens.
	idTokenLifetime = time.Hour

	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

	maxStateLength    = 1024
	minStateLength    = 16
	maxNonceLength    = 1024
	maxRedirectLength = 256
	maxJTILength      = 1024
)

var errRepeated = errors.New("parameter given more than once with different values")

// single returns form's only value for key. Repeats are tolerated when
// they agree, because r.Form merges the query with the body and a client
// may legitimately put a field in both.
func single(form url.Values, key string) (string, error) {
	vs := form[key]
	if len(vs) == 0 {
		return "", nil
	}
	for _, v := range vs[1:] {
		if v != vs[0] {
			return "", fmt.Errorf("%s: %w", key, errRepeated)
		}
	}
	return vs[0], nil
}

func secretKey(secret string) jwt.Keyfunc {
	return func(*jwt.Token) (any, error) { return []byte(secret), nil }
}

// unverifiedClaim reads a string claim without checking the signature. It
// is used only to pick which app's secret to verify with.
func unverifiedClaim(token, claim string) string {
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		return ""
	}
	v, _ := claims[claim].(string)
	return v
}

// verifyAssertion checks a client_assertion (RFC 7523 private_key_jwt
// style, but HMAC with the client secret) from a health-check or token
// request, and records its jti so it cannot be used again. aud is the
// exact endpoint URL the assertion must name.
func (s *Server) verifyAssertion(form url.Values, aud string) (App, FailureReason, error) {
	assertion, err := single(form, "client_assertion")
	if err != nil {
		return App{}, FailureInvalidClient, err
	}
	if assertion == "" {
		return App{}, FailureInvalidClient, errors.New("client_assertion: missing")
	}
	clientID, err := single(form, "client_id")
	if err != nil {
		return App{}, FailureInvalidClient, err
	}
	if clientID == "" { // Java and Vaultwarden leave client_id out of the token request
		clientID = unverifiedClaim(assertion, "iss")
	}
	app, ok := s.apps[clientID]
	if !ok {
		return App{}, FailureInvalidClient, errors.New("client_id: unknown client")
	}
	now := s.now()
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS512", "HS256"}), // HS256: Duo's Postman collection allows it
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(s.cfg.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(app.ClientID),
		jwt.WithSubject(app.ClientID),
		jwt.WithAudience(aud),
	)
	claims := jwt.MapClaims{}
	if _, err := p.ParseWithClaims(assertion, claims, secretKey(app.ClientSecret.Reveal())); err != nil {
		return app, FailureInvalidClient, fmt.Errorf("client_assertion: %w", err)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return app, FailureInvalidClient, errors.New("client_assertion: exp: missing or malformed")
	}
	if exp.After(now.Add(maxAssertionLifetime + clockSkew)) {
		return app, FailureInvalidClient, fmt.Errorf("client_assertion: exp: more than %v ahead", maxAssertionLifetime)
	}
	jti, _ := claims["jti"].(string)
	if jti == "" || len(jti) > maxJTILength {
		return app, FailureInvalidClient, errors.New("client_assertion: jti: missing or too long")
	}

	// Key the replay cache by a fixed-size hash: the map then holds no
	// pointers, which keeps a million entries cheap for the GC.
	key := sha256.Sum256([]byte(app.ClientID + "\x00" + jti))
	nowNano := now.UnixNano()
	s.jtiMu.Lock()
	_, seen := s.jtis.get(nowNano, key)
	evicted := 0
	if !seen {
		evicted = s.jtis.put(nowNano, key, struct{}{}, exp.Add(clockSkew).UnixNano())
	}
	s.jtiMu.Unlock()
	s.stats.evictions.Add(int64(evicted))
	if seen {
		return app, FailureReplayedAssertion, errors.New("client_assertion: jti: already used")
	}
	return app, "", nil
}

// authRequest is a verified authorize request.
type authRequest struct {
	app         App
	redirectURI string
	state       string
	nonce       string // empty when none was sent
	username    string
	useDuoCode  bool
}

// parseAuthorizeRequest verifies the request JWT of an authorize request.
// host is the Host the request arrived on. All claim problems are reported
// together, each naming its claim.
func (s *Server) parseAuthorizeRequest(form url.Values, host string) (*authRequest, *refusal) {
	bad := func(err error) *refusal {
		return &refusal{status: 400, reason: FailureInvalidRequest, heading: "Invalid request",
			message: "invalid_request: " + err.Error(), err: err}
	}
	var errs []error
	get := func(key string) string {
		v, err := single(form, key)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	request := get("request")
	outerClientID := get("client_id")
	outerResponseType := get("response_type")
	outerRedirect := get("redirect_uri")
	outerNonce := get("nonce")
	if err := errors.Join(errs...); err != nil {
		return nil, bad(err)
	}
	if request == "" {
		return nil, bad(errors.New("request: missing"))
	}
	clientID := outerClientID
	if clientID == "" {
		clientID = unverifiedClaim(request, "client_id")
	}
	app, ok := s.apps[clientID]
	if !ok {
		return nil, &refusal{status: 400, reason: FailureUnauthorizedClient, heading: "Unauthorized request",
			message: "unauthorized_request: Unauthorized OIDC request", err: errors.New("client_id: unknown client")}
	}

	now := s.now()
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS512"}),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(s.cfg.Now),
		jwt.WithExpirationRequired(),
	)
	claims := jwt.MapClaims{}
	if _, err := p.ParseWithClaims(request, claims, secretKey(app.ClientSecret.Reveal())); err != nil {
		r := bad(fmt.Errorf("request: %w", err))
		r.app = app
		return nil, r
	}
	str := func(name string) (string, bool) {
		v, present := claims[name]
		if !present {
			return "", false
		}
		sv, ok := v.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: must be a string", name))
		}
		return sv, true
	}

	if exp, _ := claims.GetExpirationTime(); exp != nil && exp.After(now.Add(maxRequestLifetime+clockSkew)) {
		errs = append(errs, fmt.Errorf("exp: more than %v ahead", maxRequestLifetime))
	}
	if v, _ := str("client_id"); v != app.ClientID {
		errs = append(errs, errors.New("client_id: does not match the client"))
	}
	if outerClientID != "" && outerClientID != app.ClientID {
		errs = append(errs, errors.New("client_id: query parameter does not match the request JWT"))
	}
	if v, present := str("iss"); present && v != app.ClientID {
		errs = append(errs, errors.New("iss: must be the client id"))
	}
	if _, present := claims["aud"]; present {
		aud, err := claims.GetAudience()
		allowed := []string{"https://" + host, "https://" + host + pathAuthorize}
		if err != nil || !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(allowed, a) }) {
			errs = append(errs, errors.New("aud: must be https://{api host} or the authorize URL"))
		}
	}
	if v, _ := str("response_type"); v != "code" {
		errs = append(errs, errors.New(`response_type: must be "code"`))
	}
	if outerResponseType != "" && outerResponseType != "code" {
		errs = append(errs, errors.New(`response_type: query parameter must be "code"`))
	}
	if v, _ := str("scope"); !slices.Contains(strings.Fields(v), "openid") {
		errs = append(errs, errors.New(`scope: must contain "openid"`))
	}
	redirectURI, _ := str("redirect_uri")
	if err := checkRedirectURI(redirectURI); err != nil {
		errs = append(errs, err)
	} else if outerRedirect != "" && outerRedirect != redirectURI {
		errs = append(errs, errors.New("redirect_uri: query parameter does not match the request JWT"))
	}
	state, _ := str("state")
	if len(state) < minStateLength || len(state) > maxStateLength {
		errs = append(errs, fmt.Errorf("state: must be %d to %d characters", minStateLength, maxStateLength))
	}
	username, _ := str("duo_uname")
	if username == "" {
		errs = append(errs, errors.New("duo_uname: missing"))
	}
	useDuoCode := false
	switch v := claims["use_duo_code_attribute"].(type) {
	case bool:
		useDuoCode = v
	case string: // C# sends the string "true"
		useDuoCode = strings.EqualFold(v, "true")
	}
	// The signed claim wins over the outer parameter (OIDC Core 6.1);
	// Python also sends nonce outside the JWT.
	nonce, present := str("nonce")
	if !present {
		nonce = outerNonce
	}
	if len(nonce) > maxNonceLength {
		errs = append(errs, fmt.Errorf("nonce: longer than %d characters", maxNonceLength))
	}
	if err := errors.Join(errs...); err != nil {
		r := bad(err)
		r.app = app
		return nil, r
	}
	return &authRequest{
		app:         app,
		redirectURI: redirectURI,
		state:       state,
		nonce:       nonce,
		username:    username,
		useDuoCode:  useDuoCode,
	}, nil
}

// checkRedirectURI accepts https URLs, and http only to a loopback host
// (for local development), up to 256 characters, without a fragment or
// user info.
func checkRedirectURI(raw string) error {
	if raw == "" {
		return errors.New("redirect_uri: missing")
	}
	if len(raw) > maxRedirectLength {
		return fmt.Errorf("redirect_uri: longer than %d characters", maxRedirectLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("redirect_uri: must be an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("redirect_uri: must not contain a fragment")
	}
	if u.User != nil {
		return errors.New("redirect_uri: must not contain user info")
	}
	switch u.Scheme {
	case "https":
	case "http":
		switch u.Hostname() {
		case "127.0.0.1", "::1", "localhost":
		default:
			return errors.New("redirect_uri: http is allowed only for 127.0.0.1, ::1 and localhost")
		}
	default:
		return errors.New("redirect_uri: scheme must be https")
	}
	return nil
}
