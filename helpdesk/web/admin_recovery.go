package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Looking after another operator's second factor: bypass codes (admins and
// the help desk) and recovery links (admins). The plugin checks each
// call's role itself; these pages only avoid offering what it refuses.

// OutboxReader lists the mail the demo kept instead of sending it.
type OutboxReader interface {
	ListOutbox(ctx context.Context, limit int) ([]store.OutboxMail, error)
}

type operatorData struct {
	Op          store.Operator
	Duo         contract.OperatorState
	BypassCodes []contract.BypassCode
	// NewCode is a bypass code just issued: shown this once.
	NewCode    string
	NewCodeFor contract.BypassCode
	Now        time.Time
	// CannotIssue says why the viewer may not issue this operator a bypass
	// code ("" when they may), as the plugin would refuse it; HelpDesk
	// limits the form to what the help desk may issue.
	CannotIssue string
	HelpDesk    bool
	// CanUnlock: the Unlock button is offered while the operator is locked.
	CanUnlock bool
	// Unread says why the operator's state and bypass codes are missing:
	// reading them failed after a code was issued, which is shown anyway.
	Unread string
}

// whyNoBypassCode mirrors the plugin's rules for the page: no one issues
// themselves a bypass code, and the help desk issues them only to agents.
func (s *Server) whyNoBypassCode(r *http.Request, viewer, op store.Operator) string {
	switch {
	case viewer.ID == op.ID:
		return s.tr(r, "operator.cannot_self")
	case viewer.Role == store.RoleHelpDesk && op.Role != store.RoleAgent:
		return s.tr(r, "operator.cannot_help_desk", "Name", op.Username)
	}
	return ""
}

func operatorPath(op store.Operator) string {
	return "/admin/operators/" + strconv.FormatInt(op.ID, 10)
}

// handleOperator shows one operator's second factor.
func (s *Server) handleOperator(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	d := s.newOperatorData(r, op)
	if !s.withActivePlugin(w, r, m("fail.read_operator", "Name", op.Username), operatorsPath, func(ctx context.Context, p plugins.Plugin) error {
		return s.readOperatorData(ctx, r, p, &d)
	}) {
		return
	}
	s.render(w, r, http.StatusOK, "operator", s.tr(r, "operator.title", "Name", op.Username), "operators", d)
}

func (s *Server) newOperatorData(r *http.Request, op store.Operator) operatorData {
	viewer := currentOperator(r)
	return operatorData{Op: op, Now: s.cfg.Now(), CannotIssue: s.whyNoBypassCode(r, *viewer, op), HelpDesk: viewer.Role == store.RoleHelpDesk,
		CanUnlock: mayUnlock(viewer, op)}
}

// readOperatorData reads what the operator's page shows from the plugin:
// all of it, or (with the error) none.
func (s *Server) readOperatorData(ctx context.Context, r *http.Request, p plugins.Plugin, d *operatorData) error {
	states, err := s.operatorStates(ctx, r, p, d.Op)
	if err != nil {
		return err
	}
	codes, err := p.ListBypassCodes(ctx, contract.ListBypassCodesRequest{OperatorID: strconv.FormatInt(d.Op.ID, 10), Actor: s.actor(r)})
	if err != nil {
		return err
	}
	d.Duo, d.BypassCodes = states[0], codes.BypassCodes
	return nil
}

// handleIssueBypassCode issues a bypass code and shows it, this once: the
// page's other contents are read in the same plugin call, and when they
// cannot be, the code is shown all the same, with a word that the rest is
// missing.
func (s *Server) handleIssueBypassCode(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	uses, err := formNumber(r, "uses")
	if err != nil {
		s.flash(r, flashError, s.tr(r, "operator.bad_number", "Field", s.tr(r, "operator.uses"), "Value", err.Error()))
		redirect(w, r, operatorPath(op))
		return
	}
	hours, err := formNumber(r, "hours")
	if err != nil {
		s.flash(r, flashError, s.tr(r, "operator.bad_number", "Field", s.tr(r, "operator.hours"), "Value", err.Error()))
		redirect(w, r, operatorPath(op))
		return
	}
	d := s.newOperatorData(r, op)
	if !s.withActivePlugin(w, r, m("fail.issue_bypass", "Name", op.Username), operatorPath(op), func(ctx context.Context, p plugins.Plugin) error {
		res, err := p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: pluginOperator(op), OperatorRole: pluginRole(op.Role),
			Uses: int32(min(uses, 1000)), LifetimeSeconds: int64(min(hours, 10000)) * 3600, Actor: s.actor(r)})
		if err != nil {
			return err
		}
		d.NewCode, d.NewCodeFor = res.Code, res.BypassCode
		if err := s.readOperatorData(ctx, r, p, &d); err != nil {
			s.log.Warn("read the second factor after issuing a bypass code", "operator_id", op.ID, "reason", string(contract.ReasonOf(err)), "error", err)
			d.Unread = s.tr(r, "operator.unread", "Name", op.Username)
		}
		return nil
	}) {
		return
	}
	s.log.Info("bypass code issued", "operator_id", op.ID, "actor", s.actor(r).Username, "uses", d.NewCodeFor.UsesLeft)
	s.render(w, r, http.StatusOK, "operator", s.tr(r, "operator.title", "Name", op.Username), "operators", d)
}

