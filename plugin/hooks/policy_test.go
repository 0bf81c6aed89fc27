package hooks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// TestRequirement is the decision table of the pure rule: exemption, then
// enforce_all, then the role's enforcement, then the toggle.
func TestRequirement(t *testing.T) {
	t.Parallel()
	type pol struct{ all, admin, helpDesk, agent, exempt bool }
	const (
		off      = contract.RequirementOff
		enabled  = contract.RequirementEnabled
		all      = contract.RequirementEnforcedAll
		byRole   = contract.RequirementEnforcedRole
		exempted = contract.RequirementExempt
	)
	var (
		adminOp    = contract.Operator{ID: "1", Role: contract.RoleAdmin}
		helpDeskOp = contract.Operator{ID: "2", Role: contract.RoleHelpDesk}
		agentOp    = contract.Operator{ID: "3", Role: contract.RoleAgent}
		noRoleOp   = contract.Operator{ID: "4"}
		serviceOp  = contract.Operator{ID: "5", Role: contract.RoleAgent, ServiceAccount: true}
		serviceAdm = contract.Operator{ID: "6", Role: contract.RoleAdmin, ServiceAccount: true}
	)
	cases := []struct {
		name   string
		p      pol
		op     contract.Operator
		toggle bool
		want   contract.Requirement
	}{
		{"nothing: off", pol{}, agentOp, false, off},
		{"toggle on: enabled", pol{}, agentOp, true, enabled},
		{"enforce_all, toggle off", pol{all: true}, agentOp, false, all},
		{"enforce_all, toggle on", pol{all: true}, agentOp, true, all},
		{"enforce_all beats the role", pol{all: true, agent: true}, agentOp, false, all},
		{"admin role enforced, admin", pol{admin: true}, adminOp, false, byRole},
		{"admin role enforced, admin toggled on", pol{admin: true}, adminOp, true, byRole},
		{"admin role enforced, agent", pol{admin: true}, agentOp, false, off},
		{"admin role enforced, agent toggled on", pol{admin: true}, agentOp, true, enabled},
		{"admin role enforced, help desk", pol{admin: true}, helpDeskOp, false, off},
		{"help desk role enforced, help desk", pol{helpDesk: true}, helpDeskOp, false, byRole},
		{"help desk role enforced, admin", pol{helpDesk: true}, adminOp, false, off},
		{"agent role enforced, agent", pol{agent: true}, agentOp, false, byRole},
		{"agent role enforced, no role said: an agent", pol{agent: true}, noRoleOp, false, byRole},
		{"admin role enforced, no role said", pol{admin: true}, noRoleOp, false, off},
		{"every role enforced, help desk", pol{admin: true, helpDesk: true, agent: true}, helpDeskOp, false, byRole},
		{"service account, exemption, toggle on", pol{exempt: true}, serviceOp, true, exempted},
		{"service account, exemption, toggle off", pol{exempt: true}, serviceOp, false, exempted},
		{"service account, exemption beats enforce_all", pol{all: true, exempt: true}, serviceOp, false, exempted},
		{"service account, exemption beats the role", pol{agent: true, exempt: true}, serviceOp, false, exempted},
		{"service admin, exemption beats admin enforcement", pol{admin: true, exempt: true}, serviceAdm, true, exempted},
		{"service account, no exemption, enforce_all", pol{all: true}, serviceOp, false, all},
		{"service account, no exemption, role", pol{agent: true}, serviceOp, false, byRole},
		{"service account, no exemption, toggle on", pol{}, serviceOp, true, enabled},
		{"service account, no exemption, toggle off", pol{}, serviceOp, false, off},
		{"exemption allowed, not a service account, enforce_all", pol{all: true, exempt: true}, agentOp, false, all},
		{"exemption allowed, not a service account, toggle on", pol{exempt: true}, agentOp, true, enabled},
		{"exemption allowed, not a service account, toggle off", pol{exempt: true}, agentOp, false, off},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := settings.Defaults()
			d.EnforceAll, d.EnforceAdmin, d.EnforceHelpDesk, d.EnforceAgent = tc.p.all, tc.p.admin, tc.p.helpDesk, tc.p.agent
			d.AllowServiceAccountExemption = tc.p.exempt
			if got := requirement(d, tc.op, tc.toggle); got != tc.want {
				t.Fatalf("requirement = %s, want %s", got, tc.want)
			}
		})
	}
}

