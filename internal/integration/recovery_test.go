package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Recovery through the real plugin binary and the SDK: backup codes with
// their confirmation step, bypass codes, recovery links, roles, notices,
// and a plugin killed while codes are being redeemed.

var (
	helpDesk = contract.Actor{ID: "90", Username: "hank", IP: "127.0.0.1", Role: contract.RoleHelpDesk}
	agent    = contract.Actor{ID: "91", Username: "agatha", IP: "127.0.0.1", Role: contract.RoleAgent}
)

// setUpCodes signs op in with Duo for the first time, confirms the backup
// codes shown and returns them.
func (e *loginEnv) setUpCodes(op contract.Operator) []string {
	e.t.Helper()
	res := e.duoFirstLogin(op)
	if res.Decision != contract.DecisionConfirmBackupCodes || len(res.BackupCodes) == 0 || res.BackupCodesTicket == "" {
		e.t.Fatalf("first Duo login of %s = %+v, want CONFIRM_BACKUP_CODES with codes and a ticket", op.Username, res)
	}
	if conf := e.confirm(op, res.BackupCodesTicket); conf.Decision != contract.DecisionAllowed {
		e.t.Fatalf("confirm = %+v", conf)
	}
	return res.BackupCodes
}

func (e *loginEnv) redeem(op contract.Operator, code string) contract.CompleteLoginResponse {
	e.t.Helper()
	res, err := e.p.RedeemCode(ctxT(e.t), contract.RedeemCodeRequest{Operator: op, Code: code, Client: contract.ClientInfo{IP: "203.0.113.7"}})
	if err != nil {
		e.t.Fatalf("RedeemCode(%s): %v", op.Username, err)
	}
	return res
}

func (e *loginEnv) stateOf(op contract.Operator) contract.OperatorState {
	e.t.Helper()
	res, err := e.p.GetOperatorStates(ctxT(e.t), contract.GetOperatorStatesRequest{OperatorIDs: []string{op.ID}, Actor: admin})
	if err != nil || len(res.States) != 1 {
		e.t.Fatalf("GetOperatorStates = %+v, %v", res, err)
	}
	return res.States[0]
}

func wantAllowed(t *testing.T, what string, res contract.CompleteLoginResponse) {
	t.Helper()
	if res.Decision != contract.DecisionAllowed {
		t.Fatalf("%s = %+v, want ALLOWED", what, res)
	}
}

func TestBackupCodesThroughTheBinary(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice)

	// The first Duo sign-in shows codes to confirm; unconfirmed, they do
	// not work, and the next sign-in shows a fresh set.
	first := e.duoFirstLogin(alice)
	if first.Decision != contract.DecisionConfirmBackupCodes || len(first.BackupCodes) != 10 {
		t.Fatalf("first Duo login = %+v, want CONFIRM_BACKUP_CODES with 10 codes", first)
	}
	wantDenied(t, "an unconfirmed code", e.redeem(alice, first.BackupCodes[0]), contract.LoginReasonCodeWrong)
	second := e.duoFirstLogin(alice)
	if second.Decision != contract.DecisionConfirmBackupCodes || slices.Equal(second.BackupCodes, first.BackupCodes) {
		t.Fatalf("second Duo login before confirming = %+v, want a fresh set", second)
	}
	wantDenied(t, "the first ticket", e.confirm(alice, first.BackupCodesTicket), contract.LoginReasonTicketUnknown)
	wantAllowed(t, "confirm", e.confirm(alice, second.BackupCodesTicket))
	wantDenied(t, "confirm again", e.confirm(alice, second.BackupCodesTicket), contract.LoginReasonTicketUnknown)
	if st := e.stateOf(alice); st.BackupCodesLeft != 10 || st.BackupCodesIssuedAt.IsZero() || st.BackupCodesLow {
		t.Fatalf("after confirming: %+v", st)
	}

	// A code typed with spaces, dashes and upper case signs in, once.
	codes := second.BackupCodes
	typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " - "))
	wantAllowed(t, "a backup code typed loosely", e.redeem(alice, typed))
	wantDenied(t, "the same code again", e.redeem(alice, codes[0]), contract.LoginReasonCodeUsed)
	wantDenied(t, "junk", e.redeem(alice, "hello"), contract.LoginReasonCodeMalformed)
	wantDenied(t, "a code of the replaced set", e.redeem(alice, first.BackupCodes[1]), contract.LoginReasonCodeWrong)
	if st := e.stateOf(alice); st.BackupCodesLeft != 9 {
		t.Fatalf("%d codes left, want 9", st.BackupCodesLeft)
	}
	// Set up, Duo's allow signs in at once.
	wantAllowed(t, "the next Duo login", e.duoFirstLogin(alice))

	// The operator replaces their set soon after signing in.
	regen, err := e.p.RegenerateBackupCodes(ctxT(t), contract.RegenerateBackupCodesRequest{Operator: alice,
		Actor: contract.Actor{ID: alice.ID, Username: alice.Username, Role: contract.RoleAgent}})
	if err != nil || len(regen.BackupCodes) != 10 || regen.State.BackupCodesLeft != 10 {
		t.Fatalf("RegenerateBackupCodes = %+v, %v", regen, err)
	}
	wantDenied(t, "a code of the old set", e.redeem(alice, codes[1]), contract.LoginReasonCodeWrong)

	all := append(append(append([]string{}, first.BackupCodes...), second.BackupCodes...), regen.BackupCodes...)
	all = append(all, first.BackupCodesTicket, second.BackupCodesTicket)
	e.closeAndCheckLogs(append(all, e.app.ClientSecret.Reveal())...)
}

