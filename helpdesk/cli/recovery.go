package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// recoveryLinkCmd issues a recovery link from the server's shell, for an
// operator no admin can help (the only admin, locked out). It starts the
// installed plugin on the same data directory (SQLite lets it share the
// database with a running helpdesk); the plugin audits the link under the
// shell user's name.
func recoveryLinkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plugins recovery-link", stderr)
	dataDir := fs.String("data-dir", env("HELPDESK_DATA_DIR", ""), "the helpdesk's data directory")
	username := fs.String("username", "", "the operator who lost their second factor")
	baseURL := fs.String("base-url", env("HELPDESK_BASE_URL", app.BaseURLFor(env("HELPDESK_ADDR", "127.0.0.1:8080"))), "the helpdesk's external URL, for the link")
	db := addDatabaseFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *username == "" {
		fmt.Fprintln(stderr, "helpdesk plugins recovery-link: -username is required")
		return errUsage
	}
	base, err := url.Parse(*baseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("-base-url %q must be an absolute http(s) URL", *baseURL)
	}
	// A mail configuration error does not stop the link, which is printed
	// anyway: it is reported where the mail would have gone.
	mailCfg, mailErr := app.MailFromEnv(os.Getenv)
	st, err := openStore(ctx, *dataDir, db.url())
	if err != nil {
		return err
	}
	defer st.Close()
	rec, err := st.Plugin(ctx, plugins.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!rec.Installed || !rec.Active)) {
		return errors.New("the Duo Security plugin is not installed and active in this helpdesk, so no second factor needs recovering")
	}
	if err != nil {
		return err
	}
	op, err := st.OperatorByUsername(ctx, *username)
	if err != nil {
		return fmt.Errorf("operator %q: %w", *username, err)
	}
	if op.Email == "" {
		fmt.Fprintf(stderr, "note: %s has no e-mail address; give them the link yourself.\n", op.Username)
	}

	by := "shell"
	if u := os.Getenv("USER"); u != "" {
		by = "shell user " + u
	}
	actor := contract.Actor{ID: "shell", Username: by + " (plugins recovery-link)", Role: contract.RoleSystem}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	p, err := host.Start(sctx, host.Options{
		ManifestPath: filepath.Join(rec.BundleDir, plugins.ManifestFile),
		HostVersion:  app.Version,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Env:          app.PluginDatabaseEnv(db.url(), nil, os.Getenv),
		Activation: func(context.Context) (contract.ActivateRequest, bool, error) {
			return contract.ActivateRequest{Host: contract.HostInfo{Name: app.Name, Version: app.Version}, DataDir: rec.DataDir, Actor: actor}, true, nil
		},
	})
	if err != nil {
		return fmt.Errorf("start the plugin: %w", err)
	}
	defer p.Close()
	link, err := p.CreateRecoveryLink(sctx, contract.CreateRecoveryLinkRequest{
		Operator: web.PluginOperator(op), Actor: actor})
	if err != nil {
		return fmt.Errorf("create the recovery link: %w", err)
	}
	msg := web.RecoveryMail(base, app.Name, op, link)
	if op.Email != "" {
		err := mailErr
		if err == nil {
			sender, _ := mailCfg.Sender(st)
			err = sender.Send(sctx, msg)
		}
		if err != nil {
			fmt.Fprintf(stderr, "note: the link could not be mailed (%v); give it to them yourself.\n", err)
		} else {
			fmt.Fprintf(stdout, "Mailed to %s.\n", op.Email)
		}
	}
	fmt.Fprintf(stdout, "Recovery link for %s (works once, with their password, until %s):\n\n%s\n",
		op.Username, link.ExpiresAt.Local().Format(time.RFC1123), web.RecoveryURL(base, link.Token))
	return nil
}
