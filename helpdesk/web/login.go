package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/auth"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Messages at the sign-in page, by message id. They never say which of
// username and password was wrong, nor why exactly Duo refused.
const (
	msgWrongCredentials = "signin.wrong_credentials"
	// msgFailClosed is shown when the Duo plugin is active but cannot
	// answer: the sign-in is refused, never completed on the password alone.
	msgFailClosed = "signin.fail_closed"
	msgDuoRefused = "signin.duo_refused"
	msgExpired    = "signin.expired"
	msgWrongCode  = "signin.wrong_code"
)

// MsgFailClosed is the English text of the fail-closed refusal (the
// catalogue's signin.fail_closed): what a page in English shows when the
// Duo plugin is active but cannot answer.
const MsgFailClosed = "Two-factor authentication is temporarily unavailable, so sign-in is refused. Contact your administrator."

type loginData struct {
	Username string
	Next     string
	Error    string
}

// handleLoginForm shows the sign-in form, under a fresh anonymous session
// that carries the form's CSRF token.
func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	next := auth.SafeNext(r.URL.Query().Get("next"))
	if currentOperator(r) != nil {
		redirect(w, r, nextOrHome(next))
		return
	}
	if !s.ensureAnonymousSession(w, r) {
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginData{Next: next})
}

// ensureAnonymousSession gives a signed-out visitor the session whose CSRF
// token the sign-in forms carry. false: the answer is written.
func (s *Server) ensureAnonymousSession(w http.ResponseWriter, r *http.Request) bool {
	if ses := currentSession(r); ses != nil && ses.Kind == store.SessionAnonymous {
		return true
	}
	if _, err := s.startSession(w, r, sessionSpec{kind: store.SessionAnonymous}); err != nil {
		s.internalError(w, r, "start anonymous session", err)
		return false
	}
	return true
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	w.Header().Set("Content-Security-Policy", loginCSP)
	if d.Error != "" {
		d.Error = s.tr(r, d.Error)
	}
	s.render(w, r, status, "login", s.tr(r, "signin.title"), "", d)
}

func nextOrHome(next string) string {
	if next == "" {
		return "/"
	}
	return next
}

// rateLimited reports whether the username or the client address has
// failed too often recently.
func (s *Server) rateLimited(r *http.Request, username string) (bool, error) {
	since := s.cfg.Now().Add(-s.cfg.FailureWindow)
	n, err := s.st.CountFailures(r.Context(), store.ScopeUser, userKey(username), since)
	if err != nil {
		return false, err
	}
	if n >= s.cfg.UserFailureLimit {
		return true, nil
	}
	n, err = s.st.CountFailures(r.Context(), store.ScopeIP, clientIP(r), since)
	if err != nil {
		return false, err
	}
	return n >= s.cfg.IPFailureLimit, nil
}

func userKey(username string) string { return strings.ToLower(strings.TrimSpace(username)) }

func (s *Server) recordFailure(r *http.Request, username string) {
	now := s.cfg.Now()
	if username != "" {
		if err := s.st.RecordFailure(r.Context(), store.ScopeUser, userKey(username), now); err != nil {
			s.log.Error("record failed sign-in", "error", err)
		}
	}
	if err := s.st.RecordFailure(r.Context(), store.ScopeIP, clientIP(r), now); err != nil {
		s.log.Error("record failed sign-in", "error", err)
	}
}

func (s *Server) renderTooMany(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusTooManyRequests, "too_many", s.tr(r, "signin.too_many"), "", struct{ Minutes int }{int(s.cfg.FailureWindow.Minutes())})
}

// credentials is how a typed username and password fared.
type credentials int

const (
	credentialsRight credentials = iota
	// credentialsMalformed: too long to be real; not checked, not counted.
	credentialsMalformed
	// credentialsLimited: too many failures recently; not checked.
	credentialsLimited
	// credentialsWrong: an unknown username or a wrong password, counted.
	credentialsWrong
)

