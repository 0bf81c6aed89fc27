package host

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/helpdesk-duo/duo-plugin/host/internal/supervisor"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// These tests run the SDK against the fake over go-plugin's in-process gRPC
// connection, without a process or a supervisor: what the SDK adds to the
// contract's client (call deadlines, fail-closed errors, activation of a
// new process). The conversions and the contract checks themselves are
// tested in proto/contract.

// staticSource serves one in-process connection, without a supervisor.
type staticSource struct {
	in    *instance
	kicks atomic.Int32

	mu     sync.Mutex
	closed bool
}

func (s *staticSource) Current() (*instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in, !s.closed
}

func (s *staticSource) State() supervisor.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return supervisor.State{Phase: supervisor.Closed}
	}
	return supervisor.State{Phase: supervisor.Running}
}

func (s *staticSource) Kick() { s.kicks.Add(1) }

func (s *staticSource) Close(time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// newInProcess connects the SDK to fake over go-plugin's in-process gRPC
// test connection. mutate, if set, adjusts the options (Logger discards by
// default).
func newInProcess(t *testing.T, fake *fakePlugin, mutate func(*Options)) (*Plugin, *staticSource) {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		contract.PluginName: &contract.GRPCPlugin{Impl: fake},
	})
	// Closing the client stops the server through go-plugin's Shutdown RPC;
	// calling server.Stop as well races inside go-plugin.
	_ = server
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(contract.PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	cp, ok := raw.(contract.Plugin)
	if !ok {
		t.Fatalf("dispense: got %T, want contract.Plugin", raw)
	}
	opts := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mutate != nil {
		mutate(&opts)
	}
	opts = opts.withDefaults()
	src := &staticSource{in: &instance{rpc: client, plugin: cp}}
	return &Plugin{opts: opts, log: opts.Logger, manifest: &Manifest{}, src: src}, src
}

// withCallTimeout sets Options.CallTimeout.
func withCallTimeout(d time.Duration) func(*Options) {
	return func(o *Options) { o.CallTimeout = d }
}

var (
	admin    = contract.Actor{ID: "1", Username: "admin", IP: "192.0.2.1"}
	alice    = contract.Operator{ID: "42", Username: "alice", Email: "alice@example.test"}
	browser  = contract.ClientInfo{IP: "198.51.100.7", UserAgent: "test-agent"}
	activate = contract.ActivateRequest{
		Host:        contract.HostInfo{Name: "helpdesk", Version: "1.2.3"},
		CallbackURL: "https://helpdesk.example.test/duo/callback",
		DataDir:     "/var/lib/helpdesk/duo",
		Actor:       admin,
	}
)

func mustActivate(t *testing.T, p *Plugin) {
	t.Helper()
	if _, err := p.Activate(context.Background(), activate); err != nil {
		t.Fatalf("Activate: %v", err)
	}
}

func TestContractLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, _ := newInProcess(t, newFakePlugin(), nil)

	res, err := p.Activate(ctx, activate)
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	want := contract.StatusResponse{
		Active: true, SchemaVersion: fakeSchema, PluginVersion: fakeVersion,
		Duo:           contract.DuoHealth{Checked: true, OK: true, CheckedAt: fakeTime},
		ProtocolMinor: contract.ProtocolMinor, // the contract's server adapter says it
	}
	if res.Status != want {
		t.Fatalf("Activate status = %+v, want %+v", res.Status, want)
	}

	if _, err := p.Uninstall(ctx, contract.UninstallRequest{Confirm: contract.PluginID, Actor: admin}); contract.ReasonOf(err) != contract.ReasonActive {
		t.Fatalf("Uninstall while active: reason %q (%v), want %q", contract.ReasonOf(err), err, contract.ReasonActive)
	}
	if _, err := p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if st, err := p.Status(ctx, contract.StatusRequest{}); err != nil || st.Active {
		t.Fatalf("Status after Deactivate = %+v, %v; want inactive", st, err)
	}
	removed, err := p.Uninstall(ctx, contract.UninstallRequest{Confirm: contract.PluginID, Actor: admin})
	if err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	if want := []string{activate.DataDir + "/duo.db", activate.DataDir + "/secret.key"}; !reflect.DeepEqual(removed.Removed, want) {
		t.Fatalf("Uninstall removed %q, want %q", removed.Removed, want)
	}
}

