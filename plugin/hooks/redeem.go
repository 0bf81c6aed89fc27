package hooks

import (
	"context"
	"errors"
	"fmt"

	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// RedeemCode implements contract.Recovery: the second factor by a backup
// code or a bypass code instead of Duo. Junk is refused before any lookup;
// the store tries the code as a backup code, then as a bypass code (as its
// shape allows), and spends it by one conditional UPDATE, in the one
// transaction that records the login and its audit event, so a code is
// either spent with its login recorded or not spent at all.
func (p *Plugin) RedeemCode(ctx context.Context, req contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error) {
	op := req.Operator
	return p.loginPageCall(op, req.Client, "login.code", func(a *activeState, ev store.Event) (contract.CompleteLoginResponse, error) {
		code, err := codes.Parse(req.Code)
		if err != nil {
			return p.denyLogin(ctx, a, ev, contract.LoginReasonCodeMalformed, msgCodeShape,
				fmt.Sprintf("%d bytes that cannot be a backup or bypass code", len(req.Code))), nil
		}
		st, err := a.store.OperatorToggle(ctx, op.ID)
		if err != nil {
			return contract.CompleteLoginResponse{}, storageError("redeem code: operator state", err)
		}
		if !st.Enabled {
			return p.denyLogin(ctx, a, ev, contract.LoginReasonNotEnabled, msgCodeDenied, "Duo is not enabled for this operator, so codes are not used"), nil
		}
		return p.redeem(ctx, a, op.ID, code, ev)
	})
}

// loginPageCall runs answer for a call of the login page after the
// password (the Duo callback, a code, a ticket, a recovery link): it
// carries no actor, as the host makes it for an operator whose password it
// checked. The operator is checked, the plugin must be active, and ev is
// the call's audit event, stamped now.
func (p *Plugin) loginPageCall(op contract.Operator, client contract.ClientInfo, kind string,
	answer func(a *activeState, ev store.Event) (contract.CompleteLoginResponse, error)) (contract.CompleteLoginResponse, error) {
	if err := validateOperator(op); err != nil {
		return contract.CompleteLoginResponse{}, err
	}
	var res contract.CompleteLoginResponse
	err := p.withActive(func(a *activeState) error {
		var err error
		res, err = answer(a, store.Event{At: p.now(), Kind: kind, OperatorID: op.ID, ClientIP: client.IP, UserAgent: client.UserAgent})
		return err
	})
	return res, err
}

// redeem spends code as whichever kind it may be, at ev.At, and answers
// with the most precise reason when it cannot.
func (p *Plugin) redeem(ctx context.Context, a *activeState, opID string, code codes.Code, ev store.Event) (contract.CompleteLoginResponse, error) {
	var backupHash, bypassHash []byte
	if code.MayBeBackup() {
		backupHash = a.codes.Code(codes.PurposeBackupCode, opID, code)
	}
	if code.MayBeBypass() {
		bypassHash = a.codes.Code(codes.PurposeBypassCode, opID, code)
	}
	r, err := a.store.RedeemCode(ctx, opID, backupHash, bypassHash, ev.At, func(r store.Redemption) store.Event {
		done := ev
		done.Outcome = "allowed"
		if r.Kind == store.BypassCode {
			done.Notice = contract.NoticeBypassCodeUsed
			done.Detail = fmt.Sprintf("signed in with bypass code %s issued by %s (%s left)", r.Bypass.ID, r.Bypass.IssuedBy, plural(int(r.Bypass.UsesLeft), "use"))
		} else {
			done.Notice, done.Detail = contract.NoticeBackupCodeUsed, "signed in with a backup code"
		}
		return done
	})
	reason, detail := contract.LoginReasonCodeWrong, "no backup or bypass code of this operator matches"
	switch {
	case err == nil && r.Kind == store.BypassCode:
		p.log.Info("login allowed by a bypass code", "operator_id", opID, "bypass_code_id", r.Bypass.ID)
		return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
	case err == nil:
		p.log.Info("login allowed by a backup code", "operator_id", opID)
		return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
	case errors.Is(err, store.ErrRevoked):
		reason, detail = contract.LoginReasonCodeRevoked, "the bypass code was revoked"
	case errors.Is(err, store.ErrExpired):
		reason, detail = contract.LoginReasonCodeExpired, "the bypass code expired"
	case errors.Is(err, store.ErrUsed) && r.Kind == store.BypassCode:
		reason, detail = contract.LoginReasonCodeUsed, "the bypass code has no uses left"
	case errors.Is(err, store.ErrUsed):
		reason, detail = contract.LoginReasonCodeUsed, "the backup code was used already"
	case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConsumed):
		return contract.CompleteLoginResponse{}, storageError("redeem code", err)
	}
	return p.denyLogin(ctx, a, ev, reason, msgCodeDenied, detail), nil
}
