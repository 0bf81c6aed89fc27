package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

const operatorsPath = "/admin/operators"

type operatorRow struct {
	Op  store.Operator
	Duo contract.OperatorState
	// CanUnlock: the Unlock button is offered (the plugin decides anyway).
	CanUnlock bool
}

// mayUnlock is whether actor may unlock target, as the plugin's roles
// table says: an admin anyone, the help desk agents only.
func mayUnlock(actor *store.Operator, target store.Operator) bool {
	switch {
	case actor == nil:
		return false
	case actor.IsAdmin():
		return true
	case actor.Role == store.RoleHelpDesk:
		return target.Role == store.RoleAgent
	}
	return false
}

type operatorsData struct {
	Active   bool
	StateErr string
	Rows     []operatorRow
}

func (s *Server) handleOperators(w http.ResponseWriter, r *http.Request) {
	ops, err := s.st.ListOperators(r.Context())
	if err != nil {
		s.internalError(w, r, "list operators", err)
		return
	}
	d := operatorsData{Rows: make([]operatorRow, len(ops))}
	for i, op := range ops {
		d.Rows[i].Op = op
		d.Rows[i].CanUnlock = mayUnlock(currentOperator(r), op)
	}
	d.Active, err = s.plugins.Active(r.Context())
	if err != nil {
		s.internalError(w, r, "plugin record", err)
		return
	}
	if d.Active {
		err = s.fillDuoStates(r, d.Rows)
		if err != nil {
			s.log.Warn("operator states", "error", err)
			d.StateErr = s.tr(r, "operators.state_err")
		}
	}
	s.render(w, r, http.StatusOK, "operators", s.tr(r, "operators.title"), "operators", d)
}

// fillDuoStates asks the plugin for every row's state in one call.
func (s *Server) fillDuoStates(r *http.Request, rows []operatorRow) error {
	ops := make([]store.Operator, len(rows))
	for i, row := range rows {
		ops[i] = row.Op
	}
	return s.callPlugin(r, func(ctx context.Context, p plugins.Plugin) error {
		states, err := s.operatorStates(ctx, r, p, ops...)
		for i, st := range states {
			rows[i].Duo = st
		}
		return err
	})
}

func (s *Server) operatorFromPath(w http.ResponseWriter, r *http.Request) (store.Operator, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		op, err := s.st.OperatorByID(r.Context(), id)
		if err == nil {
			return op, true
		}
		if !errors.Is(err, store.ErrNotFound) {
			s.internalError(w, r, "load operator", err)
			return store.Operator{}, false
		}
	}
	s.renderError(w, r, http.StatusNotFound, "error.no_operator", "error.no_operator_text")
	return store.Operator{}, false
}

func (s *Server) handleSetOperatorDuo(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	enable := r.PostForm.Get("enabled") == "true"
	if !s.withActivePlugin(w, r, m("fail.set_duo", "Name", op.Username), operatorsPath, func(ctx context.Context, p plugins.Plugin) error {
		_, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: pluginOperator(op), Enabled: enable, Actor: s.actor(r)})
		return err
	}) {
		return
	}
	s.log.Info("duo toggled for operator", "operator_id", op.ID, "enabled", enable, "actor", s.actor(r).Username)
	if enable {
		s.flash(r, flashSuccess, s.tr(r, "operators.enabled_flash", "Name", op.Username))
	} else {
		s.flash(r, flashSuccess, s.tr(r, "operators.disabled_flash", "Name", op.Username))
	}
	redirect(w, r, operatorsPath)
}

func (s *Server) handleSetOperatorAlias(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	alias := strings.TrimSpace(r.PostForm.Get("alias"))
	var res contract.SetOperatorAliasResponse
	if !s.withActivePlugin(w, r, m("fail.set_alias", "Name", op.Username), operatorsPath, func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: pluginOperator(op), DuoAlias: alias, Actor: s.actor(r)})
		return err
	}) {
		return
	}
	if res.State.DuoAlias == "" {
		s.flash(r, flashSuccess, s.tr(r, "operators.alias_cleared_flash", "Name", op.Username))
	} else {
		s.flash(r, flashSuccess, s.tr(r, "operators.alias_set_flash", "Name", op.Username, "Alias", res.State.DuoAlias))
	}
	redirect(w, r, operatorsPath)
}

// handleUnlockOperator lifts an operator's lockout and resets their failed
// attempts: an admin for anyone, the help desk for agents (the plugin
// enforces it, whatever this page offers).
func (s *Server) handleUnlockOperator(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	if !s.withActivePlugin(w, r, m("oplist.unlock_what", "Name", op.Username), operatorsPath, func(ctx context.Context, p plugins.Plugin) error {
		_, err := p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: pluginOperator(op), Actor: s.actor(r)})
		return err
	}) {
		return
	}
	s.log.Info("operator unlocked", "operator_id", op.ID, "actor", s.actor(r).Username)
	s.flash(r, flashSuccess, s.tr(r, "oplist.unlocked_flash", "Name", op.Username))
	if r.PostForm.Get("back") == "operator" {
		redirect(w, r, operatorsPath+"/"+strconv.FormatInt(op.ID, 10))
		return
	}
	redirect(w, r, operatorsPath)
}
