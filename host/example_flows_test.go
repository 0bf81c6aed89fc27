package host_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// These examples run the real plugin against the Duo simulator
// (example_support_test.go); their output is what the plugin answers.

// An admin activates the plugin. The host writes its own record first
// (Options.Activation reads it, so a plugin restarted later comes back
// active) and reverts it if the plugin refuses. The callback URL is the
// host's Duo callback, https (or http on loopback), at most 256
// characters.
func ExamplePlugin_Activate() {
	ctx := context.Background()
	env := newExampleEnv(false) // host.Start as in ExampleStart; the host's record says "inactive"
	defer env.close()
	p := env.plugin

	env.active.Store(true) // 1. the host's record
	res, err := p.Activate(ctx, contract.ActivateRequest{
		Host:        contract.HostInfo{Name: "Acme Helpdesk", Version: "1.4.0"},
		CallbackURL: "https://helpdesk.example.com/login/duo/callback",
		DataDir:     env.dataDir, // the plugin's own directory, kept across restarts and upgrades
		Actor:       exampleAdmin,
	})
	if err != nil {
		env.active.Store(false) // 2. revert the record: the plugin refused
		fmt.Println("activation refused:", contract.ReasonOf(err))
		return
	}
	fmt.Println("active:", res.Status.Active, "configured:", res.Status.Configured)

	// Settings, operators and logins are served only while active; the
	// next step is the admin's Settings page (UpdateSettings).
	_, err = p.Activate(ctx, contract.ActivateRequest{CallbackURL: "https://helpdesk.example.com/login/duo/callback",
		DataDir: "/somewhere/else", Actor: exampleAdmin})
	fmt.Println("again with another data dir:", contract.ReasonOf(err))
	// Output:
	// active: true configured: false
	// again with another data dir: DATA_DIR_MISMATCH
}

// An operator's first sign-in with Duo: instead of DecisionAllowed,
// CompleteLogin answers DecisionConfirmBackupCodes with the operator's
// first backup codes and a ticket. Show the codes once (never store or
// log them), keep only the ticket in the pre-auth session, and sign the
// operator in when ConfirmBackupCodes answers DecisionAllowed. A host
// that does not handle the decision denies, which is safe but locks its
// operators out after Duo approved them.
func ExamplePlugin_ConfirmBackupCodes() {
	ctx := context.Background()
	env := newExampleEnv(true) // active, Duo on for alice
	defer env.close()
	p := env.plugin

	done := env.signInWithDuo(ctx, exampleAlice) // BeginLogin, Duo, CompleteLogin
	switch done.Decision {
	case contract.DecisionAllowed:
		fmt.Println("signed in")
	case contract.DecisionConfirmBackupCodes:
		fmt.Printf("show %d backup codes once; keep the ticket in the session\n", len(done.BackupCodes))
		ticket := done.BackupCodesTicket // the session's copy

		// The operator ticks "I have saved these codes" and submits.
		ok, err := p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: exampleAlice, Ticket: ticket, Client: exampleClient})
		if err != nil || ok.Decision != contract.DecisionAllowed {
			fmt.Println("refused:", ok.Reason, contract.ReasonOf(err))
			return
		}
		fmt.Println("confirmed: signed in")

		// A ticket is good once.
		again, err := p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: exampleAlice, Ticket: ticket, Client: exampleClient})
		fmt.Println("the same ticket again:", again.Decision, again.Reason, err)
	default:
		fmt.Println("refused:", done.Reason)
	}
	// Output:
	// show 10 backup codes once; keep the ticket in the session
	// confirmed: signed in
	// the same ticket again: denied ticket_unknown <nil>
}

