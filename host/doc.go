// Package host is the SDK a helpdesk (the host) imports to put the Duo
// Security plugin's second factor behind its operators' password login.
// Read this first; docs/VENDOR.md walks through a whole integration, and
// the reference helpdesk (helpdesk/ in this repository) is the worked
// example.
//
// # What the SDK does
//
// Start loads the plugin bundle's manifest (plugin.json), verifies the
// plugin binary against the manifest's SHA-256 as it copies it into a
// private directory, runs that copy as a go-plugin subprocess over gRPC
// with automatic mutual TLS, and supervises it: a crashed plugin is marked
// down, restarted with backoff, brought back to the host's activation
// (Options.Activation), and given up on after repeated crashes.
//
// *Plugin implements contract.Plugin: the calls, their request and
// response types and the reasons to branch on all live in package contract
// (proto/contract). This package adds only what is the host's:
// supervision, deadlines and fail-closed errors. Write your Duo code
// against the contract's small interfaces (contract.Login,
// contract.Recovery…) and test it with a fake.
//
// # The calls, by page of the host
//
//   - Start-up: Start (ExampleStart). Options.Activation reads the host's
//     own record of whether the plugin is active; the SDK asks it before
//     every start and restart of the process.
//   - Plugins page: Activate (ExamplePlugin_Activate), Deactivate,
//     Uninstall (ExamplePlugin_Uninstall), Status, State.
//   - Settings page: GetSettings, UpdateSettings (validated by the plugin,
//     checked with Duo; errors name the field), CheckDuo.
//   - Operators page: GetOperatorStates, SetOperatorEnabled,
//     SetOperatorAlias, UnlockOperator, IssueBypassCode, ListBypassCodes,
//     RevokeBypassCode (ExamplePlugin_IssueBypassCode), CreateRecoveryLink
//     (ExamplePlugin_CreateRecoveryLink).
//   - Sign-in: BeginLogin after the password (ExamplePlugin_BeginLogin),
//     CompleteLogin on Duo's callback (ExamplePlugin_CompleteLogin),
//     ConfirmBackupCodes after the first sign-in with Duo
//     (ExamplePlugin_ConfirmBackupCodes), RedeemCode for a backup or bypass
//     code instead of Duo (ExamplePlugin_RedeemCode), RedeemRecoveryLink.
//   - Account page: GetOperatorStates, RegenerateBackupCodes
//     (ExamplePlugin_RegenerateBackupCodes), SetOperatorEnabled (one's own
//     Duo off, where the settings allow it).
//   - Log page and mail: ListAuthEvents, ExportAuthEvents
//     (ExamplePlugin_ListAuthEvents, ExamplePlugin_ExportAuthEvents),
//     ListNotices (mail each operator about changes of their second
//     factor).
//   - Monitoring: Collector (ExamplePlugin_Collector), State and
//     Options.OnStateChange (ExamplePlugin_State).
//
// # Failing closed
//
// While the plugin is down, restarting, failed or closed, every call fails
// at once with an error matching ErrUnavailable; every call carries a
// deadline (Options.CallTimeout, or the caller's if sooner) even when the
// caller's context has none. A login that needs Duo must be refused on any
// error from BeginLogin, CompleteLogin, ConfirmBackupCodes, RedeemCode or
// RedeemRecoveryLink, and on any decision other than DecisionNotRequired,
// DecisionRedirect (BeginLogin), DecisionAllowed or
// DecisionConfirmBackupCodes (the others): DecisionUnspecified, the zero
// value, and a decision added in a later version both mean deny. While
// the plugin is active but its process cannot answer, the host cannot tell
// whose login needs Duo: refuse every sign-in.
//
// A host's login, in outline:
//
//	password ok → BeginLogin
//	  NotRequired → go on with the host's own second factor, if any
//	  Redirect    → keep State in the pre-auth session; redirect to RedirectURL
//	  anything else, or an error → refuse the login
//	Duo callback (state, duo_code, each exactly once) → CompleteLogin(session state, callback state, code)
//	  Allowed            → new session id, signed in
//	  ConfirmBackupCodes → show the codes once, keep only the ticket; ConfirmBackupCodes(ticket) → Allowed
//	  anything else, or an error → refuse the login
//
// # Versions
//
// The SDK speaks protocol contract.ProtocolVersion (the major,
// checked in go-plugin's handshake: a plugin that speaks no major the SDK
// offers is refused at Start with ErrIncompatibleProtocol) and knows the
// RPCs of minor contract.ProtocolMinor. A plugin reports its minor in
// StatusResponse.ProtocolMinor. A plugin older than the SDK lacks the RPCs
// added since: Supports says so ahead, and their calls fail with
// ErrUnsupported, never a panic and never a login let through. A newer
// plugin's additions are simply not called.
//
// # Signed releases
//
// Releases are signed: with Options.TrustedKeys (the vendor's pinned
// ed25519 keys, ParsePublicKeys), Start runs only a manifest whose
// plugin.json.sig verifies under one of them (ErrBadSignature otherwise),
// and the binary's sha256 from that manifest is still checked at every
// launch. Install unpacks and verifies a release bundle in a fresh directory
// of an install root and switches to it atomically; CurrentManifest names
// the manifest to start.
//
// # Errors
//
// contract.ReasonOf names the reason of any error of this package: branch
// on it (PERMISSION_DENIED, REAUTHENTICATE, …), never on messages. Texts
// for people come as contract.Text (an id and arguments, beside English)
// for the host to translate.
//
// # Testing an integration
//
// Package conformance (in this module) signs operators in through the
// host's own pages against the Duo simulator (package duosim) and reports
// each standard journey as a subtest: run it in the host's CI.
package host
