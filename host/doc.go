// Package host is the SDK a helpdesk (the host) imports to run the Duo
// Security plugin: it loads the plugin bundle's manifest, verifies the
// plugin binary against the manifest's SHA-256, starts it as a go-plugin
// subprocess over gRPC with automatic mTLS, calls it with plain Go types,
// and supervises it: a crashed plugin is marked down, restarted with
// backoff and re-activated, and given up on after repeated crashes.
//
// Failing closed is the rule. While the plugin is down, restarting, failed
// or closed, every call fails at once with an error matching
// ErrUnavailable; every call carries a deadline (Options.CallTimeout) even
// when the caller's context has none. A login that needs Duo must be
// refused on any error from BeginLogin or CompleteLogin, and on any decision
// other than DecisionNotRequired, DecisionRedirect (BeginLogin) or
// DecisionAllowed (CompleteLogin).
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
// Failures the plugin reports come back as *Error with a machine-readable
// contract.Reason; ReasonOf extracts the reason from any error of this
// package.
package host
