package duosim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// shutdownTimeout bounds how long Close waits for in-flight requests.
	shutdownTimeout = 5 * time.Second
	// pendingTTL is how long an interactive prompt waits for a click.
	pendingTTL = 5 * time.Minute

	// Size bounds on the server-side state. When a bound is reached the
	// entries closest to expiry are dropped first (and counted in Stats).
	maxReplayEntries  = 1 << 20
	maxCodes          = 1 << 18
	maxPendingPrompts = 1 << 16
)

// Server is a running simulator. All methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	apps    map[string]App
	certs   *certBundle
	pool    *x509.CertPool
	apiHost string
	caFile  string
	tempDir string // removed on Close; empty if Config.CAFile was set

	srv       *http.Server
	transport *http.Transport // shared by every HTTPClient
	closing   chan struct{}   // closed when Close starts
	serveDone chan error
	closeOnce sync.Once
	closeErr  error

	healthy atomic.Bool

	unresponsiveMu sync.Mutex
	// release is non-nil while SetUnresponsive(true) is in force; closing
	// it lets the requests held meanwhile go on to be answered.
	release chan struct{}

	usersMu  sync.Mutex
	outcomes map[string]Outcome
	enrolled map[string]struct{}
	// tokenFaults and claimedNames are the tests' tweaks of id_tokens
	// (tokenfault.go); nil until one is set.
	tokenFaults  map[string]TokenFault
	claimedNames map[string]string

	jtiMu sync.Mutex
	jtis  *expiringMap[[32]byte, struct{}]

	codeMu sync.Mutex
	codes  *expiringMap[string, grant]

	pendingMu sync.Mutex
	pending   *expiringMap[string, pendingAuth]

	stats counters
}

// Start validates cfg, creates a fresh CA and leaf certificate, writes the
// CA's PEM to the CA file and serves the Duo OIDC endpoints over TLS until
// Close. ctx bounds start-up only; it does not stop the server.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With(slog.String("component", "duosim")),
		apps:      make(map[string]App, len(cfg.Apps)),
		closing:   make(chan struct{}),
		serveDone: make(chan error, 1),
		outcomes:  cfg.Outcomes,
		enrolled:  make(map[string]struct{}),
		jtis:      newExpiringMap[[32]byte, struct{}](maxReplayEntries),
		codes:     newExpiringMap[string, grant](maxCodes),
		pending:   newExpiringMap[string, pendingAuth](maxPendingPrompts),
	}
	for _, a := range cfg.Apps {
		s.apps[a.ClientID] = a
	}
	s.stats.init()
	s.healthy.Store(true)

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("duosim: listen on %s: %w", cfg.Addr, err)
	}
	tcpAddr, _ := ln.Addr().(*net.TCPAddr)
	var listenIP net.IP
	port := 0
	if tcpAddr != nil {
		listenIP, port = tcpAddr.IP, tcpAddr.Port
	}
	hostIP := "127.0.0.1"
	if listenIP != nil && !listenIP.IsUnspecified() {
		hostIP = listenIP.String()
	}
	s.apiHost = net.JoinHostPort(hostIP, fmt.Sprint(port))

	if s.certs, err = newCertBundle(listenIP); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("duosim: %w", err)
	}
	s.pool = x509.NewCertPool()
	s.pool.AddCert(s.certs.caCert)
	if err := s.writeCAFile(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("duosim: %w", err)
	}

	s.transport = &http.Transport{
		Proxy:               nil, // the simulator is local; never go through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 5 * time.Second,
		// HTTP/1.1, as duo_universal_golang's own transport ends up using
		// (its custom DialTLSContext disables HTTP/2); it also spares Close
		// the HTTP/2 GOAWAY grace period. Browsers still get HTTP/2.
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}

	baseCtx, cancelBase := context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler: s.routes(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.certs.leaf},
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second, // Duo drops idle connections after about a minute
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.stats.connections.Add(1)
			}
		},
	}
	go func() {
		s.serveDone <- s.srv.ServeTLS(ln, "", "")
		cancelBase()
	}()
	s.log.Info("duo simulator listening", slog.String("api_host", s.apiHost), slog.String("ca_file", s.caFile),
		slog.Int("apps", len(s.apps)), slog.Bool("scripted", cfg.Scripted))
	return s, nil
}

