package service

import (
	"context"
	"encoding/base64"

	"github.com/helpdesk-duo/duo-plugin/plugin/store"
)

// SetOperatorEnabled turns Duo on or off for one operator, recording who
// did it. Valid only while active.
func (s *Service) SetOperatorEnabled(ctx context.Context, op store.Operator, enabled bool, actor Actor) (store.OperatorState, error) {
	if err := validateOperator(op); err != nil {
		return store.OperatorState{}, err
	}
	if p := checkText("actor", actor.String(), maxActorLen, false); p != "" {
		return store.OperatorState{}, invalid("%s", p)
	}
	var out store.OperatorState
	err := s.withActive(func(a *activeState) error {
		kind := "operator.disabled"
		if enabled {
			kind = "operator.enabled"
		}
		ev := store.Event{At: s.now(), Kind: kind, OperatorID: op.ID, Actor: actor.String(), ClientIP: actor.IP, Outcome: "ok"}
		st, err := a.store.SetOperatorEnabled(ctx, op, enabled, ev)
		if err != nil {
			return storageError("set operator enabled", err)
		}
		out = st
		s.log.Info("operator toggled", "operator_id", op.ID, "enabled", enabled, "actor", actor.String())
		return nil
	})
	return out, err
}

// SetOperatorAlias sets the Duo username used for one operator; "" clears
// it. Valid only while active.
func (s *Service) SetOperatorAlias(ctx context.Context, op store.Operator, alias string, actor Actor) (store.OperatorState, error) {
	if err := validateOperator(op); err != nil {
		return store.OperatorState{}, err
	}
	alias, err := normalizeAlias(alias)
	if err != nil {
		return store.OperatorState{}, err
	}
	var out store.OperatorState
	err = s.withActive(func(a *activeState) error {
		ev := store.Event{At: s.now(), Kind: "operator.alias", OperatorID: op.ID, Actor: actor.String(), ClientIP: actor.IP, Outcome: "ok"}
		st, err := a.store.SetOperatorAlias(ctx, op, alias, ev)
		if err != nil {
			return storageError("set operator alias", err)
		}
		out = st
		return nil
	})
	return out, err
}

// GetOperatorStates answers for every id; unknown ids are disabled. Valid
// only while active.
func (s *Service) GetOperatorStates(ctx context.Context, ids []string) (map[string]store.OperatorState, error) {
	if len(ids) > 10_000 {
		return nil, invalid("too many operator ids: %d (at most 10000 per call)", len(ids))
	}
	for _, id := range ids {
		if p := checkText("operator id", id, maxIDLen, true); p != "" {
			return nil, invalid("%s", p)
		}
	}
	var out map[string]store.OperatorState
	err := s.withActive(func(a *activeState) error {
		m, err := a.store.OperatorStates(ctx, ids)
		if err != nil {
			return storageError("get operator states", err)
		}
		out = m
		return nil
	})
	return out, err
}

// ListEnabledOperators pages through the operators with Duo enabled.
// pageToken is "" for the first page; the returned token is "" on the last.
func (s *Service) ListEnabledOperators(ctx context.Context, pageSize int, pageToken string) ([]store.OperatorState, string, error) {
	switch {
	case pageSize <= 0:
		pageSize = defPageSize
	case pageSize > maxPageSize:
		pageSize = maxPageSize
	}
	after, err := base64.RawURLEncoding.DecodeString(pageToken)
	if err != nil || len(after) > maxIDLen {
		return nil, "", invalid("invalid page token")
	}
	var (
		page []store.OperatorState
		next string
	)
	err = s.withActive(func(a *activeState) error {
		// One extra row tells whether another page exists.
		rows, err := a.store.ListEnabled(ctx, string(after), pageSize+1)
		if err != nil {
			return storageError("list enabled operators", err)
		}
		if len(rows) > pageSize {
			rows = rows[:pageSize]
			next = base64.RawURLEncoding.EncodeToString([]byte(rows[len(rows)-1].ID))
		}
		page = rows
		return nil
	})
	return page, next, err
}
