package hooks

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

var backupShape = regexp.MustCompile(`^[23456789abcdefghjkmnpqrstuvwxyz]{5}-[23456789abcdefghjkmnpqrstuvwxyz]{5}$`)

// wantLogin fails unless res is decision (with reason, for DENIED).
func wantLogin(t *testing.T, what string, res contract.CompleteLoginResponse, decision contract.LoginDecision, reason contract.LoginReason) {
	t.Helper()
	if res.Decision != decision || res.Reason != reason {
		t.Fatalf("%s = %v %q (%q), want %v %q", what, res.Decision, res.Reason, res.Message, decision, reason)
	}
	if decision == contract.DecisionDenied && (res.Message == "" || strings.Contains(res.Message, string(reason))) {
		t.Fatalf("%s: the message %q is empty or names the reason", what, res.Message)
	}
}

// The first Duo sign-in shows a set of backup codes, which count only
// once confirmed; an unconfirmed set is never usable and the next sign-in
// shows a fresh one.
func TestFirstDuoLoginShowsBackupCodesToConfirm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"backup_code_count": "8"})
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	bob := contract.Operator{ID: "2", Username: "bob"}
	e.enable(alice)
	e.setUp(ctx, bob)

	first := e.duoLogin(ctx, alice)
	if first.Decision != contract.DecisionConfirmBackupCodes || len(first.BackupCodes) != 8 || len(first.BackupCodesTicket) != 43 || first.Message == "" {
		t.Fatalf("first Duo login = %+v; want CONFIRM_BACKUP_CODES with 8 codes and a ticket", first)
	}
	for _, c := range first.BackupCodes {
		if !backupShape.MatchString(c) {
			t.Fatalf("backup code %q is not xxxxx-xxxxx", c)
		}
	}
	if st := e.state(alice); st.BackupCodesLeft != 0 || !st.BackupCodesIssuedAt.IsZero() || st.EnrolledAt.IsZero() || !st.LastLogin.IsZero() {
		t.Fatalf("state before confirming = %+v; want enrolled, no codes, not signed in", st)
	}
	// Not confirmed: the codes do not work.
	wantLogin(t, "an unconfirmed code", e.redeem(alice, first.BackupCodes[0]), contract.DecisionDenied, contract.LoginReasonCodeWrong)

	// The next sign-in shows a fresh set; the first ticket is dead.
	second := e.duoLogin(ctx, alice)
	if second.Decision != contract.DecisionConfirmBackupCodes || len(second.BackupCodes) != 8 {
		t.Fatalf("second Duo login before confirming = %+v", second)
	}
	for _, c := range second.BackupCodes {
		if slices.Contains(first.BackupCodes, c) {
			t.Fatal("the fresh set repeats a code of the first")
		}
	}
	confirm := func(op contract.Operator, ticket string) contract.CompleteLoginResponse {
		t.Helper()
		res, err := e.p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: op, Ticket: ticket, Client: contract.ClientInfo{IP: "198.51.100.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, tc := range []struct {
		name   string
		op     contract.Operator
		ticket string
	}{
		{"the replaced set's ticket", alice, first.BackupCodesTicket},
		{"another operator's ticket", bob, second.BackupCodesTicket},
		{"an empty ticket", alice, ""},
		{"a malformed ticket", alice, "not-a-ticket"},
		{"an unknown ticket", alice, strings.Repeat("A", 43)},
	} {
		wantLogin(t, tc.name, confirm(tc.op, tc.ticket), contract.DecisionDenied, contract.LoginReasonTicketUnknown)
	}
	wantLogin(t, "confirm", confirm(alice, second.BackupCodesTicket), contract.DecisionAllowed, "")
	wantLogin(t, "confirm twice", confirm(alice, second.BackupCodesTicket), contract.DecisionDenied, contract.LoginReasonTicketUnknown)

	st := e.state(alice)
	if st.BackupCodesLeft != 8 || !st.BackupCodesIssuedAt.Equal(e.clk.Now().Truncate(time.Second).UTC()) || st.BackupCodesLow || st.LastLogin.IsZero() {
		t.Fatalf("state after confirming = %+v", st)
	}
	wantLogin(t, "a confirmed code", e.redeem(alice, second.BackupCodes[0]), contract.DecisionAllowed, "")
	wantLogin(t, "a code of the unconfirmed set", e.redeem(alice, first.BackupCodes[1]), contract.DecisionDenied, contract.LoginReasonCodeWrong)
	// With a set, Duo's allow signs in at once.
	wantLogin(t, "the next Duo login", e.duoLogin(ctx, alice), contract.DecisionAllowed, "")
	if n := len(e.events("operator.enrolled")); n != 2 { // alice and bob, once each
		t.Fatalf("%d enrolment events, want 2", n)
	}
}

func TestUnconfirmedSetExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil)
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	e.enable(alice)
	res := e.duoLogin(ctx, alice)
	if len(res.BackupCodes) != 10 {
		t.Fatalf("default set of %d codes, want 10", len(res.BackupCodes))
	}
	e.clk.Add(ticketLifetime)
	conf, err := e.p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: alice, Ticket: res.BackupCodesTicket})
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "confirm after 15 minutes", conf, contract.DecisionDenied, contract.LoginReasonTicketUnknown)
}

func TestRegenerateBackupCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"backup_code_count": "6", "backup_codes_low_at": "3"})
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	self := actor(alice.ID, contract.RoleAgent)
	old := e.setUp(ctx, alice)
	regen := func(who contract.Actor) (contract.RegenerateBackupCodesResponse, error) {
		return e.p.RegenerateBackupCodes(ctx, contract.RegenerateBackupCodesRequest{Operator: alice, Actor: who})
	}

	// Others may not, not even an admin.
	if _, err := regen(actor("99", contract.RoleAdmin)); contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("an admin regenerating alice's codes: %v", err)
	}
	// Alice, right after her Duo sign-in, may.
	e.clk.Add(9 * time.Minute)
	res, err := regen(self)
	if err != nil || len(res.BackupCodes) != 6 || res.State.BackupCodesLeft != 6 || res.State.BackupCodesLow {
		t.Fatalf("RegenerateBackupCodes = %+v, %v", res, err)
	}
	wantLogin(t, "an old code", e.redeem(alice, old[0]), contract.DecisionDenied, contract.LoginReasonCodeWrong)
	// 11 minutes after her Duo sign-in she may not, even right after
	// signing in with a code: only Duo vouches for a new set.
	e.clk.Add(recentFactor + time.Minute)
	wantLogin(t, "a new code", e.redeem(alice, res.BackupCodes[0]), contract.DecisionAllowed, "")
	_, err = regen(self)
	if contract.ReasonOf(err) != contract.ReasonReauthenticate || !strings.Contains(err.Error(), "sign in with Duo again first") {
		t.Fatalf("regenerate 11 minutes after signing in with Duo, just after a code: %v", err)
	}
	if got := e.events("backup_codes.regenerate_refused"); len(got) != 1 || got[0].Reason != string(contract.ReasonReauthenticate) ||
		got[0].ActorID != alice.ID || !strings.Contains(got[0].Detail, "sign in with Duo again first") {
		t.Fatalf("refusal audited as %+v", got)
	}
	// Few codes left: the state says so.
	for _, c := range res.BackupCodes[1:3] {
		wantLogin(t, "a new code", e.redeem(alice, c), contract.DecisionAllowed, "")
	}
	if st := e.state(alice); st.BackupCodesLeft != 3 || !st.BackupCodesLow {
		t.Fatalf("with 3 of 6 left and the mark at 3: %+v", st)
	}
	if got := e.events("backup_codes.regenerated"); len(got) != 1 || got[0].ActorID != alice.ID || got[0].Notice != contract.NoticeBackupCodesRegenerated {
		t.Fatalf("regeneration events = %+v", got)
	}
}

// A bypass code signs in without Duo but never sets up backup codes:
// regenerating from such a session is refused (only a sign-in with Duo
// allows it), and the next Duo sign-in
// still shows the first set.
func TestBypassCodeDoesNotSetUpBackupCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil)
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	e.enable(alice)
	issued, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Actor: actor("5", contract.RoleHelpDesk)})
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "bypass code with no backup codes", e.redeem(alice, issued.Code), contract.DecisionAllowed, "")
	_, err = e.p.RegenerateBackupCodes(ctx, contract.RegenerateBackupCodesRequest{Operator: alice, Actor: actor(alice.ID, contract.RoleAgent)})
	if contract.ReasonOf(err) != contract.ReasonReauthenticate {
		t.Fatalf("regenerate after a bypass code: %v", err)
	}
	if got := e.events("backup_codes.regenerate_refused"); len(got) != 1 || got[0].Reason != string(contract.ReasonReauthenticate) || got[0].ActorID != alice.ID {
		t.Fatalf("refusal audited as %+v", got)
	}
	if res := e.duoLogin(ctx, alice); res.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("Duo login after a bypass code = %+v, want CONFIRM_BACKUP_CODES", res)
	}
	// Signed in with Duo, but the first set not confirmed: nothing to
	// replace yet.
	_, err = e.p.RegenerateBackupCodes(ctx, contract.RegenerateBackupCodesRequest{Operator: alice, Actor: actor(alice.ID, contract.RoleAgent)})
	if contract.ReasonOf(err) != contract.ReasonNoBackupCodes || !strings.Contains(err.Error(), "no backup codes to replace") {
		t.Fatalf("regenerate before the first set is confirmed: %v", err)
	}
}
