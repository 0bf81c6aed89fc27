package duosim

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"time"
)

const maxBodyBytes = 64 << 10

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pathHealthCheck, s.handleHealthCheck)
	mux.HandleFunc(pathAuthorize, s.handleAuthorize)
	mux.HandleFunc(pathPrompt, s.handlePrompt)
	mux.HandleFunc(pathToken, s.handleToken)
	mux.HandleFunc("/", s.handleNotFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		mux.ServeHTTP(w, r)
	})
}

// parseForm fills r.Form from the query and from a urlencoded or
// multipart body: Go posts a form, Python puts the fields in the query of
// a body-less POST, PHP posts multipart.
func parseForm(r *http.Request) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		return r.ParseMultipartForm(maxBodyBytes)
	}
	return r.ParseForm()
}

// failBody is Duo's API error envelope.
type failBody struct {
	Stat          string `json:"stat"`
	Code          int    `json:"code"`
	Message       string `json:"message"`
	MessageDetail string `json:"message_detail,omitempty"`
	Timestamp     int64  `json:"timestamp"`
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode response", "error", err)
		status, b = http.StatusInternalServerError, []byte(`{"stat":"FAIL","code":50000,"message":"internal_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) writeFail(w http.ResponseWriter, status, code int, message, detail string) {
	s.writeJSON(w, status, failBody{Stat: "FAIL", Code: code, Message: message, MessageDetail: detail, Timestamp: s.now().Unix()})
}

func (s *Server) writeInvalidClient(w http.ResponseWriter) {
	s.writeFail(w, http.StatusBadRequest, 40002, "invalid_client", "The provided client_assertion was invalid.")
}

func (s *Server) writeUnavailableFail(w http.ResponseWriter) {
	s.writeFail(w, http.StatusServiceUnavailable, 50301, "service_unavailable", "The service is temporarily unavailable. Please try again later.")
}

// oauthError is the token endpoint's RFC 6749 error body.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

const invalidGrantDescription = "The provided authorization grant or refresh token is invalid, expired, revoked, " +
	"does not match the redirection URI used in the authorization request, or was issued to another client."

func (s *Server) writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	s.writeJSON(w, status, oauthError{Error: code, ErrorDescription: description})
}

// refuse counts a failure and logs it. err must not carry secrets, codes,
// states, JWTs or query strings; the errors built in this package don't.
func (s *Server) refuse(endpoint string, reason FailureReason, clientID string, err error) {
	s.stats.fail(reason)
	attrs := []any{slog.String("endpoint", endpoint), slog.String("reason", string(reason))}
	if clientID != "" {
		attrs = append(attrs, slog.String("client_id", clientID))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.Info("request refused", attrs...)
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, endpoint string, allow string) {
	s.refuse(endpoint, FailureMethodNotAllowed, "", nil)
	w.Header().Set("Allow", allow)
	s.writeFail(w, http.StatusMethodNotAllowed, 40501, "Method not allowed", "")
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.refuse("unknown", FailureNotFound, "", nil)
	s.writeFail(w, http.StatusNotFound, 40401, "Resource not found", "")
}

// handleHealthCheck serves POST /oauth/v1/health_check.
func (s *Server) handleHealthCheck(w http.ResponseWriter, r *http.Request) {
	const endpoint = "health_check"
	s.stats.healthChecks.Add(1)
	if r.Method != http.MethodPost {
		s.methodNotAllowed(w, endpoint, http.MethodPost)
		return
	}
	s.holdIfUnresponsive(r, endpoint)
	if !s.healthy.Load() {
		s.refuse(endpoint, FailureUnhealthy, "", nil)
		s.writeUnavailableFail(w)
		return
	}
	if err := parseForm(r); err != nil {
		s.refuse(endpoint, FailureInvalidRequest, "", errors.New("unreadable form"))
		s.writeInvalidClient(w)
		return
	}
	app, reason, err := s.verifyAssertion(r.Form, "https://"+r.Host+pathHealthCheck)
	if err != nil {
		s.refuse(endpoint, reason, app.ClientID, err)
		s.writeInvalidClient(w)
		return
	}
	s.log.Info("health check ok", slog.String("client_id", app.ClientID))
	s.writeJSON(w, http.StatusOK, map[string]any{"stat": "OK", "response": map[string]int64{"timestamp": s.now().Unix()}})
}

// handleAuthorize serves GET (and POST) /oauth/v1/authorize: the browser
// leg. It never redirects unless the request JWT verified.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	const endpoint = "authorize"
	s.stats.authorizes.Add(1)
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		s.refuse(endpoint, FailureMethodNotAllowed, "", nil)
		w.Header().Set("Allow", "GET, POST")
		s.renderRefusal(w, &refusal{status: http.StatusMethodNotAllowed, heading: "Invalid request", message: "Method not allowed."})
		return
	}
	if !s.healthy.Load() {
		s.refuse(endpoint, FailureUnhealthy, "", nil)
		s.renderUnavailable(w)
		return
	}
	if err := parseForm(r); err != nil {
		ref := &refusal{status: http.StatusBadRequest, reason: FailureInvalidRequest, heading: "Invalid request",
			message: "invalid_request: the request could not be read", err: errors.New("unreadable form")}
		s.refuse(endpoint, ref.reason, "", ref.err)
		s.renderRefusal(w, ref)
		return
	}
	ar, ref := s.parseAuthorizeRequest(r.Form, r.Host)
	if ref != nil {
		s.refuse(endpoint, ref.reason, ref.app.ClientID, ref.err)
		s.renderRefusal(w, ref)
		return
	}
	dev := deviceFrom(r.RemoteAddr, r.UserAgent())
	outcome := s.outcomeFor(ar.username)
	switch outcome {
	case OutcomeUnavailable:
		s.refuse(endpoint, FailureUnavailable, ar.app.ClientID, nil)
		s.renderUnavailable(w)
	case OutcomeInteractive:
		txid, err := randomToken(32)
		if err != nil {
			s.internalPage(w, endpoint, err)
			return
		}
		now := s.now()
		s.pendingMu.Lock()
		evicted := s.pending.put(now.UnixNano(), txid, pendingAuth{req: *ar, device: dev}, now.Add(pendingTTL).UnixNano())
		s.pendingMu.Unlock()
		s.stats.evictions.Add(int64(evicted))
		page := "prompt"
		if !s.Enrolled(ar.username) {
			page = "enroll"
		}
		s.log.Info("prompt shown", slog.String("client_id", ar.app.ClientID), slog.String("page", page))
		s.renderPage(w, http.StatusOK, pageData{Page: page, Username: ar.username, TxID: txid}, ar.redirectURI)
	default:
		s.redirectWithCode(w, endpoint, ar, dev, outcome)
	}
}

// handlePrompt serves the form posts of the interactive pages.
func (s *Server) handlePrompt(w http.ResponseWriter, r *http.Request) {
	const endpoint = "prompt"
	s.stats.promptActions.Add(1)
	if r.Method != http.MethodPost {
		s.refuse(endpoint, FailureMethodNotAllowed, "", nil)
		w.Header().Set("Allow", http.MethodPost)
		s.renderRefusal(w, &refusal{status: http.StatusMethodNotAllowed, heading: "Invalid request", message: "Method not allowed."})
		return
	}
	if !s.healthy.Load() {
		s.refuse(endpoint, FailureUnhealthy, "", nil)
		s.renderUnavailable(w)
		return
	}
	expired := &refusal{status: http.StatusBadRequest, reason: FailureUnknownTransaction, heading: "Session expired",
		message: "This login request is unknown or has expired. Return to the application and try again."}
	if err := parseForm(r); err != nil {
		s.refuse(endpoint, FailureInvalidRequest, "", errors.New("unreadable form"))
		s.renderRefusal(w, &refusal{status: http.StatusBadRequest, heading: "Invalid request", message: "invalid_request: the request could not be read"})
		return
	}
	txid := r.PostForm.Get("txid")
	action := r.PostForm.Get("action")
	now := s.now()
	s.pendingMu.Lock()
	p, ok := s.pending.get(now.UnixNano(), txid)
	s.pendingMu.Unlock()
	if !ok {
		s.refuse(endpoint, expired.reason, "", errors.New("unknown or expired transaction"))
		s.renderRefusal(w, expired)
		return
	}
	switch action {
	case "enroll":
		s.Enroll(p.req.username)
		s.log.Info("device enrolled", slog.String("client_id", p.req.app.ClientID))
		s.renderPage(w, http.StatusOK, pageData{Page: "prompt", Username: p.req.username, TxID: txid}, p.req.redirectURI)
	case "approve", "deny":
		if !s.Enrolled(p.req.username) {
			s.renderPage(w, http.StatusOK, pageData{Page: "enroll", Username: p.req.username, TxID: txid}, p.req.redirectURI)
			return
		}
		// take, not get: a double submit must not mint two codes.
		s.pendingMu.Lock()
		p, found := s.pending.take(s.now().UnixNano(), txid)
		s.pendingMu.Unlock()
		if found != lookupFound {
			s.refuse(endpoint, expired.reason, "", errors.New("transaction already answered"))
			s.renderRefusal(w, expired)
			return
		}
		if action == "deny" {
			s.stats.denials.Add(1)
			s.log.Info("prompt denied", slog.String("client_id", p.req.app.ClientID))
			s.renderPage(w, http.StatusOK, pageData{Page: "denied"}, "")
			return
		}
		s.redirectWithCode(w, endpoint, &p.req, p.device, OutcomeAllow)
	default:
		s.refuse(endpoint, FailureInvalidRequest, p.req.app.ClientID, errors.New("unknown action"))
		s.renderRefusal(w, &refusal{status: http.StatusBadRequest, heading: "Invalid request", message: "invalid_request: unknown action"})
	}
}

// redirectWithCode issues a code for ar with the decided outcome and sends
// the browser back to redirect_uri, keeping any query it already has.
func (s *Server) redirectWithCode(w http.ResponseWriter, endpoint string, ar *authRequest, dev device, outcome Outcome) {
	code, err := randomToken(32)
	if err != nil {
		s.internalPage(w, endpoint, err)
		return
	}
	u, err := url.Parse(ar.redirectURI)
	if err != nil { // checked at authorize; unreachable
		s.internalPage(w, endpoint, errors.New("redirect_uri no longer parses"))
		return
	}
	now := s.now()
	g := grant{
		clientID:    ar.app.ClientID,
		redirectURI: ar.redirectURI,
		username:    ar.username,
		nonce:       ar.nonce,
		outcome:     outcome,
		authTime:    now,
		device:      dev,
	}
	s.codeMu.Lock()
	evicted := s.codes.put(now.UnixNano(), code, g, now.Add(s.cfg.CodeTTL).UnixNano())
	s.codeMu.Unlock()
	s.stats.evictions.Add(int64(evicted))
	s.stats.codesIssued.Add(1)

	q := u.Query()
	if ar.useDuoCode {
		q.Set("duo_code", code)
	} else {
		q.Set("code", code)
	}
	q.Set("state", ar.state)
	u.RawQuery = q.Encode()
	s.log.Info("redirecting with code", slog.String("client_id", ar.app.ClientID), slog.String("outcome", string(outcome)))
	// No body: http.Redirect's would repeat the code in HTML.
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusFound)
}

func (s *Server) renderUnavailable(w http.ResponseWriter) {
	s.renderPage(w, http.StatusServiceUnavailable, pageData{Page: "error", Heading: "Duo is unavailable",
		Message: "Duo is temporarily unavailable. Please try again later."}, "")
}

func (s *Server) internalPage(w http.ResponseWriter, endpoint string, err error) {
	s.stats.fail(FailureInternal)
	s.log.Error("internal error", slog.String("endpoint", endpoint), slog.String("error", err.Error()))
	s.renderPage(w, http.StatusInternalServerError, pageData{Page: "error", Heading: "Error", Message: "Internal error."}, "")
}

// handleToken serves POST /oauth/v1/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	const endpoint = "token"
	s.stats.tokenExchanges.Add(1)
	if r.Method != http.MethodPost {
		s.methodNotAllowed(w, endpoint, http.MethodPost)
		return
	}
	s.holdIfUnresponsive(r, endpoint)
	if !s.healthy.Load() {
		s.refuse(endpoint, FailureUnhealthy, "", nil)
		s.writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The service is temporarily unavailable.")
		return
	}
	if err := parseForm(r); err != nil {
		s.refuse(endpoint, FailureInvalidRequest, "", errors.New("unreadable form"))
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request could not be read.")
		return
	}
	var errs []error
	get := func(key string) string {
		v, err := single(r.Form, key)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	grantType, assertionType := get("grant_type"), get("client_assertion_type")
	code, redirectURI := get("code"), get("redirect_uri")
	if err := errors.Join(errs...); err != nil {
		s.refuse(endpoint, FailureInvalidRequest, "", err)
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_request", "A parameter was given more than once.")
		return
	}
	if grantType != "authorization_code" {
		s.refuse(endpoint, FailureUnsupportedGrantType, "", nil)
		s.writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported.")
		return
	}
	if assertionType != clientAssertionType {
		s.refuse(endpoint, FailureInvalidClient, "", errors.New("client_assertion_type: unsupported"))
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_client", "The provided client_assertion was invalid.")
		return
	}
	app, reason, err := s.verifyAssertion(r.Form, "https://"+r.Host+pathToken)
	if err != nil {
		s.refuse(endpoint, reason, app.ClientID, err)
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_client", "The provided client_assertion was invalid.")
		return
	}
	if code == "" || redirectURI == "" {
		s.refuse(endpoint, FailureInvalidRequest, app.ClientID, errors.New("code or redirect_uri missing"))
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The code and redirect_uri parameters are required.")
		return
	}

	// A code is consumed by its first presentation from an authenticated
	// client, whatever happens next: a code that may have leaked is dead.
	now := s.now()
	s.codeMu.Lock()
	g, found := s.codes.take(now.UnixNano(), code)
	s.codeMu.Unlock()
	var grantErr error
	switch {
	case found == lookupMissing:
		grantErr = errors.New("code unknown or already used")
	case found == lookupExpired:
		grantErr = errors.New("code expired")
	case g.clientID != app.ClientID:
		grantErr = errors.New("code issued to another client")
	case g.redirectURI != redirectURI:
		grantErr = errors.New("redirect_uri does not match the authorize request")
	}
	if grantErr != nil {
		s.refuse(endpoint, FailureInvalidGrant, app.ClientID, grantErr)
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_grant", invalidGrantDescription)
		return
	}

	current := s.outcomeFor(g.username)
	if current == OutcomeUnavailable {
		s.refuse(endpoint, FailureUnavailable, app.ClientID, nil)
		s.writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The service is temporarily unavailable.")
		return
	}
	if g.outcome == OutcomeSlow || current == OutcomeSlow {
		if !s.stall(r) {
			s.writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The service is temporarily unavailable.")
			return
		}
	}
	token, err := s.idToken(app, g, "https://"+r.Host+pathToken, s.now())
	if err != nil {
		s.stats.fail(FailureInternal)
		s.log.Error("mint id_token", slog.String("client_id", app.ClientID), slog.String("error", err.Error()))
		s.writeOAuthError(w, http.StatusInternalServerError, "server_error", "Internal error.")
		return
	}
	access, err := randomToken(40)
	if err != nil {
		s.stats.fail(FailureInternal)
		s.writeOAuthError(w, http.StatusInternalServerError, "server_error", "Internal error.")
		return
	}
	s.stats.tokensIssued.Add(1)
	s.log.Info("token issued", slog.String("client_id", app.ClientID), slog.String("outcome", string(g.outcome)))
	s.writeJSON(w, http.StatusOK, map[string]any{
		"id_token":     token,
		"access_token": access,
		"expires_in":   int(idTokenLifetime / time.Second),
		"token_type":   "Bearer",
	})
}

// stall waits Config.SlowDelay for OutcomeSlow. It reports whether to go
// on and answer (if not, the caller answers 503, which nobody may read);
// it gives up early when the client goes away or the
// server closes.
func (s *Server) stall(r *http.Request) bool {
	t := time.NewTimer(s.cfg.SlowDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		s.log.Info("slow token request abandoned by client")
		return false
	case <-s.closing:
		s.log.Info("slow token request cut short by shutdown")
		return false
	}
}