func TestBypassCodeFromTheHelpDesk(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice)
	ctx := ctxT(t)
	issued, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Actor: helpDesk})
	if err != nil || issued.Code == "" || issued.BypassCode.UsesLeft != 1 || issued.BypassCode.IssuedBy != "hank" {
		t.Fatalf("IssueBypassCode by the help desk = %+v, %v", issued, err)
	}
	// The operator never set up Duo: the code still signs in, once.
	wantAllowed(t, "the bypass code", e.redeem(alice, issued.Code))
	wantDenied(t, "the bypass code again", e.redeem(alice, issued.Code), contract.LoginReasonCodeUsed)

	_, err = e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Uses: 2, Actor: helpDesk})
	if contract.ReasonOf(err) != contract.ReasonPermission || !strings.Contains(err.Error(), "at most 1 use") {
		t.Fatalf("the help desk asking for 2 uses: %v, want PERMISSION_DENIED naming the limit", err)
	}
	// The operator's role crosses the boundary: the help desk never acts on an admin.
	_, err = e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: bob, OperatorRole: contract.RoleAdmin, Actor: helpDesk})
	if contract.ReasonOf(err) != contract.ReasonPermission || !strings.Contains(err.Error(), "only for agents") {
		t.Fatalf("the help desk issuing for an admin: %v, want PERMISSION_DENIED", err)
	}
	list, err := e.p.ListBypassCodes(ctx, contract.ListBypassCodesRequest{OperatorID: alice.ID, Actor: helpDesk})
	if err != nil || len(list.BypassCodes) != 1 || list.BypassCodes[0].UsesLeft != 0 {
		t.Fatalf("ListBypassCodes = %+v, %v", list, err)
	}
	_, err = e.p.RevokeBypassCode(ctx, contract.RevokeBypassCodeRequest{OperatorID: bob.ID, ID: issued.BypassCode.ID, Actor: helpDesk})
	if contract.ReasonOf(err) != contract.ReasonNotFound {
		t.Fatalf("revoke alice's code as bob's: %v, want NOT_FOUND", err)
	}
	// Bypass codes do not set up backup codes: the first Duo sign-in still
	// shows them.
	if res := e.duoFirstLogin(alice); res.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("Duo login after a bypass code = %+v, want CONFIRM_BACKUP_CODES", res)
	}
	e.closeAndCheckLogs(issued.Code, strings.ReplaceAll(issued.Code, "-", ""))
}

