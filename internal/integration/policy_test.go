package integration

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Policy through the real plugin binary and the SDK: who Duo is required
// of (toggle, enforcement, service-account exemption), the lockout after
// repeated second-factor failures, and unlocking.

// lockBy locks op with wrong codes (the environment's lockout threshold is
// 3): the third answers operator_locked.
func (e *loginEnv) lockBy(op contract.Operator) {
	e.t.Helper()
	for i := range 3 {
		res := e.redeem(op, "zzzzz-zzzzz")
		want := contract.LoginReasonCodeWrong
		if i == 2 {
			want = contract.LoginReasonLocked
		}
		wantDenied(e.t, "wrong code", res, want)
	}
}

// set saves settings values (merged with the saved ones).
func (e *loginEnv) set(values map[string]string) {
	e.t.Helper()
	res, err := e.p.UpdateSettings(ctxT(e.t), contract.UpdateSettingsRequest{Values: values, SkipDuoCheck: true, Actor: admin})
	if err != nil || !res.Saved {
		e.t.Fatalf("UpdateSettings(%v) = %+v, %v", values, res, err)
	}
}

// policyState is op's state told with op's role.
func (e *loginEnv) policyState(op contract.Operator) contract.OperatorState {
	e.t.Helper()
	res, err := e.p.GetOperatorStates(ctxT(e.t), contract.GetOperatorStatesRequest{Operators: []contract.Operator{op}, Actor: admin})
	if err != nil || len(res.States) != 1 {
		e.t.Fatalf("GetOperatorStates = %+v, %v", res, err)
	}
	return res.States[0]
}

// noticesOf counts op's notices of kind.
func (e *loginEnv) noticesOf(op contract.Operator, kind contract.NoticeKind) int {
	e.t.Helper()
	page, err := e.p.ListNotices(ctxT(e.t), contract.ListNoticesRequest{Limit: 500, Actor: admin})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, x := range page.Notices {
		if x.OperatorID == op.ID && x.Kind == kind {
			n++
		}
	}
	return n
}

// TestPolicyRulesThroughTheBinary applies each rule of BeginLogin at the
// boundary at least once.
func TestPolicyRulesThroughTheBinary(t *testing.T) {
	t.Parallel()
	var (
		ann     = contract.Operator{ID: "1", Username: "ann", Role: contract.RoleAgent}
		root    = contract.Operator{ID: "2", Username: "root", Role: contract.RoleAdmin}
		service = contract.Operator{ID: "3", Username: "api-bot", Role: contract.RoleAgent, ServiceAccount: true}
	)
	cases := []struct {
		name     string
		failMode string
		values   map[string]string
		op       contract.Operator
		toggle   bool
		locked   bool
		duoDown  bool
		want     contract.LoginDecision
		reason   contract.LoginReason
		req      contract.Requirement
	}{
		{"toggle off", "closed", nil, ann, false, false, false, contract.DecisionNotRequired, "", contract.RequirementOff},
		{"toggle on", "closed", nil, ann, true, false, false, contract.DecisionRedirect, "", contract.RequirementEnabled},
		{"enforce_all, toggle off", "closed", map[string]string{"enforce_all": "true"}, ann, false, false, false, contract.DecisionRedirect, "", contract.RequirementEnforcedAll},
		{"admins enforced, admin, toggle off", "closed", map[string]string{"enforce_role_admin": "true"}, root, false, false, false, contract.DecisionRedirect, "", contract.RequirementEnforcedRole},
		{"admins enforced, agent, toggle off", "closed", map[string]string{"enforce_role_admin": "true"}, ann, false, false, false, contract.DecisionNotRequired, "", contract.RequirementOff},
		{"exempt service account under enforce_all", "closed", map[string]string{"enforce_all": "true", "allow_service_account_exemption": "true"}, service, true, false, false,
			contract.DecisionNotRequired, contract.LoginReasonExempt, contract.RequirementExempt},
		{"service account without the exemption", "closed", map[string]string{"enforce_all": "true"}, service, false, false, false, contract.DecisionRedirect, "", contract.RequirementEnforcedAll},
		{"locked, fail open, Duo unreachable", "open", nil, ann, true, true, true, contract.DecisionDenied, contract.LoginReasonLocked, contract.RequirementEnabled},
		{"locked exempt service account", "closed", map[string]string{"allow_service_account_exemption": "true", "enforce_role_agent": "true"}, service, true, true, false,
			contract.DecisionDenied, contract.LoginReasonLocked, contract.RequirementExempt},
		{"enforced, fail open, Duo unreachable", "open", map[string]string{"enforce_all": "true"}, ann, false, false, true, contract.DecisionNotRequired, contract.LoginReasonFailOpen, contract.RequirementEnforcedAll},
		{"enforced, fail closed, Duo unreachable", "closed", map[string]string{"enforce_role_agent": "true"}, ann, false, false, true, contract.DecisionDenied, contract.LoginReasonDuoUnavailable, contract.RequirementEnforcedRole},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			values := map[string]string{"lockout_threshold": "3"}
			for k, v := range tc.values {
				values[k] = v
			}
			var ops []contract.Operator
			if tc.toggle {
				ops = append(ops, tc.op)
			}
			e := newLoginEnvWith(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: tc.failMode, values: values}, ops...)
			if tc.locked {
				if tc.req == contract.RequirementExempt {
					// An exempt service account presents no codes: it was
					// locked before the exemption was allowed.
					e.set(map[string]string{"allow_service_account_exemption": "false"})
					e.lockBy(tc.op)
					e.set(map[string]string{"allow_service_account_exemption": "true"})
				} else {
					e.lockBy(tc.op)
				}
			}
			if tc.duoDown {
				e.sim.SetHealthy(false)
			}
			res := e.begin(tc.op)
			if res.Decision != tc.want || res.Reason != tc.reason {
				t.Fatalf("BeginLogin = %v %q (%q), want %v %q", res.Decision, res.Reason, res.Message, tc.want, tc.reason)
			}
			if tc.want == contract.DecisionDenied {
				wantBeginDenied(t, tc.name, res, tc.reason)
			}
			if st := e.policyState(tc.op); st.Requirement != tc.req || st.Locked != tc.locked {
				t.Fatalf("state = requirement %s locked %v, want %s %v", st.Requirement, st.Locked, tc.req, tc.locked)
			}
		})
	}
}