// The plugin's refusals reach the caller as the plugin's *contract.Error,
// prefixed with the call, and are not mistaken for an outage.
func TestContractErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		activate   bool
		op         string // the SDK's prefix
		call       func(*Plugin) error
		wantReason contract.ErrorReason
		wantMsg    string // exact, or a prefix when violation
		violation  bool
	}{
		{
			name: "begin login while inactive", op: "begin login",
			call: func(p *Plugin) error {
				_, err := p.BeginLogin(context.Background(), contract.BeginLoginRequest{Operator: alice, Client: browser})
				return err
			},
			wantReason: contract.ReasonInactive, wantMsg: "the plugin is not active",
		},
		{
			name: "complete login while inactive", op: "complete login",
			call: func(p *Plugin) error {
				_, err := p.CompleteLogin(context.Background(), contract.CompleteLoginRequest{Operator: alice})
				return err
			},
			wantReason: contract.ReasonInactive, wantMsg: "the plugin is not active",
		},
		{
			name: "get settings while inactive", op: "get settings",
			call: func(p *Plugin) error {
				_, err := p.GetSettings(context.Background(), contract.GetSettingsRequest{})
				return err
			},
			wantReason: contract.ReasonInactive, wantMsg: "the plugin is not active",
		},
		{
			name: "uninstall without confirmation", op: "uninstall",
			call: func(p *Plugin) error {
				_, err := p.Uninstall(context.Background(), contract.UninstallRequest{Confirm: "yes", Actor: admin})
				return err
			},
			wantReason: contract.ReasonConfirmation, wantMsg: "confirm must name the plugin",
		},
		{
			name: "activate without data dir", op: "activate",
			call: func(p *Plugin) error {
				_, err := p.Activate(context.Background(), contract.ActivateRequest{Actor: admin})
				return err
			},
			wantReason: contract.ReasonInvalidArgument, wantMsg: "data_dir is required",
		},
		{
			name: "activate with another data dir", activate: true, op: "activate",
			call: func(p *Plugin) error {
				_, err := p.Activate(context.Background(), contract.ActivateRequest{DataDir: "/elsewhere", Actor: admin})
				return err
			},
			wantReason: contract.ReasonDataDirMismatch, wantMsg: "already active with another data dir",
		},
		{
			name: "enable an operator without id", activate: true, op: "set operator enabled",
			call: func(p *Plugin) error {
				_, err := p.SetOperatorEnabled(context.Background(), contract.SetOperatorEnabledRequest{Enabled: true, Actor: admin})
				return err
			},
			wantReason: contract.ReasonInvalidArgument, wantMsg: "operator.id is required",
		},
		{
			name: "redirect without URL breaks the contract", activate: true, op: "begin login",
			call: func(p *Plugin) error {
				_, err := p.BeginLogin(context.Background(), contract.BeginLoginRequest{Operator: contract.Operator{ID: opBadRedirect}, Client: browser})
				return err
			},
			wantReason: contract.ReasonInternal, wantMsg: "contract violation: ", violation: true,
		},
		{
			name: "allowed from begin login breaks the contract", activate: true, op: "begin login",
			call: func(p *Plugin) error {
				_, err := p.BeginLogin(context.Background(), contract.BeginLoginRequest{Operator: contract.Operator{ID: opAllowedAtBegin}, Client: browser})
				return err
			},
			wantReason: contract.ReasonInternal, wantMsg: "contract violation: ", violation: true,
		},
		{
			name: "not required from complete login breaks the contract", activate: true, op: "complete login",
			call: func(p *Plugin) error {
				_, err := p.CompleteLogin(context.Background(), contract.CompleteLoginRequest{Operator: contract.Operator{ID: opNotRequiredDone}})
				return err
			},
			wantReason: contract.ReasonInternal, wantMsg: "contract violation: ", violation: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, src := newInProcess(t, newFakePlugin(), nil)
			if tc.activate {
				mustActivate(t, p)
			}
			err := tc.call(p)
			var ce *contract.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v (%T), want a *contract.Error", err, err)
			}
			if ce.Reason != tc.wantReason {
				t.Fatalf("reason = %q, want %q (%v)", ce.Reason, tc.wantReason, err)
			}
			if tc.violation && !strings.HasPrefix(ce.Message, tc.wantMsg) || !tc.violation && ce.Message != tc.wantMsg {
				t.Fatalf("message = %q, want %q (prefix only: %t)", ce.Message, tc.wantMsg, tc.violation)
			}
			if want := tc.op + ": " + ce.Error(); err.Error() != want {
				t.Fatalf("error = %q, want %q", err, want)
			}
			if contract.ReasonOf(err) != tc.wantReason {
				t.Fatalf("ReasonOf = %q, want %q", contract.ReasonOf(err), tc.wantReason)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Fatalf("a refusal by the plugin must not match ErrUnavailable: %v", err)
			}
			if n := src.kicks.Load(); n != 0 {
				t.Fatalf("a refusal kicked the supervisor %d times; only transport failures may", n)
			}
		})
	}
}