// An agent and the help desk calling what only an administrator may call
// get PERMISSION_DENIED through the SDK; what they may do still works.
func TestRolesThroughTheBinary(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice)
	ctx := ctxT(t)
	adminOnly := []struct {
		name string
		call func(who contract.Actor) error
	}{
		{"GetSettings", func(who contract.Actor) error {
			_, err := e.p.GetSettings(ctx, contract.GetSettingsRequest{Actor: who})
			return err
		}},
		{"UpdateSettings", func(who contract.Actor) error {
			_, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"fail_mode": "open"}, SkipDuoCheck: true, Actor: who})
			return err
		}},
		{"CheckDuo", func(who contract.Actor) error {
			_, err := e.p.CheckDuo(ctx, contract.CheckDuoRequest{Actor: who})
			return err
		}},
		{"SetOperatorEnabled", func(who contract.Actor) error {
			_, err := e.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: alice, Enabled: false, Actor: who})
			return err
		}},
		{"SetOperatorAlias", func(who contract.Actor) error {
			_, err := e.p.SetOperatorAlias(ctx, contract.SetOperatorAliasRequest{Operator: alice, DuoAlias: "x", Actor: who})
			return err
		}},
		{"CreateRecoveryLink", func(who contract.Actor) error {
			_, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: alice, Actor: who})
			return err
		}},
		{"ListNotices", func(who contract.Actor) error {
			_, err := e.p.ListNotices(ctx, contract.ListNoticesRequest{Actor: who})
			return err
		}},
		{"Activate", func(who contract.Actor) error {
			req := e.activation
			req.Actor = who
			_, err := e.p.Activate(ctx, req)
			return err
		}},
		{"Deactivate", func(who contract.Actor) error {
			_, err := e.p.Deactivate(ctx, contract.DeactivateRequest{Actor: who})
			return err
		}},
	}
	noRole := contract.Actor{ID: "92", Username: "old-host"}
	for _, who := range []contract.Actor{agent, helpDesk, noRole} {
		for _, c := range adminOnly {
			err := c.call(who)
			if contract.ReasonOf(err) != contract.ReasonPermission || errors.Is(err, host.ErrUnavailable) {
				t.Errorf("%s as %s (%s): %v, want PERMISSION_DENIED", c.name, who.Username, who.Role, err)
			}
		}
	}
	// The agent sees only their own state; the help desk sees everyone's.
	if _, err := e.p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{alice.ID}, Actor: agent}); contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("an agent reading alice's state: %v", err)
	}
	if _, err := e.p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{agent.ID}, Actor: agent}); err != nil {
		t.Fatalf("an agent reading their own state: %v", err)
	}
	if _, err := e.p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{alice.ID}, Actor: helpDesk}); err != nil {
		t.Fatalf("the help desk reading alice's state: %v", err)
	}
	// Nothing the refused calls asked for happened: Duo is still on for
	// alice and the plugin still active.
	if st := e.stateOf(alice); !st.Enabled || st.DuoAlias != "" {
		t.Fatalf("alice after refused calls: %+v", st)
	}
	if st, err := e.p.Status(ctx, contract.StatusRequest{}); err != nil || !st.Active {
		t.Fatalf("Status after refused calls = %+v, %v", st, err)
	}
}

func TestRecoveryLinkThroughTheBinary(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice, bob)
	ctx := ctxT(t)
	codes := e.setUpCodes(alice)
	link, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: alice, Actor: admin})
	if err != nil || link.Token == "" || !link.ExpiresAt.After(time.Now().Add(23*time.Hour)) {
		t.Fatalf("CreateRecoveryLink = %+v, %v; want a token valid 24 hours", link, err)
	}
	redeem := func(op contract.Operator) contract.CompleteLoginResponse {
		res, err := e.p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: op, Token: link.Token})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	wantDenied(t, "alice's link for bob", redeem(bob), contract.LoginReasonLinkUnknown)
	wantAllowed(t, "the link", redeem(alice))
	wantDenied(t, "the link again", redeem(alice), contract.LoginReasonLinkUsed)
	if st := e.stateOf(alice); st.BackupCodesLeft != 0 || !st.EnrolledAt.IsZero() || !st.Enabled {
		t.Fatalf("after the reset: %+v", st)
	}
	wantDenied(t, "an old backup code", e.redeem(alice, codes[0]), contract.LoginReasonCodeWrong)
	// The next Duo sign-in asks for new backup codes.
	fresh := e.setUpCodes(alice)
	wantAllowed(t, "a new backup code", e.redeem(alice, fresh[0]))
	e.closeAndCheckLogs(link.Token, codes[0], fresh[0])
}

