// Package duo speaks Duo's OIDC protocol (the Universal Prompt's health
// check, authorize URL and code exchange) for the plugin.
//
// It once wrapped Duo's Go client (duo_universal_golang). It now speaks
// the protocol itself, with golang-jwt for HS512, because the client's
// JWT work (lestrrat-go/jwx: parse the id_token, marshal it back to JSON,
// unmarshal that again; sign through map claims) was about a quarter of
// the plugin's CPU per login, because the client takes no context (each
// call ran in a goroutine of its own to be abandoned), and because it
// accepts an id_token without an expiry, which we require. A differential
// test (duo_exchange_test.go) pins this package to Duo's client: the same
// authorize request, and the same verdict on a table of crafted id_tokens
// and token answers, but for the documented differences.
//
// Duo's Go client pins Duo's root CAs and refuses plain HTTP, but has no
// timeout and Go's default of two idle connections per host. This package
// keeps its rules — the same pinned roots (duo_roots.pem, a copy of its
// bundle; a test checks they agree), TLS only — and adds timeouts and a
// keep-alive pool sized for concurrent logins. A test/simulator CA is
// trusted instead only when the settings name one and the process runs
// with the explicit test switch.
package duo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

//go:embed duo_roots.pem
var duoRootsPEM []byte

// ErrPlainHTTP is returned if anything tries to reach Duo without TLS.
var ErrPlainHTTP = errors.New("duo: plain HTTP is refused; Duo is reached over TLS only")

// Result is what Duo said about one login.
type Result struct {
	Username string // preferred_username, already checked against the expected one
	Result   string // auth_result.result: allow, deny, …
	Status   string // auth_result.status
	Reason   string // auth_context.reason, e.g. user_approved, user_marked_fraud
	Factor   string
	TxID     string
}

// Allowed reports whether Duo allowed the login. Exchange does not check
// this (nor does Duo's Go client); callers must.
func (r *Result) Allowed() bool { return r != nil && r.Result == "allow" }

// Client is one Duo application, as the plugin uses it.
type Client interface {
	HealthCheck(ctx context.Context) error
	GenerateState() (string, error)
	AuthURL(username, state string) (string, error)
	Exchange(ctx context.Context, code, username string) (*Result, error)
}

// Factory builds Clients for settings and reuses them while the settings
// do not change. Every client it builds, and its health checks, share one
// HTTP client (one keep-alive pool and TLS session cache) per trust
// setting: credentials travel in each request, not in the connection, so
// a change of credentials or redirect URI keeps the warm connections, and
// steady logins and health checks open no new ones.
type Factory struct {
	rt settings.Runtime

	mu     sync.Mutex
	key    [32]byte
	cached *client
	shared *sharedHTTP
}

// sharedHTTP is the HTTP client for one trust setting (the test CA file,
// or "" for Duo's pinned roots).
type sharedHTTP struct {
	caFile string
	http   *http.Client
}

// NewFactory returns a Factory for the process's runtime configuration.
func NewFactory(rt settings.Runtime) *Factory { return &Factory{rt: rt} }

// Client returns the client for d and the redirect URI.
func (f *Factory) Client(d settings.Duo, redirectURI string) (Client, error) {
	key := Fingerprint(d, redirectURI)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cached != nil && f.key == key {
		return f.cached, nil
	}
	if !d.Complete() {
		return nil, ErrIncomplete
	}
	if f.shared == nil || f.shared.caFile != d.CAFile {
		hc, err := NewHTTPClient(f.rt, d)
		if err != nil {
			return nil, err
		}
		if f.shared != nil {
			f.shared.http.CloseIdleConnections()
		}
		f.shared = &sharedHTTP{caFile: d.CAFile, http: hc}
	}
	c, err := newClientWith(f.shared.http, d, redirectURI)
	if err != nil {
		return nil, err
	}
	f.key, f.cached = key, c
	return c, nil
}

// Check runs Duo's health check with d (the settings checked may not be
// the saved ones). It uses the shared connections when d trusts what the
// saved settings trust, and a client of its own otherwise.
func (f *Factory) Check(ctx context.Context, d settings.Duo) error {
	if !d.Complete() {
		return ErrIncomplete
	}
	f.mu.Lock()
	var hc *http.Client
	if f.shared != nil && f.shared.caFile == d.CAFile {
		hc = f.shared.http
	}
	f.mu.Unlock()
	if hc == nil {
		own, err := NewHTTPClient(f.rt, d)
		if err != nil {
			return err
		}
		defer own.CloseIdleConnections()
		hc = own
	}
	c, err := newClientWith(hc, d, "https://localhost/duo-health-check")
	if err != nil {
		return err
	}
	return c.HealthCheck(ctx)
}