// checkCredentials is the one password check of every form that asks for
// one (sign-in, recovery link, the account page): lengths capped, the
// failure limits applied before the password is looked at, as much time
// spent on an unknown username as on a known one, each failure recorded
// and the username's failures cleared on success. form names the form in
// the log. The operator is valid only when the credentials are right; err
// means the store failed and nothing was decided.
func (s *Server) checkCredentials(r *http.Request, form, username, password string) (store.Operator, credentials, error) {
	if len(username) > 128 || len(password) > 1024 {
		return store.Operator{}, credentialsMalformed, nil
	}
	op, err := s.st.OperatorByUsername(r.Context(), username)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Operator{}, 0, fmt.Errorf("look up operator: %w", err)
	}
	// An unknown "username" is often a password typed into the wrong field:
	// only known usernames reach the log.
	logUser := []any{"form", form, "username_known", known, "client_ip", clientIP(r)}
	if known {
		logUser = append(logUser, "username", op.Username, "operator_id", op.ID)
	}

	limited, err := s.rateLimited(r, username)
	if err != nil {
		return store.Operator{}, 0, fmt.Errorf("check sign-in rate limit: %w", err)
	}
	if limited {
		s.log.Warn("sign-in refused: too many failed attempts", logUser...)
		return store.Operator{}, credentialsLimited, nil
	}

	hash := ""
	if known {
		hash = op.PasswordHash.Reveal()
	}
	// CheckPassword spends the same time on an unknown username.
	if !auth.CheckPassword(hash, password) || !known {
		s.recordFailure(r, username)
		s.log.Info("sign-in failed: wrong username or password", logUser...)
		return store.Operator{}, credentialsWrong, nil
	}
	if err := s.st.ClearFailures(r.Context(), store.ScopeUser, userKey(op.Username)); err != nil {
		s.log.Warn("clear failed sign-ins", "error", err)
	}
	return op, credentialsRight, nil
}

// handleLogin checks the password and starts the second factor.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	username := strings.TrimSpace(r.PostForm.Get("username"))
	next := auth.SafeNext(r.PostForm.Get("next"))
	op, checked, err := s.checkCredentials(r, "sign-in", username, r.PostForm.Get("password"))
	switch {
	case err != nil:
		s.internalError(w, r, "check credentials", err)
	case checked == credentialsMalformed:
		s.renderLogin(w, r, http.StatusBadRequest, loginData{Next: next, Error: msgWrongCredentials})
	case checked == credentialsLimited:
		s.renderTooMany(w, r)
	case checked == credentialsWrong:
		s.renderLogin(w, r, http.StatusUnauthorized, loginData{Username: username, Next: next, Error: msgWrongCredentials})
	default:
		s.secondFactor(w, r, op, next)
	}
}

