package hooks

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

func TestIssueListRevokeBypassCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"bypass_max_uses": "5", "bypass_max_hours": "48"})
	ctx := context.Background()
	alice := contract.Operator{ID: "10", Username: "alice"}
	bob := contract.Operator{ID: "20", Username: "bob"}
	helpdesk := actor("5", contract.RoleHelpDesk)
	root := actor("6", contract.RoleAdmin)
	issue := func(who contract.Actor, uses int32, secs int64) (contract.IssueBypassCodeResponse, error) {
		return e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Uses: uses, LifetimeSeconds: secs, Actor: who})
	}

	first, err := issue(helpdesk, 0, 0)
	now := e.clk.Now()
	if err != nil || !regexp.MustCompile(`^[0-9]{5}-[0-9]{5}$`).MatchString(first.Code) {
		t.Fatalf("IssueBypassCode = %+v, %v", first, err)
	}
	b := first.BypassCode
	if b.ID == "" || b.OperatorID != alice.ID || b.IssuedBy != "user-5" || b.UsesLeft != 1 || !b.ExpiresAt.Equal(now.Add(time.Hour)) || !b.RevokedAt.IsZero() {
		t.Fatalf("defaults: %+v; want 1 use, 1 hour, issued by the help desk", b)
	}
	e.clk.Add(time.Second)
	if _, err := issue(helpdesk, 1, 3600); err != nil {
		t.Fatalf("help desk within the defaults: %v", err)
	}
	for _, tc := range []struct {
		name      string
		who       contract.Actor
		uses      int32
		secs      int64
		wantLimit string
	}{
		{"help desk, 2 uses", helpdesk, 2, 0, "at most 1 use valid for at most 1 hour"},
		{"help desk, 2 hours", helpdesk, 1, 7200, "at most 1 use valid for at most 1 hour"},
		{"admin beyond the uses setting", root, 6, 0, "at most 5 use(s) valid for at most 48 hour(s)"},
		{"admin beyond the hours setting", root, 1, 48*3600 + 1, "at most 5 use(s) valid for at most 48 hour(s)"},
		{"admin asking for centuries", root, 1, 1 << 62, "48 hour(s)"},
	} {
		_, err := issue(tc.who, tc.uses, tc.secs)
		if contract.ReasonOf(err) != contract.ReasonPermission || !strings.Contains(err.Error(), tc.wantLimit) {
			t.Fatalf("%s: %v; want PERMISSION_DENIED saying %q", tc.name, err, tc.wantLimit)
		}
	}
	for _, bad := range []struct {
		uses int32
		secs int64
	}{{-1, 0}, {1, -5}} {
		if _, err := issue(root, bad.uses, bad.secs); contract.ReasonOf(err) != contract.ReasonInvalidArgument {
			t.Fatalf("uses %d, lifetime %d: %v; want INVALID_ARGUMENT", bad.uses, bad.secs, err)
		}
	}
	e.clk.Add(time.Second)
	last, err := issue(root, 5, 48*3600)
	if err != nil || last.BypassCode.UsesLeft != 5 || !last.BypassCode.ExpiresAt.Equal(e.clk.Now().Add(48*time.Hour)) {
		t.Fatalf("admin at the settings' limits = %+v, %v", last, err)
	}

	list, err := e.p.ListBypassCodes(ctx, contract.ListBypassCodesRequest{OperatorID: alice.ID, Actor: helpdesk})
	if err != nil || len(list.BypassCodes) != 3 || list.BypassCodes[0].ID != last.BypassCode.ID || list.BypassCodes[2].ID != b.ID {
		t.Fatalf("ListBypassCodes = %+v, %v; want 3, newest first", list, err)
	}
	if shown := fmt.Sprintf("%+v", list); strings.Contains(shown, first.Code) || strings.Contains(shown, strings.ReplaceAll(first.Code, "-", "")) {
		t.Fatal("the list shows a code")
	}

	for _, tc := range []struct{ op, id string }{{bob.ID, b.ID}, {alice.ID, "unknown"}} {
		_, err := e.p.RevokeBypassCode(ctx, contract.RevokeBypassCodeRequest{OperatorID: tc.op, ID: tc.id, Actor: root})
		if contract.ReasonOf(err) != contract.ReasonNotFound {
			t.Fatalf("revoke %s of operator %s: %v, want NOT_FOUND", tc.id, tc.op, err)
		}
	}
	rev, err := e.p.RevokeBypassCode(ctx, contract.RevokeBypassCodeRequest{OperatorID: alice.ID, ID: b.ID, Actor: helpdesk})
	if err != nil || rev.BypassCode.RevokedAt.IsZero() || rev.BypassCode.ID != b.ID {
		t.Fatalf("RevokeBypassCode = %+v, %v", rev, err)
	}
	if _, err := e.p.ListBypassCodes(ctx, contract.ListBypassCodesRequest{OperatorID: alice.ID, Actor: actor("30", contract.RoleAgent)}); contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("an agent listing another operator's codes: %v", err)
	}
	if got := e.events("bypass_code.issued"); len(got) != 3 || got[0].Notice != contract.NoticeBypassCodeIssued || got[0].ActorRole != "help_desk" {
		t.Fatalf("issue events = %+v", got)
	}
}