// Fingerprint identifies the settings that reach Duo (and the redirect
// URI), so caches can tell when they changed. It includes the secret, hashed.
func Fingerprint(d settings.Duo, redirectURI string) [32]byte {
	return sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s", d.ClientID, d.ClientSecret.Reveal(), d.APIHostname, d.CAFile, redirectURI)))
}

type client struct {
	http        *http.Client // shared with the Factory's other clients
	clientID    string
	secret      []byte // the client secret: signs our assertions, verifies Duo's id_tokens; never logged
	redirectURI string
	healthURL   string   // https://<host>/oauth/v1/health_check
	authURL     *url.URL // https://<host>/oauth/v1/authorize, nil if the host makes no URL
	authURLErr  error
	tokenURL    string // https://<host>/oauth/v1/token, also the id_token's issuer
	apiHostURL  string // https://<host>, the authorize request's audience
	idToken     *jwt.Parser
}

// newClient builds a client with an HTTP client of its own.
func newClient(rt settings.Runtime, d settings.Duo, redirectURI string) (*client, error) {
	if !d.Complete() {
		return nil, ErrIncomplete
	}
	hc, err := NewHTTPClient(rt, d)
	if err != nil {
		return nil, err
	}
	return newClientWith(hc, d, redirectURI)
}

// Duo's credentials have fixed lengths; Duo's Go client refuses others,
// and so do we.
var (
	errClientID     = fmt.Errorf("the Duo client id is invalid (not %d characters)", clientIDLength)
	errClientSecret = fmt.Errorf("the Duo client secret is invalid (not %d characters)", clientSecretLength)
)

func newClientWith(hc *http.Client, d settings.Duo, redirectURI string) (*client, error) {
	secret := d.ClientSecret.Reveal()
	switch {
	case len(d.ClientID) != clientIDLength:
		return nil, fmt.Errorf("duo: %w", errClientID)
	case len(secret) != clientSecretLength:
		return nil, fmt.Errorf("duo: %w", errClientSecret)
	}
	tokenURL := fmt.Sprintf(tokenURLFormat, d.APIHostname)
	// As Duo's client, an API hostname that makes no URL fails AuthURL
	// (and the requests), not the client.
	authURL, authURLErr := url.Parse(fmt.Sprintf(authorizeURLFormat, d.APIHostname))
	return &client{
		http:        hc,
		clientID:    d.ClientID,
		secret:      []byte(secret),
		redirectURI: redirectURI,
		authURL:     authURL,
		authURLErr:  authURLErr,
		healthURL:   fmt.Sprintf(healthCheckURLFormat, d.APIHostname),
		tokenURL:    tokenURL,
		apiHostURL:  "https://" + d.APIHostname,
		idToken: jwt.NewParser(
			jwt.WithValidMethods([]string{signingMethod.Alg()}),
			jwt.WithIssuer(tokenURL),
			jwt.WithAudience(d.ClientID), // and exactly one audience: Exchange checks
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(allowedSkew),
		),
	}, nil
}

// NewHTTPClient returns the HTTP client used to reach Duo: pinned roots (or
// the test CA), TLS 1.2+, no plain HTTP, a whole-request timeout and a pool
// of keep-alive connections.
func NewHTTPClient(rt settings.Runtime, d settings.Duo) (*http.Client, error) {
	roots := x509.NewCertPool()
	switch {
	case d.CAFile != "" && rt.AllowTestDuoHost:
		pem, err := os.ReadFile(d.CAFile)
		if err != nil {
			return nil, fmt.Errorf("duo: test CA file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("duo: test CA file %s holds no certificate", d.CAFile)
		}
	case d.CAFile != "":
		return nil, errors.New("duo: a test CA file is set but the plugin does not run in test mode (DUO_PLUGIN_ALLOW_TEST_DUO_HOST)")
	default:
		if !roots.AppendCertsFromPEM(duoRootsPEM) {
			return nil, errors.New("duo: pinned roots do not parse")
		}
	}
	timeout := rt.DuoTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dialer := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second},
		// The session cache lets a connection Duo closed (idle, or a
		// restart behind its load balancer) resume without a full handshake.
		Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(64)},
	}
	tr := &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, ErrPlainHTTP
		},
		DialTLSContext:        dialer.DialContext,
		TLSHandshakeTimeout:   min(timeout, 5*time.Second),
		ResponseHeaderTimeout: timeout,
		// Logins come in bursts; two idle connections per host (Go's default)
		// would mean a new TLS handshake every few calls.
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 64,
		// Duo drops idle connections after about 60 s; close ours first.
		IdleConnTimeout: 50 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // Duo's API never redirects
		},
	}, nil
}

