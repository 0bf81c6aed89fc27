package trust

import (
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// closeAndCheckLogs stops the plugin, so that all it wrote has reached
// the host's log, fails if any of secrets appears there, and returns the
// log.
func (e *env) closeAndCheckLogs(secrets ...string) string {
	e.t.Helper()
	if err := e.p.Close(); err != nil {
		e.t.Logf("close: %v", err)
	}
	logs := e.logs.String()
	testlog.CheckNoSecret(e.t, "host log", logs, secrets...)
	return logs
}

// Case 38, rejected credentials and untrusted certificates: Duo refusing
// the client (401 invalid_client at the health check, and at the code
// exchange of a login begun before the secret changed) or a certificate
// that does not verify is configuration, or an attack, never an outage:
// the login is denied duo_misconfigured in both fail modes, audited so,
// Status names the kind, and nothing is logged as a fail-open login.
func TestCase38FailOpenNeverForRejectedCredentialsOrUntrustedCert(t *testing.T) {
	t.Parallel()
	wrong := strings.Repeat("W", 40)
	cases := []struct {
		name    string
		values  map[string]string
		failure contract.DuoFailure
		// refusedByDuo: Duo answered and refused the client; otherwise
		// the TLS handshake failed and no request reached Duo.
		refusedByDuo bool
	}{
		{"wrong client secret", map[string]string{"client_secret": wrong}, contract.DuoCredentialsRejected, true},
		// Without the simulator's CA the plugin trusts only Duo's own roots.
		{"untrusted certificate", map[string]string{"ca_file": ""}, contract.DuoCertificateUntrusted, false},
	}
	for _, tc := range cases {
		for _, mode := range []string{"open", "closed"} {
			t.Run(tc.name+", fail "+mode, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: mode, values: tc.values, skipDuoCheck: true}, alice)
				res := e.begin(alice)
				wantDenied(t, "BeginLogin", res.Decision, res.Reason, res.Message, contract.LoginReasonDuoMisconfigured)
				e.wantLastEvent(alice, "login.begin", "denied", contract.LoginReasonDuoMisconfigured)
				stats := e.sim.Stats()
				if tc.refusedByDuo && stats.Failures[duosim.FailureInvalidClient] < 1 {
					t.Fatalf("Duo refused no client, yet the plugin says %s: %+v", tc.failure, stats)
				}
				if !tc.refusedByDuo && stats.HealthChecks != 0 {
					t.Fatalf("a health check reached Duo over a connection the plugin should not trust: %+v", stats)
				}
				st, err := e.p.Status(ctxT(t), contract.StatusRequest{})
				if err != nil || !st.Duo.Checked || st.Duo.OK || st.Duo.Failure != tc.failure || st.Duo.Detail == "" {
					t.Fatalf("Status = %+v, %v; want Duo failure %s", st, err, tc.failure)
				}
				logs := e.closeAndCheckLogs(e.sim.Apps()[0].ClientSecret.Reveal(), wrong)
				if strings.Contains(logs, "FAIL OPEN") {
					t.Fatal("the plugin logged a fail-open login although Duo was reachable")
				}
			})
		}
	}

	// The code exchange: a login begun with good settings, Duo's
	// callback in hand, then the client secret changed to one Duo
	// refuses. Fail open never applies at the callback: denied.
	t.Run("code exchange refused, fail open", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "open"}, alice)
		e.setUpCodes(alice)
		b := e.redirect(alice)
		q := e.browser(b.RedirectURL)
		up, err := e.p.UpdateSettings(ctxT(t), contract.UpdateSettingsRequest{Actor: admin, Values: map[string]string{"client_secret": wrong}, SkipDuoCheck: true})
		if err != nil || !up.Saved {
			t.Fatalf("UpdateSettings = %+v, %v", up, err)
		}
		before := e.sim.Stats().Failures[duosim.FailureInvalidClient]
		res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
		if res.Decision != contract.DecisionDenied || res.Message == "" {
			t.Fatalf("the callback with a client Duo refuses = %+v, want DENIED", res)
		}
		ev := e.wantLastEvent(alice, "login.complete", "denied", res.Reason)
		if n := e.sim.Stats().Failures[duosim.FailureInvalidClient] - before; n < 1 {
			t.Fatal("Duo refused no client at the code exchange: the test proved nothing")
		}
		t.Logf("denied %s: %s", res.Reason, ev.Detail)
		if logs := e.closeAndCheckLogs(e.sim.Apps()[0].ClientSecret.Reveal(), wrong); strings.Contains(logs, "FAIL OPEN") {
			t.Fatal("the plugin logged a fail-open login although Duo refused the client")
		}
	})
}

// Case 38, Duo that never answers: a Duo that accepts connections and
// holds every request leads to the admin's fail mode, open (NOT_REQUIRED
// duo_unavailable_fail_open, audited allowed_without_duo as a FAIL OPEN)
// or closed (DENIED duo_unavailable), decided by the plugin within the
// configured Duo timeout (2 s) plus a margin, well before the host's call
// deadline (10 s): the host never has to time out for the plugin.
// (internal/integration.TestTimeoutsNest proves the other side: with a
// Duo timeout longer than the call's deadline, the plugin still decides
// before the deadline.)
func TestCase38UnresponsiveDuoTakesTheFailModeWithinItsTimeout(t *testing.T) {
	t.Parallel()
	const (
		duoTimeout   = 2 * time.Second // newEnv's DUO_PLUGIN_DUO_TIMEOUT
		callDeadline = 10 * time.Second
		margin       = 1500 * time.Millisecond
	)
	for _, tc := range []struct {
		mode     string
		decision contract.LoginDecision
		reason   contract.LoginReason
		outcome  string
	}{
		{"open", contract.DecisionNotRequired, contract.LoginReasonFailOpen, "allowed_without_duo"},
		{"closed", contract.DecisionDenied, contract.LoginReasonDuoUnavailable, "denied"},
	} {
		t.Run("fail "+tc.mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: tc.mode, tweak: func(o *host.Options) {
				o.CallTimeout = callDeadline
			}}, alice)
			e.redirect(alice) // Duo answers: the settings are good
			e.sim.SetUnresponsive(true)
			held := e.sim.Stats().Held
			start := time.Now()
			res := e.begin(alice)
			took := time.Since(start)
			if res.Decision != tc.decision || res.Reason != tc.reason || res.State != "" || res.RedirectURL != "" {
				t.Fatalf("BeginLogin with Duo unresponsive, fail %s = %+v; want %v %s", tc.mode, res, tc.decision, tc.reason)
			}
			if tc.decision == contract.DecisionDenied {
				wantDenied(t, "fail closed", res.Decision, res.Reason, res.Message, tc.reason)
			}
			if e.sim.Stats().Held <= held {
				t.Fatal("Duo held no request: the plugin decided without calling Duo")
			}
			t.Logf("fail %s: decided in %v (Duo timeout %v, call deadline %v)", tc.mode, took, duoTimeout, callDeadline)
			if took < duoTimeout-100*time.Millisecond || took > duoTimeout+margin {
				t.Fatalf("BeginLogin decided after %v; want the Duo timeout (%v) and at most %v more, far from the call deadline (%v)",
					took, duoTimeout, margin, callDeadline)
			}
			ev := e.wantLastEvent(alice, "login.begin", tc.outcome, tc.reason)
			if tc.mode == "open" && !strings.Contains(ev.Detail, "FAIL OPEN") {
				t.Fatalf("a fail-open login audited without saying so: %+v", ev)
			}
		})
	}
}
