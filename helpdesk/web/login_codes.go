package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The second factor without Duo: a backup or bypass code, offered on the
// Duo step and on every refusal after a correct password; and the first
// backup codes, shown once when Duo is first set up and confirmed before
// the sign-in completes.

// Message ids.
const (
	msgCodeRefused    = "codes.refused"
	msgCodeMissing    = "codes.missing"
	msgMustConfirm    = "codes.must_confirm"
	msgCodesExpired   = "codes.expired"
	msgCodesShownOnce = "codes.shown_once"
)

type duoStepData struct {
	RedirectURL string
}

// codeForm is a sign-in page that asks for a code: from the authenticator
// app (the built-in method) or a backup or bypass code (instead of Duo).
// Heading, Intro, Label and Button are message ids; Error is text.
type codeForm struct {
	Heading, Intro, Label string
	Action                string // where the form posts
	ErrorID               string
	Button, ButtonID      string
	Digits                bool // digits only (a numeric keyboard, at most 8)
	Error                 string
}

var (
	totpForm = codeForm{Heading: "signin.two_factor", Intro: "signin.totp_intro", Label: "signin.totp_label",
		Action: "/login/totp", ErrorID: "totp-error", Button: "signin.verify", ButtonID: "verify", Digits: true}
	backupCodeForm = codeForm{Heading: "codes.use_title", Label: "codes.use_label",
		Intro:  "codes.use_intro",
		Action: "/login/code", ErrorID: "code-error", Button: "signin.submit", ButtonID: "verify-code"}
)

// renderCodeForm shows f, with the message errID ("" for none).
func (s *Server) renderCodeForm(w http.ResponseWriter, r *http.Request, status int, f codeForm, errID string) {
	if errID != "" {
		f.Error = s.tr(r, errID)
	}
	s.render(w, r, status, "login_code", s.tr(r, f.Heading), "", f)
}

type backupCodesData struct {
	Codes []string
	// Download is a data: URL of the codes as a text file. html/template
	// refuses data: URLs it did not make; this one is built here from
	// escaped text, so it is marked safe.
	Download template.URL
	Error    string
	Regen    bool // shown after regenerating, on the account page
}

// refuseOfferingCode refuses the sign-in after a correct password, and
// keeps a pending session so that the operator may use a code instead.
// msg is the text to show.
func (s *Server) refuseOfferingCode(w http.ResponseWriter, r *http.Request, op store.Operator, next string, status int, msg string) {
	if _, err := s.startSession(w, r, sessionSpec{kind: store.SessionPending, operator: op.ID, factor: store.FactorCode, next: next}); err != nil {
		s.internalError(w, r, "start pending session", err)
		return
	}
	s.render(w, r, status, "refused", s.tr(r, "signin.refused"), "", refusedData{Message: msg, OfferCode: true})
}

// codeSession is the pending session a code may finish: the Duo step or a
// refusal after a correct password.
func codeSession(r *http.Request) *store.Session {
	if ses := pendingSession(r, store.FactorDuo); ses != nil {
		return ses
	}
	return pendingSession(r, store.FactorCode)
}

func (s *Server) handleCodeForm(w http.ResponseWriter, r *http.Request) {
	if codeSession(r) == nil {
		redirect(w, r, "/login")
		return
	}
	s.renderCodeForm(w, r, http.StatusOK, backupCodeForm, "")
}

// handleCode signs in with a backup or bypass code, counted against the
// same failed sign-in limits as passwords.
func (s *Server) handleCode(w http.ResponseWriter, r *http.Request) {
	ses := codeSession(r)
	if ses == nil {
		s.renderRefused(w, r, http.StatusBadRequest, msgExpired)
		return
	}
	op, ok := s.pendingOperator(w, r, ses)
	if !ok {
		return
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" || len(code) > 64 {
		s.renderCodeForm(w, r, http.StatusUnprocessableEntity, backupCodeForm, msgCodeMissing)
		return
	}
	var res contract.CompleteLoginResponse
	if !s.loginCall(w, r, op, "redeem code", func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: pluginOperator(op), Code: code, Client: clientInfo(r)})
		return err
	}) {
		return
	}
	if res.Decision == contract.DecisionDenied {
		s.recordFailure(r, op.Username)
		s.log.Info("sign-in with a code refused", "operator_id", op.ID, "reason", string(res.Reason))
		if res.Reason == contract.LoginReasonLocked {
			// That was one wrong code too many (or the operator was
			// already locked): this sign-in is over.
			if err := s.st.DeleteSession(r.Context(), ses.IDHash); err != nil {
				s.log.Warn("end pending session", "error", err)
			}
			stateOf(r).ses = nil
			s.clearCookie(w)
			s.renderLocked(w, r, res.Text, res.Message)
			return
		}
		s.renderCodeForm(w, r, http.StatusUnauthorized, backupCodeForm, msgCodeRefused)
		return
	}
	// The code worked: this pending session is spent.
	if taken, err := s.st.TakeSession(r.Context(), ses.IDHash); err != nil || !taken {
		s.renderRefused(w, r, http.StatusBadRequest, msgExpired)
		return
	}
	stateOf(r).ses = nil
	s.endSecondFactor(w, r, op, ses.NextPath, "a code", res)
}

