package host

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// staticSource serves one in-process connection, without a supervisor.
type staticSource struct {
	in *instance

	mu     sync.Mutex
	closed bool
}

func (s *staticSource) Current() (*instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in, !s.closed
}

func (s *staticSource) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return State{Phase: PhaseClosed}
	}
	return State{Phase: PhaseRunning}
}

func (s *staticSource) Kick() {}

func (s *staticSource) Close(time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// newInProcess connects the SDK to fake over go-plugin's in-process gRPC
// test connection: the converters and error mapping, without a process.
func newInProcess(t *testing.T, fake *fakeServer, callTimeout time.Duration) *Plugin {
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
	clients, ok := raw.(*contract.Clients)
	if !ok {
		t.Fatalf("dispense: got %T, want *contract.Clients", raw)
	}
	opts := Options{CallTimeout: callTimeout, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}.withDefaults()
	return &Plugin{
		opts:     opts,
		log:      opts.Logger,
		manifest: &Manifest{},
		src:      &staticSource{in: &instance{rpc: client, clients: clients}},
	}
}

var (
	admin    = Actor{ID: "1", Username: "admin", IP: "192.0.2.1"}
	alice    = Operator{ID: "42", Username: "alice", Email: "alice@example.test"}
	browser  = ClientInfo{IP: "198.51.100.7", UserAgent: "test-agent"}
	fakeTime = time.Unix(fakeNow, 0).UTC()
	activate = ActivateRequest{
		Host:        HostInfo{Name: "helpdesk", Version: "1.2.3"},
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
	p := newInProcess(t, newFakeServer(), 0)

	st, err := p.Activate(ctx, activate)
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	want := Status{
		Active: true, SchemaVersion: fakeSchema, PluginVersion: fakeVersion,
		Duo: DuoHealth{Checked: true, OK: true, CheckedAt: fakeTime},
	}
	if st != want {
		t.Fatalf("Activate status = %+v, want %+v", st, want)
	}
	if got, ok := p.rememberedActivate(); !ok || !reflect.DeepEqual(got, activate) {
		t.Fatalf("remembered activate = %+v, %v; want the request", got, ok)
	}

	if _, err := p.Uninstall(ctx, UninstallRequest{Confirm: contract.PluginID, Actor: admin}); ReasonOf(err) != contract.ReasonActive {
		t.Fatalf("Uninstall while active: reason %q (%v), want %q", ReasonOf(err), err, contract.ReasonActive)
	}
	if err := p.Deactivate(ctx, admin); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if _, ok := p.rememberedActivate(); ok {
		t.Fatal("Deactivate did not forget the activation")
	}
	if st, err := p.Status(ctx); err != nil || st.Active {
		t.Fatalf("Status after Deactivate = %+v, %v; want inactive", st, err)
	}
	removed, err := p.Uninstall(ctx, UninstallRequest{Confirm: contract.PluginID, Actor: admin})
	if err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	if want := []string{activate.DataDir + "/duo.db", activate.DataDir + "/secret.key"}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("Uninstall removed %q, want %q", removed, want)
	}
}

func TestContractErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		activate   bool
		call       func(*Plugin) error
		wantCode   string
		wantReason contract.Reason
	}{
		{
			name: "begin login while inactive",
			call: func(p *Plugin) error {
				_, err := p.BeginLogin(context.Background(), alice, browser)
				return err
			},
			wantCode: codes.FailedPrecondition.String(), wantReason: contract.ReasonInactive,
		},
		{
			name: "complete login while inactive",
			call: func(p *Plugin) error {
				_, err := p.CompleteLogin(context.Background(), CompleteLoginRequest{Operator: alice})
				return err
			},
			wantCode: codes.FailedPrecondition.String(), wantReason: contract.ReasonInactive,
		},
		{
			name: "uninstall without confirmation",
			call: func(p *Plugin) error {
				_, err := p.Uninstall(context.Background(), UninstallRequest{Confirm: "yes", Actor: admin})
				return err
			},
			wantCode: codes.FailedPrecondition.String(), wantReason: contract.ReasonConfirmation,
		},
		{
			name: "activate without data dir",
			call: func(p *Plugin) error {
				_, err := p.Activate(context.Background(), ActivateRequest{Actor: admin})
				return err
			},
			wantCode: codes.InvalidArgument.String(), wantReason: contract.ReasonInvalidArgument,
		},
		{
			name: "activate with another data dir", activate: true,
			call: func(p *Plugin) error {
				_, err := p.Activate(context.Background(), ActivateRequest{DataDir: "/elsewhere", Actor: admin})
				return err
			},
			wantCode: codes.FailedPrecondition.String(), wantReason: contract.ReasonDataDirMismatch,
		},
		{
			name: "redirect without URL breaks the contract", activate: true,
			call: func(p *Plugin) error {
				_, err := p.BeginLogin(context.Background(), Operator{ID: opBadRedirect}, browser)
				return err
			},
			wantCode: codes.Internal.String(), wantReason: contract.ReasonInternal,
		},
		{
			name: "allowed from begin login breaks the contract", activate: true,
			call: func(p *Plugin) error {
				_, err := p.BeginLogin(context.Background(), Operator{ID: opAllowedAtBegin}, browser)
				return err
			},
			wantCode: codes.Internal.String(), wantReason: contract.ReasonInternal,
		},
		{
			name: "not required from complete login breaks the contract", activate: true,
			call: func(p *Plugin) error {
				_, err := p.CompleteLogin(context.Background(), CompleteLoginRequest{Operator: Operator{ID: opNotRequiredDone}})
				return err
			},
			wantCode: codes.Internal.String(), wantReason: contract.ReasonInternal,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newInProcess(t, newFakeServer(), 0)
			if tc.activate {
				mustActivate(t, p)
			}
			err := tc.call(p)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v (%T), want *Error", err, err)
			}
			if pe.Code != tc.wantCode || pe.Reason != tc.wantReason {
				t.Fatalf("error = %s/%s, want %s/%s (%v)", pe.Code, pe.Reason, tc.wantCode, tc.wantReason, err)
			}
			if ReasonOf(err) != tc.wantReason {
				t.Fatalf("ReasonOf = %q, want %q", ReasonOf(err), tc.wantReason)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Fatalf("a refusal by the plugin must not match ErrUnavailable: %v", err)
			}
		})
	}
}

