package contract

import (
	"context"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// ProtocolVersion is the major version of the wire contract. It must match
// the version in the proto package name (helpdesk.duo.v1); a test checks.
// go-plugin's handshake refuses a plugin that speaks no major the host offers.
const ProtocolVersion = 1

// ProtocolMinor is the minor version of the wire contract: it grows by one
// with each release that adds to the contract (fields, messages, enum values,
// RPCs, services), and is never lowered. It must match the proto's file
// option protocol_minor; a test checks. The plugin reports it in
// StatusResponse.ProtocolMinor (a plugin of protocol 1.0 reports 0).
const ProtocolMinor = 1

// PluginName is the key of the plugin in go-plugin's plugin set.
const PluginName = "duo"

// PluginID is the manifest id of the plugin; Uninstall's confirmation must
// name it. A test checks it equals plugin.json's id.
const PluginID = "duo-security"

// Handshake is checked by go-plugin before anything else. The magic cookie is
// not a secret: it only stops the plugin binary from being run by hand and
// waiting forever for a host.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  servedMajor,
	MagicCookieKey:   "HELPDESK_DUO_PLUGIN",
	MagicCookieValue: "7d3f1b7e-duo-security-plugin",
}

// GRPCPlugin is go-plugin's glue. The plugin side sets Impl (and Logger, for
// failures it must not send to the host); the host side leaves both nil and
// receives a Plugin from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl   Plugin
	Logger hclog.Logger
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers every service of the contract, served by Impl
// through the server adapter.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	srv := newGRPCServer(p.Impl, p.Logger)
	duov1.RegisterLifecycleServer(s, srv)
	duov1.RegisterSettingsServer(s, srv)
	duov1.RegisterOperatorsServer(s, srv)
	duov1.RegisterLoginServer(s, srv)
	duov1.RegisterRecoveryServer(s, srv)
	if servesAll {
		duov1.RegisterAuthLogServer(s, srv)
		duov1.RegisterMetricsServer(s, srv)
	}
	return nil
}

// GRPCClient returns a Plugin that speaks to the plugin process over c.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return NewGRPCClient(c), nil
}

// VersionedPlugins is the plugin map for go-plugin, keyed by protocol
// version, so a host and a plugin that share no version fail the handshake
// with a clear error instead of misreading each other. impl and log are nil
// on the host side.
func VersionedPlugins(impl Plugin, log hclog.Logger) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		servedMajor: {PluginName: &GRPCPlugin{Impl: impl, Logger: log}},
	}
}