// secondFactor decides what follows a correct password: Duo (while the
// plugin is active and requires it), else the built-in TOTP method (if the
// operator set it up), else nothing.
func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request, op store.Operator, next string) {
	log := s.log.With("operator_id", op.ID, "username", op.Username)
	// Read from the database on every sign-in, once: a break-glass
	// deactivation from the shell, or one on another instance, takes
	// effect at once.
	pl, active, err := s.plugins.ActivePlugin(r.Context())
	if err != nil && !active {
		log.Error("sign-in refused: cannot read whether the Duo plugin is active", "error", err)
		s.renderRefused(w, r, http.StatusServiceUnavailable, msgFailClosed)
		return
	}
	if active {
		var res contract.BeginLoginResponse
		if err == nil {
			err = s.callOn(r, pl, func(ctx context.Context, p plugins.Plugin) (err error) {
				res, err = p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: pluginOperator(op), Client: clientInfo(r)})
				return err
			})
		}
		if err != nil {
			s.failClosed(w, r, op, "begin login", err)
			return
		}
		switch res.Decision {
		case contract.DecisionRedirect:
			if !validDuoURL(res.RedirectURL) || res.State == "" {
				log.Error("sign-in refused: the Duo plugin answered REDIRECT without a usable https URL and state")
				s.renderRefused(w, r, http.StatusBadGateway, msgFailClosed)
				return
			}
			if _, err := s.startSession(w, r, sessionSpec{kind: store.SessionPending, operator: op.ID, factor: store.FactorDuo, duoState: res.State, next: next}); err != nil {
				s.internalError(w, r, "start pending session", err)
				return
			}
			log.Info("password accepted; the Duo step is next")
			// The page before Duo: on to Duo, or a backup or bypass code.
			s.render(w, r, http.StatusOK, "duo_step", s.tr(r, "signin.two_factor"), "", duoStepData{RedirectURL: res.RedirectURL})
			return
		case contract.DecisionNotRequired:
			if res.Reason != "" {
				// Fail open, chosen by the admin: Duo is unreachable and the
				// plugin lets the sign-in go on; the built-in method, if any,
				// still applies.
				log.Warn("Duo skipped for this sign-in by the plugin's fail-open setting", "reason", string(res.Reason))
			}
		default:
			log.Info("sign-in refused by the Duo plugin", "decision", res.Decision.String(), "reason", string(res.Reason))
			if res.Reason == contract.LoginReasonLocked {
				// Locked: no code helps until someone unlocks them, and
				// the plugin's message says who.
				s.renderLocked(w, r, res.Text, res.Message)
				return
			}
			s.refuseOfferingCode(w, r, op, next, http.StatusForbidden, s.messageOr(r, s.pluginText(r, res.Text, res.Message), msgDuoRefused))
			return
		}
	}

	if op.HasTOTP() {
		if _, err := s.startSession(w, r, sessionSpec{kind: store.SessionPending, operator: op.ID, factor: store.FactorTOTP, next: next}); err != nil {
			s.internalError(w, r, "start pending session", err)
			return
		}
		redirect(w, r, "/login/totp")
		return
	}
	s.signIn(w, r, op, next)
}

// validDuoURL accepts only an absolute https URL: the browser is sent there
// with the pending session's cookie set.
func validDuoURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// messageOr is the plugin's message for the operator, or the message
// fallback (an id) when it gave none. The result is the text to show.
func (s *Server) messageOr(r *http.Request, msg, fallback string) string {
	if strings.TrimSpace(msg) == "" {
		return s.tr(r, fallback)
	}
	return msg
}

// signIn starts the authenticated session, under a new id.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, op store.Operator, next string) {
	s.signInSaying(w, r, op, next, "", "")
}

// signInSaying signs in and leaves a message for the first page.
func (s *Server) signInSaying(w http.ResponseWriter, r *http.Request, op store.Operator, next, kind, msg string) {
	if _, err := s.startSession(w, r, sessionSpec{kind: store.SessionAuthenticated, operator: op.ID}); err != nil {
		s.internalError(w, r, "start session", err)
		return
	}
	if msg != "" {
		s.flash(r, kind, msg)
	}
	s.log.Info("operator signed in", "operator_id", op.ID, "username", op.Username, "client_ip", clientIP(r))
	redirect(w, r, nextOrHome(next))
}

// loginCall is the one way the sign-in pages call the plugin, the twin of
// withActivePlugin: call runs under the plugin call budget, and any error
// (the process is not there, the call failed or timed out) refuses the
// sign-in (fail closed), logged with step. The caller has decided the
// plugin is involved. It reports whether call succeeded; when not, the
// answer is written.
func (s *Server) loginCall(w http.ResponseWriter, r *http.Request, op store.Operator, step string, call func(ctx context.Context, p plugins.Plugin) error) bool {
	if err := s.callPlugin(r, call); err != nil {
		s.failClosed(w, r, op, step, err)
		return false
	}
	return true
}

