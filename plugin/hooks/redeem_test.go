package hooks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

func TestRedeemCode(t *testing.T) {
	t.Parallel()
	// Refusals count towards the lockout (policy_test.go): not here.
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"lockout_threshold": "100"})
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	bob := contract.Operator{ID: "2", Username: "bob"}
	carol := contract.Operator{ID: "3", Username: "carol"} // Duo off
	codes := e.setUp(ctx, alice)
	bobCodes := e.setUp(ctx, bob)
	helpdesk := actor("5", contract.RoleHelpDesk)
	issue := func(op contract.Operator, uses int32, life time.Duration) contract.IssueBypassCodeResponse {
		t.Helper()
		res, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: op, OperatorRole: contract.RoleAgent, Uses: uses, LifetimeSeconds: int64(life / time.Second), Actor: admin})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// However the operator types it.
	typed := []string{
		codes[0],
		strings.ToUpper(codes[1]),
		strings.ReplaceAll(codes[2], "-", " "),
		" " + strings.ReplaceAll(codes[3], "-", "") + " ",
		codes[4][:2] + "-" + codes[4][2:5] + " " + strings.ToUpper(codes[4][6:]),
	}
	for _, c := range typed {
		wantLogin(t, "backup code typed loosely", e.redeem(alice, c), contract.DecisionAllowed, "")
	}
	wantLogin(t, "the same code again", e.redeem(alice, strings.ToUpper(codes[0])), contract.DecisionDenied, contract.LoginReasonCodeUsed)
	wantLogin(t, "bob's code for alice", e.redeem(alice, bobCodes[0]), contract.DecisionDenied, contract.LoginReasonCodeWrong)
	wantLogin(t, "a code of no one", e.redeem(alice, "zzzzz-zzzzz"), contract.DecisionDenied, contract.LoginReasonCodeWrong)
	for _, junk := range []string{"", "abc", "abcde-fghjkm", "abcde.fghjk", "0000o-11111", strings.Repeat("x", 5000), "abcde\x00fghjk"} {
		wantLogin(t, "junk", e.redeem(alice, junk), contract.DecisionDenied, contract.LoginReasonCodeMalformed)
	}
	e.enable(carol)
	carolBypass := issue(carol, 1, time.Hour)
	if _, err := e.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: carol, Enabled: false, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "a code for an operator without Duo", e.redeem(carol, carolBypass.Code), contract.DecisionDenied, contract.LoginReasonNotEnabled)
	if st := e.state(alice); st.BackupCodesLeft != 5 {
		t.Fatalf("%d backup codes left, want 5", st.BackupCodesLeft)
	}

	// Bypass codes.
	once := issue(alice, 1, time.Hour)
	twice := issue(alice, 2, time.Hour)
	short := issue(alice, 1, time.Minute)
	revoked := issue(alice, 1, time.Hour)
	if _, err := e.p.RevokeBypassCode(ctx, contract.RevokeBypassCodeRequest{OperatorID: alice.ID, ID: revoked.BypassCode.ID, Actor: helpdesk}); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "bypass code", e.redeem(alice, once.Code), contract.DecisionAllowed, "")
	wantLogin(t, "bypass code again", e.redeem(alice, strings.ReplaceAll(once.Code, "-", "")), contract.DecisionDenied, contract.LoginReasonCodeUsed)
	wantLogin(t, "two-use bypass code, 1", e.redeem(alice, twice.Code), contract.DecisionAllowed, "")
	wantLogin(t, "two-use bypass code, 2", e.redeem(alice, twice.Code), contract.DecisionAllowed, "")
	wantLogin(t, "two-use bypass code, 3", e.redeem(alice, twice.Code), contract.DecisionDenied, contract.LoginReasonCodeUsed)
	wantLogin(t, "revoked bypass code", e.redeem(alice, revoked.Code), contract.DecisionDenied, contract.LoginReasonCodeRevoked)
	wantLogin(t, "bob with alice's bypass code", e.redeem(bob, short.Code), contract.DecisionDenied, contract.LoginReasonCodeWrong)
	e.clk.Add(time.Minute)
	wantLogin(t, "expired bypass code", e.redeem(alice, short.Code), contract.DecisionDenied, contract.LoginReasonCodeExpired)

	// The audit log says which kind of code signed in, and why each
	// refusal was refused.
	var allowed, reasons []string
	for _, ev := range e.events("login.code") {
		if ev.Outcome == "allowed" {
			allowed = append(allowed, ev.Detail)
		} else {
			reasons = append(reasons, ev.Reason)
		}
	}
	if len(allowed) != 8 || !strings.Contains(allowed[0], "backup code") || !strings.Contains(allowed[5], "bypass code "+once.BypassCode.ID) {
		t.Fatalf("allowed code logins audited as %q", allowed)
	}
	for _, want := range []contract.LoginReason{contract.LoginReasonCodeUsed, contract.LoginReasonCodeWrong, contract.LoginReasonCodeMalformed,
		contract.LoginReasonNotEnabled, contract.LoginReasonCodeRevoked, contract.LoginReasonCodeExpired} {
		if !strings.Contains(strings.Join(reasons, ","), string(want)) {
			t.Errorf("no refusal audited with %s (got %v)", want, reasons)
		}
	}
	if st := e.state(alice); st.LastLogin.IsZero() {
		t.Fatal("code logins not recorded")
	}
}