// Duo's OIDC protocol, as Duo's Go client (duo_universal_golang v1.1.0)
// speaks it; duo_exchange_test.go checks the two agree.
const (
	clientIDLength       = 20
	clientSecretLength   = 40
	stateLength          = 36 // GenerateState's, and each assertion's jti
	minStateLength       = 22 // AuthURL's bounds on the state
	maxStateLength       = 1024
	expirationTime       = 300 * time.Second // of our assertions and authorize requests
	allowedSkew          = 60 * time.Second  // clock skew allowed on the id_token's times
	healthCheckURLFormat = "https://%s/oauth/v1/health_check"
	authorizeURLFormat   = "https://%s/oauth/v1/authorize"
	tokenURLFormat       = "https://%s/oauth/v1/token"
	clientAssertionType  = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	stateCharacters      = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	maxResponseBytes     = 1 << 20 // Duo's answers are a few kilobytes
)

// signingMethod is Duo's, for everything: our assertions and authorize
// requests, and the id_tokens Duo returns.
var signingMethod = jwt.SigningMethodHS512

// userAgent names this plugin to Duo (Duo's client sends its own name).
var userAgent = fmt.Sprintf("helpdesk-duo-plugin Go/%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)

// randomString returns n characters drawn uniformly from stateCharacters
// with crypto/rand: bytes of 248 and above (4×62) are drawn again, so
// every character is equally likely.
func randomString(n int) (string, error) {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < 4*len(stateCharacters) && len(out) < n {
				out = append(out, stateCharacters[int(b)%len(stateCharacters)])
			}
		}
	}
	return string(out), nil
}

// GenerateState implements Client.
func (c *client) GenerateState() (string, error) { return randomString(stateLength) }

// assertionClaims authenticate us to the health check and token endpoints
// (private_key_jwt with the client secret): iss, sub, aud (an array of
// one, as Duo's client sends it: golang-jwt's default), exp and jti.
type assertionClaims = jwt.RegisteredClaims

// authorizeClaims are the authorize request (a JWT in the request
// parameter), claim for claim Duo's client's with use_duo_code_attribute:
// iss, aud and exp, and these.
type authorizeClaims struct {
	jwt.RegisteredClaims
	Scope               string `json:"scope"`
	RedirectURI         string `json:"redirect_uri"`
	ClientID            string `json:"client_id"`
	State               string `json:"state"`
	ResponseType        string `json:"response_type"`
	DuoUname            string `json:"duo_uname"`
	UseDuoCodeAttribute bool   `json:"use_duo_code_attribute"`
}

func (c *client) sign(claims jwt.Claims) (string, error) {
	return jwt.NewWithClaims(signingMethod, claims).SignedString(c.secret)
}

// assertion is a client assertion for the endpoint aud.
func (c *client) assertion(aud string) (string, error) {
	jti, err := randomString(stateLength)
	if err != nil {
		return "", err
	}
	return c.sign(assertionClaims{
		Issuer: c.clientID, Subject: c.clientID, Audience: jwt.ClaimStrings{aud},
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(expirationTime)), ID: jti,
	})
}

// statusError is an answer from Duo other than 200. Its text is the bare
// status line ("503 Service Unavailable"), as Duo's Go client words it;
// Diagnose reads its code.
type statusError struct {
	code   int
	status string
}

func (e *statusError) Error() string { return e.status }

// post sends form to endpoint and returns the body of a 200 answer; any
// other status is a *statusError.
func (c *client) post(ctx context.Context, endpoint string, form url.Values) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes)) // keeps the connection
		return nil, &statusError{code: resp.StatusCode, status: resp.Status}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("the answer exceeds %d bytes", maxResponseBytes)
	}
	return body, nil
}

// HealthCheck implements Client.
func (c *client) HealthCheck(ctx context.Context) error {
	if err := c.healthCheck(ctx); err != nil {
		return fmt.Errorf("duo health check: %w", err)
	}
	return nil
}