// A bypass code is handed out by someone else: never to the actor
// themselves, and by the help desk only to agents (never to an admin,
// another help-desk member, or an operator whose role the host leaves
// out). Each refusal is audited and issues nothing.
func TestBypassCodesAreIssuedToOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil)
	ctx := context.Background()
	ada := contract.Operator{ID: "20", Username: "ada"}
	hal := actor("21", contract.RoleHelpDesk)
	for _, tc := range []struct {
		name   string
		target contract.Operator
		role   contract.Role
		who    contract.Actor
		want   string
	}{
		{"help desk for an admin", ada, contract.RoleAdmin, hal, "not for the admin role"},
		{"help desk for the help desk", ada, contract.RoleHelpDesk, hal, "not for the help_desk role"},
		{"help desk, role left out", ada, contract.RoleUnspecified, hal, "did not say"},
		{"help desk for themselves", contract.Operator{ID: hal.ID, Username: "hal"}, contract.RoleHelpDesk, hal, "for themselves"},
		{"admin for themselves", contract.Operator{ID: admin.ID, Username: "admin"}, contract.RoleAdmin, admin, "for themselves"},
	} {
		_, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: tc.target, OperatorRole: tc.role, Actor: tc.who})
		if contract.ReasonOf(err) != contract.ReasonPermission || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want PERMISSION_DENIED saying %q", tc.name, err, tc.want)
		}
		list, err := e.p.ListBypassCodes(ctx, contract.ListBypassCodesRequest{OperatorID: tc.target.ID, Actor: admin})
		if err != nil || len(list.BypassCodes) != 0 {
			t.Errorf("%s: codes after the refusal: %+v, %v", tc.name, list, err)
		}
	}
	if got := len(e.events("permission.denied")); got != 5 {
		t.Errorf("%d refusals audited, want 5", got)
	}
	// An admin may issue one for another admin, the help desk for an agent.
	if _, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: ada, OperatorRole: contract.RoleAdmin, Actor: admin}); err != nil {
		t.Errorf("admin for another admin: %v", err)
	}
	if _, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: contract.Operator{ID: "22", Username: "al"}, OperatorRole: contract.RoleAgent, Actor: hal}); err != nil {
		t.Errorf("help desk for an agent: %v", err)
	}
}

// Zero uses or lifetime takes the default, negative ones are refused, and
// a lifetime past any limit stays just past the longest.
func TestBypassRequestDefaults(t *testing.T) {
	t.Parallel()
	longest := settings.MaxBypassMaxLifetime
	for _, tc := range []struct {
		uses     int32
		seconds  int64
		wantUses int32
		wantLife time.Duration
		invalid  bool
	}{
		{0, 0, 1, time.Hour, false},
		{3, 0, 3, time.Hour, false},
		{0, 60, 1, time.Minute, false},
		{2, 1 << 62, 2, longest + time.Second, false},
		{-1, 0, 0, 0, true},
		{0, -1, 0, 0, true},
	} {
		uses, life, err := bypassRequest(tc.uses, tc.seconds)
		if (err != nil) != tc.invalid || uses != tc.wantUses || life != tc.wantLife {
			t.Errorf("bypassRequest(%d, %d) = %d, %s, %v; want %d, %s (invalid: %v)", tc.uses, tc.seconds, uses, life, err, tc.wantUses, tc.wantLife, tc.invalid)
		}
	}
}
