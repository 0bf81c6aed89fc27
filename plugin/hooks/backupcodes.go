package hooks

import (
	"context"
	"errors"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Backup codes: a set is shown when Duo first vouches for an operator,
// counts only once the operator confirms they saved it, and is replaced
// only by the operator themselves, soon after proving their second factor.

// offerBackupCodes answers Duo's allow for an operator without backup
// codes: a fresh set, kept unconfirmed under a ticket (replacing any
// unconfirmed older set), shown once. ev is the login's audit event.
func (p *Plugin) offerBackupCodes(ctx context.Context, a *activeState, op contract.Operator, now time.Time, ev store.Event) (contract.CompleteLoginResponse, error) {
	n := a.duo.Load().BackupCodeCount
	shown, hashes, err := newBackupCodes(a, op.ID, n)
	if err != nil {
		return contract.CompleteLoginResponse{}, internalError("complete login: draw backup codes", err)
	}
	ticket, err := codes.NewToken()
	if err != nil {
		return contract.CompleteLoginResponse{}, internalError("complete login: draw a ticket", err)
	}
	ev.Outcome = "confirm_backup_codes"
	ev.Detail += "; backup codes shown, awaiting the operator's confirmation"
	err = a.store.CreateBackupCodeTicket(ctx, store.BackupCodeTicket{
		TicketHash: a.codes.Token(codes.PurposeTicket, op.ID, ticket), OperatorID: op.ID, CodeHashes: hashes,
		CreatedAt: now, ExpiresAt: now.Add(ticketLifetime),
	}, ev)
	if errors.Is(err, store.ErrLocked) {
		return p.refuseLockedNow(ctx, a, ev), nil
	}
	if err != nil {
		return contract.CompleteLoginResponse{}, storageError("complete login: keep the new backup codes", err)
	}
	p.log.Info("Duo allowed; backup codes shown for confirmation", "operator_id", op.ID, "codes", n)
	return contract.CompleteLoginResponse{Decision: contract.DecisionConfirmBackupCodes, Message: msgConfirmCodes.English(), Text: msgConfirmCodes.Text(),
		BackupCodes: shown, BackupCodesTicket: ticket.Encoded()}, nil
}

// ConfirmBackupCodes implements contract.Recovery: the operator saved the
// codes shown with the ticket, which become their set; they are signed in.
func (p *Plugin) ConfirmBackupCodes(ctx context.Context, req contract.ConfirmBackupCodesRequest) (contract.CompleteLoginResponse, error) {
	op := req.Operator
	return p.loginPageCall(ctx, op, req.Client, "backup_codes.confirm", func(a *activeState, ev store.Event, _ store.Toggle) (contract.CompleteLoginResponse, error) {
		ticket, err := codes.ParseToken(req.Ticket)
		if err != nil {
			return p.denyLogin(ctx, a, ev, contract.LoginReasonTicketUnknown, msgTicketDenied, "the ticket does not have the shape of one this plugin hands out"), nil
		}
		done := ev
		done.Outcome, done.Detail, done.Notice = "allowed", "backup codes confirmed; signed in", contract.NoticeBackupCodesIssued
		err = a.store.ConfirmBackupCodes(ctx, a.codes.Token(codes.PurposeTicket, op.ID, ticket), op.ID, ev.At, done)
		switch {
		case errors.Is(err, store.ErrLocked):
			return p.refuseLockedNow(ctx, a, ev), nil
		case errors.Is(err, store.ErrConsumed):
			return p.denyLogin(ctx, a, ev, contract.LoginReasonTicketUnknown, msgTicketDenied,
				"no unconfirmed set of this operator has this ticket: confirmed already, replaced by a newer set, expired, or another operator's"), nil
		case err != nil:
			return contract.CompleteLoginResponse{}, storageError("confirm backup codes", err)
		}
		p.log.Info("backup codes confirmed; login allowed", "operator_id", op.ID)
		return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
	})
}

// recentFactor is how soon after signing in with Duo an operator may
// replace their backup codes: someone who finds a signed-in session must
// not be able to mint themselves a fresh set. A sign-in by a backup or
// bypass code is not enough: one code someone saw, or a bypass code the
// help desk handed out for an hour, would become a lasting set, and the
// operator's own codes would stop working.
const recentFactor = 10 * time.Minute

// RegenerateBackupCodes implements contract.Recovery: a new set at once,
// for the operator themselves, soon after they signed in with Duo. The
// host's word that the actor is the operator is not enough: the store
// refuses, in the transaction that would replace the set, an operator Duo
// has not vouched for within recentFactor
// (REAUTHENTICATE), or who has no set yet (NO_BACKUP_CODES): only Duo's
// first success sets codes up, so a bypass code or a recovery link never
// turns into a lasting set, and a reset landing meanwhile is never undone.
// A refusal is audited.
func (p *Plugin) RegenerateBackupCodes(ctx context.Context, req contract.RegenerateBackupCodesRequest) (contract.RegenerateBackupCodesResponse, error) {
	op := req.Operator
	var out contract.RegenerateBackupCodesResponse
	err := p.actOn(ctx, op, request{call: callRegenerateBackupCodes, actor: req.Actor}, func(a *activeState) error {
		now := p.now()
		n := a.duo.Load().BackupCodeCount
		shown, hashes, err := newBackupCodes(a, op.ID, n)
		if err != nil {
			return internalError("regenerate backup codes: draw codes", err)
		}
		ev := by(store.Event{At: now, Kind: "backup_codes.regenerated", OperatorID: op.ID, Outcome: "ok",
			Notice: contract.NoticeBackupCodesRegenerated}, req.Actor)
		st, err := a.store.ReplaceBackupCodes(ctx, op.ID, hashes, now.Add(-recentFactor), now, ev)
		var refusal *contract.Error
		switch {
		case errors.Is(err, store.ErrFactorNotRecent):
			refusal = contract.Errorf(contract.ReasonReauthenticate, "sign in with Duo again first: backup codes can be replaced only within %d minutes of signing in with Duo (a backup or bypass code is not enough)", int(recentFactor/time.Minute))
		case errors.Is(err, store.ErrNoBackupCodes):
			refusal = contract.Errorf(contract.ReasonNoBackupCodes, "there are no backup codes to replace yet: the first set is issued at the operator's first sign-in with Duo")
		case err != nil:
			return storageError("regenerate backup codes", err)
		}
		if refusal != nil {
			p.audit(ctx, a, by(store.Event{At: now, Kind: "backup_codes.regenerate_refused", OperatorID: op.ID, Outcome: "denied",
				Reason: string(refusal.Reason), Detail: refusal.Message}, req.Actor))
			return refusal
		}
		p.log.Info("backup codes regenerated", "operator_id", op.ID, "codes", n)
		out = contract.RegenerateBackupCodesResponse{BackupCodes: shown, State: p.told(a, st, op)}
		return nil
	})
	return out, err
}
