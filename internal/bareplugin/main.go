// Command bareplugin is a do-nothing go-plugin server speaking the
// contract: the baseline the benchmarks compare the real plugin with (what
// go-plugin, AutoMTLS and gRPC cost on the machine, with no plugin work).
package main

import (
	"context"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

type bare struct {
	duov1.UnimplementedLifecycleServer
	duov1.UnimplementedSettingsServer
	duov1.UnimplementedOperatorsServer
	duov1.UnimplementedLoginServer
}

func (bare) Status(context.Context, *duov1.StatusRequest) (*duov1.StatusResponse, error) {
	return &duov1.StatusResponse{PluginVersion: "bare"}, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  contract.Handshake,
		VersionedPlugins: contract.VersionedPlugins(bare{}),
		Logger:           hclog.NewNullLogger(),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
