package hooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// RedeemCode implements contract.Recovery: the second factor by a backup
// code or a bypass code instead of Duo. Junk is refused before any lookup;
// a backup code is tried first, then a bypass code; each is spent by one
// conditional UPDATE, in the transaction that records the login and its
// audit event, so a code is either spent with its login recorded or not
// spent at all.
func (p *Plugin) RedeemCode(ctx context.Context, req contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error) {
	op := req.Operator
	return p.loginPageCall(op, req.Client, "login.code", func(a *activeState, ev store.Event) (contract.CompleteLoginResponse, error) {
		code, err := codes.Parse(req.Code)
		if err != nil {
			return p.denyLogin(ctx, a, ev, contract.LoginReasonCodeMalformed, msgCodeShape,
				fmt.Sprintf("%d bytes that cannot be a backup or bypass code", len(req.Code))), nil
		}
		states, err := a.store.OperatorStates(ctx, []string{op.ID})
		if err != nil {
			return contract.CompleteLoginResponse{}, storageError("redeem code: operator state", err)
		}
		if !states[op.ID].Enabled {
			return p.denyLogin(ctx, a, ev, contract.LoginReasonNotEnabled, msgCodeDenied, "Duo is not enabled for this operator, so codes are not used"), nil
		}
		return p.redeem(ctx, a, op.ID, code, ev.At, ev)
	})
}

// loginPageCall runs answer for a call of the login page that stands in
// for Duo (a code, a ticket, a recovery link): it carries no actor, as the
// host makes it for an operator whose password it checked. The operator is
// checked, the plugin must be active, and ev is the call's audit event,
// stamped now.
func (p *Plugin) loginPageCall(op contract.Operator, client contract.ClientInfo, kind string,
	answer func(a *activeState, ev store.Event) (contract.CompleteLoginResponse, error)) (contract.CompleteLoginResponse, error) {
	if err := validateOperator(op); err != nil {
		return contract.CompleteLoginResponse{}, err
	}
	var res contract.CompleteLoginResponse
	err := p.withActive(func(a *activeState) error {
		var err error
		res, err = answer(a, store.Event{At: p.now(), Kind: kind, OperatorID: op.ID, ClientIP: client.IP})
		return err
	})
	return res, err
}

// redeem tries code as a backup code, then as a bypass code, and answers
// with the most precise reason when neither works.
func (p *Plugin) redeem(ctx context.Context, a *activeState, opID string, code codes.Code, now time.Time, ev store.Event) (contract.CompleteLoginResponse, error) {
	allowed := contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}
	backupErr := store.ErrNotFound
	if code.MayBeBackup() {
		done := ev
		done.Outcome, done.Detail, done.Notice = "allowed", "signed in with a backup code", contract.NoticeBackupCodeUsed
		backupErr = a.store.RedeemBackupCode(ctx, opID, a.codes.Code(codes.PurposeBackupCode, opID, code), now, done)
		switch {
		case backupErr == nil:
			p.log.Info("login allowed by a backup code", "operator_id", opID)
			return allowed, nil
		case !errors.Is(backupErr, store.ErrNotFound) && !errors.Is(backupErr, store.ErrUsed):
			return contract.CompleteLoginResponse{}, storageError("redeem backup code", backupErr)
		}
	}
	bypassErr := store.ErrNotFound
	if code.MayBeBypass() {
		var b contract.BypassCode
		b, bypassErr = a.store.RedeemBypassCode(ctx, opID, a.codes.Code(codes.PurposeBypassCode, opID, code), now, func(b contract.BypassCode) store.Event {
			done := ev
			done.Outcome, done.Notice = "allowed", contract.NoticeBypassCodeUsed
			done.Detail = fmt.Sprintf("signed in with bypass code %s issued by %s (%s left)", b.ID, b.IssuedBy, plural(int(b.UsesLeft), "use"))
			return done
		})
		switch {
		case bypassErr == nil:
			p.log.Info("login allowed by a bypass code", "operator_id", opID, "bypass_code_id", b.ID)
			return allowed, nil
		case !errors.Is(bypassErr, store.ErrNotFound) && !errors.Is(bypassErr, store.ErrConsumed):
			return contract.CompleteLoginResponse{}, storageError("redeem bypass code", bypassErr)
		}
	}
	reason, detail := contract.LoginReasonCodeWrong, "no backup or bypass code of this operator matches"
	switch {
	case errors.Is(bypassErr, store.ErrRevoked):
		reason, detail = contract.LoginReasonCodeRevoked, "the bypass code was revoked"
	case errors.Is(bypassErr, store.ErrExpired):
		reason, detail = contract.LoginReasonCodeExpired, "the bypass code expired"
	case errors.Is(bypassErr, store.ErrUsed):
		reason, detail = contract.LoginReasonCodeUsed, "the bypass code has no uses left"
	case errors.Is(backupErr, store.ErrUsed):
		reason, detail = contract.LoginReasonCodeUsed, "the backup code was used already"
	}
	return p.denyLogin(ctx, a, ev, reason, msgCodeDenied, detail), nil
}
