package integration

import (
	"errors"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func TestMissingChecksumAllowedInDevelopmentMode(t *testing.T) {
	t.Parallel()
	manifest := pluginbuild.ForTest(t)
	pluginbuild.EditExecutable(t, manifest, func(exe map[string]any) { delete(exe, "sha256") })
	s := startPlugin(t, manifest, func(o *host.Options) { o.AllowUnverified = true })
	if st, err := s.p.Status(ctxT(t), contract.StatusRequest{}); err != nil || st.PluginVersion == "" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	// The SDK's own warning (no @module: not forwarded from the plugin).
	const warning = "STARTING AN UNVERIFIED PLUGIN BINARY: the manifest has no sha256 and AllowUnverified is set. Never do this in production."
	if !testlog.Logged(s.logs.String(), func(l testlog.Record) bool { return l.Level == "WARN" && l.Module == "" && l.Msg == warning }) {
		t.Fatalf("no WARN %q from the SDK in the log:\n%s", warning, s.logs.String())
	}
}

// TestKilledPluginFailsClosedAndComesBack: SIGKILL the plugin between the
// redirect to Duo and Duo's callback. The SDK notices, both login calls fail
// closed while it is down, the supervisor restarts it, and the new process
// is as the host's record says: active again when Options.Activation says
// so (the SDK remembers no activation of its own), else inactive and
// refusing logins until the host activates it. Either way the data is in
// the files, and the pending login's state completes exactly once.
func TestKilledPluginFailsClosedAndComesBack(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		hostRecord bool // Options.Activation set
	}{
		{"host record says active", true},
		{"no Activation", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newLoginEnvWith(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "closed", tweak: func(o *host.Options) {
				o.PingInterval = 100 * time.Millisecond
				o.RestartBackoffMin = 1500 * time.Millisecond // leaves a window to observe the outage
				o.RestartBackoffMax = 2 * time.Second
				if !tc.hostRecord {
					o.Activation = nil
				}
			}}, alice)
			p := e.p
			ctx := ctxT(t)

			// The operator is at Duo's prompt when the plugin dies.
			b := e.begin(alice)
			if b.Decision != contract.DecisionRedirect {
				t.Fatalf("BeginLogin = %+v, want REDIRECT", b)
			}
			q := e.browser(b.RedirectURL)
			if q == nil {
				t.Fatal("Duo did not send the browser back")
			}
			asked := e.record.timesAsked()

			pid := p.State().PID
			if pid <= 0 {
				t.Fatalf("no PID in state %+v", p.State())
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitfor.Until(t, 5*time.Second, "the SDK notices the crash", func() bool {
				ph := p.State().Phase
				return ph == host.PhaseDown || ph == host.PhaseRestarting
			})
			// Fail closed: a login that needs Duo is refused while the plugin is down.
			res, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: contract.ClientInfo{IP: "127.0.0.1"}})
			if !errors.Is(err, host.ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonPluginUnavailable {
				t.Fatalf("BeginLogin while down = %+v, %v (reason %q); want ErrUnavailable, %s", res, err, contract.ReasonOf(err), contract.ReasonPluginUnavailable)
			}
			if !reflect.DeepEqual(res, contract.BeginLoginResponse{}) {
				t.Fatalf("BeginLogin while down returned a decision: %+v", res)
			}
			// The callback too; it never reaches the plugin, so the state is not spent.
			cres, err := p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: b.State,
				CallbackState: q.Get("state"), DuoCode: q.Get("duo_code")})
			if !errors.Is(err, host.ErrUnavailable) || !reflect.DeepEqual(cres, contract.CompleteLoginResponse{}) {
				t.Fatalf("CompleteLogin while down = %+v, %v; want ErrUnavailable and no decision", cres, err)
			}

			waitfor.Until(t, 15*time.Second, "the supervisor restarts the plugin", func() bool {
				st := p.State()
				return st.Phase == host.PhaseRunning && st.PID != pid
			})
			if p.State().Restarts < 1 {
				t.Fatalf("restarts = %d", p.State().Restarts)
			}
			st, err := p.Status(ctx, contract.StatusRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.hostRecord {
				if n := e.record.timesAsked(); n <= asked {
					t.Fatalf("the SDK asked the host's record %d times before the crash and %d after: not on restart", asked, n)
				}
				if !st.Active || !st.Configured {
					t.Fatalf("after restart Status = %+v; want active and configured, as the host's record says", st)
				}
			} else {
				if st.Active {
					t.Fatalf("after restart without Activation Status = %+v; want inactive (the SDK replays nothing)", st)
				}
				_, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice})
				if contract.ReasonOf(err) != contract.ReasonInactive || errors.Is(err, host.ErrUnavailable) {
					t.Fatalf("BeginLogin on the inactive new process = %v (reason %q); want the plugin's %s", err, contract.ReasonOf(err), contract.ReasonInactive)
				}
				// The host activates it, as an administrator would.
				act, err := p.Activate(ctx, e.activation)
				if err != nil || !act.Status.Active || !act.Status.Configured {
					t.Fatalf("Activate after restart = %+v, %v", act, err)
				}
			}
			got, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{alice.ID}, Actor: admin})
			if err != nil || len(got.States) != 1 || !got.States[0].Enabled {
				t.Fatalf("after restart alice = %+v, %v", got, err)
			}

			// The pending login survived in the store, and is spent once.
			if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionAllowed {
				t.Fatalf("CompleteLogin after restart = %+v, want ALLOWED", res)
			}
			wantDenied(t, "second callback after restart", e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")), contract.LoginReasonStateUsed)
		})
	}
}