// TestKilledMidRedemption: SIGKILL the plugin between two redemptions and
// during a burst of them. After the restart each code is spent or not,
// never both: a code whose redemption was answered ALLOWED is spent, a
// code is refused as used exactly when it was spent, the count of codes
// left agrees, and there is one notice per spent code (the use, its login
// and its notice commit together).
func TestKilledMidRedemption(t *testing.T) {
	t.Parallel()
	e := newLoginEnvWith(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "closed", tweak: func(o *host.Options) {
		o.PingInterval = 100 * time.Millisecond
		o.RestartBackoffMin = 200 * time.Millisecond
		o.RestartBackoffMax = 500 * time.Millisecond
	}}, alice)
	codes := e.setUpCodes(alice)
	kill := func() {
		t.Helper()
		pid := e.p.State().PID
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitfor.Until(t, 15*time.Second, "the plugin restarted and was activated again", func() bool {
			st := e.p.State()
			if st.Phase != host.PhaseRunning || st.PID == pid {
				return false
			}
			s, err := e.p.Status(ctxT(t), contract.StatusRequest{})
			return err == nil && s.Active
		})
	}

	// Between two redemptions.
	wantAllowed(t, "code 0", e.redeem(alice, codes[0]))
	kill()
	wantDenied(t, "code 0 after the restart", e.redeem(alice, codes[0]), contract.LoginReasonCodeUsed)
	wantAllowed(t, "code 1 after the restart", e.redeem(alice, codes[1]))

	// During a burst.
	burst := codes[2:]
	answers := make([]string, len(burst))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Staggered, so that the kill finds some answered, some in
			// flight and some not yet sent.
			time.Sleep(time.Duration(i) * 2 * time.Millisecond)
			res, err := e.p.RedeemCode(context.Background(), contract.RedeemCodeRequest{Operator: alice, Code: c})
			switch {
			case err != nil:
				answers[i] = "error"
			case res.Decision == contract.DecisionAllowed:
				answers[i] = "allowed"
			default:
				answers[i] = string(res.Reason)
			}
		}()
	}
	pid := e.p.State().PID
	close(start)
	time.Sleep(7 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	waitfor.Until(t, 15*time.Second, "the plugin restarted and was activated again", func() bool {
		st := e.p.State()
		if st.Phase != host.PhaseRunning || st.PID == pid {
			return false
		}
		s, err := e.p.Status(ctxT(t), contract.StatusRequest{})
		return err == nil && s.Active
	})
	t.Logf("answers during the kill: %v", answers)

	left := int(e.stateOf(alice).BackupCodesLeft)
	spent := 0
	for i, c := range burst {
		again := e.redeem(alice, c)
		wasSpent := again.Decision == contract.DecisionDenied && again.Reason == contract.LoginReasonCodeUsed
		switch {
		case !wasSpent && again.Decision != contract.DecisionAllowed:
			t.Fatalf("code %d after the restart: %+v; want code_used or ALLOWED", i, again)
		case answers[i] == "allowed" && !wasSpent:
			t.Fatalf("code %d was answered ALLOWED before the kill, yet works again", i)
		case answers[i] != "allowed" && answers[i] != "error":
			t.Fatalf("code %d was answered %q before the kill", i, answers[i])
		}
		if wasSpent {
			spent++
		}
	}
	if want := len(codes) - 2 - spent; left != want {
		t.Fatalf("%d codes left after the kill, but %d of the burst were spent: want %d left", left, spent, want)
	}
	notices, err := e.p.ListNotices(ctxT(t), contract.ListNoticesRequest{Actor: admin, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, n := range notices.Notices {
		if n.Kind == contract.NoticeBackupCodeUsed {
			used++
		}
	}
	// Before the retries: 2 + spent; the retries spent the rest.
	if used != len(codes) {
		t.Fatalf("%d backup_code_used notices for %d spent codes", used, len(codes))
	}
	if st := e.stateOf(alice); st.BackupCodesLeft != 0 || !st.BackupCodesLow {
		t.Fatalf("after every code was used: %+v", st)
	}
}

// Notices appear in the order things happened, naming the actor when it
// was not the operator.
func TestNoticesThroughTheBinary(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice)
	ctx := ctxT(t)
	codes := e.setUpCodes(alice)
	wantAllowed(t, "backup code", e.redeem(alice, codes[0]))
	issued, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Actor: helpDesk})
	if err != nil {
		t.Fatal(err)
	}
	wantAllowed(t, "bypass code", e.redeem(alice, issued.Code))
	link, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: alice, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := e.p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: link.Token}); err != nil || res.Decision != contract.DecisionAllowed {
		t.Fatalf("recovery link = %+v, %v", res, err)
	}
	if _, err := e.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: alice, Enabled: false, Actor: admin}); err != nil {
		t.Fatal(err)
	}

	var got []string
	var after int64
	for { // two at a time, as a host catching up would page
		page, err := e.p.ListNotices(ctx, contract.ListNoticesRequest{AfterID: after, Limit: 2, Actor: admin})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Notices) == 0 {
			break
		}
		for _, n := range page.Notices {
			if n.ID <= after || n.OperatorID != alice.ID {
				t.Fatalf("notice %+v after %d", n, after)
			}
			got = append(got, fmt.Sprintf("%s/%s", n.Kind, n.Actor))
			after = n.ID
		}
	}
	want := []string{"duo_enabled/admin", "duo_enrolled/", "backup_codes_issued/", "backup_code_used/", "bypass_code_issued/hank",
		"bypass_code_used/", "recovery_link_created/admin", "second_factor_reset/", "duo_disabled/admin"}
	if !slices.Equal(got, want) {
		t.Fatalf("notices:\n got %v\nwant %v", got, want)
	}
}
