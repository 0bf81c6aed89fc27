package hooks

import (
	"context"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// What the recovery calls share: the messages an operator sees, and the
// way a login-page call denies. The precise reason goes to the audit log;
// the browser gets a message that helps the operator without telling an
// attacker which guess came close.

// ticketLifetime is how long an operator has to confirm a new set of
// backup codes: long enough to copy ten codes into a password manager.
const ticketLifetime = 15 * time.Minute

const (
	msgConfirmCodes = "Duo is set up for your account. Save these backup codes somewhere safe, such as a password manager: each one signs you in once when you cannot use Duo. You will not see them again."
	msgCodeDenied   = "That code did not work. Check it and try again, or contact your administrator."
	msgCodeShape    = "That does not look like a backup code or a bypass code. Check what you typed and try again."
	msgTicketDenied = "Your backup codes could not be confirmed. Please sign in again: you will be shown a new set."
	msgLinkDenied   = "This recovery link does not work: it may have been used already or expired. Ask your administrator for a new one."
	msgLinkReset    = "Your two-factor set-up was reset. The next time you sign in with Duo you will receive new backup codes."
)

// denyLogin audits ev as a denial with reason and detail and answers
// DENIED with msg: how every login-page call after the password denies
// (CompleteLogin and the recovery calls).
func (p *Plugin) denyLogin(ctx context.Context, a *activeState, ev store.Event, reason contract.LoginReason, msg, detail string) contract.CompleteLoginResponse {
	ev.Outcome, ev.Reason, ev.Detail = "denied", string(reason), detail
	p.audit(ctx, a, ev)
	p.log.Info("login denied", "kind", ev.Kind, "operator_id", ev.OperatorID, "reason", string(reason))
	return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: reason, Message: msg}
}

// newBackupCodes draws n backup codes for the operator and returns them as
// shown and as the hashes the store keeps.
func newBackupCodes(a *activeState, operatorID string, n int) (shown []string, hashes [][]byte, err error) {
	for range n {
		c, err := codes.NewBackupCode()
		if err != nil {
			return nil, nil, err
		}
		shown = append(shown, c.Shown())
		hashes = append(hashes, a.codes.Code(codes.PurposeBackupCode, operatorID, c))
	}
	return shown, hashes, nil
}