// Of 50 concurrent redemptions of one backup code, and of one bypass
// code, exactly one signs in.
func TestConcurrentCodeRedemptions(t *testing.T) {
	t.Parallel()
	// 2 × 49 refusals stay under the lockout.
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"lockout_threshold": "100"})
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	codes := e.setUp(ctx, alice)
	bypass, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, code string }{{"backup code", codes[0]}, {"bypass code", bypass.Code}} {
		const n = 50
		wins := 0
		for _, r := range atOnce(t, n, func() (contract.CompleteLoginResponse, error) {
			return e.p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: tc.code})
		}) {
			switch {
			case r.Decision == contract.DecisionAllowed:
				wins++
			case r.Decision == contract.DecisionDenied && r.Reason == contract.LoginReasonCodeUsed:
			default:
				t.Fatalf("%s: %+v", tc.name, r)
			}
		}
		if wins != 1 {
			t.Fatalf("%s: %d of %d concurrent redemptions signed in, want 1", tc.name, wins, n)
		}
	}
}

// A bypass code of digits 2-9 only also has the shape of a backup code:
// it is tried as both, in one call, and signs in as the bypass code it is.
func TestBypassCodeThatLooksLikeABackupCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"bypass_max_uses": "2"})
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	e.setUp(ctx, alice)
	// About one bypass code in nine has no 0 or 1; 300 draws all missing
	// one happens once in 10^14.
	var both contract.IssueBypassCodeResponse
	for range 300 {
		b, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Uses: 2, Actor: admin})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.ContainsAny(b.Code, "01") {
			both = b
			break
		}
	}
	if both.Code == "" {
		t.Fatal("no bypass code of digits 2-9 in 300 draws")
	}
	before := len(e.events("login.code"))
	wantLogin(t, "a bypass code of digits 2-9", e.redeem(alice, both.Code), contract.DecisionAllowed, "")
	wantLogin(t, "its second use", e.redeem(alice, both.Code), contract.DecisionAllowed, "")
	wantLogin(t, "a third use", e.redeem(alice, both.Code), contract.DecisionDenied, contract.LoginReasonCodeUsed)
	got := e.events("login.code")[before:]
	if len(got) != 3 || !strings.Contains(got[0].Detail, "bypass code "+both.BypassCode.ID) || got[0].Notice != contract.NoticeBypassCodeUsed ||
		got[2].Detail != "the bypass code has no uses left" {
		t.Fatalf("audited as %+v", got)
	}
	if st := e.state(alice); st.BackupCodesLeft != 10 {
		t.Fatalf("%d backup codes left, want 10", st.BackupCodesLeft)
	}
}
