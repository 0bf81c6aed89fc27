package trust

import (
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Case 17: as many second-factor failures as the lockout threshold (3
// here) lock the operator: the failures before are denied duo_denied,
// the one that reaches the threshold answers operator_locked, the lock is
// audited (operator.locked, outcome locked) and the host is notified (one
// operator_locked notice); then every login-page call, a good backup code
// included, is denied operator_locked, and audited so.
func TestCase17FailuresPastThresholdLock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, values: map[string]string{"lockout_threshold": "3"}}, alice)
	codes := e.setUpCodes(alice)
	e.sim.SetOutcome("alice", duosim.OutcomeDeny)
	for i := 1; i <= 3; i++ {
		b := e.redirect(alice)
		q := e.browser(b.RedirectURL)
		res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
		if i < 3 {
			wantDenied(t, "Duo's denial", res.Decision, res.Reason, res.Message, contract.LoginReasonDuoDenied)
			e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonDuoDenied)
			continue
		}
		wantDenied(t, "the denial that reaches the threshold", res.Decision, res.Reason, res.Message, contract.LoginReasonLocked)
		e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonDuoDenied)
	}
	if locks := e.events(alice, "operator.locked"); len(locks) != 1 || locks[0].Outcome != "locked" || locks[0].Reason != string(contract.LoginReasonLocked) {
		t.Fatalf("lock events: %+v, want one, outcome locked, reason %s", locks, contract.LoginReasonLocked)
	}
	notices, err := e.p.ListNotices(ctxT(t), contract.ListNoticesRequest{Limit: 500, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	locked := 0
	for _, n := range notices.Notices {
		if n.OperatorID == alice.ID && n.Kind == contract.NoticeOperatorLocked {
			locked++
		}
	}
	if locked != 1 {
		t.Fatalf("%d operator_locked notices for alice, want 1", locked)
	}

	e.sim.SetOutcome("alice", duosim.OutcomeAllow)
	b := e.begin(alice)
	wantDenied(t, "BeginLogin while locked", b.Decision, b.Reason, b.Message, contract.LoginReasonLocked)
	e.wantLastEvent(alice, "login.begin", "denied", contract.LoginReasonLocked)
	r := e.redeem(alice, codes[0])
	wantDenied(t, "a good backup code while locked", r.Decision, r.Reason, r.Message, contract.LoginReasonLocked)
	e.wantLastEvent(alice, "login.code", "denied", contract.LoginReasonLocked)
}
