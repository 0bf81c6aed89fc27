package trust

import (
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Case 6: id_tokens from a Duo that signs badly (bad signature, wrong aud,
// wrong iss, expired, alg none, HS256 instead of HS512), each with
// auth_result allow, are denied duo_code_rejected and audited so. The
// simulator issued every one (TokensIssued), so the refusal is the
// plugin's validation, not Duo's.
func TestCase06ForgedIDTokensDenied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	for _, fault := range duosim.TokenFaults() {
		t.Run(string(fault), func(t *testing.T) {
			b := e.redirect(alice)
			q := e.browser(b.RedirectURL)
			e.sim.SetTokenFault("alice", fault)
			defer e.sim.SetTokenFault("alice", "")
			issued := e.sim.Stats().TokensIssued
			res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
			wantDenied(t, string(fault), res.Decision, res.Reason, res.Message, contract.LoginReasonCodeRejected)
			e.wantLastEvent(alice, "login.complete", "denied", contract.LoginReasonCodeRejected)
			if e.sim.Stats().TokensIssued != issued+1 {
				t.Fatalf("the simulator issued no token with the fault %s: the plugin's validation was not reached", fault)
			}
		})
	}
	// The same login with a good token goes through: the denials were the
	// tokens' faults.
	b := e.redirect(alice)
	q := e.browser(b.RedirectURL)
	if res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("good token after the faults = %+v, want CONFIRM_BACKUP_CODES (alice's first Duo login)", res)
	}
}

// Case 7: Duo allowing, but naming in preferred_username someone other
// than the Duo username the plugin sent (another case, surrounding or
// other white space, an alias, the host's own spelling of a name the
// plugin canonicalised) is denied and audited.
func TestCase07PreferredUsernameMismatchDenied(t *testing.T) {
	t.Parallel()
	// The host spells carol's username with a capital; the plugin sends
	// Duo the canonical (PRECIS UsernameCaseMapped) "carol".
	carol := contract.Operator{ID: "3", Username: "Carol", Email: "carol@example.com"}
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice, carol)
	cases := []struct {
		name    string
		op      contract.Operator
		sent    string // the Duo username the plugin sends
		claimed string
	}{
		{"upper case", alice, "alice", "ALICE"},
		{"title case", alice, "alice", "Alice"},
		{"leading space", alice, "alice", " alice"},
		{"trailing space", alice, "alice", "alice "},
		{"no-break space", alice, "alice", "alice\u00a0"},
		{"tab", alice, "alice", "alice\t"},
		{"alias: the e-mail address", alice, "alice", "alice@example.com"},
		{"alias: another operator", alice, "alice", "carol"},
		{"the host's spelling, not the canonical name", carol, "carol", "Carol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := e.redirect(tc.op)
			q := e.browser(b.RedirectURL)
			e.sim.SetClaimedUsername(tc.sent, tc.claimed)
			defer e.sim.SetClaimedUsername(tc.sent, "")
			issued := e.sim.Stats().TokensIssued
			res := e.complete(tc.op, b.State, q.Get("state"), q.Get("duo_code"))
			wantDenied(t, tc.name, res.Decision, res.Reason, res.Message, contract.LoginReasonCodeRejected)
			e.wantLastEvent(tc.op, "login.complete", "denied", contract.LoginReasonCodeRejected)
			if e.sim.Stats().TokensIssued != issued+1 {
				t.Fatal("the simulator issued no token: the plugin's check was not reached")
			}
		})
	}
	// Unclaimed, carol's canonical name is the one Duo vouches for.
	b := e.redirect(carol)
	q := e.browser(b.RedirectURL)
	if res := e.complete(carol, b.State, q.Get("state"), q.Get("duo_code")); res.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("carol with the canonical name = %+v, want CONFIRM_BACKUP_CODES", res)
	}
}
