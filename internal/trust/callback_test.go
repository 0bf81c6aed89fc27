package trust

import (
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Case 1: an empty or unknown state at the callback is denied with its
// precise reason, audited, and Duo is never asked to exchange the code.
func TestCase01EmptyOrUnknownStateDeniedWithoutCallingDuo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	cases := []struct {
		name   string
		state  string
		reason contract.LoginReason
	}{
		{"empty", "", contract.LoginReasonBadRequest},
		{"unknown", strings.Repeat("u", 36), contract.LoginReasonStateUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.complete(alice, tc.state, tc.state, "a-duo-code-of-plausible-length")
			wantDenied(t, tc.name+" state", res.Decision, res.Reason, res.Message, tc.reason)
			if res.Message != contract.TextLoginDenied.English() {
				t.Fatalf("browser message %q, want the generic denial", res.Message)
			}
			e.wantLastEvent(alice, "login.complete", "denied", tc.reason)
			if n := e.sim.Stats().TokenExchanges; n != 0 {
				t.Fatalf("Duo saw %d token exchanges for a login whose state was %s, want 0", n, tc.name)
			}
		})
	}
}

// Case 2: a state issued for operator A, presented in B's pre-auth
// session (B's browser carries A's state and Duo's code for A), is denied
// state_other_operator before Duo is asked, and does not spend A's login.
func TestCase02StateOfAnotherOperatorDenied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice, bob)
	b := e.redirect(alice)
	q := e.browser(b.RedirectURL)

	res := e.complete(bob, b.State, q.Get("state"), q.Get("duo_code"))
	wantDenied(t, "alice's state in bob's session", res.Decision, res.Reason, res.Message, contract.LoginReasonStateOtherOperator)
	ev := e.wantLastEvent(bob, "login.complete", "denied", contract.LoginReasonStateOtherOperator)
	if strings.Contains(ev.Detail, b.State) {
		t.Fatal("the audit detail holds the state")
	}
	if n := e.sim.Stats().TokenExchanges; n != 0 {
		t.Fatalf("Duo saw %d token exchanges for a state of another operator, want 0", n)
	}
	if evs := e.events(alice, "login.complete"); len(evs) != 0 {
		t.Fatalf("bob's attempt was written as alice's: %+v", evs)
	}
	// Alice's login is still hers to complete.
	if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("alice after bob's attempt = %+v, want CONFIRM_BACKUP_CODES (her first Duo login)", res)
	}
}

// Case 3: a completed login's callback, replayed, is denied
// state_already_used, and Duo sees the code exchanged exactly once: the
// state is consumed before the exchange. A forged code spends the state
// too, so the real code that follows is refused without reaching Duo.
func TestCase03ReplayedCallbackDenied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	e.setUpCodes(alice)

	t.Run("replay after an allow", func(t *testing.T) {
		b := e.redirect(alice)
		q := e.browser(b.RedirectURL)
		before := e.sim.Stats().TokenExchanges
		if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionAllowed {
			t.Fatalf("first callback = %+v, want ALLOWED", res)
		}
		e.wantLastEvent(alice, "login.complete", "allowed", "")
		res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
		wantDenied(t, "replay", res.Decision, res.Reason, res.Message, contract.LoginReasonStateUsed)
		e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonStateUsed)
		if n := e.sim.Stats().TokenExchanges - before; n != 1 {
			t.Fatalf("Duo saw %d token exchanges for one login and its replay, want 1", n)
		}
	})

	t.Run("state consumed before the exchange", func(t *testing.T) {
		b := e.redirect(alice)
		before := e.sim.Stats().TokenExchanges
		res := e.complete(alice, b.State, b.State, "forged-"+strings.Repeat("x", 30))
		wantDenied(t, "forged code", res.Decision, res.Reason, res.Message, contract.LoginReasonCodeRejected)
		e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonCodeRejected)
		q := e.browser(b.RedirectURL)
		res = e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
		wantDenied(t, "real code after the forgery", res.Decision, res.Reason, res.Message, contract.LoginReasonStateUsed)
		e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonStateUsed)
		if n := e.sim.Stats().TokenExchanges - before; n != 1 {
			t.Fatalf("Duo saw %d token exchanges, want 1 (the forged code's only)", n)
		}
	})
}

// Case 4: 20 concurrent callbacks with one state and one valid duo_code:
// exactly one ALLOWED, 19 denied state_already_used, each audited, and
// Duo asked once.
func TestCase04ConcurrentCallbacksOneAllow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	e.setUpCodes(alice) // so that the one allow is ALLOWED, not CONFIRM_BACKUP_CODES
	b := e.redirect(alice)
	q := e.browser(b.RedirectURL)
	before := e.sim.Stats().TokenExchanges
	eventsBefore := len(e.events(alice, "login.complete"))

	const n = 20
	oneWins(t, "CompleteLogin", n, contract.LoginReasonStateUsed, func() (contract.CompleteLoginResponse, error) {
		return e.p.CompleteLogin(ctxT(t), contract.CompleteLoginRequest{Operator: alice,
			SessionState: b.State, CallbackState: q.Get("state"), DuoCode: q.Get("duo_code"), Client: client})
	})
	if x := e.sim.Stats().TokenExchanges - before; x != 1 {
		t.Fatalf("Duo saw %d token exchanges for %d callbacks with one state, want 1", x, n)
	}
	evs := e.events(alice, "login.complete")
	if len(evs)-eventsBefore != n {
		t.Fatalf("%d login.complete events for %d callbacks", len(evs)-eventsBefore, n)
	}
	byOutcome := map[string]int{}
	for _, ev := range evs[:n] {
		byOutcome[ev.Outcome+"/"+ev.Reason]++
	}
	if byOutcome["allowed/"] != 1 || byOutcome["denied/"+string(contract.LoginReasonStateUsed)] != n-1 {
		t.Fatalf("audit of the %d callbacks: %v", n, byOutcome)
	}
}

// Case 9: Duo's health check failing, with the default settings (fail
// closed): BeginLogin is denied duo_unavailable, audited with the detail,
// and the browser gets the generic sentence, never the detail.
func TestCase09HealthCheckFailingDeniesGenerically(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	e.sim.SetHealthy(false)
	res := e.begin(alice)
	wantDenied(t, "Duo unhealthy", res.Decision, res.Reason, res.Message, contract.LoginReasonDuoUnavailable)
	if res.RedirectURL != "" || res.State != "" {
		t.Fatalf("a denial carries a redirect or a state: %+v", res)
	}
	if want := contract.TextDuoUnavailable.English(); res.Message != want {
		t.Fatalf("browser message %q, want exactly %q", res.Message, want)
	}
	ev := e.wantLastEvent(alice, "login.begin", "denied", contract.LoginReasonDuoUnavailable)
	if ev.Detail == "" || strings.Contains(res.Message, ev.Detail) {
		t.Fatalf("audit detail %q empty, or shown to the browser", ev.Detail)
	}
	if e.sim.Stats().Failures[duosim.FailureUnhealthy] < 1 {
		t.Fatal("the plugin decided without asking Duo's health")
	}
}
