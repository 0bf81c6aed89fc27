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
// code or a bypass code instead of Duo, for an operator Duo is required of
// (by their toggle or by enforcement). Junk is refused before any lookup,
// and counted as a failure; the store tries the code as a backup code,
// then as a bypass code (as its shape allows), and spends it by one
// conditional UPDATE, in the one transaction that checks the lockout and
// records the login and its audit event (or counts the failure with its
// denial), so a code is either spent with its login recorded or not spent
// at all, and no number of concurrent guesses gets more than the lockout
// threshold tried.
func (p *Plugin) RedeemCode(ctx context.Context, req contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error) {
	op := req.Operator
	return p.loginPageCall(ctx, op, req.Client, "login.code", func(a *activeState, ev store.Event, st store.Toggle) (contract.CompleteLoginResponse, error) {
		if r := requirement(*a.duo.Load(), op, st.Enabled); !r.Required() {
			return p.denyLogin(ctx, a, ev, contract.LoginReasonNotEnabled, msgCodeDenied,
				fmt.Sprintf("Duo is not required for this operator (%s), so codes are not used", r)), nil
		}
		code, err := codes.Parse(req.Code)
		if err != nil {
			return p.failLogin(ctx, a, op, ev, contract.LoginReasonCodeMalformed, msgCodeShape,
				fmt.Sprintf("%d bytes that cannot be a backup or bypass code", len(req.Code))), nil
		}
		return p.redeem(ctx, a, op, code, ev)
	})
}

// loginPageCall runs answer for a call of the login page after the
// password (the Duo callback, a code, a ticket, a recovery link): it
// carries no actor, as the host makes it for an operator whose password it
// checked. The operator is checked, the plugin must be active, ev is the
// call's audit event, stamped now, and st what the login path reads of
// the operator. A locked operator is refused here, before anything else.
func (p *Plugin) loginPageCall(ctx context.Context, op contract.Operator, client contract.ClientInfo, kind string,
	answer func(a *activeState, ev store.Event, st store.Toggle) (contract.CompleteLoginResponse, error)) (contract.CompleteLoginResponse, error) {
	if err := validateOperator(op); err != nil {
		return contract.CompleteLoginResponse{}, err
	}
	var res contract.CompleteLoginResponse
	err := p.withActive(ctx, func(a *activeState) error {
		ev := store.Event{At: p.now(), Kind: kind, OperatorID: op.ID, ClientIP: client.IP, UserAgent: client.UserAgent}
		st, err := a.store.OperatorToggle(ctx, op.ID)
		if err != nil {
			return storageError(kind+": operator state", err)
		}
		if st.Locked(ev.At) {
			res = p.refuseLocked(ctx, a, ev, st.Lock)
			return nil
		}
		res, err = answer(a, ev, st)
		return err
	})
	return res, err
}

// redeem spends code as whichever kind it may be, at ev.At, and answers
// with the most precise reason when it cannot (counted as a failure).
func (p *Plugin) redeem(ctx context.Context, a *activeState, op contract.Operator, code codes.Code, ev store.Event) (contract.CompleteLoginResponse, error) {
	opID := op.ID
	var backupHash, bypassHash []byte
	if code.MayBeBackup() {
		backupHash = a.codes.Code(codes.PurposeBackupCode, opID, code)
	}
	if code.MayBeBypass() {
		bypassHash = a.codes.Code(codes.PurposeBypassCode, opID, code)
	}
	d := *a.duo.Load()
	denial := func(r store.Redemption, err error) store.Event {
		reason, detail := codeRefusal(r, err)
		done := ev
		done.Outcome, done.Reason, done.Detail = "denied", string(reason), detail
		return done
	}
	r, f, err := a.store.RedeemCodeCounted(ctx, op, backupHash, bypassHash, ev.At, lockoutOf(d), func(r store.Redemption) store.Event {
		done := ev
		done.Outcome = "allowed"
		if r.Kind == store.BypassCode {
			done.Notice = contract.NoticeBypassCodeUsed
			done.Detail = fmt.Sprintf("signed in with bypass code %s issued by %s (%s left)", r.Bypass.ID, r.Bypass.IssuedBy, plural(int(r.Bypass.UsesLeft), "use"))
		} else {
			done.Notice, done.Detail = contract.NoticeBackupCodeUsed, "signed in with a backup code"
		}
		return done
	}, denial, lockEvent(ev, d))
	switch {
	case err == nil && r.Kind == store.BypassCode:
		p.log.Info("login allowed by a bypass code", "operator_id", opID, "bypass_code_id", r.Bypass.ID)
		return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
	case err == nil:
		p.log.Info("login allowed by a backup code", "operator_id", opID)
		return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
	case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConsumed) && !errors.Is(err, store.ErrLocked):
		return contract.CompleteLoginResponse{}, storageError("redeem code", err)
	}
	// Refused: counted, with its denial, in the store's transaction.
	reason, _ := codeRefusal(r, err)
	return p.afterFailure(ctx, a, ev, reason, msgCodeDenied, f, err), nil
}

// codeRefusal is the precise reason a code was refused.
func codeRefusal(r store.Redemption, err error) (contract.LoginReason, string) {
	switch {
	case errors.Is(err, store.ErrRevoked):
		return contract.LoginReasonCodeRevoked, "the bypass code was revoked"
	case errors.Is(err, store.ErrExpired):
		return contract.LoginReasonCodeExpired, "the bypass code expired"
	case errors.Is(err, store.ErrUsed) && r.Kind == store.BypassCode:
		return contract.LoginReasonCodeUsed, "the bypass code has no uses left"
	case errors.Is(err, store.ErrUsed):
		return contract.LoginReasonCodeUsed, "the backup code was used already"
	}
	return contract.LoginReasonCodeWrong, "no backup or bypass code of this operator matches"
}