// writeCAFile writes the CA PEM atomically (temp file then rename), so a
// process polling for the file never reads half of it.
func (s *Server) writeCAFile() error {
	path := s.cfg.CAFile
	if path == "" {
		dir, err := os.MkdirTemp("", "duosim-*")
		if err != nil {
			return fmt.Errorf("create CA directory: %w", err)
		}
		s.tempDir = dir
		path = filepath.Join(dir, "ca.pem")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		s.removeTempDir()
		return fmt.Errorf("resolve CA file %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(abs), ".duosim-ca-*.pem")
	if err != nil {
		s.removeTempDir()
		return fmt.Errorf("write CA file %s: %w", abs, err)
	}
	_, werr := tmp.Write(s.certs.caPEM)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644), os.Rename(tmp.Name(), abs)); err != nil {
		_ = os.Remove(tmp.Name())
		s.removeTempDir()
		return fmt.Errorf("write CA file %s: %w", abs, err)
	}
	s.caFile = abs
	return nil
}

func (s *Server) removeTempDir() error {
	if s.tempDir == "" {
		return nil
	}
	if err := os.RemoveAll(s.tempDir); err != nil {
		return fmt.Errorf("remove CA directory: %w", err)
	}
	return nil
}

// Close stops the server: it unblocks stalled (OutcomeSlow) requests,
// drops the connections of requests held by SetUnresponsive, waits up to
// a few seconds for in-flight requests, closes the idle connections of
// every client from HTTPClient and removes the temporary CA directory, if
// one was made. It is safe to call more than once; later
// calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		var errs []error
		// Closing our own clients' idle connections first spares Shutdown
		// the HTTP/2 GOAWAY wait (a second per connection) on them.
		s.transport.CloseIdleConnections()
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
			if err := s.srv.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close: %w", err))
			}
		}
		if err := <-s.serveDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
		s.transport.CloseIdleConnections()
		if err := s.removeTempDir(); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("duosim: close: %w", err)
		}
		s.log.Info("duo simulator stopped")
	})
	return s.closeErr
}

// APIHost returns "host:port" without a scheme, which is what
// duouniversal.NewClient wants as its apiHost.
func (s *Server) APIHost() string { return s.apiHost }

// CAFile returns the absolute path of the CA certificate PEM. When
// Config.CAFile was empty the file only exists until Close.
func (s *Server) CAFile() string { return s.caFile }

// CACertPEM returns a copy of the CA certificate in PEM form.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.certs.caPEM...) }

// CertPool returns a new pool holding only the simulator's CA.
func (s *Server) CertPool() *x509.CertPool { return s.pool.Clone() }

// HTTPClient returns a client that trusts only the simulator's CA, ignores
// proxy settings and gives up after timeout (0 means no limit, which is
// rarely wise: Duo's Go client sets none of its own). The clients share one
// transport whose idle connections Close shuts. Each call returns a new
// *http.Client, so the caller may set CheckRedirect or Jar on it.
func (s *Server) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: s.transport, Timeout: timeout}
}

// SPKIHash returns the base64 SHA-256 of the leaf certificate's
// SubjectPublicKeyInfo, the form Chromium's
// --ignore-certificate-errors-spki-list flag takes.
func (s *Server) SPKIHash() string { return s.certs.spkiHash }

// Apps returns a copy of the accepted applications.
func (s *Server) Apps() []App { return append([]App(nil), s.cfg.Apps...) }

// SetOutcome scripts what happens to username's next authorizations. It
// panics if o is not one of the Outcome constants.
func (s *Server) SetOutcome(username string, o Outcome) {
	if !o.valid() {
		panic(fmt.Sprintf("duosim: SetOutcome: unknown outcome %q", string(o)))
	}
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	s.outcomes[username] = o
}

// ClearOutcome removes username's scripted outcome, restoring the default
// (OutcomeInteractive, or OutcomeAllow if Config.Scripted).
func (s *Server) ClearOutcome(username string) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	delete(s.outcomes, username)
}

func (s *Server) outcomeFor(username string) Outcome {
	s.usersMu.Lock()
	o, ok := s.outcomes[username]
	s.usersMu.Unlock()
	switch {
	case ok:
		return o
	case s.cfg.Scripted:
		return OutcomeAllow
	default:
		return OutcomeInteractive
	}
}

// SetHealthy switches the whole simulated service up or down. While down,
// the health check answers 503 with a FAIL body, and authorize, prompt and
// token requests answer 503 too.
func (s *Server) SetHealthy(healthy bool) { s.healthy.Store(healthy) }

// Enrolled reports whether username has a device enrolled, either through
// the interactive enrolment page or Enroll.
func (s *Server) Enrolled(username string) bool {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	_, ok := s.enrolled[username]
	return ok
}

// Enroll marks username as already enrolled, so the interactive prompt
// skips the enrolment page.
func (s *Server) Enroll(username string) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	s.enrolled[username] = struct{}{}
}

func (s *Server) now() time.Time { return s.cfg.Now() }
