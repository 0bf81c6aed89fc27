// Package host is the SDK a helpdesk (the host) imports to run the Duo
// Security plugin: it loads the plugin bundle's manifest, verifies the
// plugin binary against the manifest's SHA-256, starts it as a go-plugin
// subprocess over gRPC with automatic mTLS, and supervises it: a crashed
// plugin is marked down, restarted with backoff, brought back to the host's
// activation (Options.Activation), and given up on after repeated crashes.
//
// *Plugin implements contract.Plugin: the calls, their request and response
// types and the reasons to branch on all live in package contract
// (proto/contract). This package adds only what is the host's: supervision,
// deadlines and fail-closed errors.
//
// Failing closed is the rule. While the plugin is down, restarting, failed
// or closed, every call fails at once with an error matching
// ErrUnavailable; every call carries a deadline (Options.CallTimeout, or
// the caller's if sooner) even when the caller's context has none. A login
// that needs Duo must be refused on any error from BeginLogin or
// CompleteLogin, and on any decision other than DecisionNotRequired,
// DecisionRedirect (BeginLogin) or DecisionAllowed (CompleteLogin).
//
// A host's login, in outline:
//
//	password ok → BeginLogin
//	  NotRequired → go on with the host's own second factor, if any
//	  Redirect    → keep State in the pre-auth session; redirect to RedirectURL
//	  anything else, or an error → refuse the login
//	Duo callback (state, duo_code) → CompleteLogin(session state, callback state, code)
//	  Allowed → logged in
//	  anything else, or an error → refuse the login
//
// Versions. The SDK speaks protocol contract.ProtocolVersion (the major,
// checked in go-plugin's handshake: a plugin that speaks no major the SDK
// offers is refused at Start with ErrIncompatibleProtocol) and knows the
// RPCs of minor contract.ProtocolMinor. A plugin reports its minor in
// StatusResponse.ProtocolMinor. A plugin older than the SDK lacks the RPCs
// added since: Supports says so ahead, and their calls fail with
// ErrUnsupported, never a panic and never a login let through. A newer
// plugin's additions are simply not called.
//
// Releases are signed: with Options.TrustedKeys (the vendor's pinned
// ed25519 keys, ParsePublicKeys), Start runs only a manifest whose
// plugin.json.sig verifies under one of them (ErrBadSignature otherwise),
// and the binary's sha256 from that manifest is still checked at every
// launch. Install unpacks and verifies a release bundle in a fresh directory
// of an install root and switches to it atomically; CurrentManifest names
// the manifest to start.
//
// contract.ReasonOf names the reason of any error of this package.
package host
