package contract

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stubPlugin answers every call from its fields; login hooks can be
// replaced to return broken answers or to panic.
type stubPlugin struct {
	// Recovery is nil unless a test sets one (endOfLogin): the recovery
	// calls' conversions are checked by the drift test and through the
	// plugin.
	Recovery
	AuthLog
	Metrics

	err    error
	status StatusResponse
	begin  func(BeginLoginRequest) (BeginLoginResponse, error)
	done   func(CompleteLoginRequest) (CompleteLoginResponse, error)
	gotCtx chan context.Context
}

func (s *stubPlugin) Activate(ctx context.Context, r ActivateRequest) (ActivateResponse, error) {
	return ActivateResponse{Status: s.status}, s.err
}
func (s *stubPlugin) Deactivate(context.Context, DeactivateRequest) (DeactivateResponse, error) {
	return DeactivateResponse{}, s.err
}
func (s *stubPlugin) Uninstall(_ context.Context, r UninstallRequest) (UninstallResponse, error) {
	return UninstallResponse{Removed: []string{r.DataDir}}, s.err
}
func (s *stubPlugin) Status(ctx context.Context, _ StatusRequest) (StatusResponse, error) {
	if s.gotCtx != nil {
		s.gotCtx <- ctx
	}
	return s.status, s.err
}
func (s *stubPlugin) GetSettings(context.Context, GetSettingsRequest) (GetSettingsResponse, error) {
	return GetSettingsResponse{}, s.err
}
func (s *stubPlugin) UpdateSettings(context.Context, UpdateSettingsRequest) (UpdateSettingsResponse, error) {
	return UpdateSettingsResponse{}, s.err
}
func (s *stubPlugin) CheckDuo(context.Context, CheckDuoRequest) (CheckDuoResponse, error) {
	return CheckDuoResponse{}, s.err
}
func (s *stubPlugin) SetOperatorEnabled(_ context.Context, r SetOperatorEnabledRequest) (SetOperatorEnabledResponse, error) {
	return SetOperatorEnabledResponse{State: OperatorState{OperatorID: r.Operator.ID, Enabled: r.Enabled}}, s.err
}
func (s *stubPlugin) GetOperatorStates(_ context.Context, r GetOperatorStatesRequest) (GetOperatorStatesResponse, error) {
	var out GetOperatorStatesResponse
	for _, id := range r.OperatorIDs {
		out.States = append(out.States, OperatorState{OperatorID: id})
	}
	return out, s.err
}
func (s *stubPlugin) ListEnabledOperators(context.Context, ListEnabledOperatorsRequest) (ListEnabledOperatorsResponse, error) {
	return ListEnabledOperatorsResponse{}, s.err
}
func (s *stubPlugin) SetOperatorAlias(context.Context, SetOperatorAliasRequest) (SetOperatorAliasResponse, error) {
	return SetOperatorAliasResponse{}, s.err
}
func (s *stubPlugin) BeginLogin(_ context.Context, r BeginLoginRequest) (BeginLoginResponse, error) {
	return s.begin(r)
}
func (s *stubPlugin) CompleteLogin(_ context.Context, r CompleteLoginRequest) (CompleteLoginResponse, error) {
	return s.done(r)
}

// endOfLogin is a Recovery whose calls that end a login all give answer;
// its other calls are not served.
type endOfLogin struct {
	Recovery // nil
	answer   CompleteLoginResponse
}

func (r endOfLogin) ConfirmBackupCodes(context.Context, ConfirmBackupCodesRequest) (CompleteLoginResponse, error) {
	return r.answer, nil
}
func (r endOfLogin) RedeemCode(context.Context, RedeemCodeRequest) (CompleteLoginResponse, error) {
	return r.answer, nil
}
func (r endOfLogin) RedeemRecoveryLink(context.Context, RedeemRecoveryLinkRequest) (CompleteLoginResponse, error) {
	return r.answer, nil
}