// lockNow locks op through the store as failures would (threshold 1), for
// d, at the plugin's now.
func (e *env) lockNow(op contract.Operator, d time.Duration) {
	e.t.Helper()
	err := e.p.withActive(context.Background(), func(a *activeState) error {
		ev := store.Event{At: e.clk.Now(), Kind: "login.code", OperatorID: op.ID, Outcome: "denied"}
		f, err := a.store.RecordFailure(context.Background(), op, store.Lockout{Threshold: 1, Duration: d}, ev, lockEvent(ev, *a.duo.Load()))
		if err == nil && !f.JustLocked {
			return errors.New("not locked")
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestBeginLoginDecisions is the decision table of BeginLogin: the
// toggle, enforcement (all, by role), the service-account exemption, the
// lockout (in force or expired) and the fail mode with Duo unreachable,
// against the simulator.
func TestBeginLoginDecisions(t *testing.T) {
	t.Parallel()
	type lock int
	const (
		unlocked lock = iota
		locked
		lockExpired
	)
	var (
		admin   = contract.Operator{ID: "1", Username: "ada", Role: contract.RoleAdmin}
		desk    = contract.Operator{ID: "2", Username: "hal", Role: contract.RoleHelpDesk}
		agent   = contract.Operator{ID: "3", Username: "ann", Role: contract.RoleAgent}
		noRole  = contract.Operator{ID: "4", Username: "nobody"}
		service = contract.Operator{ID: "5", Username: "api-bot", Role: contract.RoleAgent, ServiceAccount: true}
	)
	on := "true"
	cases := []struct {
		name     string
		settings map[string]string
		op       contract.Operator
		toggle   bool
		lock     lock
		duoDown  bool
		want     contract.LoginDecision
		reason   contract.LoginReason
		outcome  string // of the audit event
	}{
		{"off", nil, agent, false, unlocked, false, contract.DecisionNotRequired, "", "not_required"},
		{"toggle on", nil, agent, true, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"enforce_all, toggle off", map[string]string{"enforce_all": on}, agent, false, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"enforce_all, toggle on", map[string]string{"enforce_all": on}, desk, true, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"admins enforced, admin, toggle off", map[string]string{"enforce_role_admin": on}, admin, false, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"admins enforced, agent, toggle off", map[string]string{"enforce_role_admin": on}, agent, false, unlocked, false, contract.DecisionNotRequired, "", "not_required"},
		{"admins enforced, agent, toggle on", map[string]string{"enforce_role_admin": on}, agent, true, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"help desk enforced, help desk", map[string]string{"enforce_role_help_desk": on}, desk, false, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"help desk enforced, admin", map[string]string{"enforce_role_help_desk": on}, admin, false, unlocked, false, contract.DecisionNotRequired, "", "not_required"},
		{"agents enforced, no role said", map[string]string{"enforce_role_agent": on}, noRole, false, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"agents enforced, service account without exemption", map[string]string{"enforce_role_agent": on}, service, false, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"exempt service account, toggle on", map[string]string{"allow_service_account_exemption": on}, service, true, unlocked, false, contract.DecisionNotRequired, contract.LoginReasonExempt, "exempt"},
		{"exempt service account under enforce_all", map[string]string{"allow_service_account_exemption": on, "enforce_all": on}, service, false, unlocked, false, contract.DecisionNotRequired, contract.LoginReasonExempt, "exempt"},
		{"service account, exemption off, enforce_all", map[string]string{"enforce_all": on}, service, false, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"service account, exemption off, toggle off", nil, service, false, unlocked, false, contract.DecisionNotRequired, "", "not_required"},
		{"exemption on, not a service account, enforce_all", map[string]string{"allow_service_account_exemption": on, "enforce_all": on}, agent, false, unlocked, false, contract.DecisionRedirect, "", "redirect"},
		{"locked, toggle on", nil, agent, true, locked, false, contract.DecisionDenied, contract.LoginReasonLocked, "denied"},
		{"locked, toggle off", nil, agent, false, locked, false, contract.DecisionDenied, contract.LoginReasonLocked, "denied"},
		{"locked, enforce_all", map[string]string{"enforce_all": on}, agent, false, locked, false, contract.DecisionDenied, contract.LoginReasonLocked, "denied"},
		{"locked exempt service account", map[string]string{"allow_service_account_exemption": on}, service, true, locked, false, contract.DecisionDenied, contract.LoginReasonLocked, "denied"},
		{"locked, fail open, Duo down", map[string]string{"fail_mode": "open"}, agent, true, locked, true, contract.DecisionDenied, contract.LoginReasonLocked, "denied"},
		{"locked, fail closed, Duo down", map[string]string{"fail_mode": "closed"}, agent, true, locked, true, contract.DecisionDenied, contract.LoginReasonLocked, "denied"},
		{"lock expired, toggle on", nil, agent, true, lockExpired, false, contract.DecisionRedirect, "", "redirect"},
		{"lock expired, toggle off", nil, agent, false, lockExpired, false, contract.DecisionNotRequired, "", "not_required"},
		{"fail closed, Duo down, toggle on", map[string]string{"fail_mode": "closed"}, agent, true, unlocked, true, contract.DecisionDenied, contract.LoginReasonDuoUnavailable, "denied"},
		{"fail closed, Duo down, enforce_all", map[string]string{"fail_mode": "closed", "enforce_all": on}, agent, false, unlocked, true, contract.DecisionDenied, contract.LoginReasonDuoUnavailable, "denied"},
		{"fail open, Duo down, enforce_all", map[string]string{"fail_mode": "open", "enforce_all": on}, agent, false, unlocked, true, contract.DecisionNotRequired, contract.LoginReasonFailOpen, "allowed_without_duo"},
		{"fail open, Duo down, role enforced", map[string]string{"fail_mode": "open", "enforce_role_admin": on}, admin, false, unlocked, true, contract.DecisionNotRequired, contract.LoginReasonFailOpen, "allowed_without_duo"},
		{"fail closed, Duo down, role not enforced, toggle off", map[string]string{"fail_mode": "closed", "enforce_role_admin": on}, agent, false, unlocked, true, contract.DecisionNotRequired, "", "not_required"},
		{"fail closed, Duo down, exempt service account", map[string]string{"fail_mode": "closed", "allow_service_account_exemption": on, "enforce_all": on}, service, false, unlocked, true, contract.DecisionNotRequired, contract.LoginReasonExempt, "exempt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sim := duosim.StartTest(t, duosim.Config{Scripted: true})
			e := newEnv(t, sim, settings.Runtime{DuoTimeout: 500 * time.Millisecond}, tc.settings)
			if tc.toggle {
				e.enable(tc.op)
			}
			switch tc.lock {
			case locked:
				e.lockNow(tc.op, 0)
			case lockExpired:
				e.lockNow(tc.op, time.Minute)
				e.clk.Add(time.Minute)
			}
			if tc.duoDown {
				sim.SetHealthy(false)
			}
			res := e.begin(ctx, tc.op)
			if res.Decision != tc.want || res.Reason != tc.reason {
				t.Fatalf("BeginLogin = %v %q (%q), want %v %q", res.Decision, res.Reason, res.Message, tc.want, tc.reason)
			}
			if tc.want == contract.DecisionDenied && (res.Message == "" || res.Text.English() != res.Message) {
				t.Fatalf("denial message %q, text %+v", res.Message, res.Text)
			}
			evs := e.events("login.begin")
			if len(evs) != 1 || evs[0].Outcome != tc.outcome || evs[0].Reason != string(tc.reason) {
				t.Fatalf("audited %+v, want one login.begin with outcome %q reason %q", evs, tc.outcome, tc.reason)
			}
		})
	}
}

// opState is op's state as an admin sees it, told with op's role.
func (e *env) opState(op contract.Operator) contract.OperatorState {
	e.t.Helper()
	res, err := e.p.GetOperatorStates(context.Background(), contract.GetOperatorStatesRequest{Operators: []contract.Operator{op}, Actor: admin})
	if err != nil || len(res.States) != 1 {
		e.t.Fatalf("GetOperatorStates(%s) = %+v, %v", op.ID, res, err)
	}
	return res.States[0]
}

// TestLockoutAfterWrongCodes: wrong codes up to the threshold lock the
// operator (one notice); then every login-page call is refused with a
// message naming whom to ask, the right code included; the help desk
// unlocks an agent but not an admin; after the unlock the right code
// works and the count is 0.
func TestLockoutAfterWrongCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{},
		map[string]string{"lockout_threshold": "3", "lockout_contact": "the IT desk (ext. 4321)"})
	alice := contract.Operator{ID: "1", Username: "alice", Role: contract.RoleAgent}
	root := contract.Operator{ID: "2", Username: "root", Role: contract.RoleAdmin}
	codes := e.setUp(ctx, alice)
	e.setUp(ctx, root)

	wantLogin(t, "wrong code 1", e.redeem(alice, "zzzzz-zzzzz"), contract.DecisionDenied, contract.LoginReasonCodeWrong)
	wantLogin(t, "malformed code 2", e.redeem(alice, "abc"), contract.DecisionDenied, contract.LoginReasonCodeMalformed)
	if st := e.opState(alice); st.FailedAttempts != 2 || st.Locked {
		t.Fatalf("after 2 failures: %+v", st)
	}
	third := e.redeem(alice, "yyyyy-yyyyy")
	wantLogin(t, "the failure that locks", third, contract.DecisionDenied, contract.LoginReasonLocked)
	if !strings.Contains(third.Message, "the IT desk (ext. 4321)") || third.Text.ID != contract.TextLockedContact {
		t.Fatalf("the locked message does not name the contact: %q %+v", third.Message, third.Text)
	}
	st := e.opState(alice)
	if !st.Locked || st.FailedAttempts != 3 || st.LockedAt.IsZero() || !st.LockedUntil.IsZero() || st.Requirement != contract.RequirementEnabled {
		t.Fatalf("after 3 failures: %+v", st)
	}
	locks := e.events("operator.locked")
	if len(locks) != 1 || locks[0].Notice != contract.NoticeOperatorLocked || locks[0].Outcome != "locked" {
		t.Fatalf("lock events: %+v", locks)
	}
	// Each failure was audited with its own reason.
	var reasons []string
	for _, ev := range e.events("login.code") {
		if ev.Outcome == "denied" {
			reasons = append(reasons, ev.Reason)
		}
	}
	if got := strings.Join(reasons, ","); got != "code_wrong,code_malformed,code_wrong" {
		t.Fatalf("denials audited as %s", got)
	}

	wantLogin(t, "the right code while locked", e.redeem(alice, codes[0]), contract.DecisionDenied, contract.LoginReasonLocked)
	if b := e.begin(ctx, alice); b.Decision != contract.DecisionDenied || b.Reason != contract.LoginReasonLocked {
		t.Fatalf("BeginLogin while locked = %+v", b)
	}
	res, err := e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: strings.Repeat("s", 30), CallbackState: strings.Repeat("s", 30), DuoCode: "x"})
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "CompleteLogin while locked", res, contract.DecisionDenied, contract.LoginReasonLocked)
	res, err = e.p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "RedeemRecoveryLink while locked", res, contract.DecisionDenied, contract.LoginReasonLocked)
	if st := e.opState(alice); st.FailedAttempts != 3 || st.BackupCodesLeft != 10 {
		t.Fatalf("refusals of a locked operator counted or spent: %+v", st)
	}

	// Unlock: the help desk for an agent, never for an admin.
	helpDesk := actor("7", contract.RoleHelpDesk)
	e.lockNow(root, 0)
	_, err = e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: root, Actor: helpDesk})
	if contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("help desk unlocking an admin: %v, want PERMISSION_DENIED", err)
	}
	_, err = e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: contract.Operator{ID: alice.ID, Username: alice.Username}, Actor: helpDesk})
	if contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("help desk unlocking an operator of no role said: %v, want PERMISSION_DENIED", err)
	}
	_, err = e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: alice, Actor: actor(alice.ID, contract.RoleAgent)})
	if contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("an agent unlocking themselves: %v, want PERMISSION_DENIED", err)
	}
	un, err := e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: alice, Actor: helpDesk})
	if err != nil || un.State.Locked || un.State.FailedAttempts != 0 || !un.State.LockedAt.IsZero() {
		t.Fatalf("UnlockOperator = %+v, %v", un, err)
	}
	unlocks := e.events("operator.unlocked")
	if len(unlocks) != 1 || unlocks[0].Notice != contract.NoticeOperatorUnlocked || unlocks[0].ActorID != helpDesk.ID {
		t.Fatalf("unlock events: %+v", unlocks)
	}
	// Again: not locked, still answered, audited without a notice.
	if un, err := e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: alice, Actor: admin}); err != nil || un.State.Locked {
		t.Fatalf("unlocking again = %+v, %v", un, err)
	}
	if unlocks := e.events("operator.unlocked"); len(unlocks) != 2 || unlocks[1].Notice != "" {
		t.Fatalf("unlock events: %+v", unlocks)
	}
	wantLogin(t, "the right code after the unlock", e.redeem(alice, codes[0]), contract.DecisionAllowed, "")
	if st := e.opState(alice); st.FailedAttempts != 0 || st.Locked {
		t.Fatalf("after unlock and the right code: %+v", st)
	}
	// A failure, then a success: the count is back to 0.
	wantLogin(t, "one wrong code", e.redeem(alice, "zzzzz-zzzzz"), contract.DecisionDenied, contract.LoginReasonCodeWrong)
	wantLogin(t, "then a right one", e.redeem(alice, codes[1]), contract.DecisionAllowed, "")
	if st := e.opState(alice); st.FailedAttempts != 0 {
		t.Fatalf("a success did not reset the count: %+v", st)
	}
	// An admin unlocks an admin.
	if un, err := e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: root, Actor: admin}); err != nil || un.State.Locked {
		t.Fatalf("admin unlocking an admin = %+v, %v", un, err)
	}
}

