package trust

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Case 10: a token endpoint that accepts the connection and never answers:
// the callback is denied duo_timeout within the configured Duo timeout
// (2 s here), the plugin's decision well before the SDK's 10 s call
// deadline. (internal/integration.TestTimeoutsNest proves the same of
// BeginLogin's health check in both fail modes; this is the code
// exchange.)
func TestCase10TokenEndpointNeverAnswers(t *testing.T) {
	t.Parallel()
	const duoTimeout = 2 * time.Second // newEnv's DUO_PLUGIN_DUO_TIMEOUT
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	b := e.redirect(alice)
	q := e.browser(b.RedirectURL)
	e.sim.SetUnresponsive(true)
	start := time.Now()
	res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
	took := time.Since(start)
	wantDenied(t, "token endpoint never answers", res.Decision, res.Reason, res.Message, contract.LoginReasonDuoTimeout)
	e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonDuoTimeout)
	if held := e.sim.Stats().Held; held < 1 {
		t.Fatal("Duo held no request: the plugin decided without calling Duo")
	}
	// The plugin gave Duo its whole timeout, and decided soon after it:
	// well before the SDK's call deadline of 10 s.
	if took < duoTimeout || took > duoTimeout+3*time.Second {
		t.Fatalf("CompleteLogin answered after %v, want the Duo timeout (%v) and little more", took, duoTimeout)
	}
}

// Case 12: the plugin process dies inside BeginLogin (SIGKILLed while
// Duo's health check holds the call): the host answers with an error
// matching host.ErrUnavailable, which a host treats as deny, never
// NOT_REQUIRED; nothing was audited as decided; and after the restart
// the next login goes to Duo.
func TestCase12PluginCrashInsideBeginLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, tweak: func(o *host.Options) {
		// Duo's own timeout longer than the call's: the kill, not a
		// timeout, ends the call.
		o.Env = append(o.Env, "DUO_PLUGIN_DUO_TIMEOUT=30s")
		o.PingInterval = 100 * time.Millisecond
		o.RestartBackoffMin = 200 * time.Millisecond
		o.RestartBackoffMax = 500 * time.Millisecond
	}}, alice)
	e.sim.SetUnresponsive(true)
	pid := e.p.State().PID
	type answer struct {
		res contract.BeginLoginResponse
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := e.p.BeginLogin(ctxT(t), contract.BeginLoginRequest{Operator: alice, Client: client})
		done <- answer{res, err}
	}()
	waitfor.Until(t, 10*time.Second, "BeginLogin's health check held at Duo", func() bool { return e.sim.Stats().Held >= 1 })
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var a answer
	select {
	case a = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("BeginLogin did not return after the plugin was killed")
	}
	if a.err == nil || !errors.Is(a.err, host.ErrUnavailable) {
		t.Fatalf("BeginLogin across a crash = %+v, %v; want an error matching host.ErrUnavailable", a.res, a.err)
	}
	if a.res.Decision == contract.DecisionNotRequired || a.res.Decision == contract.DecisionRedirect {
		t.Fatalf("BeginLogin across a crash answered %v alongside its error", a.res.Decision)
	}

	e.sim.SetUnresponsive(false)
	waitfor.Until(t, 15*time.Second, "the plugin restarted and was activated again", func() bool {
		st := e.p.State()
		if st.Phase != host.PhaseRunning || st.PID == pid {
			return false
		}
		s, err := e.p.Status(ctxT(t), contract.StatusRequest{})
		return err == nil && s.Active
	})
	if evs := e.events(alice, "login.begin"); len(evs) != 0 {
		t.Fatalf("the crashed BeginLogin left audit events: %+v", evs)
	}
	if res := e.begin(alice); res.Decision != contract.DecisionRedirect {
		t.Fatalf("BeginLogin after the restart = %+v, want REDIRECT", res)
	}
}

// Case 11: the plugin killed between Duo's redirect and the callback.
// While it is down the host's CompleteLogin fails with ErrUnavailable (a
// deny); after the restart the pending login, kept in the database, works
// exactly once: the callback is ALLOWED, and again is state_already_used.
func TestCase11PluginKilledBetweenRedirectAndCallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, tweak: func(o *host.Options) {
		o.PingInterval = 100 * time.Millisecond
		// Long enough that the test sees the plugin down before it is
		// back.
		o.RestartBackoffMin = 2 * time.Second
		o.RestartBackoffMax = 2 * time.Second
	}}, alice)
	e.setUpCodes(alice)
	b := e.redirect(alice)
	q := e.browser(b.RedirectURL)
	callback := func() (contract.CompleteLoginResponse, error) {
		return e.p.CompleteLogin(ctxT(t), contract.CompleteLoginRequest{Operator: alice, SessionState: b.State,
			CallbackState: q.Get("state"), DuoCode: q.Get("duo_code"), Client: client})
	}

	pid := e.p.State().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 10*time.Second, "the host to notice the plugin died", func() bool {
		return e.p.State().Phase != host.PhaseRunning
	})
	res, err := callback()
	if err == nil || !errors.Is(err, host.ErrUnavailable) || res.Decision == contract.DecisionAllowed {
		t.Fatalf("the callback while the plugin is down = %+v, %v; want an error matching host.ErrUnavailable", res, err)
	}

	waitfor.Until(t, 15*time.Second, "the plugin restarted and was activated again", func() bool {
		st := e.p.State()
		if st.Phase != host.PhaseRunning || st.PID == pid {
			return false
		}
		s, err := e.p.Status(ctxT(t), contract.StatusRequest{})
		return err == nil && s.Active
	})
	before := e.sim.Stats().TokenExchanges
	if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionAllowed {
		t.Fatalf("the callback after the restart = %+v, want ALLOWED (once)", res)
	}
	e.wantLastEvent(alice, "login.complete", "allowed", "")
	res = e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
	wantDenied(t, "the callback again", res.Decision, res.Reason, res.Message, contract.LoginReasonStateUsed)
	e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonStateUsed)
	if n := e.sim.Stats().TokenExchanges - before; n != 1 {
		t.Fatalf("Duo saw %d token exchanges after the restart, want 1", n)
	}
}
