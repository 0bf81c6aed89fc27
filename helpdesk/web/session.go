package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/auth"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

// Cookie names. With TLS the __Host- prefix makes the browser insist on
// Secure, Path=/ and no Domain.
const (
	cookieName       = "helpdesk_session"
	secureCookieName = "__Host-helpdesk_session"
	// CSRFField is the hidden form field that carries the CSRF token.
	CSRFField = "csrf_token"
)

// CookieName is the session cookie's name for a helpdesk served over TLS
// (secure) or not.
func CookieName(secure bool) string {
	if secure {
		return secureCookieName
	}
	return cookieName
}

type ctxKey struct{}

// reqState is what the middleware learned about a request.
type reqState struct {
	ses *store.Session
	op  *store.Operator // set for authenticated sessions only
}

func stateOf(r *http.Request) *reqState {
	if st, ok := r.Context().Value(ctxKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

func currentSession(r *http.Request) *store.Session { return stateOf(r).ses }

func currentOperator(r *http.Request) *store.Operator { return stateOf(r).op }

// loadSession reads the session named by the cookie, if it is valid, and
// the operator of an authenticated one.
func (s *Server) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{}
		if c, err := r.Cookie(CookieName(s.secure)); err == nil && c.Value != "" && len(c.Value) <= 128 {
			now := s.cfg.Now()
			ses, err := s.st.SessionByHash(r.Context(), auth.HashToken(c.Value), now)
			switch {
			case err == nil:
				st.ses = &ses
				if ses.Kind == store.SessionAuthenticated {
					op, err := s.st.OperatorByID(r.Context(), ses.OperatorID)
					if err == nil {
						st.op = &op
						s.touch(r.Context(), &ses, now)
					} else {
						st.ses = nil
					}
				}
			case errors.Is(err, store.ErrNotFound):
			default:
				s.log.Error("load session", "error", err)
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, st)))
	})
}

// touch extends an authenticated session's idle expiry, at most once a
// minute, never past SessionMax after it began.
func (s *Server) touch(ctx context.Context, ses *store.Session, now time.Time) {
	if now.Sub(ses.LastSeenAt) < time.Minute {
		return
	}
	exp := now.Add(s.cfg.SessionIdle)
	if limit := ses.CreatedAt.Add(s.cfg.SessionMax); exp.After(limit) {
		exp = limit
	}
	if err := s.st.TouchSession(ctx, ses.IDHash, now, exp); err != nil {
		s.log.Warn("touch session", "error", err)
	}
}

// csrf refuses every state-changing request that does not carry the
// session's CSRF token. A request without a session is refused too: every
// form is served with one.
func (s *Server) csrf(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		ses := currentSession(r)
		token := ""
		if err := r.ParseForm(); err == nil {
			token = r.PostForm.Get(CSRFField)
		}
		if ses == nil || !auth.TokensEqual(ses.CSRFToken.Reveal(), token) {
			s.log.Info("request refused: missing or wrong CSRF token", "path", r.URL.Path, "has_session", ses != nil, "client_ip", clientIP(r))
			s.renderError(w, r, http.StatusForbidden, "error.csrf", "error.csrf_text")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if currentOperator(r) == nil {
			if r.Method == http.MethodGet {
				target := "/login"
				if next := auth.SafeNext(r.URL.RequestURI()); next != "" && next != "/" {
					target += "?next=" + urlQueryEscape(next)
				}
				http.Redirect(w, r, target, http.StatusSeeOther)
				return
			}
			s.renderError(w, r, http.StatusUnauthorized, "error.sign_in", "error.sign_in_text")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// role is who may open a set of pages, and what everyone else reads
// (message ids).
type role struct {
	allows           func(store.Operator) bool
	heading, message string
}

var (
	// adminRole: the plugin's lifecycle and settings, aliases, recovery
	// links, the outbox.
	adminRole = role{store.Operator.IsAdmin, "error.admins_only", "error.admins_only_text"}
	// staffRole (admins and the help desk): the operators' second factors.
	// The plugin checks each call's role again.
	staffRole = role{store.Operator.IsStaff, "error.staff_only", "error.staff_only_text"}
)

// requireRole lets only the signed-in operators of want through.
func (s *Server) requireRole(want role, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op := currentOperator(r); op == nil || !want.allows(*op) {
			s.renderError(w, r, http.StatusForbidden, want.heading, want.message)
			return
		}
		next(w, r)
	})
}

// sessionSpec describes a session to start.
type sessionSpec struct {
	kind         string
	operator     int64
	factor       string
	duoState     string
	next         string
	backupTicket string // while first backup codes are confirmed
}

// startSession replaces the request's session (if any) with a new one,
// under a new random id, and sets the cookie. Every step of signing in
// goes through here, so that an id seen before a step is worthless after
// it (no session fixation).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, spec sessionSpec) (*store.Session, error) {
	ctx := r.Context()
	if old := currentSession(r); old != nil {
		if err := s.st.DeleteSession(ctx, old.IDHash); err != nil {
			return nil, err
		}
	}
	id, err := auth.NewToken()
	if err != nil {
		return nil, err
	}
	csrf, err := auth.NewToken()
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var exp time.Time
	switch spec.kind {
	case store.SessionAnonymous:
		exp = now.Add(s.cfg.AnonymousTTL)
	case store.SessionPending:
		exp = now.Add(s.cfg.PendingTTL)
	default:
		exp = now.Add(min(s.cfg.SessionIdle, s.cfg.SessionMax))
	}
	ses := store.Session{
		IDHash:       auth.HashToken(id),
		Kind:         spec.kind,
		OperatorID:   spec.operator,
		SecondFactor: spec.factor,
		DuoState:     secret.Value(spec.duoState),
		BackupTicket: secret.Value(spec.backupTicket),
		NextPath:     spec.next,
		CSRFToken:    secret.Value(csrf),
		CreatedAt:    now,
		LastSeenAt:   now,
		ExpiresAt:    exp,
	}
	if err := s.st.CreateSession(ctx, ses); err != nil {
		return nil, err
	}
	s.setCookie(w, id)
	// Later code in this request sees the new session.
	st := stateOf(r)
	st.ses = &ses
	st.op = nil
	return &ses, nil
}

func (s *Server) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName(s.secure),
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		Secure:   s.secure,
		// Lax, not Strict: Duo's redirect back to the callback is a
		// cross-site top-level GET, which must carry the pending session.
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName(s.secure),
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// flash stores a message for the session's next page.
func (s *Server) flash(r *http.Request, kind, msg string) {
	ses := currentSession(r)
	if ses == nil {
		return
	}
	if err := s.st.SetFlash(r.Context(), ses.IDHash, kind, msg); err != nil {
		s.log.Warn("set flash", "error", err)
	}
}

// Flash kinds.
const (
	flashSuccess = "success"
	flashError   = "error"
	flashWarning = "warning"
)