// TestTimedLockoutEndsByItself: with lockout_minutes, the lock ends at
// locked_at + the duration, without an unlock, and the message says until
// when.
func TestTimedLockoutEndsByItself(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{},
		map[string]string{"lockout_threshold": "3", "lockout_minutes": "15"})
	alice := contract.Operator{ID: "1", Username: "alice", Role: contract.RoleAgent}
	codes := e.setUp(ctx, alice)
	for range 2 {
		e.redeem(alice, "zzzzz-zzzzz")
	}
	last := e.redeem(alice, "zzzzz-zzzzz")
	wantLogin(t, "third failure", last, contract.DecisionDenied, contract.LoginReasonLocked)
	st := e.opState(alice)
	if !st.Locked || !st.LockedUntil.Equal(st.LockedAt.Add(15*time.Minute)) || last.Text.ID != contract.TextLockedUntil ||
		last.Text.Args["until"] != st.LockedUntil.UTC().Format("2006-01-02 15:04:05 UTC") {
		t.Fatalf("timed lock: %+v; message %+v", st, last.Text)
	}
	e.clk.Add(14 * time.Minute)
	wantLogin(t, "a minute before the end", e.redeem(alice, codes[0]), contract.DecisionDenied, contract.LoginReasonLocked)
	e.clk.Add(time.Minute)
	if st := e.opState(alice); st.Locked {
		t.Fatalf("still locked at locked_until: %+v", st)
	}
	wantLogin(t, "at the end", e.redeem(alice, codes[0]), contract.DecisionAllowed, "")
	if st := e.opState(alice); st.FailedAttempts != 0 || !st.LockedAt.IsZero() {
		t.Fatalf("after the lock ended and a success: %+v", st)
	}
}

