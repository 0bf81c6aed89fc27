package trust

import (
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Case 15: a redeemed backup code submitted again is refused code_used,
// and audited so.
func TestCase15RedeemedBackupCodeRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	codes := e.setUpCodes(alice)
	if res := e.redeem(alice, codes[0]); res.Decision != contract.DecisionAllowed {
		t.Fatalf("first redemption = %+v, want ALLOWED", res)
	}
	e.wantLastEvent(alice, "login.code", "allowed", "")
	res := e.redeem(alice, codes[0])
	wantDenied(t, "second redemption", res.Decision, res.Reason, res.Message, contract.LoginReasonCodeUsed)
	e.wantLastEvent(alice, "login.code", "denied", contract.LoginReasonCodeUsed)
}

// Case 16: 50 parallel redemptions of one backup code: exactly one
// ALLOWED, 49 denied code_used, each audited. The lockout threshold is
// set to its maximum so that the refusals do not lock alice part-way
// (which would change their reason, not the one success).
func TestCase16ParallelRedemptionsOneSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, values: map[string]string{"lockout_threshold": "100"}}, alice)
	code := e.setUpCodes(alice)[0]
	before := len(e.events(alice, "login.code"))

	const n = 50
	oneWins(t, "RedeemCode", n, contract.LoginReasonCodeUsed, func() (contract.CompleteLoginResponse, error) {
		return e.p.RedeemCode(ctxT(t), contract.RedeemCodeRequest{Operator: alice, Code: code, Client: client})
	})
	evs := e.events(alice, "login.code")
	if len(evs)-before != n {
		t.Fatalf("%d login.code events for %d redemptions", len(evs)-before, n)
	}
	byOutcome := map[string]int{}
	for _, ev := range evs[:n] {
		byOutcome[ev.Outcome+"/"+ev.Reason]++
	}
	if byOutcome["allowed/"] != 1 || byOutcome["denied/"+string(contract.LoginReasonCodeUsed)] != n-1 {
		t.Fatalf("audit of the %d redemptions: %v", n, byOutcome)
	}
}
