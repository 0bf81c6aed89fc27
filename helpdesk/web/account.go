package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/auth"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

type homeData struct {
	Tickets []store.Ticket
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	ts, err := s.st.ListTickets(r.Context(), 100)
	if err != nil {
		s.internalError(w, r, "list tickets", err)
		return
	}
	s.render(w, r, http.StatusOK, "home", s.tr(r, "tickets.title"), "tickets", homeData{Tickets: ts})
}

func (s *Server) handleCreateTicket(w http.ResponseWriter, r *http.Request) {
	subject := strings.TrimSpace(r.PostForm.Get("subject"))
	requester := strings.TrimSpace(r.PostForm.Get("requester"))
	if subject == "" || len(subject) > 200 || len(requester) > 200 {
		s.flash(r, flashError, s.tr(r, "tickets.subject_needed"))
		redirect(w, r, "/")
		return
	}
	id, err := s.st.CreateTicket(r.Context(), subject, requester, currentOperator(r).ID)
	if err != nil {
		s.internalError(w, r, "create ticket", err)
		return
	}
	s.flash(r, flashSuccess, s.tr(r, "tickets.opened_flash", "ID", id))
	redirect(w, r, "/")
}

func (s *Server) handleCloseTicket(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.renderError(w, r, http.StatusNotFound, "error.no_ticket", "error.no_ticket_text")
		return
	}
	if err := s.st.CloseTicket(r.Context(), id); err != nil {
		s.flash(r, flashError, s.tr(r, "tickets.not_open", "ID", id))
	} else {
		s.flash(r, flashSuccess, s.tr(r, "tickets.closed_flash", "ID", id))
	}
	redirect(w, r, "/")
}

type accountData struct {
	Op store.Operator
	// TOTP set-up under way: the unconfirmed secret, shown until confirmed.
	Setup *auth.TOTPKey
	// Duo: whether the Duo plugin is active, and this operator's state.
	DuoActive  bool
	DuoKnown   bool
	DuoEnabled bool
	// DuoEnforced: the plugin's settings require Duo of this operator, so
	// turning it off is not offered.
	DuoEnforced bool
	DuoState    contract.OperatorState
}

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	op := *currentOperator(r)
	d := accountData{Op: op}
	if op.TOTPSecret.IsSet() && !op.TOTPConfirmed {
		k, err := auth.DescribeTOTP(s.cfg.SiteName, op.Username, op.TOTPSecret.Reveal())
		if err != nil {
			s.internalError(w, r, "describe totp secret", err)
			return
		}
		d.Setup = &k
	}
	if active, err := s.plugins.Active(r.Context()); err == nil && active {
		d.DuoActive = true
		// Without the plugin's answer the page shows the rest.
		err := s.callPlugin(r, func(ctx context.Context, p plugins.Plugin) error {
			states, err := s.operatorStates(ctx, r, p, op)
			if err == nil {
				d.DuoKnown, d.DuoState = true, states[0]
				d.DuoEnabled = d.DuoState.Enabled || d.DuoState.Requirement.Required()
				d.DuoEnforced = d.DuoState.Requirement.Enforced()
			}
			return err
		})
		if err != nil {
			s.log.Warn("read own Duo state", "operator_id", op.ID, "error", err)
		}
	}
	s.render(w, r, http.StatusOK, "account", s.tr(r, "account.title"), "account", d)
}

func (s *Server) handleTOTPSetup(w http.ResponseWriter, r *http.Request) {
	op := currentOperator(r)
	if op.HasTOTP() {
		s.flash(r, flashError, s.tr(r, "account.totp_already"))
		redirect(w, r, "/account")
		return
	}
	k, err := auth.NewTOTPKey(s.cfg.SiteName, op.Username)
	if err != nil {
		s.internalError(w, r, "generate totp secret", err)
		return
	}
	if err := s.st.SetTOTP(r.Context(), op.ID, k.Secret, false); err != nil {
		s.internalError(w, r, "save totp secret", err)
		return
	}
	s.log.Info("totp set-up started", "operator_id", op.ID)
	redirect(w, r, "/account")
}

func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	op := currentOperator(r)
	if !op.TOTPSecret.IsSet() || op.TOTPConfirmed {
		redirect(w, r, "/account")
		return
	}
	step, ok := auth.VerifyTOTP(op.TOTPSecret.Reveal(), r.PostForm.Get("code"), s.cfg.Now(), 0)
	if !ok {
		s.flash(r, flashError, s.tr(r, msgWrongCode))
		redirect(w, r, "/account")
		return
	}
	if err := s.st.ConfirmTOTP(r.Context(), op.ID, op.TOTPSecret.Reveal(), step); err != nil {
		s.internalError(w, r, "confirm totp", err)
		return
	}
	s.log.Info("totp set up", "operator_id", op.ID)
	s.flash(r, flashSuccess, s.tr(r, "account.totp_on_flash"))
	redirect(w, r, "/account")
}

func (s *Server) handleTOTPRemove(w http.ResponseWriter, r *http.Request) {
	op := currentOperator(r)
	// An app not yet confirmed guards nothing: removing it needs no password.
	if op.HasTOTP() && !s.recheckPassword(w, r) {
		return
	}
	if err := s.st.ClearTOTP(r.Context(), op.ID); err != nil {
		s.internalError(w, r, "remove totp", err)
		return
	}
	s.log.Info("totp removed", "operator_id", op.ID)
	s.flash(r, flashSuccess, s.tr(r, "account.totp_removed_flash"))
	redirect(w, r, "/account")
}