// failClosed refuses a sign-in because the plugin could not answer.
func (s *Server) failClosed(w http.ResponseWriter, r *http.Request, op store.Operator, step string, err error) {
	s.log.Warn("sign-in refused (fail closed): the Duo plugin is active but did not answer",
		"operator_id", op.ID, "username", op.Username, "step", step, "reason", string(contract.ReasonOf(err)),
		"unavailable", errors.Is(err, host.ErrUnavailable), "error", err.Error())
	s.renderRefused(w, r, http.StatusServiceUnavailable, msgFailClosed)
}

// renderRefused refuses a sign-in saying msgID (a message id).
func (s *Server) renderRefused(w http.ResponseWriter, r *http.Request, status int, msgID string) {
	s.render(w, r, status, "refused", s.tr(r, "signin.refused"), "", refusedData{Message: s.tr(r, msgID)})
}

// renderLocked refuses the sign-in of a locked operator with the plugin's
// message, which says who unlocks them; no code is offered, as none works
// until then.
func (s *Server) renderLocked(w http.ResponseWriter, r *http.Request, text contract.Text, msg string) {
	s.render(w, r, http.StatusForbidden, "refused", s.tr(r, "signin.refused"), "",
		refusedData{Message: s.messageOr(r, s.pluginText(r, text, msg), msgDuoRefused), Locked: true})
}

type refusedData struct {
	Message string
	// Locked: the operator is locked out by the plugin.
	Locked bool
	// OfferCode: the password was right, so a backup or bypass code may
	// stand in for Duo.
	OfferCode bool
}

// pendingOperator loads the operator of a sign-in half done, and ends it
// when they have failed too often: each second-factor try counts against
// the same limits as passwords. false: the answer is written.
func (s *Server) pendingOperator(w http.ResponseWriter, r *http.Request, ses *store.Session) (store.Operator, bool) {
	op, err := s.st.OperatorByID(r.Context(), ses.OperatorID)
	if err != nil {
		s.internalError(w, r, "load operator", err)
		return store.Operator{}, false
	}
	limited, err := s.rateLimited(r, op.Username)
	if err != nil {
		s.internalError(w, r, "check sign-in rate limit", err)
		return store.Operator{}, false
	}
	if limited {
		_ = s.st.DeleteSession(r.Context(), ses.IDHash)
		s.clearCookie(w)
		s.log.Warn("sign-in refused: too many failed attempts", "operator_id", op.ID, "client_ip", clientIP(r))
		s.renderTooMany(w, r)
		return store.Operator{}, false
	}
	return op, true
}

// pendingSession returns the request's pending session for factor.
func pendingSession(r *http.Request, factor string) *store.Session {
	ses := currentSession(r)
	if ses == nil || ses.Kind != store.SessionPending || ses.SecondFactor != factor || ses.OperatorID == 0 {
		return nil
	}
	return ses
}

func (s *Server) handleTOTPForm(w http.ResponseWriter, r *http.Request) {
	if pendingSession(r, store.FactorTOTP) == nil {
		redirect(w, r, "/login")
		return
	}
	s.renderCodeForm(w, r, http.StatusOK, totpForm, "")
}

func (s *Server) handleTOTP(w http.ResponseWriter, r *http.Request) {
	ses := pendingSession(r, store.FactorTOTP)
	if ses == nil {
		s.renderRefused(w, r, http.StatusBadRequest, msgExpired)
		return
	}
	op, ok := s.pendingOperator(w, r, ses)
	if !ok {
		return
	}
	step, ok := auth.VerifyTOTP(op.TOTPSecret.Reveal(), r.PostForm.Get("code"), s.cfg.Now(), op.TOTPLastStep)
	if ok && op.HasTOTP() {
		var err error
		ok, err = s.st.UseTOTPStep(r.Context(), op.ID, step)
		if err != nil {
			s.internalError(w, r, "record totp step", err)
			return
		}
	}
	if !ok || !op.HasTOTP() {
		s.recordFailure(r, op.Username)
		s.log.Info("sign-in failed: wrong TOTP code", "operator_id", op.ID, "client_ip", clientIP(r))
		s.renderCodeForm(w, r, http.StatusUnauthorized, totpForm, msgWrongCode)
		return
	}
	s.signIn(w, r, op, ses.NextPath)
}