// TestLockoutThroughTheBinary: wrong codes lock; the right code is then
// refused; the help desk unlocks an agent but not an admin; after the
// unlock the right code works and the count is 0. Duo's own refusals
// (deny, locked out, fraud) lock too. Each lock and unlock is a notice.
func TestLockoutThroughTheBinary(t *testing.T) {
	t.Parallel()
	ann := contract.Operator{ID: "1", Username: "alice", Email: "alice@example.com", Role: contract.RoleAgent}
	root := contract.Operator{ID: "2", Username: "bob", Email: "bob@example.com", Role: contract.RoleAdmin}
	e := newLoginEnvWith(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "closed",
		values: map[string]string{"lockout_threshold": "3", "lockout_contact": "the IT desk"}}, ann, root)
	ctx := ctxT(t)
	codes := e.setUpCodes(ann)
	rootCodes := e.setUpCodes(root)

	e.lockBy(ann)
	res := e.redeem(ann, codes[0])
	wantDenied(t, "the right code while locked", res, contract.LoginReasonLocked)
	if !strings.Contains(res.Message, "the IT desk") || res.Text.ID != contract.TextLockedContact || res.Text.Args["contact"] != "the IT desk" {
		t.Fatalf("locked message %q, text %+v", res.Message, res.Text)
	}
	if st := e.policyState(ann); !st.Locked || st.FailedAttempts != 3 || st.LockedAt.IsZero() || st.BackupCodesLeft != int32(len(codes)) {
		t.Fatalf("locked state: %+v", st)
	}

	// Duo's refusals lock the admin.
	for _, o := range []duosim.Outcome{duosim.OutcomeDeny, duosim.OutcomeLockedOut, duosim.OutcomeFraud} {
		e.sim.SetOutcome(root.Username, o)
		res := e.loginAs(root)
		want := map[duosim.Outcome]contract.LoginReason{duosim.OutcomeDeny: contract.LoginReasonDuoDenied,
			duosim.OutcomeLockedOut: contract.LoginReasonDuoLockedOut, duosim.OutcomeFraud: contract.LoginReasonLocked}[o]
		wantDenied(t, string(o), res, want)
	}
	if st := e.policyState(root); !st.Locked || st.FailedAttempts != 3 {
		t.Fatalf("admin after three Duo refusals: %+v", st)
	}

	_, err := e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: root, Actor: helpDesk})
	if contract.ReasonOf(err) != contract.ReasonPermission || errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("the help desk unlocking an admin: %v, want PERMISSION_DENIED", err)
	}
	un, err := e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: ann, Actor: helpDesk})
	if err != nil || un.State.Locked || un.State.FailedAttempts != 0 || un.State.OperatorID != ann.ID {
		t.Fatalf("the help desk unlocking an agent = %+v, %v", un, err)
	}
	wantAllowed(t, "the right code after the unlock", e.redeem(ann, codes[0]))
	if st := e.policyState(ann); st.Locked || st.FailedAttempts != 0 || st.BackupCodesLeft != int32(len(codes)-1) {
		t.Fatalf("after the unlock and the right code: %+v", st)
	}
	if _, err := e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: root, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	wantAllowed(t, "the admin's backup code after the unlock", e.redeem(root, rootCodes[0]))
	for _, op := range []contract.Operator{ann, root} {
		if l, u := e.noticesOf(op, contract.NoticeOperatorLocked), e.noticesOf(op, contract.NoticeOperatorUnlocked); l != 1 || u != 1 {
			t.Fatalf("%s: %d lock and %d unlock notices, want 1 each", op.Username, l, u)
		}
	}
	e.closeAndCheckLogs(append(codes, rootCodes...)...)
}

