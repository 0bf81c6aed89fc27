package trust

import (
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Case 5: a pending login past its lifetime is denied state_expired, and
// the plugin's sweep then purges its row: the same state, looked up
// again, is unknown ("no pending login has this state"), not expired.
//
// The plugin's clock is the real one, so the test waits for it: the
// shortest login lifetime (30 s), then the sweep's period (at most once a
// minute, run by BeginLogin; this process's first BeginLogin ran it
// before t0). About a minute in all.
func TestCase05ExpiredStateDeniedAndPurged(t *testing.T) {
	t.Parallel()
	const lifetime, sweepPeriod = 30 * time.Second, 60 * time.Second
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, values: map[string]string{"login_timeout_seconds": "30"}}, alice, bob)
	// The process's first BeginLogin: it sweeps, and its login expires a
	// lifetime later, both before t0.
	b := e.redirect(alice)
	t0 := time.Now()
	q := e.browser(b.RedirectURL)

	// One second more than the lifetime, beyond the resolution of the
	// plugin's stored times.
	waitfor.Until(t, lifetime+30*time.Second, "the pending login's lifetime to pass", func() bool {
		return time.Since(t0) > lifetime+time.Second
	})
	before := e.sim.Stats().TokenExchanges
	res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
	wantDenied(t, "expired state", res.Decision, res.Reason, res.Message, contract.LoginReasonStateExpired)
	e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonStateExpired)
	if e.sim.Stats().TokenExchanges != before {
		t.Fatal("Duo was asked to exchange the code of an expired login")
	}

	// The next sweep: a BeginLogin (bob's) a full period after the first.
	waitfor.Until(t, sweepPeriod+30*time.Second, "the sweep's period to pass", func() bool {
		return time.Since(t0) > sweepPeriod+time.Second // the sweep counts whole seconds
	})
	e.redirect(bob)
	res = e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
	wantDenied(t, "purged state", res.Decision, res.Reason, res.Message, contract.LoginReasonStateUnknown)
	if ev := e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonStateUnknown); ev.Detail != "no pending login has this state" {
		t.Fatalf("state_unknown for another cause than a purged row: %q", ev.Detail)
	}
}
