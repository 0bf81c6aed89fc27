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

// denyLogin audits ev as a denial with reason and detail and answers
// DENIED with msg: how every login-page call after the password denies
// (CompleteLogin and the recovery calls).
func (p *Plugin) denyLogin(ctx context.Context, a *activeState, ev store.Event, reason contract.LoginReason, msg contract.TextID, detail string) contract.CompleteLoginResponse {
	ev.Outcome, ev.Reason, ev.Detail = "denied", string(reason), detail
	p.audit(ctx, a, ev)
	p.log.Info("login denied", "kind", ev.Kind, "operator_id", ev.OperatorID, "reason", string(reason))
	return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: reason, Message: msg.English(), Text: msg.Text()}
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