// TestDuoRefusalsCount: Duo's deny, fraud and locked_out each count, with
// their own reasons; the third locks. State problems and a refused Duo
// code do not count.
func TestDuoRefusalsCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	e := newEnv(t, sim, settings.Runtime{}, map[string]string{"lockout_threshold": "3", "enforce_all": "true"})
	alice := contract.Operator{ID: "1", Username: "alice", Role: contract.RoleAgent} // toggle off: enforced

	// Not counted: a state mismatch, a replayed state.
	b := e.begin(ctx, alice)
	code := e.duoCode(b.RedirectURL)
	res, err := e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: b.State, CallbackState: b.State + "x", DuoCode: code})
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "state mismatch", res, contract.DecisionDenied, contract.LoginReasonStateMismatch)
	res, err = e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: b.State, CallbackState: b.State, DuoCode: code})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("the first allow = %+v", res)
	}
	res, err = e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: b.State, CallbackState: b.State, DuoCode: code})
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "replayed state", res, contract.DecisionDenied, contract.LoginReasonStateUsed)
	// Nor a recovery link that is not one (decided: links are not counted).
	res, err = e.p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: "not-a-token"})
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "unknown recovery link", res, contract.DecisionDenied, contract.LoginReasonLinkUnknown)
	if st := e.opState(alice); st.FailedAttempts != 0 || st.Requirement != contract.RequirementEnforcedAll {
		t.Fatalf("a state problem or a recovery link counted: %+v", st)
	}

	for _, tc := range []struct {
		outcome duosim.Outcome
		reason  contract.LoginReason
		text    contract.TextID
	}{
		{duosim.OutcomeDeny, contract.LoginReasonDuoDenied, contract.TextLoginDenied},
		{duosim.OutcomeLockedOut, contract.LoginReasonDuoLockedOut, contract.TextDuoLockedOut},
		{duosim.OutcomeFraud, contract.LoginReasonLocked, ""}, // the third failure locks
	} {
		sim.SetOutcome("alice", tc.outcome)
		res := e.duoLogin(ctx, alice)
		wantLogin(t, string(tc.outcome), res, contract.DecisionDenied, tc.reason)
		if tc.text != "" && res.Text.ID != tc.text {
			t.Fatalf("%s: text %s, want %s", tc.outcome, res.Text.ID, tc.text)
		}
	}
	var reasons []string
	for _, ev := range e.events("login.complete") {
		if ev.Outcome == "denied" {
			reasons = append(reasons, ev.Reason)
		}
	}
	if got := strings.Join(reasons, ","); got != "state_mismatch,state_already_used,duo_denied,duo_locked_out,duo_fraud" {
		t.Fatalf("denials audited as %s", got)
	}
	if st := e.opState(alice); !st.Locked || st.FailedAttempts != 3 || len(e.events("operator.locked")) != 1 {
		t.Fatalf("after three Duo refusals: %+v", st)
	}
	// Locked: Duo is not even asked, whatever it would say.
	sim.SetOutcome("alice", duosim.OutcomeAllow)
	if b := e.begin(ctx, alice); b.Decision != contract.DecisionDenied || b.Reason != contract.LoginReasonLocked {
		t.Fatalf("BeginLogin while locked = %+v", b)
	}
	if _, err := e.p.UnlockOperator(ctx, contract.UnlockOperatorRequest{Operator: alice, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	if r := e.login(ctx, alice); r == nil { // first Duo allow: backup codes shown and confirmed
		t.Fatal("no backup codes at the first allow")
	}
	if st := e.opState(alice); st.FailedAttempts != 0 || st.Locked {
		t.Fatalf("after Duo allowed: %+v", st)
	}
}

// TestConcurrentWrongCodesLockExactlyOnce: 20 wrong codes at once with
// the threshold at 10 lock once.
func TestConcurrentWrongCodesLockExactlyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"lockout_threshold": "10"})
	alice := contract.Operator{ID: "1", Username: "alice", Role: contract.RoleAgent}
	codes := e.setUp(ctx, alice)
	wrong, lockedOut := 0, 0
	for _, r := range atOnce(t, 20, func() (contract.CompleteLoginResponse, error) {
		return e.p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: "zzzzz-zzzzz"})
	}) {
		switch r.Reason {
		case contract.LoginReasonCodeWrong:
			wrong++
		case contract.LoginReasonLocked:
			lockedOut++
		default:
			t.Fatalf("unexpected answer %+v", r)
		}
	}
	// Nine answered "wrong"; the tenth locked and said so, as did the ten
	// refused after it.
	if wrong != 9 || lockedOut != 11 || len(e.events("operator.locked")) != 1 {
		t.Fatalf("%d wrong, %d locked, %d lock events; want 9, 11, 1", wrong, lockedOut, len(e.events("operator.locked")))
	}
	if st := e.opState(alice); !st.Locked || st.FailedAttempts != 10 {
		t.Fatalf("after 20 concurrent failures: %+v", st)
	}
	wantLogin(t, "right code", e.redeem(alice, codes[0]), contract.DecisionDenied, contract.LoginReasonLocked)
}