func TestContractOperators(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, _ := newInProcess(t, newFakePlugin(), nil)
	mustActivate(t, p)

	bob := contract.Operator{ID: "43", Username: "bob", Email: "bob@example.test"}
	for _, op := range []contract.Operator{alice, bob} {
		if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: op, Enabled: true, Actor: admin}); err != nil {
			t.Fatalf("SetOperatorEnabled(%s): %v", op.ID, err)
		}
	}
	res, err := p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: alice, DuoAlias: "alice.duo", Actor: admin})
	if err != nil {
		t.Fatalf("SetOperatorAlias: %v", err)
	}
	wantAlice := contract.OperatorState{
		OperatorID: "42", Enabled: true, Username: "alice", Email: "alice@example.test",
		DuoAlias: "alice.duo", ChangedAt: fakeTime, ChangedBy: "admin",
	}
	if res.State != wantAlice {
		t.Fatalf("SetOperatorAlias = %+v, want %+v", res.State, wantAlice)
	}

	states, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{"unknown", "42"}})
	if err != nil {
		t.Fatalf("GetOperatorStates: %v", err)
	}
	wantStates := []contract.OperatorState{{OperatorID: "unknown"}, wantAlice}
	if !reflect.DeepEqual(states.States, wantStates) {
		t.Fatalf("GetOperatorStates = %+v, want %+v (in the order asked)", states.States, wantStates)
	}
	if !states.States[0].EnrolledAt.IsZero() {
		t.Fatal("a zero unix time must convert to the zero time.Time")
	}

	pages := []struct {
		name     string
		token    string
		wantIDs  []string
		wantNext string
	}{
		{name: "first page", token: "", wantIDs: []string{"42"}, wantNext: "1"},
		{name: "last page", token: "1", wantIDs: []string{"43"}, wantNext: ""},
	}
	for _, pg := range pages {
		got, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: 1, PageToken: pg.token})
		if err != nil {
			t.Fatalf("ListEnabledOperators %s: %v", pg.name, err)
		}
		var ids []string
		for _, s := range got.States {
			ids = append(ids, s.OperatorID)
		}
		if !reflect.DeepEqual(ids, pg.wantIDs) || got.NextPageToken != pg.wantNext {
			t.Fatalf("ListEnabledOperators %s = %q, next %q; want %q, next %q", pg.name, ids, got.NextPageToken, pg.wantIDs, pg.wantNext)
		}
	}
	if _, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: 1, PageToken: "bogus"}); contract.ReasonOf(err) != contract.ReasonInvalidArgument {
		t.Fatalf("ListEnabledOperators with a bad token: reason %q, want %q", contract.ReasonOf(err), contract.ReasonInvalidArgument)
	}
}

func TestContractSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, _ := newInProcess(t, newFakePlugin(), nil)
	mustActivate(t, p)

	res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"fail_mode": "sideways"}, Actor: admin})
	if err != nil {
		t.Fatalf("UpdateSettings: %v", err)
	}
	want := contract.UpdateSettingsResponse{
		Errors: []contract.FieldError{
			{Field: "client_id", Reason: contract.FieldRequired, Message: "Client ID is required"},
			{Field: "fail_mode", Reason: contract.FieldOption, Message: "fail_mode must be closed or open"},
		},
		Duo: contract.DuoHealth{Checked: true, OK: true, CheckedAt: fakeTime},
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("UpdateSettings = %+v, want %+v", res, want)
	}

	res, err = p.UpdateSettings(ctx, contract.UpdateSettingsRequest{
		Values:       map[string]string{"client_id": "DIXXXXXXXXXXXXXXXXXX", fakeSecretKey: "top-secret"},
		SkipDuoCheck: true,
		Actor:        admin,
	})
	if want := (contract.UpdateSettingsResponse{Saved: true}); err != nil || !reflect.DeepEqual(res, want) {
		t.Fatalf("UpdateSettings = %+v, %v; want %+v: saved without a Duo check", res, err, want)
	}

	got, err := p.GetSettings(ctx, contract.GetSettingsRequest{})
	if err != nil {
		t.Fatalf("GetSettings: %v", err)
	}
	wantSettings := contract.GetSettingsResponse{
		Values:    map[string]string{"api_hostname": "", "client_id": "DIXXXXXXXXXXXXXXXXXX", "fail_mode": "closed", settingActBy: "admin"},
		SecretSet: map[string]bool{fakeSecretKey: true},
	}
	if !reflect.DeepEqual(got, wantSettings) {
		t.Fatalf("GetSettings = %+v, want %+v", got, wantSettings)
	}

	health, err := p.CheckDuo(ctx, contract.CheckDuoRequest{})
	wantHealth := contract.DuoHealth{Checked: true, CheckedAt: fakeTime, Detail: "401 from Duo", Failure: contract.DuoCredentialsRejected}
	if err != nil || health.Duo != wantHealth {
		t.Fatalf("CheckDuo = %+v, %v; want %+v", health.Duo, err, wantHealth)
	}
	if st, err := p.Status(ctx, contract.StatusRequest{}); err != nil || !st.Configured {
		t.Fatalf("Status = %+v, %v; want configured", st, err)
	}
}

func TestContractLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, _ := newInProcess(t, newFakePlugin(), nil)
	mustActivate(t, p)
	if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: alice, Enabled: true, Actor: admin}); err != nil {
		t.Fatalf("SetOperatorEnabled: %v", err)
	}

	begins := []struct {
		name string
		op   contract.Operator
		want contract.BeginLoginResponse
	}{
		{name: "not enabled", op: contract.Operator{ID: "7", Username: "carol"}, want: contract.BeginLoginResponse{Decision: contract.DecisionNotRequired}},
		{name: "enabled", op: alice, want: contract.BeginLoginResponse{
			Decision: contract.DecisionRedirect, State: "state-42",
			RedirectURL: "https://duo.example.test/oauth/v1/authorize?state=state-42",
		}},
		{name: "unspecified decision passes through as deny", op: contract.Operator{ID: opUnspecified}, want: contract.BeginLoginResponse{Decision: contract.DecisionUnspecified}},
	}
	for _, tc := range begins {
		t.Run("begin/"+tc.name, func(t *testing.T) {
			got, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: tc.op, Client: browser})
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("BeginLogin = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}

	completes := []struct {
		name string
		req  contract.CompleteLoginRequest
		want contract.CompleteLoginResponse
	}{
		{
			name: "states differ",
			req:  contract.CompleteLoginRequest{Operator: alice, SessionState: "state-42", CallbackState: "state-x", DuoCode: fakeGoodCode},
			want: contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonStateMismatch, Message: "Duo verification failed."},
		},
		{
			name: "no session state",
			req:  contract.CompleteLoginRequest{Operator: alice, DuoCode: fakeGoodCode},
			want: contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonStateMismatch, Message: "Duo verification failed."},
		},
		{
			name: "another operator's state",
			req:  contract.CompleteLoginRequest{Operator: alice, SessionState: "state-43", CallbackState: "state-43", DuoCode: fakeGoodCode},
			want: contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonStateUnknown, Message: "Duo verification failed."},
		},
		{
			name: "bad code",
			req:  contract.CompleteLoginRequest{Operator: alice, SessionState: "state-42", CallbackState: "state-42", DuoCode: "nope"},
			want: contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonDuoDenied, Message: "Duo verification failed."},
		},
		{
			name: "allowed",
			req:  contract.CompleteLoginRequest{Operator: alice, SessionState: "state-42", CallbackState: "state-42", DuoCode: fakeGoodCode, Client: browser},
			want: contract.CompleteLoginResponse{Decision: contract.DecisionAllowed},
		},
	}
	for _, tc := range completes {
		t.Run("complete/"+tc.name, func(t *testing.T) {
			got, err := p.CompleteLogin(ctx, tc.req)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("CompleteLogin = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}

	states, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{alice.ID}})
	if err != nil || len(states.States) != 1 || states.States[0].LastLogin != fakeTime || states.States[0].EnrolledAt != fakeTime {
		t.Fatalf("after an allowed login, states = %+v, %v; want LastLogin and EnrolledAt set", states.States, err)
	}
}

func TestContractFailsClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		callTimeout time.Duration
		// ctx is the caller's context; it may cancel it later.
		ctx         func() (context.Context, context.CancelFunc)
		op          contract.Operator
		close       bool // Close the plugin first
		disconnect  bool // cut the connection under the SDK first
		wantUnavail bool
		wantReason  contract.ErrorReason
		wantIs      error
		wantKick    bool          // the supervisor is asked to look at the process
		maxElapsed  time.Duration // 0: no bound
	}{
		{
			name:        "hung call stops at the call timeout",
			callTimeout: 300 * time.Millisecond,
			ctx:         func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			op:          contract.Operator{ID: opHang},
			wantUnavail: true, wantReason: contract.ReasonDeadline, wantIs: ErrUnavailable, wantKick: true,
		},
		{
			name:        "caller's shorter deadline wins",
			callTimeout: 20 * time.Second,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			op:          contract.Operator{ID: opHang},
			wantUnavail: true, wantReason: contract.ReasonDeadline, wantIs: ErrUnavailable, wantKick: true,
			maxElapsed: 10 * time.Second,
		},
		{
			name:        "caller cancelled before the call",
			callTimeout: 20 * time.Second,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			op:         alice,
			wantReason: contract.ReasonCanceled, wantIs: context.Canceled,
		},
		{
			// The caller's own cancellation is not the plugin's fault.
			name:        "caller cancels during the call",
			callTimeout: 20 * time.Second,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			op:         contract.Operator{ID: opHang},
			wantReason: contract.ReasonCanceled, wantIs: context.Canceled,
			maxElapsed: 10 * time.Second,
		},
		{
			name:        "caller's deadline passed before the call",
			callTimeout: 20 * time.Second,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			},
			op:          alice,
			wantUnavail: true, wantReason: contract.ReasonDeadline, wantIs: context.DeadlineExceeded,
		},
		{
			name:        "closed",
			callTimeout: 20 * time.Second,
			ctx:         func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			op:          alice,
			close:       true,
			wantUnavail: true, wantReason: contract.ReasonPluginUnavailable, wantIs: ErrClosed,
		},
		{
			name:        "connection lost",
			callTimeout: 20 * time.Second,
			ctx:         func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			op:          alice,
			disconnect:  true,
			wantUnavail: true, wantReason: contract.ReasonPluginUnavailable, wantIs: ErrUnavailable, wantKick: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, src := newInProcess(t, newFakePlugin(), withCallTimeout(tc.callTimeout))
			mustActivate(t, p)
			if tc.close {
				if err := p.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			if tc.disconnect {
				if err := src.in.rpc.Close(); err != nil {
					t.Fatalf("close the connection: %v", err)
				}
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			res, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: tc.op, Client: browser})
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("BeginLogin = %+v, want an error", res)
			}
			if !reflect.DeepEqual(res, contract.BeginLoginResponse{}) {
				t.Fatalf("BeginLogin returned %+v with its error; want the zero response", res)
			}
			if got := errors.Is(err, ErrUnavailable); got != tc.wantUnavail {
				t.Fatalf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tc.wantUnavail)
			}
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("error %v does not match %v", err, tc.wantIs)
			}
			if got := contract.ReasonOf(err); got != tc.wantReason {
				t.Fatalf("ReasonOf(%v) = %q, want %q", err, got, tc.wantReason)
			}
			if !strings.HasPrefix(err.Error(), "begin login: ") {
				t.Fatalf("error %q does not name the call", err)
			}
			if got := src.kicks.Load() > 0; got != tc.wantKick {
				t.Fatalf("supervisor kicked: %v, want %v", got, tc.wantKick)
			}
			if tc.maxElapsed > 0 && elapsed > tc.maxElapsed {
				t.Fatalf("BeginLogin took %v; the caller's deadline or cancellation must end it", elapsed)
			}
		})
	}
}

