// Package contract is what a helpdesk (the host) and the Duo Security
// plugin agree on, and the only package of this module both sides import.
//
// It owns:
//   - Plugin, a ctx-first Go interface with one method per RPC of the wire
//     contract (proto/duo/v1), grouped as Lifecycle, Settings, Operators,
//     Login and Recovery, and the Go request and response types of every
//     RPC;
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
// The wire contract is versioned in its package name (helpdesk.duo.v1) and
// in ProtocolVersion; it only grows. A test keeps the Go types and the proto
// messages in step: every proto field is mapped both ways.
package contract