// TestEnforcedRedeemAndStates: a code works for an operator Duo is
// enforced for whose toggle is off, not for an exempt service account;
// the states tell the requirement from the role the host gives.
func TestEnforcedRedeemAndStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{},
		map[string]string{"enforce_role_admin": "true", "allow_service_account_exemption": "true"})
	root := contract.Operator{ID: "1", Username: "root", Role: contract.RoleAdmin}
	bot := contract.Operator{ID: "2", Username: "bot", Role: contract.RoleAdmin, ServiceAccount: true}
	bypass, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: root, OperatorRole: contract.RoleAdmin, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "bypass code of an enforced admin, toggle off", e.redeem(root, bypass.Code), contract.DecisionAllowed, "")
	botBypass, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: bot, OperatorRole: contract.RoleAdmin, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, "bypass code of an exempt service account", e.redeem(bot, botBypass.Code), contract.DecisionDenied, contract.LoginReasonNotEnabled)

	res, err := e.p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{"9"},
		Operators: []contract.Operator{root, bot, {ID: "3", Username: "ann", Role: contract.RoleAgent}}, Actor: admin})
	if err != nil || len(res.States) != 4 {
		t.Fatalf("GetOperatorStates = %+v, %v", res, err)
	}
	want := []struct {
		id  string
		req contract.Requirement
	}{{"9", contract.RequirementOff}, {"1", contract.RequirementEnforcedRole}, {"2", contract.RequirementExempt}, {"3", contract.RequirementOff}}
	for i, w := range want {
		if res.States[i].OperatorID != w.id || res.States[i].Requirement != w.req {
			t.Fatalf("state %d = %s %s, want %s %s", i, res.States[i].OperatorID, res.States[i].Requirement, w.id, w.req)
		}
	}
}