// The deadline the plugin sees is the earlier of the caller's and
// Options.CallTimeout from the call, even when the caller has none.
func TestCallDeadlineReachesThePlugin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		callTimeout   time.Duration
		callerTimeout time.Duration // 0: no caller deadline
		wantFromCall  time.Duration // the plugin's deadline, from the call
		wantCallers   bool          // the plugin's deadline is exactly the caller's
	}{
		{name: "no caller deadline: the call timeout", callTimeout: 2 * time.Second, wantFromCall: 2 * time.Second},
		{name: "call timeout sooner than the caller's", callTimeout: 2 * time.Second, callerTimeout: time.Hour, wantFromCall: 2 * time.Second},
		{name: "caller's deadline sooner", callTimeout: time.Hour, callerTimeout: 3 * time.Second, wantCallers: true},
	}
	// grpc-timeout carries the time left, so the plugin's deadline is the
	// host's plus the transit time, rounded up to a microsecond.
	const slack = 5 * time.Millisecond
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakePlugin()
			p, _ := newInProcess(t, fake, withCallTimeout(tc.callTimeout))
			ctx := context.Background()
			if tc.callerTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.callerTimeout)
				defer cancel()
			}
			before := time.Now()
			if _, err := p.Status(ctx, contract.StatusRequest{}); err != nil {
				t.Fatalf("Status: %v", err)
			}
			after := time.Now()
			seen := fake.deadlines()
			if len(seen) != 1 || seen[0].IsZero() {
				t.Fatalf("plugin saw deadlines %v, want one", seen)
			}
			lo, hi := before.Add(tc.wantFromCall), after.Add(tc.wantFromCall)
			if tc.wantCallers {
				dl, _ := ctx.Deadline()
				lo, hi = dl, dl.Add(after.Sub(before))
			}
			if got := seen[0]; got.Before(lo.Add(-slack)) || got.After(hi.Add(slack)) {
				t.Fatalf("plugin's deadline is %v after the call began, want between %v and %v",
					got.Sub(before), lo.Sub(before), hi.Sub(before))
			}
		})
	}
}

