package integration

import (
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// TestSteadyLoginsOpenNoNewDuoConnections: once warm, logins and the
// health checks before each of them (the environment caches no health
// result) reuse the plugin's keep-alive connections to Duo, as do saving
// settings (checked with Duo) and a change of credentials' settings that
// keeps the trust setting. Connections are counted by the simulator, so
// the test browser's own are in the count too (it keeps them alive as
// well). A count, not a timing: safe to assert.
func TestSteadyLoginsOpenNoNewDuoConnections(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice, bob)
	for range 3 { // warm-up: first logins set up backup codes
		for _, op := range []contract.Operator{alice, bob} {
			if res := e.loginAs(op); res.Decision != contract.DecisionAllowed {
				t.Fatalf("warm-up login of %s = %+v", op.Username, res)
			}
		}
	}
	st := e.sim.Stats()
	conns, checks := st.Connections, st.HealthChecks
	const n = 30
	for i := range n {
		op := alice
		if i%2 == 1 {
			op = bob
		}
		if res := e.loginAs(op); res.Decision != contract.DecisionAllowed {
			t.Fatalf("login %d of %s = %+v", i, op.Username, res)
		}
	}
	// Saving the same settings again runs Duo's check with them.
	app := e.app
	res, err := e.p.UpdateSettings(ctxT(t), contract.UpdateSettingsRequest{Actor: admin, Values: map[string]string{
		"client_id": app.ClientID, "client_secret": app.ClientSecret.Reveal(), "api_hostname": e.sim.APIHost(),
		"ca_file": e.sim.CAFile(), "fail_mode": "closed",
	}})
	if err != nil || !res.Saved || !res.Duo.OK {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	if res := e.loginAs(alice); res.Decision != contract.DecisionAllowed {
		t.Fatalf("login after saving = %+v", res)
	}
	if got := e.sim.Stats().HealthChecks - checks; got < n+1 {
		t.Fatalf("the simulator saw %d health checks, want at least %d (one before each login, one on save)", got, n+1)
	}
	if got := e.sim.Stats().Connections - conns; got != 0 {
		t.Fatalf("%d logins and their health checks opened %d new connections to Duo after warm-up, want 0", n+1, got)
	}
}
