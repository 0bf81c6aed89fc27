package trust

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// journey collects what a login journey handled: the secrets that must
// appear nowhere, and every message the plugin wrote for a person.
type journey struct {
	t        *testing.T
	secrets  []string
	messages []string
}

// secret records values that must never be logged, audited, put in a
// message or stored in the clear; a code in every form an operator may
// type it.
func (j *journey) secret(values ...string) {
	j.t.Helper()
	for _, v := range values {
		if len(v) < 8 {
			j.t.Fatalf("a secret of %d characters to look for: too short to prove anything", len(v))
		}
		bare := strings.ReplaceAll(v, "-", "")
		j.secrets = append(j.secrets, v, bare, strings.ToUpper(v), strings.ToLower(bare))
	}
}

func (j *journey) said(msgs ...string) { j.messages = append(j.messages, msgs...) }

// err records a refusal's text and returns it.
func (j *journey) err(err error) error {
	if err != nil {
		j.said(err.Error())
	}
	return err
}

// leaks returns the secrets (described by position, never printed) that
// text holds.
func (j *journey) leaks(text string) []string {
	var out []string
	for i, s := range j.secrets {
		if strings.Contains(text, s) {
			out = append(out, fmt.Sprintf("secret #%d (%d characters)", i, len(s)))
		}
	}
	return out
}

// Case 22: a login journey at debug log level, with every kind of secret
// it handles (the client secret, Duo's state and duo_code, backup codes,
// their ticket, a wrongly typed code, a bypass code, a recovery link's
// token): settings saved and checked with Duo, a first Duo login with its
// backup codes, a Duo deny, a backup-code login, a wrong code, new codes,
// a bypass code, a recovery link used and used again, Duo again after the
// reset, a replayed callback, a refused call. None of the secrets is in
// the host's log (the SDK's lines and the plugin's, forwarded at debug
// level), in any audit row, in any message or error the plugin answered,
// or in the database's bytes on disk.
func TestCase22NoSecretInLogsAuditMessagesOrDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	j := &journey{t: t}
	j.secret(e.sim.Apps()[0].ClientSecret.Reveal())
	ctx := ctxT(t)

	duo := func(want contract.LoginDecision) contract.CompleteLoginResponse {
		t.Helper()
		b := e.redirect(alice)
		q := e.browser(b.RedirectURL)
		j.secret(b.State, q.Get("state"), q.Get("duo_code"))
		res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
		j.said(res.Message)
		if res.Decision != want {
			t.Fatalf("Duo login = %+v, want %v", res, want)
		}
		if res.Decision == contract.DecisionConfirmBackupCodes {
			j.secret(res.BackupCodesTicket)
			j.secret(res.BackupCodes...)
			if c := e.confirm(alice, res.BackupCodesTicket); c.Decision != contract.DecisionAllowed {
				t.Fatalf("confirm = %+v", c)
			}
		}
		return res
	}
	redeem := func(code string, want contract.LoginDecision) {
		t.Helper()
		res := e.redeem(alice, code)
		j.said(res.Message)
		if res.Decision != want {
			t.Fatalf("RedeemCode = %+v, want %v", res, want)
		}
	}

	codes := duo(contract.DecisionConfirmBackupCodes).BackupCodes

	e.sim.SetOutcome(alice.Username, duosim.OutcomeDeny)
	duo(contract.DecisionDenied)
	e.sim.ClearOutcome(alice.Username)

	redeem(codes[0], contract.DecisionAllowed)
	// A wrong code: one of her own codes mistyped (two characters
	// swapped), as likely as not a real code's neighbour.
	c := []byte(strings.ReplaceAll(codes[1], "-", ""))
	c[0], c[len(c)-1] = c[len(c)-1], c[0]
	if c[0] == c[len(c)-1] {
		c[0], c[1] = c[1], c[0]
	}
	wrong := string(c)
	j.secret(wrong)
	redeem(wrong, contract.DecisionDenied)

	duo(contract.DecisionAllowed)
	regen, err := e.regenerate(alice, self(alice))
	if err != nil {
		t.Fatal(err)
	}
	j.secret(regen.BackupCodes...)
	j.err(func() error { _, err := e.regenerate(alice, admin); return err }()) // refused: not hers

	issued, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	j.secret(issued.Code)
	redeem(issued.Code, contract.DecisionAllowed)
	redeem(issued.Code, contract.DecisionDenied)

	link, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: alice, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	j.secret(link.Token)
	for _, want := range []contract.LoginDecision{contract.DecisionAllowed, contract.DecisionDenied} {
		res, err := e.p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: link.Token, Client: client})
		if j.err(err) != nil || res.Decision != want {
			t.Fatalf("RedeemRecoveryLink = %+v, %v; want %v", res, err, want)
		}
		j.said(res.Message)
	}
	// After the reset Duo sets her codes up again.
	duo(contract.DecisionConfirmBackupCodes)

	// A replayed callback and a malformed code: refusals with messages.
	b := e.redirect(alice)
	q := e.browser(b.RedirectURL)
	j.secret(b.State, q.Get("duo_code"))
	for range 2 {
		res := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
		j.said(res.Message)
	}
	r, err := e.p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: "not a code: " + link.Token, Client: client})
	j.err(err)
	j.said(r.Message)

	// The audit log, every row and field, as the host reads it.
	evs, err := e.p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Actor: admin, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Events) < 20 || evs.NextPageToken != "" {
		t.Fatalf("%d audit events (more pages: %v): the journey should have written one page of at least 20", len(evs.Events), evs.NextPageToken != "")
	}
	for _, ev := range evs.Events {
		if l := j.leaks(fmt.Sprintf("%#v", ev)); l != nil {
			t.Fatalf("audit event %d (%s %s) holds %v", ev.ID, ev.Kind, ev.Outcome, l)
		}
	}
	// The export too: it is the log as a file.
	var export bytes.Buffer
	err = e.p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Actor: admin, Format: contract.ExportJSONLines},
		func(c contract.ExportChunk) error { _, err := export.Write(c.Data); return err })
	if err != nil {
		t.Fatal(err)
	}
	if l := j.leaks(export.String()); export.Len() == 0 || l != nil {
		t.Fatalf("the export (%d bytes) holds %v", export.Len(), l)
	}

	// Every message and error the plugin answered.
	if len(j.messages) < 8 {
		t.Fatalf("only %d messages collected", len(j.messages))
	}
	for _, m := range j.messages {
		if l := j.leaks(m); l != nil {
			t.Fatalf("a message for a person holds %v", l)
		}
	}

	// The database's bytes, and then the logs, once the plugin is gone.
	for name, b := range e.rawFiles(alice.Username) {
		if l := j.leaks(string(b)); l != nil {
			t.Fatalf("%s holds %v in the clear", name, l)
		}
	}
	logs := e.closeAndCheckLogs(j.secrets...)
	if !testlog.Logged(logs, func(r testlog.Record) bool { return r.Module == testlog.PluginLogName && r.Level == "DEBUG" }) {
		t.Fatal("no debug line of the plugin's in the host's log: the journey did not run at debug level")
	}
	t.Logf("%d secrets looked for in %d bytes of log, %d audit events, %d messages", len(j.secrets), len(logs), len(evs.Events), len(j.messages))
}
