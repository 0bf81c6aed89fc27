// Package web is the reference helpdesk's user interface: server-rendered
// pages for signing in (password, then Duo or the built-in TOTP method),
// tickets, the operator's own account, and the admin pages that manage the
// Duo Security plugin (Plugins, Settings, Operators). It uses the host SDK
// the way a helpdesk vendor would.
//
// Security properties, each enforced in one place:
//   - sessions are server side; the cookie carries a random 32-byte id, the
//     database its SHA-256; a new id at every step of signing in;
//   - every state-changing request carries the session's CSRF token
//     (checked in constant time by middleware for every non-GET request);
//   - failed sign-ins are limited per username and per client address;
//   - while the Duo plugin is active, a sign-in needs its ALLOWED answer for
//     operators it gates, and any error from the plugin refuses the
//     sign-in (fail closed);
//   - pages send a strict Content-Security-Policy (no script at all),
//     X-Frame-Options: DENY and Referrer-Policy: no-referrer (Duo's callback
//     URL carries duo_code).
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web/i18n"
	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// CallbackPath is where Duo sends the operator back; the callback URL given
// to the plugin at Activate is the base URL plus this path.
const CallbackPath = "/login/duo/callback"

// Config configures the web server.
type Config struct {
	Store   *store.Store
	Plugins *plugins.Manager
	// BaseURL is the helpdesk's external URL, like http://127.0.0.1:8080.
	// Cookies are Secure when it is https.
	BaseURL *url.URL
	Logger  *slog.Logger
	Now     func() time.Time
	// SiteName is shown in the header and used as the TOTP issuer.
	SiteName string
	// BcryptCost of new password hashes (0: auth.DefaultBcryptCost).
	BcryptCost int

	// Failed sign-in limits: more than UserFailureLimit failures for one
	// username, or IPFailureLimit from one address, within FailureWindow
	// and signing in is refused until the window passes. Defaults 5, 20
	// and 15 minutes (an office behind one NAT address shares the
	// per-address budget, hence the larger one).
	UserFailureLimit int
	IPFailureLimit   int
	FailureWindow    time.Duration

	// Session lifetimes: an anonymous session (the sign-in form) lasts
	// AnonymousTTL; a pending one (second factor under way) PendingTTL; a
	// signed-in one expires after SessionIdle without a request and at
	// most SessionMax after signing in. Defaults 1h, 10m, 2h, 12h.
	AnonymousTTL time.Duration
	PendingTTL   time.Duration
	SessionIdle  time.Duration
	SessionMax   time.Duration

	// Mail delivers recovery links and second-factor notices (SMTP, or the
	// outbox in the demo). Without it recovery links cannot be sent.
	Mail mail.Sender
	// Outbox, if set, lists what Mail queued instead of sending (the demo).
	Outbox OutboxReader

	// PluginCallTimeout bounds each call to the plugin from a page: the
	// helpdesk's one plugin call budget (app.Config.PluginCallTimeout).
	// The plugin fits its calls to Duo inside it. Default 10s.
	PluginCallTimeout time.Duration
}