// formNumber reads a whole number of at least 1 from the form; empty is 0,
// which asks the plugin for its default. The error's text is the value
// refused, quoted.
func formNumber(r *http.Request, field string) (int, error) {
	v := strings.TrimSpace(r.PostForm.Get(field))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q", v)
	}
	return n, nil
}

func (s *Server) handleRevokeBypassCode(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	id := r.PathValue("code")
	if !s.withActivePlugin(w, r, m("fail.revoke"), operatorPath(op), func(ctx context.Context, p plugins.Plugin) error {
		_, err := p.RevokeBypassCode(ctx, contract.RevokeBypassCodeRequest{OperatorID: strconv.FormatInt(op.ID, 10), ID: id, Actor: s.actor(r)})
		return err
	}) {
		return
	}
	s.flash(r, flashSuccess, s.tr(r, "operator.revoked_flash"))
	redirect(w, r, operatorPath(op))
}

func (s *Server) handleRecoveryLinkForm(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "recovery_link", s.tr(r, "recovery_link.title"), "operators", struct{ Op store.Operator }{op})
}

// handleSendRecoveryLink mails the operator a single-use link that resets
// their second factor once they also give their password.
func (s *Server) handleSendRecoveryLink(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	if op.Email == "" {
		s.flash(r, flashError, s.tr(r, "recovery_link.no_email", "Name", op.Username))
		redirect(w, r, operatorPath(op))
		return
	}
	if s.cfg.Mail == nil {
		s.flash(r, flashError, s.tr(r, "recovery_link.no_mail"))
		redirect(w, r, operatorPath(op))
		return
	}
	var link contract.CreateRecoveryLinkResponse
	if !s.withActivePlugin(w, r, m("fail.create_link", "Name", op.Username), operatorPath(op), func(ctx context.Context, p plugins.Plugin) (err error) {
		link, err = p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: pluginOperator(op), Actor: s.actor(r)})
		return err
	}) {
		return
	}
	if err := s.cfg.Mail.Send(r.Context(), RecoveryMail(s.cfg.BaseURL, s.cfg.SiteName, op, link)); err != nil {
		s.log.Error("recovery link not sent", "operator_id", op.ID, "error", err)
		s.flash(r, flashError, s.tr(r, "recovery_link.not_sent", "Why", s.tr(r, mailProblem(err))))
		redirect(w, r, operatorPath(op))
		return
	}
	s.log.Info("recovery link sent", "operator_id", op.ID, "actor", s.actor(r).Username)
	s.flash(r, flashSuccess, s.tr(r, "recovery_link.sent_flash", "Email", op.Email, "When", when(s.loc(r), link.ExpiresAt)))
	redirect(w, r, operatorPath(op))
}

// RecoverPath is the page a recovery link opens.
const RecoverPath = "/recover"

// RecoveryURL is the recovery link for token (from CreateRecoveryLink) on
// the helpdesk at base, its external URL: what RecoveryMail carries.
func RecoveryURL(base *url.URL, token string) string {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + RecoverPath
	u.RawPath = ""
	u.RawQuery = url.Values{"token": {token}}.Encode()
	u.Fragment = ""
	return u.String()
}

// RecoveryMail is the message that carries a recovery link to op.
func RecoveryMail(base *url.URL, site string, op store.Operator, link contract.CreateRecoveryLinkResponse) mail.Message {
	return mail.Message{
		To:      op.Email,
		Subject: "Your " + site + " sign-in recovery link",
		Text: "Hello " + op.Username + ",\n\n" +
			"An administrator sent you this link to get back into " + site + " after losing your second factor.\n" +
			"It works once, with your password, until " + link.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST") + ":\n\n" +
			RecoveryURL(base, link.Token) + "\n\n" +
			"Using it resets your two-factor authentication: at your next sign-in you set up Duo again and get new backup codes.\n" +
			"If you did not ask for this, tell your administrator.\n",
	}
}

// mailProblem says (a message id) what went wrong sending mail, without
// the details a page should not show.
func mailProblem(err error) string {
	if errors.Is(err, mail.ErrInvalidMessage) {
		return "recovery_link.bad_address"
	}
	return "recovery_link.mail_refused"
}

func (s *Server) handleOutbox(w http.ResponseWriter, r *http.Request) {
	var mails []store.OutboxMail
	if s.cfg.Outbox != nil {
		var err error
		if mails, err = s.cfg.Outbox.ListOutbox(r.Context(), 100); err != nil {
			s.internalError(w, r, "list outbox", err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "outbox", s.tr(r, "outbox.title"), "outbox", struct {
		Enabled bool
		Mails   []store.OutboxMail
	}{s.cfg.Outbox != nil, mails})
}
