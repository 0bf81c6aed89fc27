package e2e

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
)

// The ways back in for an operator who cannot use Duo right now, in a real
// browser against the real plugin: backup codes (shown once at the first
// Duo sign-in, used once each, replaced from the account page), bypass
// codes from the help desk, and recovery links from an admin.

const (
	carolPassword = "carol-test-pass"
	helenPassword = "helen-test-pass"
)

// TestBrowserBackupCodes: alice's first Duo sign-in shows her backup codes
// and completes only once she confirms she saved them; a code typed
// loosely (upper case, spaces) signs her in instead of Duo, and only once;
// from her account page, soon after signing in, she makes a new set: the
// old codes stop working and the new ones work.
func TestBrowserBackupCodes(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	f.seed("admin", adminPassword, store.RoleAdmin)
	f.seed("alice", alicePassword, store.RoleAgent)
	admin, alice := f.newTab("admin"), f.newTab("alice")
	hd := f.hdHost
	admin.login("admin", adminPassword)
	f.setUpDuo(admin, "alice")

	// --- The first Duo sign-in: password, the Duo step, Duo, the codes.
	alice.login("alice", alicePassword)
	alice.at(hd, "/login")
	alice.want([]string{"continue-to-duo", "use-code"}, []string{"signed-in-as"})
	alice.shot("duo-step")
	alice.click("continue-to-duo")
	alice.duoApprove(true)
	alice.at(hd, web.CallbackPath)
	alice.want([]string{"backup-codes", "download-codes", "saved-codes", "finish-sign-in"}, []string{"signed-in-as", "backup-codes-error"})
	first := alice.backupCodes("alice")
	alice.shot("backup-codes-first")

	// Finishing without the tick stays on the page, with the same codes.
	if status := alice.click("finish-sign-in"); status != 422 {
		alice.fail("finish without the tick: status %d, want 422", status)
	}
	alice.at(hd, "/login/backup-codes")
	alice.want([]string{"backup-codes-error", "saved-codes", "finish-sign-in"}, []string{"signed-in-as"})
	if msg := alice.text("backup-codes-error"); !strings.Contains(msg, "I've saved these backup codes") {
		alice.fail("error without the tick: %q", msg)
	}
	if again := strings.Fields(alice.value("backup-codes")); !slices.Equal(again, first) {
		alice.fail("the codes changed when the page came back with its error")
	}
	alice.shot("backup-codes-not-confirmed")
	alice.tick("saved-codes")
	alice.click("finish-sign-in")
	alice.at(hd, "/")
	alice.signedInAs("alice")
	if msg := alice.text("flash"); !strings.Contains(msg, "backup codes are saved") {
		alice.fail("after saving the codes: %q", msg)
	}
	alice.shot("signed-in-codes-saved")
	alice.open("/account")
	if got := alice.text("backup-codes-left"); !strings.HasPrefix(got, "10 backup codes left") {
		alice.fail("account page: %q, want 10 backup codes left", got)
	}
	alice.click("logout")

	// --- A backup code instead of Duo, typed loosely.
	alice.login("alice", alicePassword)
	alice.click("use-code")
	alice.at(hd, "/login/code")
	typed := " " + strings.ToUpper(strings.Replace(first[0], "-", "  ", 1)) + " "
	alice.typeText("code", typed)
	alice.shot("code-typed-loosely")
	alice.click("verify-code")
	alice.at(hd, "/")
	alice.signedInAs("alice")
	alice.shot("signed-in-with-backup-code")
	alice.open("/account")
	if got := alice.text("backup-codes-left"); !strings.HasPrefix(got, "9 backup codes left") {
		alice.fail("account page after one code: %q, want 9 left", got)
	}
	alice.click("logout")

	// The same code again, this time from the refusal that follows a Duo
	// deny: refused. Another code of the set works on the same form.
	f.sim.SetOutcome("alice", duosim.OutcomeDeny)
	alice.login("alice", alicePassword)
	if status := alice.click("continue-to-duo"); status != 403 {
		alice.fail("scripted deny: status %d, want 403", status)
	}
	f.sim.ClearOutcome("alice")
	alice.want([]string{"refused", "use-code"}, []string{"signed-in-as"})
	alice.shot("refused-offering-code")
	alice.click("use-code")
	alice.at(hd, "/login/code")
	alice.fill("code", first[0])
	if status := alice.click("verify-code"); status != 401 {
		alice.fail("a used backup code: status %d, want 401", status)
	}
	alice.at(hd, "/login/code")
	alice.want([]string{"code-error"}, []string{"signed-in-as"})
	if msg := alice.text("code-error"); !strings.Contains(msg, "did not work") {
		alice.fail("a used backup code: %q", msg)
	}
	alice.shot("backup-code-used-twice")
	alice.fill("code", first[1])
	alice.click("verify-code")
	alice.at(hd, "/")
	alice.signedInAs("alice")

	// --- A new set from the account page, within minutes of that sign-in.
	alice.click("nav-account")
	alice.at(hd, "/account")
	alice.want([]string{"backup-codes-left", "regen-password", "regenerate-codes"}, []string{"backup-codes-low"})
	if got := alice.text("backup-codes-left"); !strings.HasPrefix(got, "8 backup codes left") {
		alice.fail("account page: %q, want 8 left", got)
	}
	alice.shot("account-backup-codes")
	alice.fill("regen-password", "not-"+alicePassword)
	alice.click("regenerate-codes")
	alice.at(hd, "/account")
	if msg := alice.text("flash"); !strings.Contains(msg, "password is not right") {
		alice.fail("new codes with a wrong password: %q", msg)
	}
	alice.want(nil, []string{"backup-codes"})
	alice.fill("regen-password", alicePassword)
	alice.click("regenerate-codes")
	alice.at(hd, "/account/backup-codes")
	// Shown once, with nothing to confirm: the old set is already gone.
	alice.want([]string{"backup-codes", "download-codes"}, []string{"saved-codes", "finish-sign-in"})
	fresh := alice.backupCodes("alice (new set)")
	for _, c := range fresh {
		if slices.Contains(first, c) {
			alice.fail("the new set repeats a code of the old one")
		}
	}
	if msg := alice.textCSS("main"); !strings.Contains(msg, "The old ones no longer work") {
		alice.fail("the new codes' page does not say the old ones stopped working")
	}
	alice.shot("backup-codes-regenerated")
	alice.open("/account")
	if got := alice.text("backup-codes-left"); !strings.HasPrefix(got, "10 backup codes left") {
		alice.fail("account page after new codes: %q, want 10 left", got)
	}
	alice.click("logout")

	// An old code, never used, no longer works; a new one does.
	alice.login("alice", alicePassword)
	alice.click("use-code")
	alice.fill("code", first[2])
	if status := alice.click("verify-code"); status != 401 {
		alice.fail("a code of the replaced set: status %d, want 401", status)
	}
	alice.want([]string{"code-error"}, []string{"signed-in-as"})
	alice.shot("old-code-refused")
	alice.fill("code", fresh[0])
	alice.click("verify-code")
	alice.at(hd, "/")
	alice.signedInAs("alice")
	alice.shot("signed-in-with-new-code")

	f.checkLog()
	f.done()
}