// An operator without their phone types a backup code (or a bypass code
// from the help desk) instead of going to Duo, in the sign-in whose
// password the host checked. Spaces, dashes and case are forgiven; each
// code works once; wrong codes count towards the lockout.
func ExamplePlugin_RedeemCode() {
	ctx := context.Background()
	env := newExampleEnv(true)
	defer env.close()
	p := env.plugin
	codes := env.firstSignIn(ctx, exampleAlice) // the codes alice saved at her first sign-in

	for _, typed := range []string{codes[0], codes[0], "not a code", "22222-22222"} {
		res, err := p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: exampleAlice, Code: typed, Client: exampleClient})
		switch {
		case err != nil:
			fmt.Println("refused: the plugin cannot answer")
		case res.Decision == contract.DecisionAllowed:
			fmt.Println("signed in with a code")
		case res.Decision == contract.DecisionConfirmBackupCodes:
			fmt.Println("signed in once the new backup codes are confirmed") // as after CompleteLogin
		default:
			fmt.Printf("refused (%s): %s\n", res.Reason, res.Message)
		}
	}
	// Output:
	// signed in with a code
	// refused (code_used): That code did not work. Check it and try again, or contact your administrator.
	// refused (code_malformed): That does not look like a backup code or a bypass code. Check what you typed and try again.
	// refused (code_wrong): That code did not work. Check it and try again, or contact your administrator.
}

// The help desk issues a bypass code for an operator who lost their
// phone, after checking who is calling; it is shown once, read out, and
// listed afterwards without the code. The help desk acts on agents only
// (the host says the target's role in OperatorRole); nobody issues one
// for themselves.
func ExamplePlugin_IssueBypassCode() {
	ctx := context.Background()
	env := newExampleEnv(true)
	defer env.close()
	p := env.plugin

	issued, err := p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: exampleAlice, OperatorRole: contract.RoleAgent, Actor: exampleHelpDesk})
	if err != nil {
		fmt.Println("not issued:", contract.ReasonOf(err))
		return
	}
	fmt.Printf("read out the code (%d characters), good for %d use\n", len(issued.Code), issued.BypassCode.UsesLeft)

	admin := contract.Operator{ID: "1", Username: "admin", Email: "admin@example.com", Role: contract.RoleAdmin}
	_, err = p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: admin, OperatorRole: contract.RoleAdmin, Actor: exampleHelpDesk})
	fmt.Println("the help desk, for an admin:", contract.ReasonOf(err))

	list, _ := p.ListBypassCodes(ctx, contract.ListBypassCodesRequest{OperatorID: exampleAlice.ID, Actor: exampleHelpDesk})
	fmt.Println("listed:", len(list.BypassCodes), "issued by", list.BypassCodes[0].IssuedBy)

	revoked, err := p.RevokeBypassCode(ctx, contract.RevokeBypassCodeRequest{OperatorID: exampleAlice.ID, ID: issued.BypassCode.ID, Actor: exampleHelpDesk})
	fmt.Println("revoked:", err == nil && !revoked.BypassCode.RevokedAt.IsZero())
	res, _ := p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: exampleAlice, Code: issued.Code, Client: exampleClient})
	fmt.Println("the revoked code:", res.Decision, res.Reason)
	// Output:
	// read out the code (11 characters), good for 1 use
	// the help desk, for an admin: PERMISSION_DENIED
	// listed: 1 issued by hannah
	// revoked: true
	// the revoked code: denied code_revoked
}