// TestSelfDisableRefusedWhileEnforced: no operator turns their own Duo off
// while Duo is enforced for them, even with allow_self_disable; an admin
// may still turn another's toggle off (the answer says Duo stays
// enforced).
func TestSelfDisableRefusedWhileEnforced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{},
		map[string]string{"allow_self_disable": "true", "enforce_role_agent": "true"})
	ann := contract.Operator{ID: "3", Username: "ann", Role: contract.RoleAgent}
	hal := contract.Operator{ID: "4", Username: "hal", Role: contract.RoleHelpDesk}
	e.enable(ann)
	e.enable(hal)
	self := func(op contract.Operator) error {
		_, err := e.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: op, Enabled: false, Actor: actor(op.ID, op.Role)})
		return err
	}
	err := self(ann)
	if contract.ReasonOf(err) != contract.ReasonPermission || !strings.Contains(err.Error(), "enforced") {
		t.Fatalf("an enforced agent turning their Duo off: %v, want PERMISSION_DENIED naming the enforcement", err)
	}
	if evs := e.events("permission.denied"); len(evs) != 1 || !strings.Contains(evs[0].Detail, "enforced") {
		t.Fatalf("refusal audited as %+v", evs)
	}
	e.login(ctx, hal) // a second factor within the last ten minutes
	if err := self(hal); err != nil {
		t.Fatalf("a help desk operator (not enforced) turning their Duo off: %v", err)
	}
	// An admin under enforce_all may not either.
	e2 := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"enforce_all": "true"})
	root := contract.Operator{ID: admin.ID, Username: "admin", Role: contract.RoleAdmin}
	e2.enable(root)
	if _, err := e2.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: root, Enabled: false, Actor: admin}); contract.ReasonOf(err) != contract.ReasonPermission {
		t.Fatalf("an admin turning their own Duo off under enforce_all: %v, want PERMISSION_DENIED", err)
	}
	e2.enable(ann)
	res, err := e2.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: ann, Enabled: false, Actor: admin})
	if err != nil || res.State.Enabled || res.State.Requirement != contract.RequirementEnforcedAll {
		t.Fatalf("an admin turning an agent's toggle off under enforce_all = %+v, %v", res, err)
	}
}

