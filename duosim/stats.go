package duosim

import "sync/atomic"

// FailureReason names why the simulator refused a request. Stats counts
// refusals by reason.
type FailureReason string

// The failure reasons.
const (
	// FailureInvalidClient: a client assertion was missing, malformed,
	// wrongly signed, for an unknown client, or had a bad iss, sub, aud,
	// exp or jti; or client_assertion_type was wrong.
	FailureInvalidClient FailureReason = "invalid_client"
	// FailureReplayedAssertion: a client assertion's jti was already used.
	FailureReplayedAssertion FailureReason = "replayed_assertion"
	// FailureUnauthorizedClient: an authorize request named an unknown
	// client id.
	FailureUnauthorizedClient FailureReason = "unauthorized_client"
	// FailureInvalidRequest: a malformed request, or an authorize request
	// JWT that failed verification or validation.
	FailureInvalidRequest FailureReason = "invalid_request"
	// FailureInvalidGrant: a code that was unknown, reused, expired, issued
	// to another client or for another redirect_uri.
	FailureInvalidGrant FailureReason = "invalid_grant"
	// FailureUnsupportedGrantType: grant_type was not authorization_code.
	FailureUnsupportedGrantType FailureReason = "unsupported_grant_type"
	// FailureUnknownTransaction: a prompt form named an unknown or expired
	// transaction.
	FailureUnknownTransaction FailureReason = "unknown_transaction"
	// FailureUnhealthy: refused because SetHealthy(false) is in force.
	FailureUnhealthy FailureReason = "unhealthy"
	// FailureUnavailable: refused because the user is scripted with
	// OutcomeUnavailable.
	FailureUnavailable FailureReason = "unavailable"
	// FailureNotFound: an unknown path.
	FailureNotFound FailureReason = "not_found"
	// FailureMethodNotAllowed: a known path with the wrong HTTP method.
	FailureMethodNotAllowed FailureReason = "method_not_allowed"
	// FailureInternal: the simulator itself failed (for example, could not
	// draw random bytes).
	FailureInternal FailureReason = "internal"
)

var allFailureReasons = []FailureReason{
	FailureInvalidClient, FailureReplayedAssertion, FailureUnauthorizedClient, FailureInvalidRequest,
	FailureInvalidGrant, FailureUnsupportedGrantType, FailureUnknownTransaction, FailureUnhealthy,
	FailureUnavailable, FailureNotFound, FailureMethodNotAllowed, FailureInternal,
}

// Stats is a snapshot of the simulator's counters since Start.
type Stats struct {
	HealthChecks   int64 // health-check requests received
	Authorizes     int64 // authorize requests received
	PromptActions  int64 // enrol/approve/deny form posts received
	TokenExchanges int64 // token requests received
	CodesIssued    int64 // authorization codes handed out in a redirect
	TokensIssued   int64 // successful token responses
	Denials        int64 // Deny clicks on the interactive prompt
	// Held counts health-check and token requests that SetUnresponsive
	// held without an answer, whether the client later gave up, the server
	// closed, or the mode was switched off and they were answered.
	Held int64
	// Evictions counts replay-cache, code and prompt entries dropped before
	// their expiry because a size bound was reached.
	Evictions int64
	// Connections counts connections accepted (TCP, before the TLS
	// handshake): with keep-alive clients it stays flat in steady state, so
	// its growth is the clients' new TLS connections.
	Connections int64
	// Failures counts refused requests by reason; reasons that never
	// occurred are absent.
	Failures map[FailureReason]int64
}

type counters struct {
	healthChecks, authorizes, promptActions, tokenExchanges atomic.Int64
	codesIssued, tokensIssued, denials, evictions, held     atomic.Int64
	connections                                             atomic.Int64
	failures                                                map[FailureReason]*atomic.Int64 // read-only after construction
}

func (c *counters) init() {
	c.failures = make(map[FailureReason]*atomic.Int64, len(allFailureReasons))
	for _, r := range allFailureReasons {
		c.failures[r] = new(atomic.Int64)
	}
}

func (c *counters) fail(r FailureReason) { c.failures[r].Add(1) }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		HealthChecks:   s.stats.healthChecks.Load(),
		Authorizes:     s.stats.authorizes.Load(),
		PromptActions:  s.stats.promptActions.Load(),
		TokenExchanges: s.stats.tokenExchanges.Load(),
		CodesIssued:    s.stats.codesIssued.Load(),
		TokensIssued:   s.stats.tokensIssued.Load(),
		Denials:        s.stats.denials.Load(),
		Held:           s.stats.held.Load(),
		Evictions:      s.stats.evictions.Load(),
		Connections:    s.stats.connections.Load(),
		Failures:       make(map[FailureReason]int64),
	}
	for r, n := range s.stats.failures {
		if v := n.Load(); v != 0 {
			st.Failures[r] = v
		}
	}
	return st
}
