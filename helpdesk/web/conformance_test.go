package web_test

import (
	"context"
	"fmt"
	"net/url"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/helpdesk-duo/duo-plugin/conformance"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The reference helpdesk passes the vendor's conformance kit, as a vendor
// would run it: the whole helpdesk with the real plugin binary and the
// Duo simulator, driven over HTTP only. This is the worked example of a
// Helpdesk adapter that docs/VENDOR.md points to.
func TestConformanceKit(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	conformance.Run(t, conformance.Helpdesk{
		BaseURL: e.base,
		Duo:     e.sim,
		PasswordForm: conformance.PasswordForm{
			Path: "/login", UsernameField: "username", PasswordField: "password", NextField: "next",
		},
		SignedInPath: "/account", // 200 signed in; a redirect to /login otherwise
		NewOperator: func(ctx context.Context, username string, duo bool) (string, error) {
			if _, err := app.SeedOperator(ctx, e.app.Store(), store.NewOperator{Username: username, Email: username + "@example.com", Role: store.RoleAgent},
				password, bcrypt.MinCost); err != nil {
				return "", err
			}
			op, err := e.app.Store().OperatorByUsername(ctx, username)
			if err != nil {
				return "", err
			}
			if duo {
				// As the Operators page's Enable does.
				if _, err := e.plugin().SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{
					Operator: web.PluginOperator(op), Enabled: true, Actor: realAdmin}); err != nil {
					return "", err
				}
			}
			return password, nil
		},
		// The first sign-in with Duo shows the backup codes with a box to
		// tick: the codes ride in the form as hidden fields.
		BackupCodes: func(b *conformance.Browser, p *conformance.Page) ([]string, *conformance.Page, error) {
			form, ok := p.Form("/login/backup-codes")
			if !ok {
				return nil, p, nil
			}
			codes := form.Values["code"]
			next, err := b.Submit(form, url.Values{"saved": {"yes"}})
			return codes, next, err
		},
		// "Use a backup code or a bypass code" on the Duo step.
		SignInWithCode: func(b *conformance.Browser, _ *conformance.Page, code string) (*conformance.Page, error) {
			p, err := b.Get("/login/code")
			if err != nil {
				return nil, err
			}
			form, ok := p.Form("/login/code")
			if !ok {
				return nil, fmt.Errorf("no code form: %s", p)
			}
			return b.Submit(form, url.Values{"code": {code}})
		},
		// newRealEnv does not restart a stopped plugin (MaxRestarts -1).
		StopPlugin: func(ctx context.Context) error {
			p := e.plugin()
			pid := p.State().PID
			if pid <= 0 {
				return fmt.Errorf("plugin pid %d", pid)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				return fmt.Errorf("kill plugin %d: %w", pid, err)
			}
			waitfor.Until(t, 10*time.Second, "the plugin to be seen down", func() bool { return p.State().Phase != host.PhaseRunning })
			return nil
		},
	})
}
