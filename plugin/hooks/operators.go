package hooks

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/duousername"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// SetOperatorEnabled implements contract.Operators: Duo on or off for one
// operator, recording who did it. Operators turning their own Duo off must
// have signed in with Duo itself within recentFactor, checked in the write
// (else REAUTHENTICATE, audited as operator.disable_refused), as for new
// backup codes: one seen code must not become a way to remove Duo.
func (p *Plugin) SetOperatorEnabled(ctx context.Context, req contract.SetOperatorEnabledRequest) (contract.SetOperatorEnabledResponse, error) {
	var out contract.SetOperatorEnabledResponse
	err := p.actOn(ctx, req.Operator, request{call: callSetOperatorEnabled, actor: req.Actor, enable: req.Enabled,
		targetRole: req.Operator.Role, targetServiceAccount: req.Operator.ServiceAccount}, func(a *activeState) error {
		kind, notice := "operator.disabled", contract.NoticeDuoDisabled
		if req.Enabled {
			kind, notice = "operator.enabled", contract.NoticeDuoEnabled
		}
		now := p.now()
		ev := by(store.Event{At: now, Kind: kind, OperatorID: req.Operator.ID, Outcome: "ok", Notice: notice}, req.Actor)
		var st contract.OperatorState
		var err error
		if self := req.Actor.ID != "" && req.Actor.ID == req.Operator.ID; self && !req.Enabled {
			// Like new backup codes: someone who finds a signed-in session,
			// or a host that calls for a password-only one, must not be
			// able to take the second factor away.
			st, err = a.store.DisableOwn(ctx, req.Operator, now.Add(-recentFactor), ev)
		} else {
			st, err = a.store.SetOperatorEnabled(ctx, req.Operator, req.Enabled, ev)
		}
		if errors.Is(err, store.ErrFactorNotRecent) {
			refusal := contract.Errorf(contract.ReasonReauthenticate, "sign in again with Duo first: you can turn your own Duo off only within %d minutes of signing in with Duo (a backup or bypass code is not enough)", int(recentFactor/time.Minute))
			p.audit(ctx, a, by(store.Event{At: now, Kind: "operator.disable_refused", OperatorID: req.Operator.ID, Outcome: "denied",
				Reason: string(refusal.Reason), Detail: refusal.Message}, req.Actor))
			return refusal
		}
		if err != nil {
			return storageError("set operator enabled", err)
		}
		out.State = p.told(a, st, req.Operator)
		p.log.Info("operator toggled", "operator_id", req.Operator.ID, "enabled", req.Enabled, "actor", req.Actor.String(), "role", req.Actor.Role.String())
		return nil
	})
	return out, err
}

// withLow fills in BackupCodesLow, which depends on a setting: a set was
// issued and at most backup_codes_low_at of its codes are left.
func withLow(a *activeState, st contract.OperatorState) contract.OperatorState {
	st.BackupCodesLow = !st.BackupCodesIssuedAt.IsZero() && int(st.BackupCodesLeft) <= a.duo.Load().BackupCodesLowAt
	return st
}

// SetOperatorAlias implements contract.Operators. The alias is stored in
// its canonical form (RFC 8265); one another operator already resolves to
// is refused.
func (p *Plugin) SetOperatorAlias(ctx context.Context, req contract.SetOperatorAliasRequest) (contract.SetOperatorAliasResponse, error) {
	alias := ""
	if req.DuoAlias != "" {
		var err error
		if alias, err = duousername.Canonical(req.DuoAlias); err != nil {
			return contract.SetOperatorAliasResponse{}, invalid("%v", err)
		}
	}
	var out contract.SetOperatorAliasResponse
	err := p.actOn(ctx, req.Operator, request{call: callSetOperatorAlias, actor: req.Actor}, func(a *activeState) error {
		ev := by(store.Event{At: p.now(), Kind: "operator.alias", OperatorID: req.Operator.ID, Outcome: "ok"}, req.Actor)
		st, err := a.store.SetOperatorAlias(ctx, req.Operator, alias, ev)
		var taken *store.DuoUsernameTakenError
		if errors.As(err, &taken) {
			return invalid("the Duo username %q is already used by operator %s: two operators must never share a Duo account; choose another alias", alias, taken.HolderID)
		}
		if err != nil {
			return storageError("set operator alias", err)
		}
		out.State = p.told(a, st, req.Operator)
		return nil
	})
	return out, err
}

// GetOperatorStates implements contract.Operators: one state per id, then
// one per operator, in the order asked; unknown ids are disabled. The
// requirement of an id alone is told as an agent's who is no service
// account; an Operator's from the role and flag the host gives.
func (p *Plugin) GetOperatorStates(ctx context.Context, req contract.GetOperatorStatesRequest) (contract.GetOperatorStatesResponse, error) {
	if n := len(req.OperatorIDs) + len(req.Operators); n > maxIDsPerCall {
		return contract.GetOperatorStatesResponse{}, invalid("too many operators: %d (at most %d per call)", n, maxIDsPerCall)
	}
	ops := make([]contract.Operator, 0, len(req.OperatorIDs)+len(req.Operators))
	for _, id := range req.OperatorIDs {
		if problem := checkText("operator id", id, maxIDLen, true); problem != "" {
			return contract.GetOperatorStatesResponse{}, invalid("%s", problem)
		}
		ops = append(ops, contract.Operator{ID: id})
	}
	for _, op := range req.Operators {
		if err := validateOperator(op); err != nil {
			return contract.GetOperatorStatesResponse{}, err
		}
		ops = append(ops, op)
	}
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = op.ID
	}
	var out contract.GetOperatorStatesResponse
	err := p.withActive(ctx, func(a *activeState) error {
		if err := p.permit(ctx, a, request{call: callGetOperatorStates, actor: req.Actor, targets: ids}); err != nil {
			return err
		}
		m, err := a.store.OperatorStates(ctx, ids)
		if err != nil {
			return storageError("get operator states", err)
		}
		out.States = make([]contract.OperatorState, len(ops))
		for i, op := range ops {
			out.States[i] = p.told(a, m[op.ID], op)
		}
		return nil
	})
	return out, err
}

// ListEnabledOperators implements contract.Operators: pages through the
// operators with Duo enabled, by id.
func (p *Plugin) ListEnabledOperators(ctx context.Context, req contract.ListEnabledOperatorsRequest) (contract.ListEnabledOperatorsResponse, error) {
	size := pageSize(req.PageSize, defPageSize)
	after, err := base64.RawURLEncoding.DecodeString(req.PageToken)
	if err != nil || len(after) > maxIDLen {
		return contract.ListEnabledOperatorsResponse{}, invalid("invalid page token")
	}
	var out contract.ListEnabledOperatorsResponse
	err = p.withActive(ctx, func(a *activeState) error {
		if err := p.permit(ctx, a, request{call: callListEnabledOperators, actor: req.Actor}); err != nil {
			return err
		}
		// One extra row tells whether another page exists.
		rows, err := a.store.ListEnabled(ctx, string(after), size+1)
		if err != nil {
			return storageError("list enabled operators", err)
		}
		if len(rows) > size {
			rows = rows[:size]
			out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(rows[len(rows)-1].OperatorID))
		}
		for i := range rows {
			rows[i] = p.told(a, rows[i], contract.Operator{ID: rows[i].OperatorID})
		}
		out.States = rows
		return nil
	})
	return out, err
}
