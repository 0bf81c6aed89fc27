package hooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// Bypass codes: issued by the help desk or an administrator for one
// operator who cannot use Duo right now, for a few uses within a lifetime
// (one use and one hour unless asked otherwise), listed without the code,
// and revocable.

// maxBypassDraws bounds the retries when a drawn code happens to equal one
// the operator already has (1 in 10^10 per code): a loop that keeps
// colliding means a broken random source, not bad luck.
const maxBypassDraws = 3

// IssueBypassCode implements contract.Recovery.
func (p *Plugin) IssueBypassCode(ctx context.Context, req contract.IssueBypassCodeRequest) (contract.IssueBypassCodeResponse, error) {
	uses, lifetime, err := bypassRequest(req.Uses, req.LifetimeSeconds)
	if err != nil {
		return contract.IssueBypassCodeResponse{}, err
	}
	op := req.Operator
	var out contract.IssueBypassCodeResponse
	err = p.actOn(ctx, op, request{call: callIssueBypassCode, actor: req.Actor, uses: uses, lifetime: lifetime, targetRole: req.OperatorRole},
		func(a *activeState) error {
			now := p.now()
			for range maxBypassDraws {
				code, err := codes.NewBypassCode()
				if err != nil {
					return internalError("issue bypass code: draw a code", err)
				}
				id, err := newBypassID()
				if err != nil {
					return internalError("issue bypass code: draw an id", err)
				}
				b := contract.BypassCode{ID: id, OperatorID: op.ID, IssuedBy: req.Actor.String(), IssuedAt: now, UsesLeft: uses, ExpiresAt: now.Add(lifetime)}
				ev := by(store.Event{At: now, Kind: "bypass_code.issued", OperatorID: op.ID, Outcome: "ok", Notice: contract.NoticeBypassCodeIssued,
					Detail: fmt.Sprintf("bypass code %s: %s within %s", id, plural(int(uses), "use"), hours(lifetime))}, req.Actor)
				err = a.store.IssueBypassCode(ctx, op, b, a.codes.Code(codes.PurposeBypassCode, op.ID, code), ev)
				if errors.Is(err, store.ErrDuplicate) {
					continue
				}
				if err != nil {
					return storageError("issue bypass code", err)
				}
				p.log.Info("bypass code issued", "operator_id", op.ID, "bypass_code_id", id, "uses", uses, "lifetime", lifetime.String(),
					"actor", req.Actor.String(), "role", req.Actor.Role.String())
				out = contract.IssueBypassCodeResponse{Code: code.Shown(), BypassCode: b}
				return nil
			}
			return internalError("issue bypass code", fmt.Errorf("%d drawn codes all collided with stored ones", maxBypassDraws))
		})
	return out, err
}

// bypassRequest applies the defaults to what was asked: zero uses is one,
// a zero lifetime is an hour; negative ones are malformed. A lifetime
// beyond any limit is kept as "more than the longest", not overflowed.
func bypassRequest(uses int32, lifetimeSeconds int64) (int32, time.Duration, error) {
	if uses < 0 || lifetimeSeconds < 0 {
		return 0, 0, invalid("issue bypass code: uses (%d) and lifetime_seconds (%d) must not be negative; 0 takes the default (1 use, 1 hour)", uses, lifetimeSeconds)
	}
	defaults.Set(&uses, defaultBypassUses)
	defaults.Set(&lifetimeSeconds, int64(defaultBypassLifetime/time.Second))
	lifetime := time.Duration(min(lifetimeSeconds, int64(settings.MaxBypassMaxLifetime/time.Second)+1)) * time.Second
	return uses, lifetime, nil
}

// newBypassID is a random id an admin can read out: it names a code in
// lists and logs without revealing it or how many codes exist.
func newBypassID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// ListBypassCodes implements contract.Recovery: the operator's codes,
// newest first, never the codes themselves.
func (p *Plugin) ListBypassCodes(ctx context.Context, req contract.ListBypassCodesRequest) (contract.ListBypassCodesResponse, error) {
	if problem := checkText("operator id", req.OperatorID, maxIDLen, true); problem != "" {
		return contract.ListBypassCodesResponse{}, invalid("%s", problem)
	}
	var out contract.ListBypassCodesResponse
	err := p.withActive(ctx, func(a *activeState) error {
		if err := p.permit(ctx, a, request{call: callListBypassCodes, actor: req.Actor, targets: []string{req.OperatorID}}); err != nil {
			return err
		}
		list, err := a.store.ListBypassCodes(ctx, req.OperatorID)
		if err != nil {
			return storageError("list bypass codes", err)
		}
		out.BypassCodes = list
		return nil
	})
	return out, err
}

// RevokeBypassCode implements contract.Recovery. Another operator's code,
// or an unknown id, is NOT_FOUND; revoking twice keeps the first time.
func (p *Plugin) RevokeBypassCode(ctx context.Context, req contract.RevokeBypassCodeRequest) (contract.RevokeBypassCodeResponse, error) {
	for _, problem := range []string{checkText("operator id", req.OperatorID, maxIDLen, true), checkText("bypass code id", req.ID, maxIDLen, true)} {
		if problem != "" {
			return contract.RevokeBypassCodeResponse{}, invalid("%s", problem)
		}
	}
	var out contract.RevokeBypassCodeResponse
	err := p.withActive(ctx, func(a *activeState) error {
		now := p.now()
		if err := p.permit(ctx, a, request{call: callRevokeBypassCode, actor: req.Actor, targets: []string{req.OperatorID}}); err != nil {
			return err
		}
		ev := by(store.Event{At: now, Kind: "bypass_code.revoked", OperatorID: req.OperatorID, Outcome: "ok", Detail: "bypass code " + req.ID}, req.Actor)
		b, err := a.store.RevokeBypassCode(ctx, req.OperatorID, req.ID, now, ev)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return contract.Errorf(contract.ReasonNotFound, "operator %s has no bypass code with id %q", req.OperatorID, req.ID)
		case err != nil:
			return storageError("revoke bypass code", err)
		}
		out.BypassCode = b
		return nil
	})
	return out, err
}