func (c *client) healthCheck(ctx context.Context) error {
	tok, err := c.assertion(c.healthURL)
	if err != nil {
		return err
	}
	body, err := c.post(ctx, c.healthURL, url.Values{"client_assertion": {tok}, "client_id": {c.clientID}})
	if err != nil {
		return err
	}
	var health struct {
		Stat          string `json:"stat"`
		Message       string `json:"message"`
		MessageDetail string `json:"message_detail"`
	}
	if err := json.Unmarshal(body, &health); err != nil {
		return err
	}
	if health.Stat != "OK" {
		return fmt.Errorf("%s: %s", health.Message, health.MessageDetail) // e.g. invalid_client: …, which Diagnose looks for
	}
	return nil
}

var (
	errStateLength = fmt.Errorf("the state must be %d to %d characters long", minStateLength, maxStateLength)
	errUsername    = errors.New("no Duo username for the authorize request")
)

// AuthURL implements Client: Duo's authorize URL for username, carrying
// state back to the callback.
func (c *client) AuthURL(username, state string) (string, error) {
	if len(state) < minStateLength || len(state) > maxStateLength {
		return "", errStateLength
	}
	if username == "" {
		return "", errUsername
	}
	request, err := c.sign(authorizeClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.clientID, Audience: jwt.ClaimStrings{c.apiHostURL},
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(expirationTime)),
		},
		Scope:               "openid",
		RedirectURI:         c.redirectURI,
		ClientID:            c.clientID,
		State:               state,
		ResponseType:        "code",
		DuoUname:            username,
		UseDuoCodeAttribute: true,
	})
	if err != nil {
		return "", err
	}
	if c.authURLErr != nil {
		return "", c.authURLErr
	}
	u := *c.authURL
	u.RawQuery = url.Values{"response_type": {"code"}, "client_id": {c.clientID}, "request": {request}}.Encode()
	return u.String(), nil
}

// ErrNoExpiry is returned for an id_token without an expiry (exp), which
// Duo's Go client would accept (as it would exp 0, refused here as expired).
var ErrNoExpiry = errors.New("duo token exchange: the id_token has no expiry")

// idTokenClaims are the claims of Duo's id_token that the plugin reads.
type idTokenClaims struct {
	jwt.RegisteredClaims
	PreferredUsername string `json:"preferred_username"`
	AuthResult        struct {
		Result string `json:"result"`
		Status string `json:"status"`
	} `json:"auth_result"`
	AuthContext struct {
		Reason string `json:"reason"`
		Factor string `json:"factor"`
		TxID   string `json:"txid"`
	} `json:"auth_context"`
}

// idTokenNames are the names of idTokenClaims's top-level fields (a test
// keeps them in step).
var idTokenNames = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "preferred_username", "auth_result", "auth_context"}

// UnmarshalJSON reads each claim from its exact name only, as the JWT rules
// and Duo's client do: encoding/json matches a struct's fields
// case-insensitively, so one struct decode would let an "EXP" or
// "Preferred_Username" stand in for exp or preferred_username, or override
// it.
func (c *idTokenClaims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	dsts := [len(idTokenNames)]any{&c.Issuer, &c.Subject, &c.Audience, &c.ExpiresAt, &c.NotBefore, &c.IssuedAt, &c.ID,
		&c.PreferredUsername, &c.AuthResult, &c.AuthContext}
	for i, name := range idTokenNames {
		if v, ok := raw[name]; ok {
			if err := json.Unmarshal(v, dsts[i]); err != nil {
				return fmt.Errorf("claim %s: %w", name, err)
			}
		}
	}
	return nil
}

// Exchange implements Client: the code for Duo's verdict on username. It
// verifies the id_token as Duo's client does — HS512 under the client
// secret, the token endpoint as issuer, the client id as the one
// audience, the times with a minute of skew, preferred_username — and
// also requires an expiry. The verdict itself is in Result.Allowed.
func (c *client) Exchange(ctx context.Context, code, username string) (*Result, error) {
	res, err := c.exchange(ctx, code, username)
	if err != nil && !errors.Is(err, ErrNoExpiry) {
		return nil, fmt.Errorf("duo token exchange: %w", err)
	}
	return res, err
}

var (
	errNoCode     = errors.New("missing authorization code")
	errTokenBody  = errors.New("the answer lacks access_token, id_token, token_type or expires_in")
	errAudience   = errors.New("the id_token has not exactly one audience") // Duo's client: "didn't receive exactly 1 aud"
	errWrongUser  = errors.New(`the id_token's preferred_username is not the expected Duo username`)
	errNoUsername = errors.New("no Duo username to check the id_token against")
)

