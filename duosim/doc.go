// Package duosim is a local simulator of Duo Security's OIDC "Universal
// Prompt" API (the Web SDK v4 protocol), faithful enough that Duo's own
// unmodified Go client, github.com/duosecurity/duo_universal_golang, cannot
// tell it from Duo. It exists so that tests, benchmarks and local
// development can run the whole second-factor flow, including its failure
// modes, without a Duo account or the internet.
//
// # Endpoints
//
// The simulator serves HTTPS only (Duo's clients always build https://
// URLs) with a certificate from a CA generated afresh by every Start:
//
//   - POST /oauth/v1/health_check: verifies the HS512 (or HS256) client
//     assertion — iss = sub = client id, aud = the exact endpoint URL, exp
//     present, within 60 s skew and at most an hour ahead, jti never seen
//     before — and answers {"stat":"OK","response":{"timestamp":…}}, or
//     400 with Duo's FAIL 40002 invalid_client body.
//   - GET or POST /oauth/v1/authorize: verifies the HS512 request JWT
//     (client_id, response_type "code", scope with "openid", redirect_uri
//     https or loopback http up to 256 characters, state of 16–1024
//     characters, duo_uname, exp within 300 s, optional iss/aud/nonce) and
//     then, depending on the user's Outcome, either redirects straight back
//     with duo_code (or code, when use_duo_code_attribute is not true) and
//     state, or shows an HTML prompt. A request that fails verification
//     gets a 400 HTML page and never a redirect.
//   - POST /frame/prompt: the prompt's forms (enrol, Approve, Deny).
//   - POST /oauth/v1/token: redeems a single-use code (bound to client and
//     redirect_uri, valid for Config.CodeTTL) for an HS512 id_token with
//     iss "https://{host}/oauth/v1/token", aud = client id,
//     preferred_username, auth_result and a fully typed auth_context.
//
// # Pointing duo_universal_golang at it
//
// Give the client APIHost (host:port, no scheme) and an HTTP client that
// trusts the simulator's CA; WithHTTPClient replaces the client's pinned
// Duo roots:
//
//	sim, err := duosim.Start(ctx, duosim.Config{Scripted: true})
//	if err != nil { … }
//	defer sim.Close()
//	app := sim.Apps()[0]
//	client, err := duouniversal.NewClient(app.ClientID, app.ClientSecret,
//		sim.APIHost(), "https://app.example/duo-callback",
//		duouniversal.WithHTTPClient(sim.HTTPClient(5*time.Second)))
//
// A browser must trust the CA too: install the PEM at CAFile, or start
// Chromium with --ignore-certificate-errors-spki-list=SPKIHash(). The
// certificate covers 127.0.0.1, ::1 and localhost; APIHost uses the
// address actually listened on.
//
// # Outcomes
//
// Each username gets an Outcome: the one set with SetOutcome (or
// Config.Outcomes), else OutcomeAllow when Config.Scripted, else
// OutcomeInteractive. Interactive users see an enrolment page first if not
// yet enrolled, then a prompt with Approve (id "approve") and Deny (id
// "deny") buttons; Deny ends on a "Login request denied" page without a
// redirect, as real Duo does. The scripted deny-like outcomes instead
// redirect with a code whose id_token carries a deny auth_result, because
// Duo's Go client never checks auth_result and the application must. Use
// SetHealthy(false) for a whole-service outage.
//
// # A Duo that never answers
//
// SetUnresponsive(true) simulates the realistic bad minute: TCP and TLS
// succeed, the request is read, and the response never comes. It applies
// to POST /oauth/v1/health_check and POST /oauth/v1/token only (the calls
// an application makes with its own HTTP client, whose timeout is what is
// under test); the authorize and prompt pages keep working, so a test can
// reach the token exchange. No byte of a response is written while a
// request is held. It ends when the client gives up or the server closes
// (the connection is dropped, unanswered; Close does not wait for it), or
// when SetUnresponsive(false) releases it, and then it is answered as if
// it had just arrived. Stats.Held counts held requests, so a test can tell
// that the application did call Duo and then gave up:
//
//	sim.SetUnresponsive(true)
//	_, err := client.HealthCheck() // with WithHTTPClient(sim.HTTPClient(300*time.Millisecond))
//	// err is a net.Error whose Timeout() is true; sim.Stats().Held == 1
//
// # Tokens a real Duo never sends
//
// For tests of a client's token validation, SetTokenFault makes a user's
// id_tokens wrong in one way (a bad signature, another aud or iss, an exp
// long past, alg "none", HS256), and SetClaimedUsername makes them name
// another user, exactly as given, in preferred_username; the verdict is
// the user's Outcome, so a scripted allow is refused only by validation.
//
// # Logging
//
// Config.Logger gets one record per request outcome with the client id and
// a reason. Secrets, codes, states, JWTs, query strings and usernames are
// never logged.
package duosim