// For a lost phone and lost backup codes, an admin sends a recovery link:
// the token goes into a link to the host's own page, mailed to the
// operator (never shown to the admin's browser if it can be helped). The
// operator opens it, gives their password, and is signed in once; their
// second factor is reset, so the next sign-in sets Duo up again.
func ExamplePlugin_CreateRecoveryLink() {
	ctx := context.Background()
	env := newExampleEnv(true)
	defer env.close()
	p := env.plugin
	env.firstSignIn(ctx, exampleAlice)

	created, err := p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: exampleAlice, Actor: exampleAdmin})
	if err != nil {
		fmt.Println("no link:", contract.ReasonOf(err))
		return
	}
	link := "https://helpdesk.example.com/recover?" + url.Values{"token": {created.Token}}.Encode()
	fmt.Println("mail alice a link to", link[:len("https://helpdesk.example.com/recover")])

	// alice opens the link and gives her password: the host calls
	// RedeemRecoveryLink as it would CompleteLogin.
	for range 2 {
		res, err := p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: exampleAlice, Token: created.Token, Client: exampleClient})
		if err != nil || res.Decision != contract.DecisionAllowed {
			fmt.Println("refused:", res.Reason)
			continue
		}
		fmt.Println("signed in; Duo is set up again at the next sign-in")
	}
	// Output:
	// mail alice a link to https://helpdesk.example.com/recover
	// signed in; Duo is set up again at the next sign-in
	// refused: recovery_link_used
}

// An operator makes a new set of backup codes from their account page.
// The plugin allows it only within 10 minutes of a sign-in with Duo
// itself (not a code): otherwise it answers REAUTHENTICATE, and the host
// sends the operator through Duo again (sign out and in) before offering
// it. The actor is the operator.
func ExamplePlugin_RegenerateBackupCodes() {
	ctx := context.Background()
	env := newExampleEnv(true)
	defer env.close()
	p := env.plugin
	self := contract.Actor{ID: exampleAlice.ID, Username: exampleAlice.Username, Role: contract.RoleAgent}

	regenerate := func() {
		res, err := p.RegenerateBackupCodes(ctx, contract.RegenerateBackupCodesRequest{Operator: exampleAlice, Actor: self})
		switch contract.ReasonOf(err) {
		case "":
			fmt.Printf("show %d new codes once; the old ones no longer work\n", len(res.BackupCodes))
		case contract.ReasonReauthenticate:
			fmt.Println("sign in with Duo again first")
		case contract.ReasonNoBackupCodes:
			fmt.Println("no codes yet: the first come with the first sign-in with Duo")
		default:
			fmt.Println("refused:", contract.ReasonOf(err))
		}
	}
	regenerate()                                // alice never signed in with Duo
	codes := env.firstSignIn(ctx, exampleAlice) // now she has
	regenerate()
	res, _ := p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: exampleAlice, Code: codes[0], Client: exampleClient})
	fmt.Println("an old code:", res.Decision, res.Reason)
	// Output:
	// sign in with Duo again first
	// show 10 new codes once; the old ones no longer work
	// an old code: denied code_wrong
}

// Supervision: the host watches the plugin's phase (for its status page
// and alerts) with Options.OnStateChange or State, and every call made while the
// plugin is not running fails at once with an error matching
// host.ErrUnavailable: a login that needs Duo is then refused, never let
// through on the password alone.
func ExamplePlugin_State() {
	ctx := context.Background()
	env := newExampleEnv(true)
	p := env.plugin
	fmt.Println("phase:", p.State().Phase)

	env.close() // the plugin is closed (a crash that was given up on reads the same)
	fmt.Println("phase:", p.State().Phase)

	// Options.OnStateChange saw every phase, in order (newExampleEnv's
	// sends each State to env.states).
	for closed := false; !closed; {
		select {
		case s := <-env.states:
			fmt.Println("OnStateChange:", s.Phase)
			closed = s.Phase == host.PhaseClosed
		case <-time.After(10 * time.Second):
			fmt.Println("OnStateChange: no closed phase")
			closed = true
		}
	}

	_, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: exampleAlice, Client: exampleClient})
	switch {
	case errors.Is(err, host.ErrUnavailable):
		fmt.Println("sign-in refused: two-factor authentication is unavailable", contract.ReasonOf(err))
	case err != nil:
		fmt.Println("sign-in refused:", contract.ReasonOf(err))
	}
	// Output:
	// phase: running
	// phase: closed
	// OnStateChange: starting
	// OnStateChange: running
	// OnStateChange: closed
	// sign-in refused: two-factor authentication is unavailable PLUGIN_UNAVAILABLE
}
