package hooks

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// TestThroughTheAdapters drives the hooks through the contract's gRPC
// adapters in-process: reasons and answers as a host sees them, without a
// subprocess.
func TestThroughTheAdapters(t *testing.T) {
	t.Parallel()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		contract.PluginName: &contract.GRPCPlugin{Impl: New(Config{Store: store.SQLiteBackend{}})},
	})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(contract.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(contract.Plugin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	st, err := c.Status(ctx, contract.StatusRequest{})
	if err != nil || st.Active || st.PluginVersion != Version() || Version() == "" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	errCases := []struct {
		name   string
		call   func() error
		reason contract.ErrorReason
	}{
		{"settings while inactive", func() error { _, err := c.GetSettings(ctx, contract.GetSettingsRequest{}); return err }, contract.ReasonInactive},
		{"login while inactive", func() error {
			_, err := c.BeginLogin(ctx, contract.BeginLoginRequest{Operator: contract.Operator{ID: "1", Username: "a"}})
			return err
		}, contract.ReasonInactive},
		{"uninstall with wrong confirmation", func() error {
			_, err := c.Uninstall(ctx, contract.UninstallRequest{Confirm: "nope"})
			return err
		}, contract.ReasonConfirmation},
		{"activate without a data dir", func() error { _, err := c.Activate(ctx, contract.ActivateRequest{}); return err }, contract.ReasonInvalidArgument},
		{"activate with a plain-http callback", func() error {
			_, err := c.Activate(ctx, contract.ActivateRequest{DataDir: t.TempDir(), CallbackURL: "http://helpdesk.example.com/cb"})
			return err
		}, contract.ReasonInvalidArgument},
	}
	for _, tc := range errCases {
		if err := tc.call(); contract.ReasonOf(err) != tc.reason {
			t.Errorf("%s: %v (reason %q), want %q", tc.name, err, contract.ReasonOf(err), tc.reason)
		}
	}

	dir := filepath.Join(t.TempDir(), "data")
	latest, err := store.LatestSchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	act, err := c.Activate(ctx, contract.ActivateRequest{DataDir: dir, CallbackURL: "http://127.0.0.1/cb", Actor: admin})
	if err != nil || !act.Status.Active || act.Status.SchemaVersion != latest {
		t.Fatalf("Activate = %+v, %v; want schema version %d", act, err, latest)
	}
	up, err := c.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"client_id": "short"}, Actor: admin})
	// Every field error at once, in schema order.
	if err != nil || up.Saved || fieldList(up.Errors) != "client_id:length,client_secret:required,api_hostname:required" {
		t.Fatalf("UpdateSettings = %+v, %v", up, err)
	}
	if _, err := c.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{
		Operator: contract.Operator{ID: "7", Username: "gina"}, Enabled: true, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	states, err := c.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{"x", "7"}, Actor: admin})
	if err != nil || len(states.States) != 2 {
		t.Fatalf("GetOperatorStates = %+v, %v", states, err)
	}
	// Answers come in the order asked.
	if s0, s1 := states.States[0], states.States[1]; s0.OperatorID != "x" || s0.Enabled || s1.OperatorID != "7" || !s1.Enabled || s1.ChangedBy != "admin" {
		t.Fatalf("states = %+v", states.States)
	}
	begin, err := c.BeginLogin(ctx, contract.BeginLoginRequest{Operator: contract.Operator{ID: "7", Username: "gina"}})
	// Duo settings are incomplete: a login that needs Duo is denied.
	if err != nil || begin.Decision != contract.DecisionDenied || begin.Reason != contract.LoginReasonNotConfigured {
		t.Fatalf("BeginLogin = %+v, %v", begin, err)
	}
	if _, err := c.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatal(err)
	}
}

