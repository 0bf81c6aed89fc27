// Package contract is what a helpdesk (the host) and the Duo Security
// plugin agree on, and the only package of this module both sides import.
//
// It owns:
//   - Plugin, a ctx-first Go interface with one method per RPC of the wire
//     contract (proto/duo/v1), grouped as Lifecycle, Settings, Operators,
//     Login, Recovery, AuthLog and Metrics, and the Go request and response
//     types of every RPC;
//   - the machine-readable reasons hosts branch on: ErrorReason (why a call
//     failed), LoginReason (why a login was denied or Duo skipped),
//     FieldReason (why a setting was refused) and DuoFailure (why Duo's
//     health check failed);
//   - Error, the one error type that crosses the boundary;
//   - the go-plugin glue (Handshake, VersionedPlugins, GRPCPlugin) and the
//     gRPC client and server adapters, which are the only code that converts
//     between these Go types and protobuf.
//
// The plugin implements Plugin; go-plugin serves it through the server
// adapter. The host SDK (package host) receives a Plugin from the client
// adapter and adds only what is the host's: supervision, deadlines and
// fail-closed errors.
//
// Versions. The wire contract's major version is in its package name
// (helpdesk.duo.v1), in ProtocolVersion and in go-plugin's handshake
// (VersionedPlugins): a host and a plugin that share no major refuse each
// other at the handshake. Its minor version is ProtocolMinor, equal to the
// proto's file option protocol_minor; the server adapter reports it in
// StatusResponse.ProtocolMinor. The rule:
//
//   - a released proto only grows: fields, messages, enum values, RPCs and
//     services are added, never removed, renamed, renumbered, retyped or
//     changed in cardinality or streaming; a removed field's number and
//     name are reserved. TestReleasedContractOnlyGrows compares the proto
//     with the last released descriptor set (proto/duo/v1/released) and
//     names what broke;
//   - each release that adds something raises ProtocolMinor (and the
//     option) by one; TestMinorVersionGrowsWithTheContract fails if the
//     proto changed and the minor did not;
//   - anything else is a new major: a new package, helpdesk.duo.v2, served
//     beside v1 through VersionedPlugins.
//
// A plugin older than the host answers Unimplemented for what it lacks: the
// client adapter's ReasonUnimplemented, which the SDK reports as
// host.ErrUnsupported. The test-only build tags duotest_older and
// duotest_protocol2 (served.go) make a plugin binary pose as an older plugin
// or one of protocol 2; no release is built with them.
//
// A test keeps the Go types and the proto messages in step: every proto
// field is mapped both ways.
package contract