func (c *Config) defaults() error {
	if c.Store == nil || c.Plugins == nil || c.BaseURL == nil {
		return errors.New("web: Config.Store, Config.Plugins and Config.BaseURL are required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SiteName == "" {
		c.SiteName = "Reference Helpdesk"
	}
	defaults.Set(&c.UserFailureLimit, 5)
	defaults.Set(&c.IPFailureLimit, 20)
	defaults.Set(&c.FailureWindow, 15*time.Minute)
	defaults.Set(&c.AnonymousTTL, time.Hour)
	defaults.Set(&c.PendingTTL, 10*time.Minute)
	defaults.Set(&c.SessionIdle, 2*time.Hour)
	defaults.Set(&c.SessionMax, 12*time.Hour)
	defaults.Set(&c.PluginCallTimeout, 10*time.Second)
	return nil
}

// Server serves the helpdesk's pages.
type Server struct {
	cfg     Config
	log     *slog.Logger
	st      *store.Store
	plugins *plugins.Manager
	secure  bool
	pages   *pages
	cat     *i18n.Catalog
	handler http.Handler
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	cat, err := i18n.New(cfg.Logger.With("component", "i18n"))
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "web"),
		st:      cfg.Store,
		plugins: cfg.Plugins,
		secure:  cfg.BaseURL.Scheme == "https",
		pages:   pg,
		cat:     cat,
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// CallbackURL is the Duo callback URL for a base URL.
func CallbackURL(base *url.URL) string {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + CallbackPath
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// access is who may use a route, and so which checks wrap its handler.
// Every route says one; the tests read the table and drive each route by
// its access.
type access int

const (
	// accessOpen: anyone (the health check, signing out, the not-found
	// page). Such a route never signs anyone in.
	accessOpen access = iota
	// accessSignIn: a step of signing in (the forms, Duo's callback, a
	// recovery link): anyone, with its parameters checked first
	// (route.params). Only these routes start an authenticated session,
	// each through the plugin's answer while the plugin is active.
	accessSignIn
	// accessSignedIn: an authenticated session (requireAuth).
	accessSignedIn
	// accessStaff: admins and the help desk.
	accessStaff
	// accessAdmin: admins.
	accessAdmin
)

// route is one entry of the route table.
type route struct {
	pattern string
	access  access
	handler http.HandlerFunc
	// params, for accessSignIn routes: where each parameter may be.
	params params
}

// routeTable is every route the server registers, in one list: the one
// place a page is added, so a test can see each of them.
func (s *Server) routeTable() []route {
	const pp = "/admin/plugins/" + plugins.ID
	next := params{query: []string{"next"}}
	none := params{}
	return []route{
		{"GET /healthz", accessOpen, s.handleHealthz, none},
		{"GET /{$}", accessSignedIn, s.handleHome, none},
		{"POST /tickets", accessSignedIn, s.handleCreateTicket, none},
		{"POST /tickets/{id}/close", accessSignedIn, s.handleCloseTicket, none},

		{"GET /login", accessSignIn, s.handleLoginForm, next},
		{"POST /login", accessSignIn, s.handleLogin, params{form: []string{"username", "password", "next"}}},
		{"GET /login/totp", accessSignIn, s.handleTOTPForm, none},
		{"POST /login/totp", accessSignIn, s.handleTOTP, params{form: []string{"code"}}},
		// Duo's callback: its query is read by parseDuoCallback.
		{"GET " + CallbackPath, accessSignIn, s.handleDuoCallback, params{query: []string{"state", "duo_code", "error", "error_description"}}},
		{"GET /login/code", accessSignIn, s.handleCodeForm, none},
		{"POST /login/code", accessSignIn, s.handleCode, params{form: []string{"code"}}},
		{"GET /login/backup-codes", accessSignIn, s.handleBackupCodesForm, none},
		// The codes come back, one field each, to be shown again.
		{"POST /login/backup-codes", accessSignIn, s.handleConfirmBackupCodes, params{form: []string{"saved", "code"}, repeat: []string{"code"}}},
		{"GET " + RecoverPath, accessSignIn, s.handleRecoverForm, params{query: []string{"token"}}},
		{"POST " + RecoverPath, accessSignIn, s.handleRecover, params{form: []string{"token", "username", "password"}}},
		{"POST /logout", accessOpen, s.handleLogout, none},

		{"GET /account", accessSignedIn, s.handleAccount, none},
		{"POST /account/totp/setup", accessSignedIn, s.handleTOTPSetup, none},
		{"POST /account/totp/confirm", accessSignedIn, s.handleTOTPConfirm, none},
		{"POST /account/totp/remove", accessSignedIn, s.handleTOTPRemove, none},
		{"POST /account/backup-codes", accessSignedIn, s.handleRegenerateBackupCodes, none},
		{"POST /account/duo/disable", accessSignedIn, s.handleDisableOwnDuo, none},

		{"GET /admin/plugins", accessAdmin, s.handlePlugins, none},
		{"POST " + pp + "/activate", accessAdmin, s.handleActivate, none},
		{"POST " + pp + "/deactivate", accessAdmin, s.handleDeactivate, none},
		{"POST " + pp + "/restart", accessAdmin, s.handleRestart, none},
		{"POST " + pp + "/check", accessAdmin, s.handleCheckDuo, none},
		{"GET " + pp + "/settings", accessAdmin, s.handleSettingsForm, none},
		{"POST " + pp + "/settings", accessAdmin, s.handleSaveSettings, none},
		{"GET " + pp + "/uninstall", accessAdmin, s.handleUninstallForm, none},
		{"POST " + pp + "/uninstall", accessAdmin, s.handleUninstall, none},
		{"GET /admin/operators", accessStaff, s.handleOperators, none},
		{"GET /admin/operators/{id}", accessStaff, s.handleOperator, none},
		{"POST /admin/operators/{id}/bypass", accessStaff, s.handleIssueBypassCode, none},
		{"POST /admin/operators/{id}/bypass/{code}/revoke", accessStaff, s.handleRevokeBypassCode, none},
		{"POST /admin/operators/{id}/unlock", accessStaff, s.handleUnlockOperator, none},
		{"GET " + logPath, accessAdmin, s.handleLog, none},
		{"GET " + logPath + "/export", accessAdmin, s.handleLogExport, none},
		{"GET /admin/operators/{id}/recovery-link", accessAdmin, s.handleRecoveryLinkForm, none},
		{"POST /admin/operators/{id}/recovery-link", accessAdmin, s.handleSendRecoveryLink, none},
		{"GET /admin/outbox", accessAdmin, s.handleOutbox, none},
		{"POST /admin/operators/{id}/duo", accessAdmin, s.handleSetOperatorDuo, none},
		{"POST /admin/operators/{id}/alias", accessAdmin, s.handleSetOperatorAlias, none},

		{"/", accessOpen, s.handleNotFound, none},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		var h http.Handler
		switch rt.access {
		case accessOpen:
			h = rt.handler
		case accessSignIn:
			h = s.checkParams(rt.params, rt.handler)
		case accessSignedIn:
			h = s.requireAuth(rt.handler)
		case accessStaff:
			h = s.requireAuth(s.requireRole(staffRole, rt.handler))
		case accessAdmin:
			h = s.requireAuth(s.requireRole(adminRole, rt.handler))
		default:
			panic("web: route " + rt.pattern + " has no access")
		}
		mux.Handle(rt.pattern, h)
	}

	var h http.Handler = mux
	h = s.csrf(h)
	h = s.loadSession(h)
	h = limitBody(h)
	h = s.recoverPanics(h)
	h = s.logRequests(h)
	h = securityHeaders(h)
	return h
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusNotFound, "error.not_found", "error.not_found_text")
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", defaultCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// Duo's callback URL carries duo_code and state: never let them
		// leave in a Referer.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

const maxBody = 64 << 10

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the Log
// page's export flushes each chunk and extends its write deadline).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// logRequests logs one line per request: method, path (never the query,
// which carries duo_code and state on the callback), status and duration.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration_ms", time.Since(start).Milliseconds(), "client_ip", clientIP(r))
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
				s.renderError(w, r, http.StatusInternalServerError, "error.internal", "error.panic_text")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// clientIP is the address of the client. The reference helpdesk is served
// directly; behind a reverse proxy, a vendor would read the proxy's header
// here, and only from trusted proxies.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	return ua
}

// PluginOperator is how the plugin knows an operator, the one place the
// helpdesk builds a contract.Operator: every call that carries one says
// its role (enforce_roles, and whom the help desk may act on) and whether
// it is a service account (the exemption). The CLI uses it too.
func PluginOperator(op store.Operator) contract.Operator {
	return contract.Operator{ID: strconv.FormatInt(op.ID, 10), Username: op.Username, Email: op.Email,
		Role: pluginRole(op.Role), ServiceAccount: op.ServiceAccount}
}

// pluginOperator is PluginOperator, for the pages.
func pluginOperator(op store.Operator) contract.Operator { return PluginOperator(op) }

func clientInfo(r *http.Request) contract.ClientInfo {
	return contract.ClientInfo{IP: clientIP(r), UserAgent: userAgent(r)}
}

func (s *Server) actor(r *http.Request) contract.Actor {
	op := currentOperator(r)
	if op == nil {
		return contract.Actor{IP: clientIP(r)}
	}
	return contract.Actor{ID: strconv.FormatInt(op.ID, 10), Username: op.Username, IP: clientIP(r), Role: pluginRole(op.Role)}
}

// pluginRole is how the plugin knows a helpdesk role; the plugin enforces
// what each may do, whatever these pages offer.
func pluginRole(role string) contract.Role {
	switch role {
	case store.RoleAdmin:
		return contract.RoleAdmin
	case store.RoleHelpDesk:
		return contract.RoleHelpDesk
	default:
		return contract.RoleAgent
	}
}

// pluginCtx bounds one call to the plugin.
func (s *Server) pluginCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.PluginCallTimeout)
}
