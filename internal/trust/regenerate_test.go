package trust

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// self is op acting on themselves, as the host says it: an agent.
func self(op contract.Operator) contract.Actor {
	return contract.Actor{ID: op.ID, Username: op.Username, IP: client.IP, Role: contract.RoleAgent}
}

func (e *env) regenerate(op contract.Operator, who contract.Actor) (contract.RegenerateBackupCodesResponse, error) {
	return e.p.RegenerateBackupCodes(ctxT(e.t), contract.RegenerateBackupCodesRequest{Operator: op, Actor: who})
}

// duoLogin signs op in with Duo (codes already set up) and fails unless
// it is ALLOWED.
func (e *env) duoLogin(op contract.Operator) {
	e.t.Helper()
	b := e.redirect(op)
	q := e.browser(b.RedirectURL)
	if res := e.complete(op, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionAllowed {
		e.t.Fatalf("Duo login of %s = %+v, want ALLOWED", op.Username, res)
	}
}

// wantReason fails unless err is the contract error with reason.
func wantReason(t *testing.T, what string, err error, want contract.ErrorReason) {
	t.Helper()
	if got := contract.ReasonOf(err); got != want {
		t.Fatalf("%s: %v (reason %q), want %s", what, err, got, want)
	}
}

// Case 19, the full login: backup codes are replaced only by the operator
// themselves (the host vouches for the actor, as for every call) and only
// within 10 minutes of a sign-in with Duo that the plugin itself recorded.
// The host's word is not proof of a fresh login; the plugin's own record
// of Duo's answer is. A sign-in by a backup code or a help desk's bypass
// code is not a full login: it would turn one seen code, or an hour's
// bypass, into a lasting set and kill the operator's own. Each refusal is
// audited.
//
// The sign-in with Duo is made old from outside: the plugin's clock is
// the real one, so the test moves the recorded time back 11 minutes in
// the database, as if the sign-in had been that long ago.
func TestCase19RegenerateNeedsAFullLogin(t *testing.T) {
	t.Parallel()
	// Trying every old code afterwards counts failures: keep the lockout
	// out of the way.
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, values: map[string]string{"lockout_threshold": "100"}}, alice, bob)
	old := e.setUpCodes(alice)
	e.setUpCodes(bob)

	// Nobody but alice, not even an admin or the help desk.
	for _, who := range []contract.Actor{admin, self(bob), {ID: "7", Username: "desk", Role: contract.RoleHelpDesk}} {
		_, err := e.regenerate(alice, who)
		wantReason(t, "regenerate alice's codes as "+who.Username, err, contract.ReasonPermission)
	}

	db := e.openPluginDB()
	age := func() {
		t.Helper()
		if _, err := db.ExecContext(ctxT(t), `UPDATE operators SET duo_factor_at = duo_factor_at - 660, second_factor_at = second_factor_at - 660 WHERE id = ?`, alice.ID); err != nil {
			t.Fatal(err)
		}
	}
	age()
	_, err := e.regenerate(alice, self(alice))
	wantReason(t, "regenerate 11 minutes after the Duo sign-in", err, contract.ReasonReauthenticate)

	// A backup code just now is not enough.
	if res := e.redeem(alice, old[0]); res.Decision != contract.DecisionAllowed {
		t.Fatalf("sign-in by backup code = %+v", res)
	}
	_, err = e.regenerate(alice, self(alice))
	wantReason(t, "regenerate right after a backup code", err, contract.ReasonReauthenticate)

	// Nor is a bypass code from the help desk.
	issued, err := e.p.IssueBypassCode(ctxT(t), contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent,
		Actor: contract.Actor{ID: "7", Username: "desk", Role: contract.RoleHelpDesk}})
	if err != nil {
		t.Fatal(err)
	}
	if res := e.redeem(alice, issued.Code); res.Decision != contract.DecisionAllowed {
		t.Fatalf("sign-in by bypass code = %+v", res)
	}
	_, err = e.regenerate(alice, self(alice))
	wantReason(t, "regenerate right after a bypass code", err, contract.ReasonReauthenticate)
	refused := e.events(alice, "backup_codes.regenerate_refused")
	if len(refused) != 3 {
		t.Fatalf("%d regenerate_refused events, want 3 (the permission refusals are permission.denied)", len(refused))
	}
	for _, ev := range refused {
		if ev.Outcome != "denied" || ev.Reason != string(contract.ReasonReauthenticate) || ev.ActorID != alice.ID {
			t.Fatalf("refusal audited as %+v", ev)
		}
	}
	if n := len(e.events(alice, "permission.denied")); n != 3 {
		t.Fatalf("%d permission.denied events for alice, want 3", n)
	}

	// Her old codes still work: the refusals replaced nothing.
	if res := e.redeem(alice, old[1]); res.Decision != contract.DecisionAllowed {
		t.Fatalf("an old code after the refusals = %+v, want ALLOWED", res)
	}
	// A sign-in with Duo is: she gets a new set, and no old code works.
	e.duoLogin(alice)
	res, err := e.regenerate(alice, self(alice))
	if err != nil || len(res.BackupCodes) != len(old) || res.State.BackupCodesLeft != int32(len(old)) {
		t.Fatalf("regenerate right after Duo = %+v, %v", res, err)
	}
	// Spent or not, every old code is gone with its set: unknown now.
	for _, c := range old {
		r := e.redeem(alice, c)
		wantDenied(t, "an old code after regenerating", r.Decision, r.Reason, r.Message, contract.LoginReasonCodeWrong)
	}
	if r := e.redeem(alice, res.BackupCodes[0]); r.Decision != contract.DecisionAllowed {
		t.Fatalf("a new code = %+v, want ALLOWED", r)
	}
}

