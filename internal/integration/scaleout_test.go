package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Scale-out (issue 13): two plugin processes, each started by its own SDK
// host as two helpdesk instances behind a load balancer would, sharing one
// PostgreSQL store (DUO_PLUGIN_DATABASE_URL) and one secrets key
// (DUO_PLUGIN_SECRETS_KEY). Whatever one instance writes, the other acts
// on at once; single-use things are used once across both.

// sharedStoreEnv is what both instances are started with.
func sharedStoreEnv(t *testing.T) []string {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return []string{
		"DUO_PLUGIN_DATABASE_URL=" + pgtest.Database(t),
		"DUO_PLUGIN_SECRETS_KEY=" + base64.StdEncoding.EncodeToString(key),
	}
}

// secondInstance starts and activates another plugin process on a's store,
// seen through a login environment of its own on a's simulator.
func secondInstance(t *testing.T, a *loginEnv, env []string) *loginEnv {
	t.Helper()
	rec := &hostRecord{}
	s := startPlugin(t, "", func(o *host.Options) {
		o.Env = append(o.Env, "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s")
		o.Env = append(o.Env, env...)
		o.Activation = rec.activation
	})
	req := contract.ActivateRequest{Host: contract.HostInfo{Name: "test-b"}, CallbackURL: callbackURL,
		DataDir: filepath.Join(t.TempDir(), "plugin-data"), Actor: admin}
	if act, err := s.p.Activate(ctxT(t), req); err != nil || !act.Status.Active || !act.Status.Configured {
		t.Fatalf("Activate B = %+v, %v; want active with A's settings", act, err)
	}
	rec.set(req, true)
	return &loginEnv{t: t, p: s.p, sim: a.sim, s: s, app: a.app, record: rec, activation: req}
}

func clientIDOf(t *testing.T, redirect string) string {
	t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatalf("redirect URL: %v", err)
	}
	return u.Query().Get("client_id")
}

func TestScaleOutTwoInstancesShareOneStore(t *testing.T) {
	t.Parallel()
	env := sharedStoreEnv(t)
	a := newLoginEnvWith(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "closed", tweak: func(o *host.Options) { o.Env = append(o.Env, env...) }}, alice)
	b := secondInstance(t, a, env)

	// Settings saved through A are the ones B's next login uses.
	if got := clientIDOf(t, b.begin(alice).RedirectURL); got != a.app.ClientID {
		t.Fatalf("B redirects with client_id %q, want %q", got, a.app.ClientID)
	}
	const other = "DIZZZZZZZZZZZZZZZZZZ"
	if res, err := a.p.UpdateSettings(ctxT(t), contract.UpdateSettingsRequest{Actor: admin, SkipDuoCheck: true,
		Values: map[string]string{"client_id": other}}); err != nil || !res.Saved {
		t.Fatalf("UpdateSettings on A = %+v, %v", res, err)
	}
	// Duo refuses a client id it does not know (its health check), so B,
	// on the settings A saved, denies where it redirected before.
	if res := b.begin(alice); res.Decision != contract.DecisionDenied || res.Reason != contract.LoginReasonDuoMisconfigured {
		t.Fatalf("after A saved client_id %q, B's next login = %+v (client_id %q), want DENIED %s",
			other, res, clientIDOf(t, res.RedirectURL), contract.LoginReasonDuoMisconfigured)
	}
	if res, err := a.p.UpdateSettings(ctxT(t), contract.UpdateSettingsRequest{Actor: admin,
		Values: map[string]string{"client_id": a.app.ClientID}}); err != nil || !res.Saved || !res.Duo.OK {
		t.Fatalf("UpdateSettings back on A = %+v, %v", res, err)
	}

	// An operator enabled through A needs Duo on B at once.
	if res := b.begin(bob); res.Decision != contract.DecisionNotRequired {
		t.Fatalf("bob on B before A enabled him = %+v, want NOT_REQUIRED", res)
	}
	if _, err := a.p.SetOperatorEnabled(ctxT(t), contract.SetOperatorEnabledRequest{Operator: bob, Enabled: true, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	if res := b.begin(bob); res.Decision != contract.DecisionRedirect {
		t.Fatalf("bob on B after A enabled him = %+v, want REDIRECT", res)
	}

	// A login begun on A completes on B; the same callback replayed on A
	// is refused.
	begun := a.begin(alice)
	q := a.browser(begun.RedirectURL)
	if q == nil {
		t.Fatal("Duo did not send the browser back")
	}
	res := b.completeRaw(alice, begun.State, q.Get("state"), q.Get("duo_code"))
	if res.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("CompleteLogin on B = %+v, want CONFIRM_BACKUP_CODES (alice's first sign-in)", res)
	}
	codes := res.BackupCodes
	if conf := a.confirm(alice, res.BackupCodesTicket); conf.Decision != contract.DecisionAllowed {
		t.Fatalf("ConfirmBackupCodes on A of B's ticket = %+v", conf)
	}
	wantDenied(t, "the callback replayed on A", a.completeRaw(alice, begun.State, q.Get("state"), q.Get("duo_code")), contract.LoginReasonStateUsed)

	// One backup code redeemed through both at once: exactly one wins.
	var wg sync.WaitGroup
	answers := make([]contract.CompleteLoginResponse, 8)
	for i := range answers {
		e := a
		if i%2 == 1 {
			e = b
		}
		wg.Go(func() { answers[i] = e.redeem(alice, codes[0]) })
	}
	wg.Wait()
	allowed := 0
	for _, r := range answers {
		if r.Decision == contract.DecisionAllowed {
			allowed++
		}
	}
	if allowed != 1 {
		t.Fatalf("%d of %d concurrent redemptions of one code through two instances allowed, want 1: %+v", allowed, len(answers), answers)
	}

	// Deactivated everywhere, uninstalled once: the schema is gone.
	for _, e := range []*loginEnv{a, b} {
		if _, err := e.p.Deactivate(ctxT(t), contract.DeactivateRequest{Actor: admin}); err != nil {
			t.Fatal(err)
		}
		e.record.set(e.activation, false)
	}
	un, err := a.p.Uninstall(ctxT(t), contract.UninstallRequest{Confirm: contract.PluginID, Actor: admin, DataDir: a.activation.DataDir})
	if err != nil || len(un.Removed) != 1 || un.Removed[0] != "postgresql schema duo_plugin" {
		t.Fatalf("Uninstall = %+v, %v; want the schema named", un, err)
	}
	if schemaExists(t, env) {
		t.Fatal("the plugin's schema is still there after uninstall")
	}
	// Neither process logged the database URL nor the secrets key.
	dbURL, key := envValue(env[0]), envValue(env[1])
	a.closeAndCheckLogs(a.app.ClientSecret.Reveal(), dbURL, key)
	b.closeAndCheckLogs(a.app.ClientSecret.Reveal(), dbURL, key)
}

// schemaExists asks the database directly whether the plugin's schema is
// there.
func schemaExists(t *testing.T, env []string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, envValue(env[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'duo_plugin')`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

// envValue is the value of a NAME=value entry.
func envValue(kv string) string {
	_, v, _ := strings.Cut(kv, "=")
	return v
}
