// Package duo wraps Duo's Go client (duo_universal_golang) for the plugin.
//
// The library's default HTTP client pins Duo's root CAs and refuses plain
// HTTP, but has no timeout and Go's default of two idle connections per
// host; passing WithHTTPClient replaces all of that. So this package builds
// its own transport that keeps the library's rules — the same pinned roots
// (duo_roots.pem, a copy of the library's bundle; a test checks they agree),
// TLS only — and adds timeouts and a keep-alive pool sized for concurrent
// logins. A test/simulator CA is trusted instead only when the settings name
// one and the process runs with the explicit test switch.
package duo

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"

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

// Allowed reports whether Duo allowed the login. The Go client does not
// check this; callers must.
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
	duo  *duouniversal.Client
	http *http.Client // shared with the Factory's other clients
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

func newClientWith(hc *http.Client, d settings.Duo, redirectURI string) (*client, error) {
	dc, err := duouniversal.NewClient(d.ClientID, d.ClientSecret.Reveal(), d.APIHostname, redirectURI, duouniversal.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("duo: %w", err)
	}
	return &client{duo: dc, http: hc}, nil
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

// withContext runs fn, returning early if ctx ends first. The library's
// calls take no context; the HTTP client's timeout bounds fn itself, so
// the goroutine cannot outlive it by much.
func withContext[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type out struct {
		v   T
		err error
	}
	ch := make(chan out, 1)
	go func() {
		v, err := fn()
		ch <- out{v, err}
	}()
	select {
	case o := <-ch:
		return o.v, o.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// HealthCheck implements Client.
func (c *client) HealthCheck(ctx context.Context) error {
	_, err := withContext(ctx, func() (*duouniversal.HealthCheckResponse, error) { return c.duo.HealthCheck() })
	if err != nil {
		return fmt.Errorf("duo health check: %w", err)
	}
	return nil
}

// GenerateState implements Client.
func (c *client) GenerateState() (string, error) { return c.duo.GenerateState() }

// AuthURL implements Client.
func (c *client) AuthURL(username, state string) (string, error) {
	return c.duo.CreateAuthURL(username, state)
}

// ErrNoExpiry is returned for an id_token without an expiry (exp), which the
// Duo library would accept.
var ErrNoExpiry = errors.New("duo token exchange: the id_token has no expiry")

// Exchange implements Client: the code for Duo's verdict on username. The
// library verifies the id_token (signature, issuer, audience, expiry if
// present, and preferred_username); Exchange refuses a token without an
// expiry; the verdict itself is in Result.Allowed.
func (c *client) Exchange(ctx context.Context, code, username string) (*Result, error) {
	tok, err := withContext(ctx, func() (*duouniversal.TokenResponse, error) {
		return c.duo.ExchangeAuthorizationCodeFor2faResult(code, username)
	})
	if err != nil {
		return nil, fmt.Errorf("duo token exchange: %w", err)
	}
	// The library checks exp only when the token has one; Duo always sends
	// one, and a token without it would be good for ever.
	if tok.ExpiresAt == 0 {
		return nil, ErrNoExpiry
	}
	return &Result{
		Username: tok.PreferredUsername,
		Result:   tok.AuthResult.Result,
		Status:   tok.AuthResult.Status,
		Reason:   tok.AuthContext.Reason,
		Factor:   tok.AuthContext.Factor,
		TxID:     tok.AuthContext.Txid,
	}, nil
}

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
	if code := httpStatus(err); code != 0 {
		switch {
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

// httpStatus is the status code of a non-200 answer: Duo's Go client
// reports it as a bare status line ("503 Service Unavailable").
func httpStatus(err error) int {
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if len(msg) >= 4 && msg[3] == ' ' {
			if n, convErr := strconv.Atoi(msg[:3]); convErr == nil && n >= 100 && n <= 599 {
				return n
			}
		}
	}
	return 0
}