// TestEnforcedOperatorsClaimTheirDuoUsername: operators Duo is enforced
// for, whom the plugin has never stored, still hold their Duo username
// alone (the unique claim needs their row) and keep their backup codes.
func TestEnforcedOperatorsClaimTheirDuoUsername(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"enforce_all": "true"})
	first := contract.Operator{ID: "1", Username: "alice", Role: contract.RoleAgent}
	second := contract.Operator{ID: "2", Username: "ALICE", Role: contract.RoleAgent} // the same Duo username
	if b := e.begin(ctx, first); b.Decision != contract.DecisionRedirect {
		t.Fatalf("first = %+v", b)
	}
	if b := e.begin(ctx, second); b.Decision != contract.DecisionDenied || b.Reason != contract.LoginReasonDuoUsernameTaken {
		t.Fatalf("another operator with the same Duo username = %+v, want DENIED %s", b, contract.LoginReasonDuoUsernameTaken)
	}
	if codes := e.login(ctx, first); len(codes) == 0 {
		t.Fatal("no backup codes at the first allow")
	}
	if st := e.opState(first); st.Enabled || st.BackupCodesLeft == 0 || st.EnrolledAt.IsZero() || st.Requirement != contract.RequirementEnforcedAll {
		t.Fatalf("enforced operator after the first sign-in: %+v", st)
	}
}
