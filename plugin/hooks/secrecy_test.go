package hooks

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// secretForms are the ways a code or token could leak: as shown, as
// typed, without its dash, in upper case, and every 8-character piece of
// it (shorter pieces turn up by chance in any few kilobytes of text).
func secretForms(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		bare := strings.ReplaceAll(s, "-", "")
		out = append(out, s, bare, strings.ToUpper(bare))
		for i := 0; i+8 <= len(bare); i++ {
			out = append(out, bare[i:i+8])
		}
	}
	return out
}

// TestNothingUsableIsStoredOrLogged: after every kind of code, token and
// ticket went through the plugin, neither the database files nor the log
// hold any of them; and a copy of the database with another key file
// signs no one in, where the same copy with the real key file does.
func TestNothingUsableIsStoredOrLogged(t *testing.T) {
	t.Parallel()
	logs := &testlog.Buffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace, JSONFormat: true})
	e := newEnvLogged(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil, logger)
	ctx := context.Background()
	alice := contract.Operator{ID: "10", Username: "alice"}
	e.enable(alice)

	var secrets []string
	// A set shown and never confirmed, then the confirmed one.
	unconfirmed := e.duoLogin(ctx, alice)
	secrets = append(secrets, unconfirmed.BackupCodes...)
	secrets = append(secrets, unconfirmed.BackupCodesTicket)
	shown := e.duoLogin(ctx, alice)
	secrets = append(secrets, shown.BackupCodes...)
	secrets = append(secrets, shown.BackupCodesTicket)
	if res, err := e.p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: alice, Ticket: shown.BackupCodesTicket}); err != nil || res.Decision != contract.DecisionAllowed {
		t.Fatalf("confirm: %+v, %v", res, err)
	}
	wantLogin(t, "a backup code", e.redeem(alice, shown.BackupCodes[0]), contract.DecisionAllowed, "")
	wantLogin(t, "a wrong code", e.redeem(alice, "abcde-fghjk"), contract.DecisionDenied, contract.LoginReasonCodeWrong)
	regen, err := e.p.RegenerateBackupCodes(ctx, contract.RegenerateBackupCodesRequest{Operator: alice, Actor: actor(alice.ID, contract.RoleAgent)})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, regen.BackupCodes...)
	var bypassCodes []string
	for range 3 {
		b, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Uses: 2, Actor: admin})
		if err != nil {
			t.Fatal(err)
		}
		bypassCodes = append(bypassCodes, b.Code)
	}
	secrets = append(secrets, bypassCodes...)
	wantLogin(t, "a bypass code", e.redeem(alice, bypassCodes[0]), contract.DecisionAllowed, "")
	link, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: alice, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	spent, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: alice, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, link.Token, spent.Token)

	if res, err := e.p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: spent.Token}); err != nil || res.Decision != contract.DecisionAllowed {
		t.Fatalf("recovery link: %+v, %v", res, err)
	}
	// The reset deleted every backup code and revoked every bypass code:
	// the copy is taken once alice has live ones again, or trying them
	// would prove nothing.
	again := e.duoLogin(ctx, alice)
	if again.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("Duo login after the reset = %+v, want CONFIRM_BACKUP_CODES", again)
	}
	secrets = append(secrets, again.BackupCodes...)
	secrets = append(secrets, again.BackupCodesTicket)
	if res, err := e.p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: alice, Ticket: again.BackupCodesTicket}); err != nil || res.Decision != contract.DecisionAllowed {
		t.Fatalf("confirm after the reset: %+v, %v", res, err)
	}
	live, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Uses: 2, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, live.Code)

	var dir string
	if err := e.p.withActive(ctx, func(a *activeState) error { dir = a.dataDir; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil { // checkpoints the WAL into duo.db
		t.Fatal(err)
	}

	// The thief's copy holds every file of the database, not the key; the
	// control copy holds the key too.
	stolen, control := filepath.Join(t.TempDir(), "stolen"), filepath.Join(t.TempDir(), "control")
	for _, d := range []string{stolen, control} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	dump := []byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		data, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		copies := []string{control}
		if en.Name() != KeyFile {
			dump = append(dump, data...)
			copies = append(copies, stolen)
		}
		for _, d := range copies {
			if err := os.WriteFile(filepath.Join(d, en.Name()), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(dump) < 4096 {
		t.Fatalf("the database files hold %d bytes: nothing to check", len(dump))
	}
	lower := bytes.ToLower(dump)
	log := strings.ToLower(logs.String())
	if !strings.Contains(log, "backup codes confirmed") {
		t.Fatalf("the plugin logged nothing of the recovery calls: the log check would prove nothing:\n%s", log)
	}
	for _, s := range secretForms(secrets) {
		if bytes.Contains(lower, []byte(strings.ToLower(s))) {
			t.Fatalf("the database holds a code or token (or a piece of one)")
		}
		if strings.Contains(log, strings.ToLower(s)) {
			t.Fatalf("the log holds a code or token (or a piece of one)")
		}
	}

	// The stolen copy, opened with another key file (the thief does not
	// have secrets.key), signs no one in with the real codes and link; the
	// control copy, with the real key, does: the same attempts can fail.
	db, err := sql.Open("sqlite", sqlitedb.DSN(filepath.Join(stolen, store.DBFile), "FULL"))
	if err != nil {
		t.Fatal(err)
	}
	// The client secret is sealed with the real key: without it the copy
	// cannot even load the settings, so the thief drops it.
	if _, err := db.ExecContext(ctx, `DELETE FROM secrets`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	attempt := func(dataDir string) (codeResults []contract.CompleteLoginResponse, linkResult contract.CompleteLoginResponse) {
		t.Helper()
		p := New(Config{Store: store.SQLiteBackend{}, Now: e.clk.Now})
		if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: dataDir, Actor: admin}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
				t.Error(err)
			}
		}()
		for _, c := range append(again.BackupCodes[:3:3], live.Code) {
			res, err := p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: c})
			if err != nil {
				t.Fatal(err)
			}
			codeResults = append(codeResults, res)
		}
		linkResult, err := p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: link.Token})
		if err != nil {
			t.Fatal(err)
		}
		return codeResults, linkResult
	}
	thiefCodes, thiefLink := attempt(stolen)
	for _, res := range thiefCodes {
		wantLogin(t, "a real code against the copy with another key", res, contract.DecisionDenied, contract.LoginReasonCodeWrong)
	}
	wantLogin(t, "a real recovery link against the copy with another key", thiefLink, contract.DecisionDenied, contract.LoginReasonLinkUnknown)
	controlCodes, controlLink := attempt(control)
	for _, res := range controlCodes {
		wantLogin(t, "a real code against the copy with the real key", res, contract.DecisionAllowed, "")
	}
	// The link was spent by the reset: the real key finds it, used.
	wantLogin(t, "a real recovery link against the copy with the real key", controlLink, contract.DecisionDenied, contract.LoginReasonLinkUsed)
}