// connect serves impl through the server adapter and returns the client
// adapter, over go-plugin's in-process gRPC connection.
func connect(t *testing.T, impl Plugin) (Plugin, func()) {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		PluginName: &GRPCPlugin{Impl: impl},
	})
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	p, ok := raw.(Plugin)
	if !ok {
		t.Fatalf("dispense: got %T, want Plugin", raw)
	}
	closed := false
	closeFn := func() {
		if !closed {
			closed = true
			_ = client.Close()
		}
	}
	t.Cleanup(closeFn)
	return p, closeFn
}

func TestAdaptersCarryAnswers(t *testing.T) {
	t.Parallel()
	want := StatusResponse{Active: true, SchemaVersion: 3, PluginVersion: "1.2.3",
		Duo: DuoHealth{Checked: true, CheckedAt: time.Unix(1_700_000_000, 0).UTC(), Detail: "refused", Failure: DuoUnreachable}}
	p, _ := connect(t, &stubPlugin{status: want})
	ctx := context.Background()
	got, err := p.Status(ctx, StatusRequest{})
	// The server adapter reports the minor version it serves, whatever
	// the implementation says.
	want.ProtocolMinor = ProtocolMinor
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Status = %+v, %v; want %+v", got, err, want)
	}
	states, err := p.GetOperatorStates(ctx, GetOperatorStatesRequest{OperatorIDs: []string{"b", "a"}})
	if err != nil || len(states.States) != 2 || states.States[0].OperatorID != "b" || states.States[1].OperatorID != "a" {
		t.Fatalf("GetOperatorStates = %+v, %v; want b then a", states, err)
	}
}

func TestAdaptersCarryErrorReasons(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		err        error
		wantReason ErrorReason
		wantMsg    string
	}{
		{"inactive", Errorf(ReasonInactive, "activate it first"), ReasonInactive, "activate it first"},
		{"wrapped with a cause", &Error{Reason: ReasonStorage, Message: "save failed", Cause: errors.New("disk /secret/path full")}, ReasonStorage, "save failed"},
		{"plain error becomes internal", errors.New("sql: no rows in /var/lib/x"), ReasonInternal, internalMessage},
		// A plugin giving up at the host's deadline is no bug of the plugin.
		{"deadline", fmt.Errorf("save: %w", context.DeadlineExceeded), ReasonDeadline, "the call's deadline passed in the plugin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, _ := connect(t, &stubPlugin{err: tc.err})
			_, err := p.Deactivate(context.Background(), DeactivateRequest{})
			var e *Error
			if !errors.As(err, &e) || e.Reason != tc.wantReason || e.Message != tc.wantMsg || (e.Cause != nil && tc.wantReason != ReasonDeadline) {
				t.Fatalf("err = %#v, want reason %s message %q and no cause (causes never cross)", err, tc.wantReason, tc.wantMsg)
			}
			if ReasonOf(err) != tc.wantReason {
				t.Fatalf("ReasonOf = %s", ReasonOf(err))
			}
		})
	}
}

func TestStatusCodesFollowReasons(t *testing.T) {
	t.Parallel()
	cases := map[ErrorReason]codes.Code{
		ReasonInactive: codes.FailedPrecondition, ReasonActive: codes.FailedPrecondition,
		ReasonSchemaTooNew: codes.FailedPrecondition, ReasonDataDirMismatch: codes.FailedPrecondition,
		ReasonConfirmation: codes.InvalidArgument, ReasonInvalidArgument: codes.InvalidArgument,
		ReasonStorage: codes.Internal, ReasonInternal: codes.Internal,
		ReasonPermission: codes.PermissionDenied, ReasonNotFound: codes.NotFound,
		ReasonReauthenticate: codes.FailedPrecondition, ReasonNoBackupCodes: codes.FailedPrecondition,
	}
	for reason, code := range cases {
		if got := status.Code(statusError(reason, "m")); got != code {
			t.Errorf("%s travels as %s, want %s", reason, got, code)
		}
		if back := fromStatus(context.Background(), statusError(reason, "m")); back.Reason != reason || back.Message != "m" {
			t.Errorf("%s comes back as %+v", reason, back)
		}
	}
}