// Fail open applies only when Duo is unreachable: rejected credentials and
// an untrusted certificate refuse the login in both fail modes.
func TestFailOpenOnlyWhenUnreachable(t *testing.T) {
	t.Parallel()
	otherCA := duosim.StartTest(t, duosim.Config{}) // a CA that did not sign the simulator's certificate
	cases := []struct {
		name    string
		setup   func(sim *duosim.Server) map[string]string
		failure contract.DuoFailure
		open    contract.LoginDecision
		reason  contract.LoginReason // in both modes, unless open allowed
	}{
		{"unreachable (503)", func(sim *duosim.Server) map[string]string { sim.SetHealthy(false); return nil },
			contract.DuoUnreachable, contract.DecisionNotRequired, contract.LoginReasonDuoUnavailable},
		{"unreachable (nothing listening)", func(sim *duosim.Server) map[string]string {
			return map[string]string{"api_hostname": "127.0.0.1:1"}
		}, contract.DuoUnreachable, contract.DecisionNotRequired, contract.LoginReasonDuoUnavailable},
		{"credentials rejected", func(sim *duosim.Server) map[string]string {
			return map[string]string{"client_secret": strings.Repeat("x", 40)}
		}, contract.DuoCredentialsRejected, contract.DecisionDenied, contract.LoginReasonDuoMisconfigured},
		{"certificate untrusted", func(sim *duosim.Server) map[string]string {
			return map[string]string{"ca_file": otherCA.CAFile()}
		}, contract.DuoCertificateUntrusted, contract.DecisionDenied, contract.LoginReasonDuoMisconfigured},
	}
	for _, tc := range cases {
		for _, mode := range []string{"closed", "open"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				sim := duosim.StartTest(t, duosim.Config{Scripted: true})
				extra := tc.setup(sim)
				if extra == nil {
					extra = map[string]string{}
				}
				extra["fail_mode"] = mode
				e := newEnv(t, sim, settings.Runtime{}, extra)
				alice := contract.Operator{ID: "1", Username: "alice"}
				e.enable(alice)
				res := e.begin(context.Background(), alice)
				want, wantReason := contract.DecisionDenied, tc.reason
				if mode == "open" && tc.open == contract.DecisionNotRequired {
					want, wantReason = contract.DecisionNotRequired, contract.LoginReasonFailOpen
				}
				if res.Decision != want || res.Reason != wantReason {
					t.Fatalf("BeginLogin = %+v; want %s %s", res, want, wantReason)
				}
				st, _ := e.p.Status(context.Background(), contract.StatusRequest{})
				if st.Duo.OK || st.Duo.Failure != tc.failure || st.Duo.Detail == "" {
					t.Fatalf("Status.Duo = %+v; want failure %s with a detail for the Plugins page", st.Duo, tc.failure)
				}
			})
		}
	}
}

// A submission Duo refuses leaves the saved settings and their health as
// they were; the refusal names the field at fault.
func TestRejectedSubmissionKeepsSavedHealth(t *testing.T) {
	t.Parallel()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	e := newEnv(t, sim, settings.Runtime{}, nil)
	ctx := context.Background()
	good, err := e.p.CheckDuo(ctx, contract.CheckDuoRequest{Actor: admin})
	if err != nil || !good.Duo.OK {
		t.Fatalf("CheckDuo = %+v, %v", good, err)
	}
	e.clk.Add(time.Minute)
	res, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"client_secret": strings.Repeat("y", 40)}, Actor: admin})
	if err != nil || res.Saved || len(res.Errors) != 1 || res.Errors[0].Field != settings.KeyClientSecret ||
		res.Errors[0].Reason != contract.FieldDuoRejected || res.Duo.Failure != contract.DuoCredentialsRejected {
		t.Fatalf("UpdateSettings with a wrong secret = %+v, %v", res, err)
	}
	st, _ := e.p.Status(ctx, contract.StatusRequest{})
	if !st.Duo.OK || !st.Duo.CheckedAt.Equal(good.Duo.CheckedAt) {
		t.Fatalf("Status.Duo after a refused submission = %+v; want the saved settings' %+v", st.Duo, good.Duo)
	}

	// An untrusted certificate is told as such, next to the CA file in test
	// mode, without blaming the credentials.
	otherCA := duosim.StartTest(t, duosim.Config{})
	res, _ = e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"ca_file": otherCA.CAFile()}, Actor: admin})
	if res.Saved || len(res.Errors) != 1 || res.Errors[0].Field != settings.KeyCAFile ||
		!strings.Contains(res.Errors[0].Message, "certificate could not be verified") || !strings.Contains(res.Errors[0].Message, "Trusted CA file") ||
		strings.Contains(res.Errors[0].Message, "Client secret") {
		t.Fatalf("untrusted certificate: %+v", res.Errors)
	}

	// A saved, checked submission becomes the health shown.
	e.clk.Add(time.Minute)
	res, err = e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"fail_mode": "open"}, Actor: admin})
	if err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	st, _ = e.p.Status(ctx, contract.StatusRequest{})
	if !st.Duo.OK || !st.Duo.CheckedAt.Equal(e.clk.Now()) {
		t.Fatalf("Status.Duo after a saved submission = %+v", st.Duo)
	}
}