// Options.Activation is asked for every new process (askActivation, before
// the process starts) and applied to it (applyActivation). The process
// tests check the same end to end.
func TestApplyActivation(t *testing.T) {
	t.Parallel()
	record := contract.ActivateRequest{
		Host:        contract.HostInfo{Name: "helpdesk", Version: "1.2.3"},
		CallbackURL: "https://helpdesk.example.test/duo/callback",
		DataDir:     "/var/lib/helpdesk/duo",
		Actor:       contract.Actor{ID: "record", Username: "host-record"},
	}
	errRecord := errors.New("host database unreachable")
	tests := []struct {
		name        string
		callTimeout time.Duration
		askFor      time.Duration                                         // how long askActivation may keep trying; default 10s
		wantAsks    int32                                                 // default 1
		answer      func(n int32) (contract.ActivateRequest, bool, error) // nil: no Options.Activation
		wantActive  bool
		wantBy      string
		wantErrIs   []error
		wantErr     string // prefix
		wantReason  contract.ErrorReason
		wantLog     []string
	}{
		{name: "no callback leaves the process inactive"},
		{
			name:   "record says inactive",
			answer: func(int32) (contract.ActivateRequest, bool, error) { return record, false, nil },
		},
		{
			name:       "record says active",
			answer:     func(int32) (contract.ActivateRequest, bool, error) { return record, true, nil },
			wantActive: true, wantBy: "host-record",
		},
		{
			// A host database back after two failures: the launch waits
			// for it rather than failing (which would count as a crash).
			name: "record unreadable for a while is asked again",
			answer: func(n int32) (contract.ActivateRequest, bool, error) {
				if n < 3 {
					return contract.ActivateRequest{}, false, errRecord
				}
				return record, true, nil
			},
			wantAsks: 3, wantActive: true, wantBy: "host-record",
			wantLog: []string{"cannot ask the host whether the plugin is active; trying again"},
		},
		{
			name:   "record unreadable until the launch's context ends",
			askFor: 600 * time.Millisecond,
			answer: func(int32) (contract.ActivateRequest, bool, error) {
				return contract.ActivateRequest{}, false, errRecord
			},
			wantAsks: -1, wantErrIs: []error{errRecord}, wantErr: "ask the host whether the plugin is active: host database unreachable",
			wantReason: contract.ReasonUnknown,
		},
		{
			// A refusal is the plugin's answer: it runs, inactive, and says why.
			name: "plugin refuses the record's request",
			answer: func(int32) (contract.ActivateRequest, bool, error) {
				r := record
				r.DataDir = ""
				return r, true, nil
			},
			wantLog: []string{"activating the new process failed", `"reason":"INVALID_ARGUMENT"`},
		},
		{
			name:        "activate times out (StartTimeout): the launch fails",
			callTimeout: 200 * time.Millisecond,
			answer: func(int32) (contract.ActivateRequest, bool, error) {
				r := record
				r.DataDir = opHang
				return r, true, nil
			},
			wantErrIs: []error{ErrUnavailable}, wantErr: "activate the new plugin process: ", wantReason: contract.ReasonDeadline,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakePlugin()
			logs := &testlog.Buffer{}
			var asked atomic.Int32
			var askedDeadline time.Duration
			p, src := newInProcess(t, fake, func(o *Options) {
				o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
				o.CallTimeout = tc.callTimeout
				if o.CallTimeout == 0 {
					o.CallTimeout = 10 * time.Second
				}
				// Activate's own budget; the hang case needs it short.
				o.StartTimeout = o.CallTimeout
				o.RestartBackoffMin, o.RestartBackoffMax = 10*time.Millisecond, 50*time.Millisecond
				if tc.answer != nil {
					o.Activation = func(ctx context.Context) (contract.ActivateRequest, bool, error) {
						n := asked.Add(1)
						if n == 1 {
							if dl, ok := ctx.Deadline(); ok {
								askedDeadline = time.Until(dl)
							}
						}
						return tc.answer(n)
					}
				}
			})
			askFor := tc.askFor
			if askFor == 0 {
				askFor = 10 * time.Second
			}
			actx, cancel := context.WithTimeout(context.Background(), askFor)
			defer cancel()
			want, err := p.askActivation(actx)
			if err == nil {
				err = p.applyActivation(context.Background(), src.in, want)
			}

			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("applyActivation = %v, want nil", err)
				}
			} else {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("applyActivation = %v, want an error starting %q", err, tc.wantErr)
				}
				for _, target := range tc.wantErrIs {
					if !errors.Is(err, target) {
						t.Fatalf("applyActivation = %v, want it to match %v", err, target)
					}
				}
				if got := contract.ReasonOf(err); got != tc.wantReason {
					t.Fatalf("ReasonOf(%v) = %q, want %q", err, got, tc.wantReason)
				}
			}
			if active, by := fake.activeState(); active != tc.wantActive || by != tc.wantBy {
				t.Fatalf("plugin active %v (by %q), want %v (by %q)", active, by, tc.wantActive, tc.wantBy)
			}
			if tc.answer != nil {
				wantAsks := tc.wantAsks
				if wantAsks == 0 {
					wantAsks = 1
				}
				if n := asked.Load(); (wantAsks > 0 && n != wantAsks) || (wantAsks < 0 && n < 2) {
					t.Fatalf("Activation asked %d times, want %d (-1: again and again)", n, wantAsks)
				}
				if askedDeadline <= 0 || askedDeadline > p.opts.CallTimeout {
					t.Fatalf("Activation's context has %v left, want a deadline within CallTimeout (%v)", askedDeadline, p.opts.CallTimeout)
				}
			}
			for _, want := range tc.wantLog {
				if !strings.Contains(logs.String(), want) {
					t.Fatalf("logs lack %q:\n%s", want, logs.String())
				}
			}
		})
	}
}

