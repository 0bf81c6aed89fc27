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
// signs no one in.
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

	var dir string
	_ = e.p.withActive(func(a *activeState) error { dir = a.dataDir; return nil })
	copyDir := filepath.Join(t.TempDir(), "stolen")
	if err := os.MkdirAll(copyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.p.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: spent.Token}); res.Decision != contract.DecisionAllowed {
		t.Fatalf("recovery link: %+v", res)
	}
	if _, err := e.p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil { // checkpoints the WAL into duo.db
		t.Fatal(err)
	}

	dump := []byte{}
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if en.Name() == KeyFile {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dump = append(dump, data...)
		// The thief's copy: every file of the database, not the key.
		if strings.HasPrefix(en.Name(), store.DBFile) {
			if err := os.WriteFile(filepath.Join(copyDir, en.Name()), data, 0o600); err != nil {
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
	// have secrets.key), signs no one in with the real codes.
	db, err := sql.Open("sqlite", sqlitedb.DSN(filepath.Join(copyDir, store.DBFile), "FULL"))
	if err != nil {
		t.Fatal(err)
	}
	// The client secret is sealed with the real key: without it the copy
	// cannot even load the settings, so the thief drops it.
	if _, err := db.ExecContext(ctx, `DELETE FROM secrets`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	thief := New(Config{Store: store.SQLiteBackend{}, Now: e.clk.Now})
	if _, err := thief.Activate(ctx, contract.ActivateRequest{DataDir: copyDir, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = thief.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}) }()
	for _, c := range append(regen.BackupCodes[:3], bypassCodes[1:]...) {
		res, err := thief.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: c})
		if err != nil || res.Decision != contract.DecisionDenied || res.Reason != contract.LoginReasonCodeWrong {
			t.Fatalf("a real code against the copy with another key = %+v, %v; want DENIED code_wrong", res, err)
		}
	}
	res, err := thief.RedeemRecoveryLink(ctx, contract.RedeemRecoveryLinkRequest{Operator: alice, Token: link.Token})
	if err != nil || res.Reason != contract.LoginReasonLinkUnknown {
		t.Fatalf("a real recovery link against the copy = %+v, %v; want DENIED recovery_link_unknown", res, err)
	}
}