func TestTransportFailuresAreNamed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want ErrorReason
	}{
		{"unavailable without reason", status.Error(codes.Unavailable, "conn refused"), ReasonPluginUnavailable},
		{"deadline", status.Error(codes.DeadlineExceeded, "late"), ReasonDeadline},
		{"canceled", status.Error(codes.Canceled, "bye"), ReasonCanceled},
		{"unimplemented (an older plugin)", status.Error(codes.Unimplemented, "unknown service helpdesk.duo.v1.Metrics"), ReasonUnimplemented},
		{"not a status", errors.New("broken pipe"), ReasonPluginUnavailable},
		{"context deadline", context.DeadlineExceeded, ReasonDeadline},
	}
	// With the caller's ctx cancelled, a Canceled answer is the caller's doing.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range cases {
		if got := fromStatus(cancelled, tc.err); got.Reason != tc.want {
			t.Errorf("%s: reason %s, want %s", tc.name, got.Reason, tc.want)
		}
	}
}

func TestAPanicNeverCrossesTheBoundary(t *testing.T) {
	t.Parallel()
	p, _ := connect(t, &stubPlugin{begin: func(BeginLoginRequest) (BeginLoginResponse, error) { panic("boom") }})
	res, err := p.BeginLogin(context.Background(), BeginLoginRequest{Operator: Operator{ID: "1"}})
	if ReasonOf(err) != ReasonInternal || res.Decision != DecisionUnspecified {
		t.Fatalf("BeginLogin after a panic = %+v, %v; want INTERNAL", res, err)
	}
	// The server survived it.
	if _, err := p.Status(context.Background(), StatusRequest{}); err != nil {
		t.Fatalf("Status after the panic: %v", err)
	}
}

func TestLoginAnswersAreCheckedAgainstTheContract(t *testing.T) {
	t.Parallel()
	begin := []struct {
		name    string
		answer  BeginLoginResponse
		want    BeginLoginResponse
		wantErr bool
	}{
		{"redirect without url", BeginLoginResponse{Decision: DecisionRedirect, State: "s"}, BeginLoginResponse{}, true},
		{"redirect without state", BeginLoginResponse{Decision: DecisionRedirect, RedirectURL: "https://duo"}, BeginLoginResponse{}, true},
		{"allowed at begin", BeginLoginResponse{Decision: DecisionAllowed}, BeginLoginResponse{}, true},
		{"confirm codes at begin", BeginLoginResponse{Decision: DecisionConfirmBackupCodes}, BeginLoginResponse{}, true},
		{"unspecified passes as deny", BeginLoginResponse{Decision: DecisionUnspecified, RedirectURL: "https://x", State: "s"}, BeginLoginResponse{}, false},
		{"denied keeps reason, drops stray state", BeginLoginResponse{Decision: DecisionDenied, State: "s", Reason: LoginReasonDuoUnavailable, Message: "m"},
			BeginLoginResponse{Decision: DecisionDenied, Reason: LoginReasonDuoUnavailable, Message: "m"}, false},
		{"redirect", BeginLoginResponse{Decision: DecisionRedirect, RedirectURL: "https://duo", State: "s"},
			BeginLoginResponse{Decision: DecisionRedirect, RedirectURL: "https://duo", State: "s"}, false},
	}
	for _, tc := range begin {
		t.Run("begin/"+tc.name, func(t *testing.T) {
			t.Parallel()
			p, _ := connect(t, &stubPlugin{begin: func(BeginLoginRequest) (BeginLoginResponse, error) { return tc.answer, nil }})
			got, err := p.BeginLogin(context.Background(), BeginLoginRequest{})
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("BeginLogin = %+v, %v; want %+v (error %t)", got, err, tc.want, tc.wantErr)
			}
			if tc.wantErr && ReasonOf(err) != ReasonInternal {
				t.Fatalf("reason %s, want INTERNAL", ReasonOf(err))
			}
		})
	}
	for _, bad := range []CompleteLoginResponse{
		{Decision: DecisionNotRequired}, {Decision: DecisionRedirect},
		{Decision: DecisionConfirmBackupCodes, BackupCodesTicket: "t"},     // no codes
		{Decision: DecisionConfirmBackupCodes, BackupCodes: []string{"c"}}, // no ticket
	} {
		t.Run("complete/"+bad.Decision.String(), func(t *testing.T) {
			t.Parallel()
			p, _ := connect(t, &stubPlugin{done: func(CompleteLoginRequest) (CompleteLoginResponse, error) { return bad, nil }})
			got, err := p.CompleteLogin(context.Background(), CompleteLoginRequest{})
			if ReasonOf(err) != ReasonInternal || got.Decision != DecisionUnspecified {
				t.Fatalf("CompleteLogin answering %+v = %+v, %v; want a contract violation", bad, got, err)
			}
		})
	}
	// Codes and a ticket travel only with a confirmation.
	t.Run("complete/denied drops stray codes", func(t *testing.T) {
		t.Parallel()
		p, _ := connect(t, &stubPlugin{done: func(CompleteLoginRequest) (CompleteLoginResponse, error) {
			return CompleteLoginResponse{Decision: DecisionDenied, BackupCodes: []string{"c"}, BackupCodesTicket: "t"}, nil
		}})
		got, err := p.CompleteLogin(context.Background(), CompleteLoginRequest{})
		if err != nil || got.Decision != DecisionDenied || got.BackupCodes != nil || got.BackupCodesTicket != "" {
			t.Fatalf("CompleteLogin = %+v, %v; want DENIED without codes", got, err)
		}
	})
}