// The plugin's refusals pass through; whatever never got a plugin's answer
// is ErrUnavailable (fail closed), except the caller's own cancellation.
func TestFromCall(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	refusal := contract.Errorf(contract.ReasonInactive, "inactive")
	noReason := &contract.Error{Reason: contract.ReasonUnknown, Message: "no such method"}
	tests := []struct {
		name        string
		parent      context.Context
		err         error
		wantUnavail bool
		wantReason  contract.ErrorReason
		wantIs      error
		wantSame    bool // the plugin's own *contract.Error, untouched
	}{
		{name: "unavailable", parent: context.Background(), err: contract.Errorf(contract.ReasonPluginUnavailable, "conn refused"), wantUnavail: true, wantReason: contract.ReasonPluginUnavailable},
		{name: "deadline", parent: context.Background(), err: contract.Errorf(contract.ReasonDeadline, "slow"), wantUnavail: true, wantReason: contract.ReasonDeadline},
		{name: "cancelled by the transport", parent: context.Background(), err: contract.Errorf(contract.ReasonCanceled, "closing"), wantUnavail: true, wantReason: contract.ReasonPluginUnavailable},
		{name: "cancelled by the caller", parent: cancelled, err: contract.Errorf(contract.ReasonCanceled, "cancelled"), wantReason: contract.ReasonCanceled, wantIs: context.Canceled},
		{name: "not a contract error", parent: context.Background(), err: io.ErrUnexpectedEOF, wantUnavail: true, wantReason: contract.ReasonPluginUnavailable, wantIs: io.ErrUnexpectedEOF},
		{name: "refusal", parent: context.Background(), err: refusal, wantReason: contract.ReasonInactive, wantSame: true},
		{name: "answer without a reason", parent: context.Background(), err: noReason, wantReason: contract.ReasonUnknown, wantSame: true},
		{name: "an rpc an older plugin does not serve", parent: context.Background(), err: contract.Errorf(contract.ReasonUnimplemented, "unknown service"), wantReason: contract.ReasonUnimplemented, wantIs: ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := fromCall(tc.parent, tc.err)
			if got := errors.Is(err, ErrUnavailable); got != tc.wantUnavail {
				t.Fatalf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tc.wantUnavail)
			}
			if got := contract.ReasonOf(err); got != tc.wantReason {
				t.Fatalf("ReasonOf(%v) = %q, want %q", err, got, tc.wantReason)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("error %v does not match %v", err, tc.wantIs)
			}
			if tc.wantSame && err != tc.err {
				t.Fatalf("fromCall(%v) = %v, want the plugin's error itself", tc.err, err)
			}
			if tc.wantUnavail {
				if !strings.HasPrefix(err.Error(), ErrUnavailable.Error()+": ") {
					t.Fatalf("error %q does not say the plugin is unavailable", err)
				}
				var ce *contract.Error
				if !errors.As(err, &ce) || ce.Reason != tc.wantReason {
					t.Fatalf("error %v: want a *contract.Error with reason %q inside", err, tc.wantReason)
				}
			}
		})
	}
}

// Every phase of the supervisor is one of the SDK's, with the same name;
// and a State is the supervisor's, field for field.
func TestPhasesCoverTheSupervisor(t *testing.T) {
	t.Parallel()
	// The SDK's phases and their names, which hosts show and log.
	names := map[Phase]string{
		PhaseStarting: "starting", PhaseRunning: "running", PhaseDown: "down",
		PhaseRestarting: "restarting", PhaseFailed: "failed", PhaseClosed: "closed",
	}
	for ph, want := range names {
		if got := ph.String(); got != want {
			t.Errorf("Phase(%d).String() = %q, want %q", int(ph), got, want)
		}
	}
	since := time.Unix(fakeNow, 0)
	seen := map[Phase]supervisor.Phase{}
	n := 0
	for sp := supervisor.Phase(0); !strings.HasPrefix(sp.String(), "phase("); sp++ {
		n++
		ph, ok := phases[sp]
		if !ok {
			t.Errorf("supervisor phase %v has no host.Phase", sp)
			continue
		}
		if names[ph] != sp.String() {
			t.Errorf("supervisor phase %q maps to host.Phase %q", sp, names[ph])
		}
		if other, dup := seen[ph]; dup {
			t.Errorf("supervisor phases %v and %v both map to %v", other, sp, ph)
		}
		seen[ph] = sp
		in := supervisor.State{Phase: sp, PID: 7, Restarts: 2, LastError: "crashed", Since: since}
		if got, want := stateOf(in), (State{Phase: ph, PID: 7, Restarts: 2, LastError: "crashed", Since: since}); got != want {
			t.Errorf("stateOf(%+v) = %+v, want %+v", in, got, want)
		}
	}
	if len(phases) != n {
		t.Errorf("phases has %d entries, the supervisor %d phases", len(phases), n)
	}
	for ph := range names {
		if _, ok := seen[ph]; !ok {
			t.Errorf("host.Phase %v is no supervisor phase", ph)
		}
	}
	if got := stateOf(supervisor.State{Phase: supervisor.Phase(99)}).Phase; got != PhaseFailed {
		t.Errorf("an unknown supervisor phase maps to %v, want failed (it serves no calls)", got)
	}
	if got := Phase(99).String(); got != "phase(99)" {
		t.Errorf("Phase(99).String() = %q", got)
	}
}