func TestContractOperators(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newInProcess(t, newFakeServer(), 0)
	mustActivate(t, p)

	bob := Operator{ID: "43", Username: "bob", Email: "bob@example.test"}
	for _, op := range []Operator{alice, bob} {
		if _, err := p.SetOperatorEnabled(ctx, op, true, admin); err != nil {
			t.Fatalf("SetOperatorEnabled(%s): %v", op.ID, err)
		}
	}
	st, err := p.SetOperatorAlias(ctx, alice, "alice.duo", admin)
	if err != nil {
		t.Fatalf("SetOperatorAlias: %v", err)
	}
	wantAlice := OperatorState{
		OperatorID: "42", Enabled: true, Username: "alice", Email: "alice@example.test",
		DuoAlias: "alice.duo", ChangedAt: fakeTime, ChangedBy: "admin",
	}
	if st != wantAlice {
		t.Fatalf("SetOperatorAlias = %+v, want %+v", st, wantAlice)
	}

	states, err := p.GetOperatorStates(ctx, []string{"42", "unknown"})
	if err != nil {
		t.Fatalf("GetOperatorStates: %v", err)
	}
	wantStates := map[string]OperatorState{"42": wantAlice, "unknown": {OperatorID: "unknown"}}
	if !reflect.DeepEqual(states, wantStates) {
		t.Fatalf("GetOperatorStates = %+v, want %+v", states, wantStates)
	}
	if states["unknown"].EnrolledAt != (time.Time{}) {
		t.Fatal("a zero unix time must convert to the zero time.Time")
	}

	page1, next, err := p.ListEnabledOperators(ctx, 1, "")
	if err != nil || len(page1) != 1 || page1[0].OperatorID != "42" || next != "1" {
		t.Fatalf("ListEnabledOperators page 1 = %+v, %q, %v", page1, next, err)
	}
	page2, next, err := p.ListEnabledOperators(ctx, 1, next)
	if err != nil || len(page2) != 1 || page2[0].OperatorID != "43" || next != "" {
		t.Fatalf("ListEnabledOperators page 2 = %+v, %q, %v", page2, next, err)
	}
	if _, _, err := p.ListEnabledOperators(ctx, 1, "bogus"); ReasonOf(err) != contract.ReasonInvalidArgument {
		t.Fatalf("ListEnabledOperators with a bad token: reason %q, want %q", ReasonOf(err), contract.ReasonInvalidArgument)
	}
}

func TestContractSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newInProcess(t, newFakeServer(), 0)
	mustActivate(t, p)

	res, err := p.UpdateSettings(ctx, UpdateSettingsRequest{Values: map[string]string{"fail_mode": "sideways"}, Actor: admin})
	if err != nil {
		t.Fatalf("UpdateSettings: %v", err)
	}
	want := UpdateSettingsResult{
		Errors: []FieldError{
			{Field: "client_id", Reason: "required", Message: "Client ID is required"},
			{Field: "fail_mode", Reason: "option", Message: "fail_mode must be closed or open"},
		},
		Duo: DuoHealth{Checked: true, OK: true, CheckedAt: fakeTime},
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("UpdateSettings = %+v, want %+v", res, want)
	}

	res, err = p.UpdateSettings(ctx, UpdateSettingsRequest{
		Values:       map[string]string{"client_id": "DIXXXXXXXXXXXXXXXXXX", fakeSecretKey: "top-secret"},
		SkipDuoCheck: true,
		Actor:        admin,
	})
	if err != nil || !res.Saved || len(res.Errors) != 0 || res.Duo.Checked {
		t.Fatalf("UpdateSettings = %+v, %v; want saved without a Duo check", res, err)
	}

	got, err := p.GetSettings(ctx)
	if err != nil {
		t.Fatalf("GetSettings: %v", err)
	}
	wantSettings := Settings{
		Values:    map[string]string{"api_hostname": "", "client_id": "DIXXXXXXXXXXXXXXXXXX", "fail_mode": "closed", settingActBy: "admin"},
		SecretSet: map[string]bool{fakeSecretKey: true},
	}
	if !reflect.DeepEqual(got, wantSettings) {
		t.Fatalf("GetSettings = %+v, want %+v", got, wantSettings)
	}

	health, err := p.CheckDuo(ctx)
	if want := (DuoHealth{Checked: true, CheckedAt: fakeTime, Detail: "401 from Duo"}); err != nil || health != want {
		t.Fatalf("CheckDuo = %+v, %v; want %+v", health, err, want)
	}
	if st, err := p.Status(ctx); err != nil || !st.Configured {
		t.Fatalf("Status = %+v, %v; want configured", st, err)
	}
}

func TestContractLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newInProcess(t, newFakeServer(), 0)
	mustActivate(t, p)
	if _, err := p.SetOperatorEnabled(ctx, alice, true, admin); err != nil {
		t.Fatalf("SetOperatorEnabled: %v", err)
	}

	begins := []struct {
		name string
		op   Operator
		want BeginLoginResult
	}{
		{name: "not enabled", op: Operator{ID: "7", Username: "carol"}, want: BeginLoginResult{Decision: DecisionNotRequired}},
		{name: "enabled", op: alice, want: BeginLoginResult{
			Decision: DecisionRedirect, State: "state-42",
			RedirectURL: "https://duo.example.test/oauth/v1/authorize?state=state-42",
		}},
		{name: "unspecified decision passes through as deny", op: Operator{ID: opUnspecified}, want: BeginLoginResult{Decision: DecisionUnspecified}},
	}
	for _, tc := range begins {
		t.Run("begin/"+tc.name, func(t *testing.T) {
			got, err := p.BeginLogin(ctx, tc.op, browser)
			if err != nil || got != tc.want {
				t.Fatalf("BeginLogin = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}

	completes := []struct {
		name string
		req  CompleteLoginRequest
		want CompleteLoginResult
	}{
		{
			name: "states differ",
			req:  CompleteLoginRequest{Operator: alice, SessionState: "state-42", CallbackState: "state-x", DuoCode: fakeGoodCode},
			want: CompleteLoginResult{Decision: DecisionDenied, Reason: "state_mismatch", Message: "Duo verification failed."},
		},
		{
			name: "no session state",
			req:  CompleteLoginRequest{Operator: alice, DuoCode: fakeGoodCode},
			want: CompleteLoginResult{Decision: DecisionDenied, Reason: "state_mismatch", Message: "Duo verification failed."},
		},
		{
			name: "bad code",
			req:  CompleteLoginRequest{Operator: alice, SessionState: "state-42", CallbackState: "state-42", DuoCode: "nope"},
			want: CompleteLoginResult{Decision: DecisionDenied, Reason: "duo_denied", Message: "Duo verification failed."},
		},
		{
			name: "allowed",
			req:  CompleteLoginRequest{Operator: alice, SessionState: "state-42", CallbackState: "state-42", DuoCode: fakeGoodCode, Client: browser},
			want: CompleteLoginResult{Decision: DecisionAllowed},
		},
	}
	for _, tc := range completes {
		t.Run("complete/"+tc.name, func(t *testing.T) {
			got, err := p.CompleteLogin(ctx, tc.req)
			if err != nil || got != tc.want {
				t.Fatalf("CompleteLogin = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}

	states, err := p.GetOperatorStates(ctx, []string{alice.ID})
	if err != nil || states[alice.ID].LastLogin != fakeTime || states[alice.ID].EnrolledAt != fakeTime {
		t.Fatalf("after an allowed login, state = %+v, %v; want LastLogin and EnrolledAt set", states[alice.ID], err)
	}
}

func TestContractFailsClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ctx         func() (context.Context, context.CancelFunc)
		op          Operator
		close       bool
		wantUnavail bool
		wantReason  contract.Reason
		wantIs      error
	}{
		{
			name:        "hung call stops at the call timeout",
			ctx:         func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			op:          Operator{ID: opHang},
			wantUnavail: true, wantReason: contract.ReasonDeadline, wantIs: ErrUnavailable,
		},
		{
			name: "caller's shorter deadline wins",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			},
			op:          Operator{ID: opHang},
			wantUnavail: true, wantReason: contract.ReasonDeadline, wantIs: ErrUnavailable,
		},
		{
			name: "caller cancelled before the call",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			op:         alice,
			wantReason: contract.ReasonUnknown, wantIs: context.Canceled,
		},
		{
			name: "caller's deadline passed before the call",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			},
			op:          alice,
			wantUnavail: true, wantReason: contract.ReasonDeadline, wantIs: context.DeadlineExceeded,
		},
		{
			name:        "closed",
			ctx:         func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			op:          alice,
			close:       true,
			wantUnavail: true, wantReason: contract.ReasonPluginUnavailable, wantIs: ErrClosed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newInProcess(t, newFakeServer(), 300*time.Millisecond)
			mustActivate(t, p)
			if tc.close {
				if err := p.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			res, err := p.BeginLogin(ctx, tc.op, browser)
			if err == nil {
				t.Fatalf("BeginLogin = %+v, want an error", res)
			}
			if res != (BeginLoginResult{}) {
				t.Fatalf("BeginLogin returned %+v with its error; want the zero result", res)
			}
			if got := errors.Is(err, ErrUnavailable); got != tc.wantUnavail {
				t.Fatalf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tc.wantUnavail)
			}
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("error %v does not match %v", err, tc.wantIs)
			}
			if ReasonOf(err) != tc.wantReason {
				t.Fatalf("ReasonOf(%v) = %q, want %q", err, ReasonOf(err), tc.wantReason)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want contract.Reason
	}{
		{name: "nil", err: nil, want: ""},
		{name: "plugin error", err: &Error{Code: "FailedPrecondition", Reason: contract.ReasonInactive}, want: contract.ReasonInactive},
		{name: "wrapped plugin error", err: errors.Join(errors.New("x"), &Error{Reason: contract.ReasonActive}), want: contract.ReasonActive},
		{name: "unavailable", err: unavailable(contract.ReasonPluginUnavailable, "down", nil), want: contract.ReasonPluginUnavailable},
		{name: "deadline", err: unavailable(contract.ReasonDeadline, "slow", nil), want: contract.ReasonDeadline},
		{name: "bare sentinel", err: ErrUnavailable, want: contract.ReasonPluginUnavailable},
		{name: "raw gRPC status", err: contract.Status(codes.FailedPrecondition, contract.ReasonSchemaTooNew, "newer"), want: contract.ReasonSchemaTooNew},
		{name: "other", err: errors.New("boom"), want: contract.ReasonUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReasonOf(tc.err); got != tc.want {
				t.Fatalf("ReasonOf = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFromCallError(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name        string
		parent      context.Context
		err         error
		wantUnavail bool
		wantReason  contract.Reason
		wantCode    string
	}{
		{name: "unavailable", parent: context.Background(), err: contract.Status(codes.Unavailable, contract.ReasonUnknown, "conn refused"), wantUnavail: true, wantReason: contract.ReasonPluginUnavailable},
		{name: "deadline", parent: context.Background(), err: contract.Status(codes.DeadlineExceeded, contract.ReasonUnknown, "slow"), wantUnavail: true, wantReason: contract.ReasonDeadline},
		{name: "cancelled by the transport", parent: context.Background(), err: contract.Status(codes.Canceled, contract.ReasonUnknown, "closing"), wantUnavail: true, wantReason: contract.ReasonPluginUnavailable},
		{name: "cancelled by the caller", parent: cancelled, err: contract.Status(codes.Canceled, contract.ReasonUnknown, "cancelled"), wantReason: contract.ReasonUnknown},
		{name: "not a status", parent: context.Background(), err: io.ErrUnexpectedEOF, wantUnavail: true, wantReason: contract.ReasonPluginUnavailable},
		{name: "refusal", parent: context.Background(), err: contract.Status(codes.FailedPrecondition, contract.ReasonInactive, "inactive"), wantReason: contract.ReasonInactive, wantCode: "FailedPrecondition"},
		{name: "refusal without reason", parent: context.Background(), err: contract.Status(codes.Internal, "", "bug"), wantReason: "", wantCode: "Internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := fromCallError(tc.parent, tc.err)
			if got := errors.Is(err, ErrUnavailable); got != tc.wantUnavail {
				t.Fatalf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tc.wantUnavail)
			}
			if got := ReasonOf(err); got != tc.wantReason {
				t.Fatalf("ReasonOf(%v) = %q, want %q", err, got, tc.wantReason)
			}
			var pe *Error
			if errors.As(err, &pe) != (tc.wantCode != "") || (pe != nil && pe.Code != tc.wantCode) {
				t.Fatalf("error %v: want *Error with code %q", err, tc.wantCode)
			}
		})
	}
}

func TestFromprotoDecision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   duov1.LoginDecision
		want LoginDecision
	}{
		{duov1.LoginDecision_LOGIN_DECISION_UNSPECIFIED, DecisionUnspecified},
		{duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED, DecisionNotRequired},
		{duov1.LoginDecision_LOGIN_DECISION_REDIRECT, DecisionRedirect},
		{duov1.LoginDecision_LOGIN_DECISION_DENIED, DecisionDenied},
		{duov1.LoginDecision_LOGIN_DECISION_ALLOWED, DecisionAllowed},
		{duov1.LoginDecision(99), DecisionUnspecified}, // a newer plugin's value: deny
	}
	for _, tc := range tests {
		t.Run(tc.in.String(), func(t *testing.T) {
			if got := fromprotoDecision(tc.in); got != tc.want {
				t.Fatalf("fromprotoDecision(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	// Every wire value has a host value: a test fails when the enum grows.
	for v := range duov1.LoginDecision_name {
		if v != 0 && fromprotoDecision(duov1.LoginDecision(v)) == DecisionUnspecified {
			t.Errorf("wire decision %d has no host value", v)
		}
	}
}

func TestLoginDecisionString(t *testing.T) {
	t.Parallel()
	want := map[LoginDecision]string{
		DecisionUnspecified: "unspecified", DecisionNotRequired: "not_required", DecisionRedirect: "redirect",
		DecisionDenied: "denied", DecisionAllowed: "allowed", LoginDecision(9): "decision(9)",
	}
	for d, s := range want {
		if d.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(d), d.String(), s)
		}
	}
}

func TestBeginLoginStripsStrayState(t *testing.T) {
	t.Parallel()
	got, err := fromprotoBeginLogin(&duov1.BeginLoginResponse{
		Decision: duov1.LoginDecision_LOGIN_DECISION_DENIED, RedirectUrl: "https://x", State: "s", Reason: "locked_out", Message: "Locked.",
	})
	if want := (BeginLoginResult{Decision: DecisionDenied, Reason: "locked_out", Message: "Locked."}); err != nil || got != want {
		t.Fatalf("fromprotoBeginLogin = %+v, %v; want %+v", got, err, want)
	}
}