// Case 19, atomically: redemptions of the current set race a regenerate,
// many rounds. Whatever the interleaving, an old code is allowed only if
// its spend committed before the new set (its login.code event comes
// before the backup_codes.regenerated event in the log, which is written
// in the same transaction as each), no redemption that starts after the
// regenerate answered is allowed, every old code is refused afterwards,
// and the new set is whole.
func TestCase19RegenerateKillsTheOldSetAtomically(t *testing.T) {
	t.Parallel()
	// Refused old codes count as failures: keep the lockout out of the way.
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, values: map[string]string{"lockout_threshold": "100"}}, alice)
	set := e.setUpCodes(alice)
	const rounds = 8
	allowedBefore, deniedAfter := 0, 0
	for round := range rounds {
		answers := make([]contract.CompleteLoginResponse, len(set))
		started := make([]time.Time, len(set))
		var regen contract.RegenerateBackupCodesResponse
		var regenErr error
		var regenDone time.Time
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, c := range set {
			wg.Go(func() {
				<-start
				time.Sleep(time.Duration(rand.IntN(4000)) * time.Microsecond)
				started[i] = time.Now()
				answers[i], _ = e.p.RedeemCode(context.Background(), contract.RedeemCodeRequest{Operator: alice, Code: c, Client: client})
			})
		}
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			regen, regenErr = e.p.RegenerateBackupCodes(context.Background(), contract.RegenerateBackupCodesRequest{Operator: alice, Actor: self(alice)})
			regenDone = time.Now()
		})
		close(start)
		wg.Wait()
		if regenErr != nil {
			t.Fatalf("round %d: regenerate: %v", round, regenErr)
		}

		regenerated := e.events(alice, "backup_codes.regenerated")
		if len(regenerated) != round+1 {
			t.Fatalf("round %d: %d regenerated events", round, len(regenerated))
		}
		cut := regenerated[0].ID
		// The login.code events of this round: newer than the last
		// round's regenerate.
		var since int64
		if len(regenerated) > 1 {
			since = regenerated[1].ID
		}
		allowedEvents := 0
		for _, ev := range e.events(alice, "login.code") {
			if ev.ID <= since || ev.Outcome != "allowed" {
				continue
			}
			allowedEvents++
			if ev.ID > cut {
				t.Fatalf("round %d: an old code was allowed (event %d) after the new set existed (event %d)", round, ev.ID, cut)
			}
		}
		allowed := 0
		for i, a := range answers {
			switch {
			case a.Decision == contract.DecisionAllowed:
				allowed++
				if started[i].After(regenDone) {
					t.Fatalf("round %d: code %d allowed although its redemption started after the regenerate answered", round, i)
				}
			case a.Decision == contract.DecisionDenied && a.Reason == contract.LoginReasonCodeWrong:
				deniedAfter++
			default:
				t.Fatalf("round %d: code %d = %+v, want ALLOWED or DENIED code_wrong", round, i, a)
			}
		}
		if allowed != allowedEvents {
			t.Fatalf("round %d: %d answers ALLOWED but %d allowed events", round, allowed, allowedEvents)
		}
		allowedBefore += allowed
		for _, c := range set {
			r := e.redeem(alice, c)
			wantDenied(t, "an old code after the round", r.Decision, r.Reason, r.Message, contract.LoginReasonCodeWrong)
		}
		if st := e.stateOf(alice); st.BackupCodesLeft != int32(len(regen.BackupCodes)) {
			t.Fatalf("round %d: %d codes left, want the whole new set of %d", round, st.BackupCodesLeft, len(regen.BackupCodes))
		}
		set = regen.BackupCodes
	}
	t.Logf("%d rounds: %d old codes allowed before the new set, %d refused after", rounds, allowedBefore, deniedAfter)
	if allowedBefore == 0 || deniedAfter == 0 {
		t.Logf("the race never went both ways; the rounds proved less than they could")
	}
}

func (e *env) stateOf(op contract.Operator) contract.OperatorState {
	e.t.Helper()
	res, err := e.p.GetOperatorStates(ctxT(e.t), contract.GetOperatorStatesRequest{Operators: []contract.Operator{op}, Actor: admin})
	if err != nil || len(res.States) != 1 {
		e.t.Fatalf("GetOperatorStates = %+v, %v", res, err)
	}
	return res.States[0]
}