// endSecondFactor finishes a sign-in the plugin answered: signed in when
// allowed, the first backup codes to confirm when Duo was just set up,
// refused (with a code offered) otherwise.
func (s *Server) endSecondFactor(w http.ResponseWriter, r *http.Request, op store.Operator, next, how string, res contract.CompleteLoginResponse) {
	log := s.log.With("operator_id", op.ID, "username", op.Username)
	switch res.Decision {
	case contract.DecisionAllowed:
		log.Info("second factor accepted", "by", how)
		s.signIn(w, r, op, next)
	case contract.DecisionConfirmBackupCodes:
		if _, err := s.startSession(w, r, sessionSpec{kind: store.SessionPending, operator: op.ID, factor: store.FactorBackupCodes, next: next,
			backupTicket: res.BackupCodesTicket}); err != nil {
			s.internalError(w, r, "start pending session", err)
			return
		}
		log.Info("second factor accepted; first backup codes shown for confirmation", "by", how)
		s.renderBackupCodes(w, r, http.StatusOK, res.BackupCodes, "")
	default:
		log.Info("sign-in refused by the Duo plugin", "decision", res.Decision.String(), "reason", string(res.Reason), "by", how)
		if res.Reason == contract.LoginReasonLocked {
			s.renderLocked(w, r, res.Text, res.Message)
			return
		}
		// Duo's own lockout (duo_locked_out) shows the plugin's message
		// too, which says it is Duo's; a code may still stand in for Duo.
		s.refuseOfferingCode(w, r, op, next, http.StatusForbidden, s.messageOr(r, s.pluginText(r, res.Text, res.Message), msgDuoRefused))
	}
}

// renderBackupCodes shows the first backup codes, with the message errID
// ("" for none).
func (s *Server) renderBackupCodes(w http.ResponseWriter, r *http.Request, status int, codes []string, errID string) {
	d := backupCodesData{Codes: codes, Download: codesDownload(codes)}
	if errID != "" {
		d.Error = s.tr(r, errID)
	}
	s.render(w, r, status, "backup_codes", s.tr(r, "codes.save_title"), "", d)
}

// codesDownload is a data: URL of the codes as a text file: the page
// offers it as a download without a script and without the codes ever
// being served again.
func codesDownload(codes []string) template.URL {
	text := "Backup codes for the reference helpdesk. Each works once.\n\n" + strings.Join(codes, "\n") + "\n"
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text)) //nolint:gosec // escaped text of our own
}

// shownCode is the shape of a backup code as the plugin shows it.
var shownCode = regexp.MustCompile(`^[0-9a-z]{5}-[0-9a-z]{5}$`)

// codesFromForm are the codes the confirmation form carried back: the
// helpdesk never stores them, so the page brings them along to show them
// again beside its error. Anything not of their shape is dropped.
func codesFromForm(r *http.Request) []string {
	var out []string
	for _, c := range r.PostForm["code"] {
		if shownCode.MatchString(c) && len(out) < 50 {
			out = append(out, c)
		}
	}
	return out
}

// handleBackupCodesForm answers a reload of the page: the codes cannot be
// shown again, so this sign-in ends and the next one brings a new set.
func (s *Server) handleBackupCodesForm(w http.ResponseWriter, r *http.Request) {
	ses := pendingSession(r, store.FactorBackupCodes)
	if ses == nil {
		redirect(w, r, "/login")
		return
	}
	s.endUnshownCodes(w, r, ses)
}

// endUnshownCodes ends a sign-in whose backup codes the operator can no
// longer see: confirming them would issue codes nobody has.
func (s *Server) endUnshownCodes(w http.ResponseWriter, r *http.Request, ses *store.Session) {
	if err := s.st.DeleteSession(r.Context(), ses.IDHash); err != nil {
		s.internalError(w, r, "end pending session", err)
		return
	}
	stateOf(r).ses = nil
	s.clearCookie(w)
	s.renderRefused(w, r, http.StatusGone, msgCodesShownOnce)
}

// handleConfirmBackupCodes issues the codes the operator saved and signs
// them in; without the tick nothing is issued.
func (s *Server) handleConfirmBackupCodes(w http.ResponseWriter, r *http.Request) {
	ses := pendingSession(r, store.FactorBackupCodes)
	if ses == nil {
		s.renderRefused(w, r, http.StatusBadRequest, msgExpired)
		return
	}
	if r.PostForm.Get("saved") == "" {
		if codes := codesFromForm(r); len(codes) > 0 {
			s.renderBackupCodes(w, r, http.StatusUnprocessableEntity, codes, msgMustConfirm)
		} else {
			s.endUnshownCodes(w, r, ses)
		}
		return
	}
	op, err := s.st.OperatorByID(r.Context(), ses.OperatorID)
	if err != nil {
		s.internalError(w, r, "load operator", err)
		return
	}
	var res contract.CompleteLoginResponse
	if !s.loginCall(w, r, op, "confirm backup codes", func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: pluginOperator(op), Ticket: ses.BackupTicket.Reveal(), Client: clientInfo(r)})
		return err
	}) {
		return
	}
	if taken, err := s.st.TakeSession(r.Context(), ses.IDHash); err != nil || !taken {
		s.renderRefused(w, r, http.StatusBadRequest, msgExpired)
		return
	}
	stateOf(r).ses = nil
	if res.Decision != contract.DecisionAllowed {
		s.log.Info("backup codes not confirmed", "operator_id", op.ID, "reason", string(res.Reason))
		s.renderRefused(w, r, http.StatusForbidden, msgCodesExpired)
		return
	}
	s.log.Info("backup codes confirmed; signed in", "operator_id", op.ID)
	s.signInSaying(w, r, op, ses.NextPath, flashSuccess, s.tr(r, "codes.saved_flash"))
}