// The recovery calls that end a login are held to the contract as
// CompleteLogin is; only RedeemCode may answer CONFIRM_BACKUP_CODES (a
// backup code can be an operator's first second factor), never
// ConfirmBackupCodes, which ends that step, nor RedeemRecoveryLink, after
// which the next Duo login sets everything up again.
func TestRecoveryAnswersAreCheckedAgainstTheContract(t *testing.T) {
	t.Parallel()
	calls := []struct {
		rpc        string
		call       func(Plugin) (CompleteLoginResponse, error)
		mayConfirm bool
	}{
		{"ConfirmBackupCodes", func(p Plugin) (CompleteLoginResponse, error) {
			return p.ConfirmBackupCodes(context.Background(), ConfirmBackupCodesRequest{Ticket: "t"})
		}, false},
		{"RedeemCode", func(p Plugin) (CompleteLoginResponse, error) {
			return p.RedeemCode(context.Background(), RedeemCodeRequest{Code: "c"})
		}, true},
		{"RedeemRecoveryLink", func(p Plugin) (CompleteLoginResponse, error) {
			return p.RedeemRecoveryLink(context.Background(), RedeemRecoveryLinkRequest{Token: "t"})
		}, false},
	}
	confirm := CompleteLoginResponse{Decision: DecisionConfirmBackupCodes, BackupCodes: []string{"c1", "c2"}, BackupCodesTicket: "ticket"}
	// violation is the message of the contract violation the host gets,
	// "" when the answer passes (as want).
	answers := []struct {
		name   string
		answer CompleteLoginResponse
		want   func(rpc string, mayConfirm bool) (want CompleteLoginResponse, violation string)
	}{
		{"confirm with codes and a ticket", confirm, func(rpc string, mayConfirm bool) (CompleteLoginResponse, string) {
			if mayConfirm {
				return confirm, ""
			}
			return CompleteLoginResponse{}, rpc + " answered confirm_backup_codes"
		}},
		{"confirm without a ticket", CompleteLoginResponse{Decision: DecisionConfirmBackupCodes, BackupCodes: []string{"c"}},
			func(rpc string, mayConfirm bool) (CompleteLoginResponse, string) {
				if mayConfirm {
					return CompleteLoginResponse{}, rpc + " answered confirm_backup_codes without codes or a ticket"
				}
				return CompleteLoginResponse{}, rpc + " answered confirm_backup_codes"
			}},
		{"not required", CompleteLoginResponse{Decision: DecisionNotRequired}, func(rpc string, _ bool) (CompleteLoginResponse, string) {
			return CompleteLoginResponse{}, rpc + " answered not_required; only ALLOWED or DENIED are valid"
		}},
		{"redirect", CompleteLoginResponse{Decision: DecisionRedirect}, func(rpc string, _ bool) (CompleteLoginResponse, string) {
			return CompleteLoginResponse{}, rpc + " answered redirect; only ALLOWED or DENIED are valid"
		}},
		{"allowed", CompleteLoginResponse{Decision: DecisionAllowed}, func(string, bool) (CompleteLoginResponse, string) {
			return CompleteLoginResponse{Decision: DecisionAllowed}, ""
		}},
		{"denied drops stray codes", CompleteLoginResponse{Decision: DecisionDenied, Reason: LoginReasonCodeWrong, Message: "m", BackupCodes: []string{"c"}, BackupCodesTicket: "t"},
			func(string, bool) (CompleteLoginResponse, string) {
				return CompleteLoginResponse{Decision: DecisionDenied, Reason: LoginReasonCodeWrong, Message: "m"}, ""
			}},
	}
	for _, c := range calls {
		for _, a := range answers {
			t.Run(c.rpc+"/"+a.name, func(t *testing.T) {
				t.Parallel()
				p, _ := connect(t, &stubPlugin{Recovery: endOfLogin{answer: a.answer}})
				got, err := c.call(p)
				want, violation := a.want(c.rpc, c.mayConfirm)
				var e *Error
				switch {
				case violation == "" && err != nil:
					t.Fatalf("%s answering %+v: %v", c.rpc, a.answer, err)
				case violation != "" && (!errors.As(err, &e) || e.Reason != ReasonInternal || e.Message != "contract violation: "+violation):
					t.Fatalf("%s answering %+v: error %v; want INTERNAL %q", c.rpc, a.answer, err, "contract violation: "+violation)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s answering %+v = %+v, want %+v", c.rpc, a.answer, got, want)
				}
			})
		}
	}
}

