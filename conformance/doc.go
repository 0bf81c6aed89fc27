// Package conformance is the kit a helpdesk vendor runs against their own
// integration of the Duo Security plugin: from the vendor's tests, it signs
// operators in through the vendor's real login pages over HTTP, as a
// browser would (a cookie jar, every redirect seen), against the Duo
// simulator (package duosim), and reports each standard journey as a
// subtest of its own:
//
//	DuoAllowed              password → Duo → approve → callback → signed in
//	DuoDeniedAtPrompt       password → Duo → deny: never signed in
//	DuoDeniedInToken        Duo comes back, but its answer is "deny": refused
//	CallbackReplayed        the same callback, same cookies, a second time: refused
//	CallbackOtherSession    one browser's callback in another's sign-in: refused
//	RepeatedParameters      a callback repeating state or duo_code: refused
//	OffSiteNext             next=//evil.example and kin: lands on the vendor's site
//	WithoutDuo              an operator Duo is off for: the password is enough
//	BackupCode              a backup code instead of Duo, once only (when supported)
//	DuoUnreachable          Duo down, fail closed (the default): refused
//	PluginDown              the plugin process stopped: refused, never password-only
//
// The vendor describes their helpdesk with a Helpdesk value: its base URL,
// its password form, how to tell a signed-in browser, how to create an
// operator with or without Duo, and, optionally, how to confirm the first
// backup codes, how to sign in with a code and how to stop the plugin.
// The vendor's plugin must be active and configured against the simulator
// it passes in (client id and secret from Server.Apps, API hostname
// Server.APIHost, the CA file Server.CAFile, the plugin process run with
// DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true, fail mode closed, the default Duo
// username format). The kit scripts the simulator per username, so a
// simulator started with or without Config.Scripted both work, and it
// creates operators of its own, named conf<journey><n>.
//
// The journeys run one after the other, in the order above: DuoUnreachable
// turns the simulator's health off for a moment, and PluginDown stops the
// plugin, which the kit does not start again; it is last.
//
// A failure says which journey, which step, what was expected and what the
// vendor's site answered (status, path, where it redirects, the start of
// the page's text). It never prints a query string, where states, Duo's
// codes and tokens travel, nor a password.
//
// The reference helpdesk runs the kit in CI (helpdesk/web's
// TestConformanceKit); docs/VENDOR.md shows how to wire it.
package conformance
