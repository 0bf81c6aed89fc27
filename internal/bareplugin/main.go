// Command bareplugin is a do-nothing go-plugin server of the same wire
// contract: the baseline the benchmarks compare the real plugin with (what
// go-plugin, AutoMTLS and gRPC cost on the machine, with no plugin work and
// no Go-type conversion). It serves the generated protobuf server directly.
package main

import (
	"context"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/helpdesk-duo/duo-plugin/internal/pprofdir"
	"google.golang.org/grpc"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

type bare struct {
	duov1.UnimplementedLifecycleServer
	duov1.UnimplementedLoginServer
}

func (bare) Status(context.Context, *duov1.StatusRequest) (*duov1.StatusResponse, error) {
	return &duov1.StatusResponse{PluginVersion: "bare"}, nil
}

// BeginLogin answers NOT_REQUIRED: the floor of a login hook call.
func (bare) BeginLogin(context.Context, *duov1.BeginLoginRequest) (*duov1.BeginLoginResponse, error) {
	return &duov1.BeginLoginResponse{Decision: duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED}, nil
}

// grpcOnly registers the generated servers without the contract's adapter.
type grpcOnly struct{ plugin.NetRPCUnsupportedPlugin }

func (grpcOnly) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	duov1.RegisterLifecycleServer(s, bare{})
	duov1.RegisterLoginServer(s, bare{})
	return nil
}

func (grpcOnly) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, nil // never dispensed from this side
}

func main() {
	// The plugin's measurement hook (DUO_PLUGIN_PPROF_DIR), so that the
	// floor can be profiled beside it.
	if stop, err := pprofdir.Start(); err == nil {
		defer stop()
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  contract.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{contract.ProtocolVersion: {contract.PluginName: grpcOnly{}}},
		Logger:           hclog.NewNullLogger(),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
