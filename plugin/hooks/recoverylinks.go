package hooks

import (
	"context"
	"errors"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Recovery links: an administrator creates one for an operator who lost
// both their phone and their backup codes; the host delivers it. Used
// once, after the operator's password, it signs them in and resets their
// second factor, so their next Duo sign-in sets it up anew.

// CreateRecoveryLink implements contract.Recovery.
func (p *Plugin) CreateRecoveryLink(ctx context.Context, req contract.CreateRecoveryLinkRequest) (contract.CreateRecoveryLinkResponse, error) {
	op := req.Operator
	var out contract.CreateRecoveryLinkResponse
	err := p.actOn(ctx, op, request{call: callCreateRecoveryLink, actor: req.Actor}, func(a *activeState) error {
		now := p.now()
		token, err := codes.NewToken()
		if err != nil {
			return internalError("create recovery link: draw a token", err)
		}
		// Saved settings are always within bounds (settings.ParseStored
		// starts from the defaults), so the lifetime is at least an hour.
		expires := now.Add(a.duo.Load().RecoveryLinkLifetime)
		ev := by(store.Event{At: now, Kind: "recovery_link.created", OperatorID: op.ID, Outcome: "ok", Notice: contract.NoticeRecoveryLinkCreated,
			Detail: "valid until " + expires.UTC().Format(time.RFC3339)}, req.Actor)
		err = a.store.CreateRecoveryLink(ctx, op, store.RecoveryLink{TokenHash: a.codes.Token(codes.PurposeRecoveryLink, op.ID, token),
			OperatorID: op.ID, CreatedBy: req.Actor.String(), CreatedAt: now, ExpiresAt: expires}, ev)
		if err != nil {
			return storageError("create recovery link", err)
		}
		p.log.Info("recovery link created", "operator_id", op.ID, "actor", req.Actor.String(), "role", req.Actor.Role.String())
		out = contract.CreateRecoveryLinkResponse{Token: token.Encoded(), ExpiresAt: expires}
		return nil
	})
	return out, err
}

// RedeemRecoveryLink implements contract.Recovery: the link is spent and
// the operator's second factor reset in one transaction, or, for a link
// that is not theirs, used or expired, nothing changes.
func (p *Plugin) RedeemRecoveryLink(ctx context.Context, req contract.RedeemRecoveryLinkRequest) (contract.CompleteLoginResponse, error) {
	op := req.Operator
	return p.loginPageCall(ctx, op, req.Client, "recovery_link.redeem", func(a *activeState, ev store.Event, _ store.Toggle) (contract.CompleteLoginResponse, error) {
		token, err := codes.ParseToken(req.Token)
		if err != nil {
			return p.denyLogin(ctx, a, ev, contract.LoginReasonLinkUnknown, msgLinkDenied, "the token does not have the shape of one this plugin hands out"), nil
		}
		done := ev
		done.Outcome, done.Notice = "allowed", contract.NoticeSecondFactorReset
		done.Detail = "recovery link used: Duo enrolment forgotten, backup codes deleted, bypass codes revoked; signed in"
		err = a.store.RedeemRecoveryLink(ctx, a.codes.Token(codes.PurposeRecoveryLink, op.ID, token), op.ID, ev.At, done)
		switch {
		case errors.Is(err, store.ErrLocked):
			return p.refuseLockedNow(ctx, a, ev), nil
		case errors.Is(err, store.ErrNotFound):
			return p.denyLogin(ctx, a, ev, contract.LoginReasonLinkUnknown, msgLinkDenied, "no recovery link of this operator has this token"), nil
		case errors.Is(err, store.ErrUsed):
			return p.denyLogin(ctx, a, ev, contract.LoginReasonLinkUsed, msgLinkDenied, "the recovery link was used already"), nil
		case errors.Is(err, store.ErrExpired):
			return p.denyLogin(ctx, a, ev, contract.LoginReasonLinkExpired, msgLinkDenied, "the recovery link expired"), nil
		case err != nil:
			return contract.CompleteLoginResponse{}, storageError("redeem recovery link", err)
		}
		p.log.Warn("recovery link used: second factor reset", "operator_id", op.ID)
		return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed, Message: msgLinkReset.English(), Text: msgLinkReset.Text()}, nil
	})
}
