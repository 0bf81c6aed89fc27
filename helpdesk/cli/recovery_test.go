package cli_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func TestMain(m *testing.M) {
	// Build the plugin before any test's clock runs; a build error is
	// reported by every test that needs the plugin (pluginbuild.ForTest).
	_ = pluginbuild.Prepare()
	code := m.Run()
	pluginbuild.Cleanup()
	os.Exit(code)
}

// The only admin lost their phone and their backup codes: from the
// server's shell, `plugins recovery-link` issues a link through the real
// plugin, on the data of a running helpdesk, mails it (to the outbox here)
// and prints it; the plugin records who did it.
func TestRecoveryLinkFromTheShell(t *testing.T) {
	t.Setenv("USER", "root-on-server")
	for _, k := range []string{"HELPDESK_SMTP_ADDR", "HELPDESK_SMTP_FROM", "HELPDESK_SMTP_USERNAME", "HELPDESK_SMTP_PASSWORD", "HELPDESK_SMTP_STARTTLS"} {
		t.Setenv(k, "")
	}
	ctx := t.Context()
	dir := t.TempDir()
	manifest := pluginbuild.ForTest(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, app.Config{
		Addr: "127.0.0.1:0", DataDir: dir, PluginDir: filepath.Dir(manifest), Logger: quiet,
		Getenv: func(string) string { return "" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	admin := contract.Actor{ID: "test", Username: "test", Role: contract.RoleAdmin}
	if _, err := a.Plugins().Activate(ctx, admin); err != nil {
		t.Fatal(err)
	}
	op, err := a.Store().CreateOperator(ctx, store.NewOperator{Username: "ada", Email: "ada@example.com", Role: store.RoleAdmin, PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := run(t, "", "plugins", "recovery-link", "-data-dir", dir, "-username", "ada", "-base-url", "https://helpdesk.example.com")
	if code != 0 || !strings.Contains(out, "Mailed to ada@example.com") || !strings.Contains(out, "https://helpdesk.example.com/recover?token=") {
		t.Fatalf("recovery-link: %d\n%s\n%s", code, out, errOut)
	}
	mails, err := a.Store().ListOutbox(ctx, 10)
	if err != nil || len(mails) != 1 || mails[0].To != "ada@example.com" || !strings.Contains(mails[0].Text, "/recover?token=") {
		t.Fatalf("outbox = %+v, %v", mails, err)
	}
	// The link printed is the one mailed.
	printed := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if !strings.HasPrefix(printed, "https://helpdesk.example.com/recover?token=") || !strings.Contains(mails[0].Text, "\n"+printed+"\n") {
		t.Fatalf("printed link %q is not the mailed one:\n%s", printed, mails[0].Text)
	}

	// The running helpdesk's plugin sees the link and who issued it.
	p, err := a.Plugins().Plugin()
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	notices, err := p.ListNotices(cctx, contract.ListNoticesRequest{Limit: 100, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range notices.Notices {
		if n.Kind == contract.NoticeRecoveryLinkCreated && n.OperatorID == strconv.FormatInt(op.ID, 10) && strings.Contains(n.Actor, "root-on-server") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no recovery_link_created notice by the shell user in %+v", notices.Notices)
	}

	// A mail configuration error does not stop the link: it is printed,
	// with a note saying why it was not mailed.
	t.Setenv("HELPDESK_SMTP_ADDR", "smtp.example.com:587")
	t.Setenv("HELPDESK_SMTP_FROM", "helpdesk@example.com")
	t.Setenv("HELPDESK_SMTP_STARTTLS", "requried")
	code, out, errOut = run(t, "", "plugins", "recovery-link", "-data-dir", dir, "-username", "ada", "-base-url", "https://helpdesk.example.com")
	if code != 0 || strings.Contains(out, "Mailed") || !strings.Contains(out, "https://helpdesk.example.com/recover?token=") ||
		!strings.Contains(errOut, "HELPDESK_SMTP_STARTTLS") || !strings.Contains(errOut, "give it to them yourself") {
		t.Fatalf("recovery-link with a mail configuration error: %d\n%s\n%s", code, out, errOut)
	}
	if mails, err := a.Store().ListOutbox(ctx, 10); err != nil || len(mails) != 1 {
		t.Fatalf("outbox after the unmailed link = %+v, %v; want the first mail only", mails, err)
	}
	t.Setenv("HELPDESK_SMTP_ADDR", "")
	t.Setenv("HELPDESK_SMTP_FROM", "")
	t.Setenv("HELPDESK_SMTP_STARTTLS", "")

	// Unknown operators and an inactive plugin are refused clearly.
	if code, _, errOut := run(t, "", "plugins", "recovery-link", "-data-dir", dir, "-username", "nobody"); code == 0 || !strings.Contains(errOut, "nobody") {
		t.Fatalf("unknown operator: %d %q", code, errOut)
	}
	if err := a.Plugins().Deactivate(ctx, admin); err != nil && !strings.Contains(err.Error(), host.ErrUnavailable.Error()) {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "", "plugins", "recovery-link", "-data-dir", dir, "-username", "ada"); code == 0 || !strings.Contains(errOut, "not installed and active") {
		t.Fatalf("inactive plugin: %d %q", code, errOut)
	}
}