// TestBrowserRecoveryLink: bob lost his phone and his backup codes. An
// admin sends him a recovery link; without SMTP it lands in the Outbox.
// bob opens it, gives his password, is signed in and told his second
// factor was reset; the link does not work twice, his old codes are gone,
// and his next Duo sign-in sets Duo up again with a new set of codes.
func TestBrowserRecoveryLink(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	f.seed("admin", adminPassword, store.RoleAdmin)
	bobOp := f.seed("bob", bobPassword, store.RoleAgent)
	admin, bob := f.newTab("admin"), f.newTab("bob")
	hd := f.hdHost
	bobPath := "/admin/operators/" + strconv.FormatInt(bobOp.ID, 10)
	admin.login("admin", adminPassword)
	f.setUpDuo(admin, "bob")
	old := bob.firstDuoSignIn("bob", bobPassword, true)
	bob.click("logout")

	// --- The admin: bob's page, the confirmation, the mail.
	admin.open("/admin/operators")
	if got := admin.text("recovery-bob"); got != "Bypass codes, recovery link" {
		admin.fail("recovery link of bob reads %q", got)
	}
	admin.click("recovery-bob")
	admin.at(hd, bobPath)
	admin.want([]string{"issue-bypass-code", "recovery-link"}, nil)
	if got := admin.text("backup-codes-left"); got != "10 left" {
		admin.fail("bob's backup codes: %q, want 10 left", got)
	}
	admin.shot("operator-bob")
	admin.click("recovery-link")
	admin.at(hd, bobPath+"/recovery-link")
	if got := admin.text("recovery-email"); got != "bob@example.com" {
		admin.fail("the link goes to %q", got)
	}
	admin.shot("recovery-link-confirm")
	admin.click("send-recovery-link")
	admin.at(hd, bobPath)
	if msg := admin.text("flash"); !strings.Contains(msg, "A recovery link was sent to bob@example.com") {
		admin.fail("after sending: %q", msg)
	}
	admin.shot("recovery-link-sent")
	admin.click("nav-outbox")
	admin.at(hd, "/admin/outbox")
	linkShape := regexp.MustCompile(`http://` + regexp.QuoteMeta(hd) + `/recover\?token=[A-Za-z0-9_-]+`)
	var links []string
	for _, m := range admin.outbox() {
		if m.To == "bob@example.com" && strings.Contains(m.Subject, "recovery link") {
			links = append(links, linkShape.FindAllString(m.Text, -1)...)
		}
	}
	if len(links) != 1 {
		admin.fail("want one recovery link to bob in the outbox, found %d", len(links))
	}
	link := links[0]
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	token := u.Query().Get("token")
	if len(token) != 43 {
		admin.fail("recovery token of %d characters, want 43", len(token))
	}
	f.secret("recovery token", token)
	admin.shot("outbox")

	// --- bob: the link, his password, signed in and reset.
	bob.open(link)
	bob.at(hd, "/recover")
	bob.want([]string{"username", "password", "recover"}, []string{"signed-in-as"})
	bob.shot("recover-form")
	bob.fill("username", "bob")
	bob.fill("password", bobPassword)
	bob.click("recover")
	bob.at(hd, "/account")
	bob.signedInAs("bob")
	if msg := bob.text("flash"); !strings.Contains(msg, "recovery link") || !strings.Contains(msg, "reset") {
		bob.fail("after the recovery link: %q", msg)
	}
	if got := bob.text("backup-codes-left"); !strings.Contains(got, "when Duo is first set up") {
		bob.fail("account page after the reset: %q", got)
	}
	bob.shot("recovered")
	bob.click("logout")
	admin.open(bobPath)
	if got := admin.text("backup-codes-left"); got != "none issued" {
		admin.fail("bob's backup codes after the reset: %q, want none issued", got)
	}

	// The link works once.
	bob.open(link)
	bob.fill("username", "bob")
	bob.fill("password", bobPassword)
	if status := bob.click("recover"); status != 403 {
		bob.fail("the link a second time: status %d, want 403", status)
	}
	bob.want([]string{"refused"}, []string{"signed-in-as", "use-code"})
	if msg := bob.text("refusal-message"); !strings.Contains(msg, "already used") {
		bob.fail("the link a second time: %q", msg)
	}
	bob.shot("recovery-link-used")

	// The old backup codes went with the reset.
	bob.login("bob", bobPassword)
	bob.click("use-code")
	bob.fill("code", old[0])
	if status := bob.click("verify-code"); status != 401 {
		bob.fail("a backup code from before the reset: status %d, want 401", status)
	}
	bob.want([]string{"code-error"}, []string{"signed-in-as"})

	// --- The next Duo sign-in sets Duo up again: new codes to save.
	renewed := bob.firstDuoSignIn("bob", bobPassword, false)
	for _, c := range renewed {
		if slices.Contains(old, c) {
			bob.fail("the set after the reset repeats a code from before")
		}
	}
	bob.shot("signed-in-after-reset")
	admin.open(bobPath)
	if got := admin.text("backup-codes-left"); got != "10 left" {
		admin.fail("bob's backup codes after setting Duo up again: %q, want 10 left", got)
	}

	f.checkLog()
	f.done()
}