// handleDuoCallback is where Duo sends the operator back. A query that is
// not Duo's (malformed, repeated, without state and code or an error) is
// refused before the pending session is looked at: it is not Duo speaking,
// and a link on another site could otherwise end the sign-in under way.
// Neither is Duo's error without the sign-in's own state: a link can carry
// ?error= as easily as a malformed query. Any other answer uses the
// pending session once, whatever the outcome; only an ALLOWED answer from
// the plugin signs the operator in.
func (s *Server) handleDuoCallback(w http.ResponseWriter, r *http.Request) {
	cb, err := parseDuoCallback(r.URL.RawQuery)
	if err != nil {
		// Only the parameter's name is logged, never a value.
		var ce *callbackError
		errors.As(err, &ce)
		s.log.Warn("duo callback refused: its query is malformed; the sign-in under way, if any, is kept",
			"problem", ce.Problem, "parameter", ce.Parameter, "client_ip", clientIP(r))
		s.renderRefused(w, r, http.StatusBadRequest, msgDuoRefused)
		return
	}
	ses := pendingSession(r, store.FactorDuo)
	if ses == nil {
		s.log.Info("duo callback without a pending Duo sign-in", "client_ip", clientIP(r))
		s.renderRefused(w, r, http.StatusBadRequest, msgExpired)
		return
	}
	if cb.Error != "" && subtle.ConstantTimeCompare([]byte(cb.State), []byte(ses.DuoState.Reveal())) != 1 {
		s.log.Warn("duo callback refused: an error without this sign-in's state; the sign-in under way is kept",
			"operator_id", ses.OperatorID, "client_ip", clientIP(r))
		s.renderRefused(w, r, http.StatusBadRequest, msgDuoRefused)
		return
	}
	taken, err := s.st.TakeSession(r.Context(), ses.IDHash)
	if err != nil {
		s.internalError(w, r, "use pending session", err)
		return
	}
	// The cookie now names nothing; a successful sign-in replaces it.
	stateOf(r).ses = nil
	if !taken {
		s.renderRefused(w, r, http.StatusBadRequest, msgExpired)
		return
	}
	op, err := s.st.OperatorByID(r.Context(), ses.OperatorID)
	if err != nil {
		s.internalError(w, r, "load operator", err)
		return
	}
	log := s.log.With("operator_id", op.ID, "username", op.Username)

	if e := cb.Error; e != "" {
		// Only the short error code is logged; the description is Duo's
		// text and stays out of the log.
		if len(e) > 64 {
			e = e[:64]
		}
		log.Info("sign-in refused: Duo returned an error", "duo_error", e)
		s.refuseOfferingCode(w, r, op, ses.NextPath, http.StatusForbidden, msgDuoRefused)
		return
	}

	var res contract.CompleteLoginResponse
	if !s.loginCall(w, r, op, "complete login", func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.CompleteLogin(ctx, contract.CompleteLoginRequest{
			Operator:      pluginOperator(op),
			SessionState:  ses.DuoState.Reveal(),
			CallbackState: cb.State,
			DuoCode:       cb.DuoCode,
			Client:        clientInfo(r),
		})
		return err
	}) {
		return
	}
	s.endSecondFactor(w, r, op, ses.NextPath, "Duo", res)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if ses := currentSession(r); ses != nil {
		if err := s.st.DeleteSession(r.Context(), ses.IDHash); err != nil {
			s.internalError(w, r, "delete session", err)
			return
		}
		if op := currentOperator(r); op != nil {
			s.log.Info("operator signed out", "operator_id", op.ID, "username", op.Username)
		}
	}
	s.clearCookie(w)
	redirect(w, r, "/login")
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Error(what, "path", r.URL.Path, "error", err)
	s.renderError(w, r, http.StatusInternalServerError, "error.internal", "error.internal_text")
}