func (c *client) exchange(ctx context.Context, code, username string) (*Result, error) {
	if code == "" {
		return nil, errNoCode
	}
	if username == "" {
		return nil, errNoUsername
	}
	tok, err := c.assertion(c.tokenURL)
	if err != nil {
		return nil, err
	}
	body, err := c.post(ctx, c.tokenURL, url.Values{
		"redirect_uri":          {c.redirectURI},
		"grant_type":            {"authorization_code"},
		"code":                  {code},
		"client_id":             {c.clientID},
		"client_assertion_type": {clientAssertionType},
		"client_assertion":      {tok},
	})
	if err != nil {
		return nil, err
	}
	var answer struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, err
	}
	if answer.AccessToken == "" || answer.IDToken == "" || answer.ExpiresIn == 0 || answer.TokenType == "" {
		return nil, errTokenBody
	}
	var claims idTokenClaims
	if _, err := c.idToken.ParseWithClaims(answer.IDToken, &claims, c.key); err != nil {
		// The MAC held (claims are checked after it): a token without
		// an expiry would be good for ever.
		if errors.Is(err, jwt.ErrTokenInvalidClaims) && claims.ExpiresAt == nil {
			return nil, ErrNoExpiry
		}
		return nil, err
	}
	// golang-jwt takes aud as a string or an array containing the client
	// id; Duo's client wants exactly one audience.
	if len(claims.Audience) != 1 {
		return nil, errAudience
	}
	if claims.PreferredUsername != username {
		return nil, errWrongUser
	}
	return &Result{
		Username: claims.PreferredUsername,
		Result:   claims.AuthResult.Result,
		Status:   claims.AuthResult.Status,
		Reason:   claims.AuthContext.Reason,
		Factor:   claims.AuthContext.Factor,
		TxID:     claims.AuthContext.TxID,
	}, nil
}

// key is the id_token's verification key: the client secret (the parser
// has already refused any algorithm but HS512).
func (c *client) key(*jwt.Token) (any, error) { return c.secret, nil }

// IsTimeout reports whether err is Duo not answering in time: the HTTP
// client's timeout or the caller's deadline.
func IsTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

// ErrIncomplete is returned for settings that lack a credential.
var ErrIncomplete = errors.New("duo: settings are incomplete")

// Diagnose sorts a failed Duo call into the kind of failure the plugin acts
// on, with a short sentence for an admin. Only DuoUnreachable (no answer in
// time, connection refused, DNS, a 5xx from Duo) lets fail open skip Duo:
// credentials Duo rejects, a certificate that does not verify and answers
// that make no sense are configuration or attack signals. testMode adds
// the hint an admin needs against the simulator. nil is ("", "").
func Diagnose(err error, testMode bool) (contract.DuoFailure, string) {
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		dnsErr      *net.DNSError
		netErr      net.Error
	)
	switch {
	case err == nil:
		return "", ""
	case errors.Is(err, ErrIncomplete):
		return contract.DuoNotConfigured, "the Duo settings are incomplete"
	case IsTimeout(err):
		return contract.DuoUnreachable, "Duo did not answer in time"
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.Is(err, ErrPlainHTTP):
		msg := "Duo's TLS certificate could not be verified for this API hostname"
		if testMode {
			msg += `; against a Duo simulator, set "Trusted CA file (testing only)" to the simulator's CA file`
		}
		return contract.DuoCertificateUntrusted, msg
	case errors.As(err, &dnsErr):
		return contract.DuoUnreachable, "the API hostname does not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		return contract.DuoUnreachable, "nothing answers at the API hostname"
	}
	if se := (*statusError)(nil); errors.As(err, &se) {
		switch code := se.code; {
		case code >= 500:
			return contract.DuoUnreachable, fmt.Sprintf("Duo reported a server error (HTTP %d)", code)
		case code == 400 || code == 401 || code == 403:
			return contract.DuoCredentialsRejected, "Duo rejected the Client ID or Client secret (invalid_client)"
		default:
			return contract.DuoUnexpected, fmt.Sprintf("Duo refused the request (HTTP %d): check the API hostname", code)
		}
	}
	if strings.Contains(err.Error(), "invalid_client") {
		return contract.DuoCredentialsRejected, "Duo rejected the Client ID or Client secret (invalid_client)"
	}
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return contract.DuoUnreachable, "the connection to Duo failed"
	}
	return contract.DuoUnexpected, "Duo's answer could not be understood"
}