// TestBrowserBypassCode: helen of the help desk sees the operators and
// bypass codes, not the admin's pages; she issues carol (an agent) a bypass
// code within the help desk's limits, never one for the admin or herself;
// carol signs in with it once, and a second use is refused. A bypass code does not give carol backup codes.
func TestBrowserBypassCode(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	adminOp := f.seed("admin", adminPassword, store.RoleAdmin)
	helenOp := f.seed("helen", helenPassword, store.RoleHelpDesk)
	carolOp := f.seed("carol", carolPassword, store.RoleAgent)
	admin, helen, carol := f.newTab("admin"), f.newTab("helen"), f.newTab("carol")
	hd := f.hdHost
	carolPath := "/admin/operators/" + strconv.FormatInt(carolOp.ID, 10)
	adminPath := "/admin/operators/" + strconv.FormatInt(adminOp.ID, 10)
	helenPath := "/admin/operators/" + strconv.FormatInt(helenOp.ID, 10)
	admin.login("admin", adminPassword)
	f.setUpDuo(admin, "carol")

	// --- The help desk: operators and bypass codes, nothing else.
	helen.login("helen", helenPassword)
	helen.at(hd, "/")
	helen.signedInAs("helen")
	helen.want([]string{"nav-operators"}, []string{"nav-plugins", "nav-outbox"})
	helen.click("nav-operators")
	helen.at(hd, "/admin/operators")
	helen.want([]string{"recovery-carol", "duo-state-carol"}, []string{"enable-carol", "disable-carol", "alias-carol"})
	if got := helen.text("recovery-carol"); got != "Bypass codes" {
		helen.fail("help desk's link to carol's second factor reads %q", got)
	}
	helen.shot("operators-help-desk")
	for _, path := range []string{"/admin/plugins", "/admin/outbox", carolPath + "/recovery-link"} {
		if status := helen.open(path); status != 403 {
			helen.fail("help desk on %s: status %d, want 403", path, status)
		}
	}
	helen.open("/admin/operators")
	helen.click("recovery-carol")
	helen.at(hd, carolPath)
	// The help desk's form has no uses or hours: its codes are 1 use, 1 hour.
	helen.want([]string{"issue-bypass-code", "no-bypass-codes"}, []string{"bypass-uses", "bypass-hours", "recovery-link", "bypass-code", "cannot-issue-bypass"})
	helen.shot("operator-carol")

	// A crafted form asking for two uses is refused by the plugin.
	query(helen, "add a uses field to the form", chromedp.Evaluate[bool](`(() => {
		const i = document.createElement("input");
		i.type = "hidden"; i.name = "uses"; i.value = "2";
		document.getElementById("issue-bypass-code").form.appendChild(i);
		return true;
	})()`))
	helen.click("issue-bypass-code")
	helen.at(hd, carolPath)
	if msg := helen.text("flash"); !strings.Contains(msg, "at most 1 use") {
		helen.fail("a two-use bypass code from the help desk: %q", msg)
	}
	helen.want([]string{"no-bypass-codes"}, []string{"bypass-code"})
	helen.shot("bypass-code-beyond-limits")

	// Nor does the help desk act on an administrator, or on herself.
	for _, path := range []string{adminPath, helenPath} {
		helen.open(path)
		helen.want([]string{"cannot-issue-bypass"}, []string{"issue-bypass-code"})
	}
	helen.shot("bypass-code-not-for-admin")
	helen.open(carolPath)
	helen.click("issue-bypass-code")
	helen.want([]string{"bypass-code", "bypass-codes"}, []string{"no-bypass-codes"})
	code := helen.text("bypass-code")
	if !regexp.MustCompile(`^[0-9]{5}-[0-9]{5}$`).MatchString(code) {
		helen.fail("bypass code of the shape %q", code)
	}
	f.code("bypass code", code)
	if msg := helen.text("new-bypass-code"); !strings.Contains(msg, "works 1 time,") {
		helen.fail("issued bypass code: %q", msg)
	}
	helen.shot("bypass-code-issued")

	// --- carol signs in with it, once.
	carol.login("carol", carolPassword)
	carol.at(hd, "/login")
	carol.want([]string{"continue-to-duo", "use-code"}, []string{"signed-in-as"})
	carol.click("use-code")
	carol.at(hd, "/login/code")
	carol.fill("code", code)
	carol.click("verify-code")
	carol.at(hd, "/")
	carol.signedInAs("carol")
	carol.shot("signed-in-with-bypass-code")
	// It gives her no backup codes, nor a way to make some.
	carol.open("/account")
	if got := carol.text("backup-codes-left"); !strings.Contains(got, "when Duo is first set up") {
		carol.fail("account page after a bypass code: %q", got)
	}
	carol.want(nil, []string{"regenerate-codes"})
	carol.shot("no-backup-codes-from-bypass")
	carol.click("logout")

	carol.login("carol", carolPassword)
	carol.click("use-code")
	carol.fill("code", code)
	if status := carol.click("verify-code"); status != 401 {
		carol.fail("the bypass code a second time: status %d, want 401", status)
	}
	carol.at(hd, "/login/code")
	carol.want([]string{"code-error"}, []string{"signed-in-as"})
	carol.shot("bypass-code-used-twice")

	// helen sees it spent.
	helen.open(carolPath)
	if got := helen.textCSS("#bypass-codes tbody"); !strings.Contains(got, "used") {
		helen.fail("carol's bypass codes after use: %q", got)
	}
	helen.shot("bypass-code-spent")

	f.checkLog()
	f.done()
}
