// Package contract is what the host and the plugin must agree on, and the
// only package both sides import: the go-plugin handshake, the plugin name,
// the protocol version, the go-plugin glue that carries the gRPC services of
// package duov1, and the machine-readable reasons carried by errors.
package contract

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// ProtocolVersion is the major version of the wire contract. It must match
// the version in the proto package name (helpdesk.duo.v1); a test checks.
const ProtocolVersion = 1

// PluginName is the key of the plugin in go-plugin's plugin set.
const PluginName = "duo"

// PluginID is the manifest id of the plugin; Uninstall's confirmation must
// name it.
const PluginID = "duo-security"

// Handshake is checked by go-plugin before anything else. The magic cookie is
// not a secret: it only stops the plugin binary from being run by hand and
// waiting forever for a host.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "HELPDESK_DUO_PLUGIN",
	MagicCookieValue: "7d3f1b7e-duo-security-plugin",
}

// Server is what the plugin process implements: every service of the
// contract.
type Server interface {
	duov1.LifecycleServer
	duov1.SettingsServer
	duov1.OperatorsServer
	duov1.LoginServer
}

// Clients is what the host receives from go-plugin's Dispense: one gRPC
// client per service, sharing one connection.
type Clients struct {
	Lifecycle duov1.LifecycleClient
	Settings  duov1.SettingsClient
	Operators duov1.OperatorsClient
	Login     duov1.LoginClient
}

// GRPCPlugin is go-plugin's glue. The plugin side sets Impl; the host side
// leaves it nil.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Server
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers every service of the contract.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	duov1.RegisterLifecycleServer(s, p.Impl)
	duov1.RegisterSettingsServer(s, p.Impl)
	duov1.RegisterOperatorsServer(s, p.Impl)
	duov1.RegisterLoginServer(s, p.Impl)
	return nil
}

// GRPCClient returns *Clients.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &Clients{
		Lifecycle: duov1.NewLifecycleClient(c),
		Settings:  duov1.NewSettingsClient(c),
		Operators: duov1.NewOperatorsClient(c),
		Login:     duov1.NewLoginClient(c),
	}, nil
}

// VersionedPlugins is the plugin map for go-plugin, keyed by protocol
// version, so a host and a plugin that share no version fail the handshake
// with a clear error instead of misreading each other. impl is nil on the
// host side.
func VersionedPlugins(impl Server) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl}},
	}
}
