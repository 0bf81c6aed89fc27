package hooks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

func TestRecoveryLinkResetsTheSecondFactor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"recovery_link_hours": "2"})
	ctx := context.Background()
	alice := contract.Operator{ID: "10", Username: "alice"}
	bob := contract.Operator{ID: "20", Username: "bob"}
	backup := e.setUp(ctx, alice)
	e.setUp(ctx, bob)
	bypass, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	create := func(op contract.Operator) contract.CreateRecoveryLinkResponse {
		t.Helper()
		res, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: op, Actor: admin})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	redeem := func(op contract.Operator, token string) contract.CompleteLoginResponse {
		t.Helper()
		res, err := e.p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: op, Token: token, Client: contract.ClientInfo{IP: "198.51.100.7"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	link := create(alice)
	if len(link.Token) != 43 || !link.ExpiresAt.Equal(e.clk.Now().Add(2*time.Hour)) {
		t.Fatalf("CreateRecoveryLink = %+v; want a 43-character token valid 2 hours", link)
	}
	if _, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: alice, Actor: actor("5", contract.RoleHelpDesk)}); contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("help desk creating a recovery link: %v", err)
	}

	unknown, err := codes.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	eventsBefore := len(e.events(""))
	const looked, shapeless = "no recovery link of this operator has this token", "does not have the shape"
	for _, tc := range []struct {
		name   string
		op     contract.Operator
		token  string
		detail string // of the audit event: whether the store was asked
	}{
		{"another operator's link", bob, link.Token, looked},
		{"a malformed token", alice, "x", shapeless},
		{"a token of 43 characters that is not base64url", alice, strings.Repeat("B", 43), shapeless},
		{"an unknown token", alice, unknown.Encoded(), looked},
	} {
		wantLogin(t, tc.name, redeem(tc.op, tc.token), contract.DecisionDenied, contract.LoginReasonLinkUnknown)
		if evs := e.events("recovery_link.redeem"); !strings.Contains(evs[len(evs)-1].Detail, tc.detail) {
			t.Fatalf("%s: audited as %q, want %q", tc.name, evs[len(evs)-1].Detail, tc.detail)
		}
	}
	if st := e.state(alice); st.BackupCodesLeft != 10 || len(e.events("")) != eventsBefore+4 {
		t.Fatalf("a refused link changed something: %+v", st)
	}

	res := redeem(alice, link.Token)
	wantLogin(t, "the link", res, contract.DecisionAllowed, "")
	if res.Message == "" {
		t.Fatal("no message telling the operator their set-up was reset")
	}
	wantLogin(t, "the link again", redeem(alice, link.Token), contract.DecisionDenied, contract.LoginReasonLinkUsed)
	st := e.state(alice)
	if !st.Enabled || !st.EnrolledAt.IsZero() || st.BackupCodesLeft != 0 || !st.BackupCodesIssuedAt.IsZero() || st.LastLogin.IsZero() {
		t.Fatalf("after the reset: %+v; want Duo on, enrolment and codes forgotten, signed in", st)
	}
	wantLogin(t, "an old backup code", e.redeem(alice, backup[0]), contract.DecisionDenied, contract.LoginReasonCodeWrong)
	wantLogin(t, "an old bypass code", e.redeem(alice, bypass.Code), contract.DecisionDenied, contract.LoginReasonCodeRevoked)
	if _, err := e.p.RegenerateBackupCodes(ctx, contract.RegenerateBackupCodesRequest{Operator: alice, Actor: actor(alice.ID, contract.RoleAgent)}); contract.ReasonOf(err) != contract.ReasonReauthenticate {
		t.Fatalf("regenerate after a recovery link (no second factor proved): %v", err)
	}
	// The next Duo sign-in sets the second factor up again.
	next := e.duoLogin(ctx, alice)
	if next.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("Duo login after the reset = %+v, want CONFIRM_BACKUP_CODES", next)
	}
	if st := e.state(bob); st.BackupCodesLeft != 10 || st.EnrolledAt.IsZero() {
		t.Fatalf("bob after alice's reset: %+v", st)
	}

	// Expired: refused, nothing changes.
	late := create(bob)
	e.clk.Add(2 * time.Hour)
	wantLogin(t, "an expired link", redeem(bob, late.Token), contract.DecisionDenied, contract.LoginReasonLinkExpired)
	if st := e.state(bob); st.BackupCodesLeft != 10 || st.EnrolledAt.IsZero() {
		t.Fatalf("an expired link changed bob: %+v", st)
	}
}

// A recovery link used twice at once resets once.
func TestRecoveryLinkUsedTwiceAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil)
	ctx := context.Background()
	alice := contract.Operator{ID: "10", Username: "alice"}
	e.setUp(ctx, alice)
	link, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: alice, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	wins := 0
	for _, r := range atOnce(t, n, func() (contract.CompleteLoginResponse, error) {
		return e.p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: link.Token})
	}) {
		if r.Decision == contract.DecisionAllowed {
			wins++
		} else if r.Reason != contract.LoginReasonLinkUsed {
			t.Fatalf("%+v", r)
		}
	}
	if wins != 1 || len(e.events("recovery_link.redeem")) != n {
		t.Fatalf("%d of %d redemptions allowed (want 1); %d audited (want %d)", wins, n, len(e.events("recovery_link.redeem")), n)
	}
}
