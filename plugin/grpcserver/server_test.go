package grpcserver

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/helpdesk-duo/duo-plugin/plugin/service"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// clients connects to the adapter in-process over go-plugin's gRPC test
// connection: the contract without a subprocess.
func clients(t *testing.T) *contract.Clients {
	t.Helper()
	svc := service.New(service.Config{Runtime: settings.Runtime{}})
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		contract.PluginName: &contract.GRPCPlugin{Impl: New(svc, nil)},
	})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(contract.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*contract.Clients)
}

func TestContractInProcess(t *testing.T) {
	t.Parallel()
	c := clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	st, err := c.Lifecycle.Status(ctx, &duov1.StatusRequest{})
	if err != nil || st.GetActive() || st.GetPluginVersion() != service.Version {
		t.Fatalf("Status = %v, %v", st, err)
	}

	errCases := []struct {
		name   string
		call   func() error
		code   codes.Code
		reason contract.Reason
	}{
		{"settings while inactive", func() error {
			_, err := c.Settings.GetSettings(ctx, &duov1.GetSettingsRequest{})
			return err
		}, codes.FailedPrecondition, contract.ReasonInactive},
		{"login while inactive", func() error {
			_, err := c.Login.BeginLogin(ctx, &duov1.BeginLoginRequest{Operator: &duov1.Operator{Id: "1", Username: "a"}})
			return err
		}, codes.FailedPrecondition, contract.ReasonInactive},
		{"uninstall with wrong confirmation", func() error {
			_, err := c.Lifecycle.Uninstall(ctx, &duov1.UninstallRequest{Confirm: "nope"})
			return err
		}, codes.InvalidArgument, contract.ReasonConfirmation},
		{"activate without a data dir", func() error {
			_, err := c.Lifecycle.Activate(ctx, &duov1.ActivateRequest{})
			return err
		}, codes.InvalidArgument, contract.ReasonInvalidArgument},
	}
	for _, tc := range errCases {
		err := tc.call()
		if status.Code(err) != tc.code || contract.ReasonOf(err) != tc.reason {
			t.Errorf("%s: %v (code %v, reason %q), want %v %q", tc.name, err, status.Code(err), contract.ReasonOf(err), tc.code, tc.reason)
		}
	}

	dir := filepath.Join(t.TempDir(), "data")
	act, err := c.Lifecycle.Activate(ctx, &duov1.ActivateRequest{DataDir: dir, CallbackUrl: "http://127.0.0.1/cb"})
	if err != nil || !act.GetStatus().GetActive() || act.GetStatus().GetSchemaVersion() < 1 {
		t.Fatalf("Activate = %v, %v", act, err)
	}
	up, err := c.Settings.UpdateSettings(ctx, &duov1.UpdateSettingsRequest{Values: map[string]string{"client_id": "short"}})
	// Every field error at once, in schema order.
	var fields []string
	for _, fe := range up.GetErrors() {
		fields = append(fields, fe.GetField()+":"+fe.GetReason())
	}
	if err != nil || up.GetSaved() || strings.Join(fields, ",") != "client_id:length,client_secret:required,api_hostname:required" {
		t.Fatalf("UpdateSettings = %v, %v", fields, err)
	}
	if _, err := c.Operators.SetOperatorEnabled(ctx, &duov1.SetOperatorEnabledRequest{
		Operator: &duov1.Operator{Id: "7", Username: "gina"}, Enabled: true, Actor: &duov1.Actor{Username: "admin"}}); err != nil {
		t.Fatal(err)
	}
	states, err := c.Operators.GetOperatorStates(ctx, &duov1.GetOperatorStatesRequest{OperatorIds: []string{"x", "7"}})
	if err != nil || len(states.GetStates()) != 2 {
		t.Fatalf("GetOperatorStates = %v, %v", states, err)
	}
	// Answers come in the order asked.
	if s0, s1 := states.GetStates()[0], states.GetStates()[1]; s0.GetOperatorId() != "x" || s0.GetEnabled() || s1.GetOperatorId() != "7" || !s1.GetEnabled() || s1.GetChangedBy() != "admin" {
		t.Fatalf("states = %v", states.GetStates())
	}
	begin, err := c.Login.BeginLogin(ctx, &duov1.BeginLoginRequest{Operator: &duov1.Operator{Id: "7", Username: "gina"}})
	// Duo settings are incomplete: a login that needs Duo is denied.
	if err != nil || begin.GetDecision() != duov1.LoginDecision_LOGIN_DECISION_DENIED || begin.GetReason() != service.ReasonNotConfigured {
		t.Fatalf("BeginLogin = %v, %v", begin, err)
	}
	if _, err := c.Lifecycle.Deactivate(ctx, &duov1.DeactivateRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverInterceptorKeepsPanicsInside(t *testing.T) {
	t.Parallel()
	icpt := RecoverInterceptor(nil)
	_, err := icpt(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x"}, func(context.Context, any) (any, error) {
		panic("boom")
	})
	if status.Code(err) != codes.Internal || contract.ReasonOf(err) != contract.ReasonInternal {
		t.Fatalf("err = %v", err)
	}
}