// TestConcurrentWrongCodesLockOnceThroughTheBinary: 20 wrong codes at
// once, threshold 10: exactly one lock.
func TestConcurrentWrongCodesLockOnceThroughTheBinary(t *testing.T) {
	t.Parallel()
	e := newLoginEnvWith(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "closed", values: map[string]string{"lockout_threshold": "10"}}, alice)
	codes := e.setUpCodes(alice)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		reasons = map[contract.LoginReason]int{}
	)
	start := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-start
			res, err := e.p.RedeemCode(ctxT(t), contract.RedeemCodeRequest{Operator: alice, Code: "zzzzz-zzzzz"})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("RedeemCode: %v", err)
			}
			reasons[res.Reason]++
		})
	}
	close(start)
	wg.Wait()
	if reasons[contract.LoginReasonCodeWrong] != 9 || reasons[contract.LoginReasonLocked] != 11 {
		t.Fatalf("answers %v, want 9 code_wrong and 11 operator_locked", reasons)
	}
	if n := e.noticesOf(alice, contract.NoticeOperatorLocked); n != 1 {
		t.Fatalf("%d lock notices, want 1", n)
	}
	if st := e.policyState(alice); !st.Locked || st.FailedAttempts != 10 {
		t.Fatalf("after 20 concurrent wrong codes: %+v", st)
	}
	wantDenied(t, "the right code", e.redeem(alice, codes[0]), contract.LoginReasonLocked)
}

// TestSelfDisableRefusedWhileEnforcedThroughTheBinary: an agent may turn
// their own Duo off (allow_self_disable) only while it is not enforced
// for them, and soon after a second factor.
func TestSelfDisableRefusedWhileEnforcedThroughTheBinary(t *testing.T) {
	t.Parallel()
	me := contract.Operator{ID: agent.ID, Username: agent.Username, Role: contract.RoleAgent}
	e := newLoginEnvWith(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "closed",
		values: map[string]string{"allow_self_disable": "true", "enforce_role_agent": "true"}}, me)
	ctx := ctxT(t)
	_, err := e.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: me, Enabled: false, Actor: agent})
	if contract.ReasonOf(err) != contract.ReasonPermission || !strings.Contains(err.Error(), "enforced") {
		t.Fatalf("self-disable while enforced: %v, want PERMISSION_DENIED naming the enforcement", err)
	}
	e.set(map[string]string{"enforce_role_agent": "false"})
	// Not enforced any more, but turning one's own Duo off also needs a
	// second factor within the last ten minutes.
	_, err = e.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: me, Enabled: false, Actor: agent})
	if contract.ReasonOf(err) != contract.ReasonReauthenticate {
		t.Fatalf("self-disable without a recent second factor: %v, want REAUTHENTICATE", err)
	}
	if res := e.loginAs(me); res.Decision != contract.DecisionAllowed {
		t.Fatalf("Duo login = %+v", res)
	}
	res, err := e.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: me, Enabled: false, Actor: agent})
	if err != nil || res.State.Enabled || res.State.Requirement != contract.RequirementOff {
		t.Fatalf("self-disable once not enforced = %+v, %v", res, err)
	}
}
