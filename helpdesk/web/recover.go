package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The recovery link an admin sent: with the operator's password it signs
// them in once and resets their second factor. A used, expired or foreign
// link says so and changes nothing.

type recoverData struct {
	Token    string
	Username string
	Error    string // a message id until renderRecover
	// SignedInAs names the operator already signed in in this browser: the
	// link is not used (that would end their session without a word).
	SignedInAs string
}

// Message ids.
const (
	msgLinkUsed    = "recover.link_used"
	msgLinkExpired = "recover.link_expired"
	msgLinkUnknown = "recover.link_unknown"
)

func (s *Server) handleRecoverForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > 256 {
		s.renderRefused(w, r, http.StatusBadRequest, msgLinkUnknown)
		return
	}
	if op := currentOperator(r); op != nil {
		s.renderRecover(w, r, http.StatusConflict, recoverData{SignedInAs: op.Username})
		return
	}
	if !s.ensureAnonymousSession(w, r) {
		return
	}
	s.renderRecover(w, r, http.StatusOK, recoverData{Token: token})
}

func (s *Server) renderRecover(w http.ResponseWriter, r *http.Request, status int, d recoverData) {
	w.Header().Set("Content-Security-Policy", loginCSP)
	if d.Error != "" {
		d.Error = s.tr(r, d.Error)
	}
	s.render(w, r, status, "recover", s.tr(r, "recover.title"), "", d)
}

func (s *Server) handleRecover(w http.ResponseWriter, r *http.Request) {
	token := r.PostForm.Get("token")
	username := strings.TrimSpace(r.PostForm.Get("username"))
	if token == "" || len(token) > 256 {
		s.renderRefused(w, r, http.StatusBadRequest, msgLinkUnknown)
		return
	}
	if op := currentOperator(r); op != nil {
		s.renderRecover(w, r, http.StatusConflict, recoverData{SignedInAs: op.Username})
		return
	}
	op, checked, err := s.checkCredentials(r, "recovery link", username, r.PostForm.Get("password"))
	wrong := recoverData{Token: token, Username: username, Error: msgWrongCredentials}
	switch {
	case err != nil:
		s.internalError(w, r, "check credentials", err)
		return
	case checked == credentialsMalformed:
		wrong.Username = ""
		s.renderRecover(w, r, http.StatusBadRequest, wrong)
		return
	case checked == credentialsLimited:
		s.renderTooMany(w, r)
		return
	case checked == credentialsWrong:
		s.renderRecover(w, r, http.StatusUnauthorized, wrong)
		return
	}
	var res contract.CompleteLoginResponse
	if !s.loginCall(w, r, op, "redeem recovery link", func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: pluginOperator(op), Token: token, Client: clientInfo(r)})
		return err
	}) {
		return
	}
	if res.Decision != contract.DecisionAllowed {
		s.recordFailure(r, username)
		s.log.Info("recovery link refused", "operator_id", op.ID, "reason", string(res.Reason))
		msg := msgLinkUnknown
		switch res.Reason {
		case contract.LoginReasonLinkUsed:
			msg = msgLinkUsed
		case contract.LoginReasonLinkExpired:
			msg = msgLinkExpired
		}
		s.renderRefused(w, r, http.StatusForbidden, msg)
		return
	}
	s.log.Warn("operator signed in with a recovery link; their second factor was reset", "operator_id", op.ID)
	s.signInSaying(w, r, op, accountPath, flashWarning,
		s.tr(r, "recover.signed_in_flash"))
}