// The caller's deadline travels to the plugin, so that the plugin can fit
// its own calls to Duo inside it.
func TestDeadlineReachesThePlugin(t *testing.T) {
	t.Parallel()
	stub := &stubPlugin{gotCtx: make(chan context.Context, 1)}
	p, _ := connect(t, stub)
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	if _, err := p.Status(ctx, StatusRequest{}); err != nil {
		t.Fatal(err)
	}
	dl, ok := (<-stub.gotCtx).Deadline()
	if left := time.Until(dl); !ok || left > 7*time.Second || left < 5*time.Second {
		t.Fatalf("plugin saw deadline %v (ok %t), %v from now; want about 7s", dl, ok, left)
	}
}

func TestCanceledByTheTransportIsUnavailable(t *testing.T) {
	t.Parallel()
	if got := fromStatus(context.Background(), status.Error(codes.Canceled, "grpc: the client connection is closing")); got.Reason != ReasonPluginUnavailable {
		t.Fatalf("reason %s, want PLUGIN_UNAVAILABLE", got.Reason)
	}
}

func TestClosedConnectionIsUnavailable(t *testing.T) {
	t.Parallel()
	p, closeConn := connect(t, &stubPlugin{})
	closeConn()
	_, err := p.Status(context.Background(), StatusRequest{})
	if ReasonOf(err) != ReasonPluginUnavailable {
		t.Fatalf("Status on a closed connection: %v (reason %s), want PLUGIN_UNAVAILABLE", err, ReasonOf(err))
	}
}

func (s *stubPlugin) UnlockOperator(context.Context, UnlockOperatorRequest) (UnlockOperatorResponse, error) {
	return UnlockOperatorResponse{}, s.err
}

// TestDuoHealthLatencyRoundsUp: a check under a millisecond crosses the
// wire as 1 ms, not as 0 (never timed).
func TestDuoHealthLatencyRoundsUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   time.Duration
		want time.Duration
	}{
		{0, 0}, {-time.Second, 0}, {time.Nanosecond, time.Millisecond}, {400 * time.Microsecond, time.Millisecond},
		{time.Millisecond, time.Millisecond}, {1500 * time.Microsecond, 2 * time.Millisecond}, {3 * time.Second, 3 * time.Second},
	} {
		got := fromprotoDuoHealth(toprotoDuoHealth(DuoHealth{Checked: true, OK: true, Latency: tc.in})).Latency
		if got != tc.want {
			t.Errorf("latency %v crosses as %v, want %v", tc.in, got, tc.want)
		}
	}
}