// A Duo that accepts the connection and never answers: the plugin's
// decision comes inside the host's deadline, in both fail modes.
func TestDuoTimeoutFitsTheHostDeadline(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"closed", "open"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			sim := duosim.StartTest(t, duosim.Config{Scripted: true})
			e := newEnv(t, sim, settings.Runtime{DuoTimeout: 30 * time.Second}, map[string]string{"fail_mode": mode})
			alice := contract.Operator{ID: "1", Username: "alice"}
			e.enable(alice)
			sim.SetUnresponsive(true)
			// 3 s: the reserve for deciding, auditing and answering is a
			// fifth of it, 600 ms; at 1.5 s (300 ms) a loaded CI machine
			// running every package under the race detector once took
			// longer than that to commit the audit row.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			res, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice})
			if err != nil {
				t.Fatalf("BeginLogin: %v; want the plugin's own decision before the deadline", err)
			}
			if ctx.Err() != nil {
				t.Fatal("the host's deadline passed before the plugin answered")
			}
			want := contract.BeginLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonDuoUnavailable,
				Message: msgUnavailable.English(), Text: msgUnavailable.Text()}
			if mode == "open" {
				want = contract.BeginLoginResponse{Decision: contract.DecisionNotRequired, Reason: contract.LoginReasonFailOpen}
			}
			if !reflect.DeepEqual(res, want) {
				t.Fatalf("BeginLogin = %+v, want %+v", res, want)
			}
			if sim.Stats().Held == 0 {
				t.Fatal("the simulator held no request: Duo was never called")
			}
		})
	}
}

// Two operators must never reach one Duo account: names that PRECIS folds
// together are caught at login, and an alias cannot take a held name.
func TestDuoUsernameNeverShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil)
	ctx := context.Background()
	kelly := contract.Operator{ID: "1", Username: "Kelly"}
	kelvin := contract.Operator{ID: "2", Username: "\u212Aelly"} // Kelvin sign
	e.enable(kelly)
	e.enable(kelvin)
	if res := e.begin(ctx, kelly); res.Decision != contract.DecisionRedirect {
		t.Fatalf("Kelly: %+v", res)
	}
	if res := e.begin(ctx, kelvin); res.Decision != contract.DecisionDenied || res.Reason != contract.LoginReasonDuoUsernameTaken {
		t.Fatalf("\\u212Aelly after Kelly: %+v; want DENIED %s", res, contract.LoginReasonDuoUsernameTaken)
	}
	_, err := e.p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: kelvin, DuoAlias: "KELLY", Actor: admin})
	if contract.ReasonOf(err) != contract.ReasonInvalidArgument || !strings.Contains(err.Error(), `"kelly" is already used by operator 1`) {
		t.Fatalf("alias KELLY for operator 2: %v", err)
	}
	if _, err := e.p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: kelvin, DuoAlias: "kelly\u00a0", Actor: admin}); contract.ReasonOf(err) != contract.ReasonInvalidArgument {
		t.Fatalf("alias with a no-break space: %v", err)
	}
	st, err := e.p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: kelvin, DuoAlias: "Kelly.K", Actor: admin})
	if err != nil || st.State.DuoAlias != "kelly.k" {
		t.Fatalf("alias Kelly.K = %+v, %v; want stored canonical", st, err)
	}
	if res := e.begin(ctx, kelvin); res.Decision != contract.DecisionRedirect {
		t.Fatalf("operator 2 with an alias: %+v", res)
	}
}

// A host deadline too short to ask Duo is not Duo's fault: fail open must
// not skip Duo because the host was in a hurry.
func TestShortHostDeadlineNeverFailsOpen(t *testing.T) {
	t.Parallel()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	e := newEnv(t, sim, settings.Runtime{DuoTimeout: 30 * time.Second}, map[string]string{"fail_mode": "open"})
	alice := contract.Operator{ID: "1", Username: "alice"}
	e.enable(alice)
	sim.SetUnresponsive(true)
	for _, deadline := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		res, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice})
		cancel()
		if err != nil || res.Decision != contract.DecisionDenied || res.Reason != contract.LoginReasonDuoUnavailable {
			t.Fatalf("deadline %v: BeginLogin = %+v, %v; want DENIED %s (no fair wait, no fail open)", deadline, res, err, contract.LoginReasonDuoUnavailable)
		}
	}
	// A fair wait (more than a second left after the reserve) is Duo's
	// fault, and the admin's fail open applies.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if res := e.begin(ctx, alice); res.Decision != contract.DecisionNotRequired || res.Reason != contract.LoginReasonFailOpen {
		t.Fatalf("fair wait: %+v; want NOT_REQUIRED %s", res, contract.LoginReasonFailOpen)
	}
}
