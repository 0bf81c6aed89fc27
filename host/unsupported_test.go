package host

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// bareServer is a plugin that serves none of the contract's services: the
// extreme of a plugin older than the SDK.
type bareServer struct{ plugin.NetRPCUnsupportedPlugin }

func (bareServer) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

func (bareServer) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return contract.NewGRPCClient(c), nil
}

// A login call the plugin does not serve is an error matching
// ErrUnsupported with no decision, never one a host could read as
// "let in"; Supports says the services are absent; nothing panics.
func TestUnservedCallsAreUnsupportedAndDecideNothing(t *testing.T) {
	t.Parallel()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{contract.PluginName: bareServer{}})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(contract.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}.withDefaults()
	p := &Plugin{opts: opts, log: opts.Logger, manifest: &Manifest{}, src: &staticSource{in: &instance{rpc: client, plugin: raw.(contract.Plugin)}}}
	ctx := context.Background()

	begin, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: browser})
	wantUnsupported(t, "BeginLogin", err)
	if begin.Decision != contract.DecisionUnspecified {
		t.Errorf("BeginLogin decision = %s, want none", begin.Decision)
	}
	for name, call := range map[string]func() (contract.CompleteLoginResponse, error){
		"CompleteLogin": func() (contract.CompleteLoginResponse, error) {
			return p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: "s", CallbackState: "s", DuoCode: "c"})
		},
		"RedeemCode": func() (contract.CompleteLoginResponse, error) {
			return p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: "abcde-fghij"})
		},
		"ConfirmBackupCodes": func() (contract.CompleteLoginResponse, error) {
			return p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: alice, Ticket: "t"})
		},
		"RedeemRecoveryLink": func() (contract.CompleteLoginResponse, error) {
			return p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: "t"})
		},
	} {
		res, err := call()
		wantUnsupported(t, name, err)
		if res.Decision != contract.DecisionUnspecified {
			t.Errorf("%s decision = %s, want none", name, res.Decision)
		}
	}
	for _, f := range []Feature{FeatureAuthLog, FeatureMetrics} {
		if ok, err := p.Supports(ctx, f); err != nil || ok {
			t.Errorf("Supports(%s) = %t, %v; want false, nil", f, ok, err)
		}
	}
}

func wantUnsupported(t *testing.T, call string, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonUnimplemented {
		t.Errorf("%s: %v (reason %s); want ErrUnsupported only, reason %s", call, err, contract.ReasonOf(err), contract.ReasonUnimplemented)
	}
}
