package web

import (
	"context"
	"net/http"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The operator's own Duo: new backup codes, and turning Duo off when the
// admin allows it. Both need the password again; the plugin also wants a
// second factor within the last minutes for new codes, and decides
// whether an operator may turn Duo off.

const accountPath = "/account"

// recheckPassword checks the password typed on the account page, counted
// against the sign-in limits like any other attempt. false: the answer is
// written.
func (s *Server) recheckPassword(w http.ResponseWriter, r *http.Request) bool {
	_, checked, err := s.checkCredentials(r, "account", currentOperator(r).Username, r.PostForm.Get("password"))
	switch {
	case err != nil:
		s.internalError(w, r, "check credentials", err)
		return false
	case checked == credentialsLimited:
		s.flash(r, flashError, s.tr(r, "account.too_many"))
		redirect(w, r, accountPath)
		return false
	case checked != credentialsRight:
		s.flash(r, flashError, s.tr(r, "account.wrong_password"))
		redirect(w, r, accountPath)
		return false
	}
	return true
}

func (s *Server) handleRegenerateBackupCodes(w http.ResponseWriter, r *http.Request) {
	if !s.recheckPassword(w, r) {
		return
	}
	op := currentOperator(r)
	var res contract.RegenerateBackupCodesResponse
	if !s.withActivePlugin(w, r, m("fail.regenerate"), accountPath, func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.RegenerateBackupCodes(ctx, contract.RegenerateBackupCodesRequest{Operator: pluginOperator(*op), Actor: s.actor(r)})
		switch contract.ReasonOf(err) {
		case contract.ReasonReauthenticate:
			return operatorMessage("account.reauthenticate", err)
		case contract.ReasonNoBackupCodes:
			return operatorMessage("account.no_backup_codes", err)
		}
		return err
	}) {
		return
	}
	s.log.Info("backup codes regenerated", "operator_id", op.ID)
	s.render(w, r, http.StatusOK, "backup_codes", s.tr(r, "codes.new_title"), "account",
		backupCodesData{Codes: res.BackupCodes, Download: codesDownload(res.BackupCodes), Regen: true})
}

func (s *Server) handleDisableOwnDuo(w http.ResponseWriter, r *http.Request) {
	if !s.recheckPassword(w, r) {
		return
	}
	op := currentOperator(r)
	if !s.withActivePlugin(w, r, m("fail.self_disable"), accountPath, func(ctx context.Context, p plugins.Plugin) error {
		_, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: pluginOperator(*op), Enabled: false, Actor: s.actor(r)})
		switch contract.ReasonOf(err) {
		case contract.ReasonPermission:
			return operatorMessage("account.self_disable_refused", err)
		case contract.ReasonReauthenticate:
			return operatorMessage("account.reauthenticate_disable", err)
		}
		return err
	}) {
		return
	}
	s.log.Info("operator turned their own Duo off", "operator_id", op.ID)
	s.flash(r, flashSuccess, s.tr(r, "account.duo_off_flash"))
	redirect(w, r, accountPath)
}
