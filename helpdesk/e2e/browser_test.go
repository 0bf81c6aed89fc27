package e2e

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/auth"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

func TestMain(m *testing.M) {
	// Build the plugin and the helpdesk command (side by side) before any
	// test's clock runs; a build error is reported by every test that needs
	// them (pluginbuild.ForTest, helpdeskBinary).
	built := make(chan struct{})
	go func() {
		defer close(built)
		_, _ = helpdeskBinary()
	}()
	_ = pluginbuild.Prepare()
	<-built
	code := m.Run()
	pluginbuild.Cleanup()
	os.Exit(code)
}

const (
	adminPassword = "admin-test-pass"
	alicePassword = "alice-test-pass"
	bobPassword   = "bob-test-pass"
)

// TestBrowserJourney walks the path a new admin and operator take, in a
// real browser: activate the plugin, configure it (a wrong secret first),
// enable Duo for alice, alice enrols, approves and saves her backup codes,
// is denied, is refused while the plugin process is dead (fail closed),
// signs in with her authenticator app while the plugin is deactivated, the
// settings survive a re-activation, and finally the plugin is uninstalled
// from disk.
func TestBrowserJourney(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	ctx := t.Context()
	a, sim, duoApp := f.app, f.sim, f.duoApp
	hdHost, simHost, bundleDir, dataDir := f.hdHost, f.simHost, f.bundleDir, f.dataDir
	f.seed("admin", adminPassword, store.RoleAdmin)
	f.seed("alice", alicePassword, store.RoleAgent)
	f.seed("bob", bobPassword, store.RoleAgent)
	admin := f.newTab("admin")
	alice := f.newTab("alice")
	const pluginsPath = "/admin/plugins"

	// --- The admin signs in; next= brings them back to the Plugins page.
	admin.open(pluginsPath)
	admin.at(hdHost, "/login")
	admin.shot("login")
	admin.fill("username", "admin")
	admin.fill("password", adminPassword)
	admin.click("login")
	admin.at(hdHost, pluginsPath)
	if got := admin.text("signed-in-as"); got != "admin" {
		admin.fail("signed in as %q, want admin", got)
	}

	// --- Plugins: inactive → Activate and Uninstall only.
	admin.want([]string{"plugin-duo-security", "activate", "uninstall"}, []string{"deactivate", "settings", "check-duo", "restart"})
	if got := admin.text("plugin-state"); got != "Inactive" {
		admin.fail("plugin state %q, want Inactive", got)
	}
	if got := admin.text("plugin-version"); got != "0.1.0" {
		admin.fail("plugin version %q", got)
	}
	admin.shot("plugins-inactive")
	admin.click("activate")
	admin.at(hdHost, pluginsPath)
	admin.want([]string{"deactivate", "settings", "check-duo", "flash"}, []string{"activate", "uninstall", "restart", "process-alert"})
	if got := admin.text("plugin-state"); got != "Active" {
		admin.fail("plugin state %q, want Active", got)
	}
	admin.shot("plugins-active")

	// --- Settings: a wrong secret is refused next to the secret field.
	admin.click("settings")
	admin.at(hdHost, pluginsPath+"/duo-security/settings")
	admin.want([]string{"client_id", "client_secret", "api_hostname", "fail_mode", "username_format", "login_timeout_seconds", "ca_file", "skip_duo_check", "save"}, nil)
	if typ := admin.attr("client_secret", "type"); typ != "password" {
		admin.fail("client secret input type %q, want password", typ)
	}
	admin.shot("settings-empty")
	wrongSecret := strings.Repeat("W", 40)
	f.secret("wrong client secret", wrongSecret)
	admin.fill("client_id", duoApp.ClientID)
	admin.fill("client_secret", wrongSecret)
	admin.fill("api_hostname", simHost)
	admin.fill("ca_file", sim.CAFile())
	if status := admin.click("save"); status != 422 {
		admin.fail("saving a wrong secret answered %d, want 422", status)
	}
	if admin.count("#field-client_secret #error-client_secret") != 1 {
		admin.fail("want the error inside the client secret's field")
	}
	if msg := admin.text("error-client_secret"); !strings.Contains(msg, "Duo did not accept") {
		admin.fail("secret field error %q", msg)
	}
	if admin.has("error-client_id") || admin.has("error-api_hostname") {
		admin.fail("errors on fields that were right")
	}
	if got := admin.value("client_id"); got != duoApp.ClientID {
		admin.fail("client id not kept after the error: %q", got)
	}
	if got := admin.value("api_hostname"); got != simHost {
		admin.fail("api hostname not kept after the error: %q", got)
	}
	if got := admin.value("client_secret"); got != "" {
		admin.fail("the secret was sent back to the browser")
	}
	admin.shot("settings-wrong-secret")
	admin.fill("client_secret", duoApp.ClientSecret.Reveal())
	admin.click("save")
	admin.at(hdHost, pluginsPath+"/duo-security/settings")
	if msg := admin.text("flash"); !strings.Contains(msg, "Settings saved") || !strings.Contains(msg, "Duo accepted") {
		admin.fail("after saving: %q", msg)
	}
	if ph := admin.attr("client_secret", "placeholder"); ph != "leave blank to keep" {
		admin.fail("secret placeholder %q", ph)
	}
	admin.shot("settings-saved")

	admin.open(pluginsPath)
	admin.click("check-duo")
	if msg := admin.text("flash"); !strings.Contains(msg, "Duo answered") {
		admin.fail("check Duo: %q", msg)
	}
	if h := admin.text("duo-health"); !strings.Contains(h, "OK") {
		admin.fail("duo health %q", h)
	}

	// --- Operators: enable Duo for alice.
	admin.open("/admin/operators")
	admin.want([]string{"enable-alice", "enable-bob", "enable-admin", "alias-alice"}, []string{"disable-alice", "duo-inactive"})
	admin.click("enable-alice")
	admin.at(hdHost, "/admin/operators")
	admin.want([]string{"disable-alice", "enable-bob"}, []string{"enable-alice"})
	if got := admin.text("duo-state-alice"); got != "Enabled" {
		admin.fail("alice's Duo state %q", got)
	}
	admin.shot("operators-alice-enabled")

	// --- alice: password, then Duo enrolment, then Approve.
	alice.login("alice", alicePassword)
	alice.click("continue-to-duo")
	alice.at(simHost, "/oauth/v1/authorize")
	alice.want([]string{"enroll"}, nil)
	alice.shot("duo-enroll")
	alice.click("enroll")
	alice.want([]string{"approve", "deny"}, nil)
	alice.shot("duo-prompt")
	alice.click("approve")
	// Duo's first allow: the backup codes, shown once, to be saved before
	// the sign-in completes.
	alice.at(hdHost, web.CallbackPath)
	alice.want([]string{"backup-codes", "download-codes", "saved-codes", "finish-sign-in"}, []string{"signed-in-as"})
	alice.backupCodes("alice")
	alice.shot("backup-codes")
	alice.tick("saved-codes")
	alice.click("finish-sign-in")
	alice.at(hdHost, "/")
	if got := alice.text("signed-in-as"); got != "alice" {
		alice.fail("signed in as %q, want alice", got)
	}
	if msg := alice.text("flash"); !strings.Contains(msg, "backup codes are saved") {
		alice.fail("after saving the backup codes: %q", msg)
	}
	alice.want([]string{"tickets", "nav-account"}, []string{"nav-plugins", "nav-operators"})
	alice.shot("alice-signed-in-with-duo")
	// An agent cannot reach the admin pages.
	if status := alice.open(pluginsPath); status != 403 {
		alice.fail("agent on the Plugins page: status %d, want 403", status)
	}
	alice.open("/")
	alice.click("logout")
	alice.at(hdHost, "/login")

	// --- alice again: Deny at Duo's prompt. Duo shows its own page and
	// never comes back; alice is not signed in.
	alice.login("alice", alicePassword)
	alice.click("continue-to-duo")
	alice.at(simHost, "/oauth/v1/authorize")
	alice.want([]string{"approve", "deny"}, []string{"enroll"})
	alice.click("deny")
	alice.want([]string{"page-denied"}, nil)
	alice.shot("duo-denied")
	alice.open("/")
	alice.at(hdHost, "/login")
	// A callback without the pending sign-in is refused.
	if status := alice.open(web.CallbackPath + "?state=" + strings.Repeat("s", 36) + "&duo_code=forged"); status != 400 {
		alice.fail("forged callback: status %d, want 400", status)
	}
	alice.want([]string{"refused"}, []string{"signed-in-as", "use-code"})

	// A deny that does come back (Duo's answer says deny) is refused by
	// the plugin, with a generic message.
	sim.SetOutcome("alice", duosim.OutcomeDeny)
	alice.login("alice", alicePassword)
	if status := alice.click("continue-to-duo"); status != 403 {
		alice.fail("scripted deny: status %d, want 403", status)
	}
	alice.at(hdHost, web.CallbackPath)
	// The password was right: a backup or bypass code may stand in.
	alice.want([]string{"refused", "refusal-message", "use-code"}, []string{"signed-in-as"})
	if msg := alice.text("refusal-message"); strings.Contains(msg, "duo_denied") || strings.Contains(msg, "deny") {
		alice.fail("refusal shows details: %q", msg)
	}
	alice.shot("refused-duo-deny")
	sim.ClearOutcome("alice")

	// --- The plugin process dies: sign-in fails closed.
	p, err := a.Plugins().Plugin()
	if err != nil {
		t.Fatal(err)
	}
	pid := p.State().PID
	if pid <= 0 {
		t.Fatalf("plugin pid %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill plugin %d: %v", pid, err)
	}
	waitFor(t, 10*time.Second, "the plugin to be seen down", func() bool { return p.State().Phase != host.PhaseRunning })
	if status := alice.login("alice", alicePassword); status != 503 {
		alice.fail("plugin down: status %d, want 503", status)
	}
	alice.at(hdHost, "/login")
	if msg := alice.text("refusal-message"); msg != web.MsgFailClosed {
		alice.fail("plugin down: message %q, want %q", msg, web.MsgFailClosed)
	}
	alice.want(nil, []string{"signed-in-as", "use-code"})
	alice.shot("fail-closed")
	// bob, who has no Duo, is refused too: the helpdesk cannot know who
	// needs Duo while the plugin cannot answer.
	if status := alice.login("bob", bobPassword); status != 503 {
		alice.fail("plugin down, bob: status %d, want 503", status)
	}

	admin.open(pluginsPath)
	admin.want([]string{"process-alert", "restart", "deactivate"}, []string{"activate", "uninstall"})
	if msg := admin.text("process-alert"); !strings.Contains(msg, "not running") || !strings.Contains(msg, "every sign-in is refused") {
		admin.fail("process alert %q", msg)
	}
	admin.shot("plugins-process-down")
	admin.open("/admin/operators")
	admin.want([]string{"duo-unavailable"}, []string{"enable-bob", "disable-alice"})
	admin.open(pluginsPath)
	admin.click("restart")
	admin.want([]string{"deactivate", "settings"}, []string{"process-alert", "restart"})
	if got := admin.text("flash"); !strings.Contains(got, "restarted") {
		admin.fail("after restart: %q", got)
	}

	// --- Deactivate: alice signs in with the built-in TOTP method.
	admin.click("deactivate")
	admin.want([]string{"activate", "uninstall"}, []string{"deactivate", "settings", "check-duo"})
	admin.shot("plugins-deactivated")
	aliceOp, err := a.Store().OperatorByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.NewTOTPKey("Test", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store().SetTOTP(ctx, aliceOp.ID, key.Secret, true); err != nil {
		t.Fatal(err)
	}
	alice.login("alice", alicePassword)
	alice.at(hdHost, "/login/totp")
	alice.shot("totp")
	code, err := totp.GenerateCode(key.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	alice.fill("code", code)
	alice.click("verify")
	alice.at(hdHost, "/")
	if got := alice.text("signed-in-as"); got != "alice" {
		alice.fail("signed in as %q after TOTP", got)
	}
	alice.shot("alice-signed-in-with-totp")
	alice.open("/account")
	if got := alice.text("totp-state"); got != "On" {
		alice.fail("account page: authenticator app %q, want On", got)
	}
	alice.shot("account")
	alice.click("logout")

	// --- Activate again: the settings are still there, and Duo replaces
	// TOTP for alice again.
	admin.open(pluginsPath)
	admin.click("activate")
	admin.click("settings")
	if got := admin.value("client_id"); got != duoApp.ClientID {
		admin.fail("client id after re-activation: %q", got)
	}
	if got := admin.value("api_hostname"); got != simHost {
		admin.fail("api hostname after re-activation: %q", got)
	}
	if ph := admin.attr("client_secret", "placeholder"); ph != "leave blank to keep" {
		admin.fail("secret not kept after re-activation (placeholder %q)", ph)
	}
	admin.shot("settings-after-reactivation")
	alice.login("alice", alicePassword)
	alice.click("continue-to-duo")
	alice.at(simHost, "/oauth/v1/authorize")
	alice.want([]string{"approve"}, nil)

	// --- Uninstall: only when inactive, after typing the plugin id.
	admin.open(pluginsPath)
	admin.click("deactivate")
	admin.click("uninstall")
	admin.at(hdHost, pluginsPath+"/duo-security/uninstall")
	if msg := admin.textCSS("main"); !strings.Contains(msg, "irreversible") {
		admin.fail("uninstall page does not say it is irreversible")
	}
	admin.shot("uninstall-confirm")
	admin.fill("confirm", "duo")
	if status := admin.click("confirm-uninstall"); status != 422 {
		admin.fail("wrong confirmation: status %d, want 422", status)
	}
	admin.want([]string{"uninstall-error"}, nil)
	if _, err := os.Stat(bundleDir); err != nil {
		t.Fatalf("bundle removed after a wrong confirmation: %v", err)
	}
	admin.fill("confirm", plugins.ID)
	admin.click("confirm-uninstall")
	admin.at(hdHost, pluginsPath)
	admin.want([]string{"no-plugins"}, []string{"plugin-duo-security", "activate", "deactivate", "settings", "uninstall"})
	admin.shot("plugins-uninstalled")
	for _, dir := range []string{bundleDir, app.PluginDataDir(dataDir)} {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists after uninstall (stat: %v)", dir, err)
		}
	}
	if rec, err := a.Store().Plugin(ctx, plugins.ID); err != nil || rec.Installed || rec.Active {
		t.Errorf("record after uninstall: %+v, %v", rec, err)
	}
	// With the plugin gone, alice signs in with her authenticator app.
	alice.login("alice", alicePassword)
	alice.at(hdHost, "/login/totp")

	// --- Nothing secret reached the log.
	f.secret("TOTP secret", key.Secret)
	f.checkLog()
	f.done()
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
