package e2e

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
)

// The admin pages of the policy and the authentication log, in a real
// browser against the real plugin: a lockout after wrong codes lifted on
// the Operators page, "Require Duo for every operator", the Log page with
// its CSV download, and the Plugins page's live status.

// saveSettings opens the plugin's Settings as admin, lets change fill in
// fields, saves (checked with Duo) and checks it was saved.
func (f *fixture) saveSettings(admin *tab, change func()) {
	f.t.Helper()
	admin.open("/admin/plugins/duo-security/settings")
	change()
	admin.click("save")
	if msg := admin.text("flash"); !strings.Contains(msg, "Settings saved") {
		admin.fail("saving the settings: %q", msg)
	}
}

// TestBrowserLockoutAndUnlock: with a lockout after 3 failures, alice types
// three wrong codes at the sign-in page and the plugin locks her; her next
// sign-in is refused with the plugin's message (who unlocks her) and no
// code offered; the admin sees her locked, with her failed attempts, and
// unlocks her on the Operators page; she then signs in with Duo.
func TestBrowserLockoutAndUnlock(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	defer f.done()
	f.seed("admin", adminPassword, store.RoleAdmin)
	f.seed("alice", alicePassword, store.RoleAgent)
	f.seed("helen", helenPassword, store.RoleHelpDesk)
	admin, alice, helen := f.newTab("admin"), f.newTab("alice"), f.newTab("helen")
	hd := f.hdHost
	admin.login("admin", adminPassword)
	f.setUpDuo(admin, "alice")
	f.saveSettings(admin, func() {
		admin.fill("lockout_threshold", "3")
		admin.fill("lockout_contact", "the IT help desk on extension 4242")
	})

	// Three wrong codes (of the right shape): the first two are refused
	// with the code form again; the third locks her, and the sign-in ends
	// with the plugin's words.
	alice.login("alice", alicePassword)
	alice.click("use-code")
	for i := 1; i <= 3; i++ {
		alice.at(hd, "/login/code")
		alice.fill("code", "22222-3333"+strconv.Itoa(i+1))
		status := alice.click("verify-code")
		if i < 3 {
			if status != http.StatusUnauthorized || !alice.has("code-error") {
				alice.fail("wrong code %d: status %d, want 401 with the code form's error", i, status)
			}
			continue
		}
		if status != http.StatusForbidden || alice.attr("refusal-message", "data-reason") != "operator_locked" {
			alice.fail("the third wrong code: status %d, want 403 saying she is locked", status)
		}
	}
	alice.want([]string{"refused"}, []string{"use-code", "signed-in-as"})
	alice.shot("locked-at-code")
	// Her next sign-in: refused, with the plugin's words, no code offered.
	alice.login("alice", alicePassword)
	alice.want([]string{"refused", "refusal-message"}, []string{"use-code", "continue-to-duo", "signed-in-as"})
	if msg := alice.text("refusal-message"); !strings.Contains(msg, "the IT help desk on extension 4242") {
		alice.fail("the locked message does not say who unlocks: %q", msg)
	}
	alice.shot("locked-sign-in")

	// The admin sees it; helen of the help desk unlocks her (an agent),
	// and is offered no Unlock for the admin.
	admin.open("/admin/operators")
	if got := admin.text("locked-alice"); got != "Locked" {
		admin.fail("alice's lockout on the Operators page: %q", got)
	}
	if got := admin.text("failed-alice"); !strings.HasPrefix(got, "Failed attempts: 3") {
		admin.fail("alice's failed attempts: %q", got)
	}
	admin.want([]string{"unlock-alice", "locked-since-alice", "log-alice"}, []string{"unlock-admin"})
	admin.shot("operators-locked")
	helen.login("helen", helenPassword)
	helen.open("/admin/operators")
	helen.want([]string{"unlock-alice"}, []string{"unlock-admin", "unlock-helen"})
	helen.click("unlock-alice")
	if msg := helen.text("flash"); !strings.HasPrefix(msg, "alice is unlocked") {
		helen.fail("after unlocking: %q", msg)
	}
	admin.open("/admin/operators")
	if got := admin.text("locked-alice"); got != "not locked" {
		admin.fail("alice after the unlock: %q", got)
	}
	admin.want(nil, []string{"unlock-alice", "failed-alice"})

	// She signs in: Duo, her first backup codes, done.
	alice.firstDuoSignIn("alice", alicePassword, true)
	f.checkLog()
}

// TestBrowserEnforceAll: bob, whose Duo is off, signs in with his password
// alone; the admin ticks "Require Duo for every operator"; the Operators
// page shows him enforced without a toggle, and his next sign-in is a Duo
// sign-in: the browser lands on Duo's prompt.
func TestBrowserEnforceAll(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	defer f.done()
	f.seed("admin", adminPassword, store.RoleAdmin)
	f.seed("bob", bobPassword, store.RoleAgent)
	admin, bob := f.newTab("admin"), f.newTab("bob")
	admin.login("admin", adminPassword)
	f.setUpDuo(admin)

	bob.login("bob", bobPassword)
	bob.at(f.hdHost, "/")
	bob.signedInAs("bob")
	bob.click("logout")

	f.saveSettings(admin, func() { admin.tick("enforce_all") })
	admin.open("/admin/operators")
	if got := admin.text("duo-state-bob"); got != "Enforced" {
		admin.fail("bob's Duo state with enforce_all: %q", got)
	}
	admin.want([]string{"duo-why-bob"}, []string{"enable-bob", "disable-bob"})
	if got := admin.text("duo-why-bob"); !strings.Contains(got, "every operator") {
		admin.fail("why bob is enforced: %q", got)
	}
	admin.shot("operators-enforced")

	bob.login("bob", bobPassword)
	bob.want([]string{"continue-to-duo"}, []string{"signed-in-as"})
	bob.click("continue-to-duo")
	bob.at(f.simHost, "/oauth/v1/authorize")
	bob.shot("duo-prompt")
	f.checkLog()
}

// TestBrowserLogAndLiveStatus: Duo denies alice once and lets bob in; the
// admin filters the Log page to alice's denied events and sees exactly
// those, downloads them as CSV with the browser's session (header and the
// same rows), and the Plugins page's live status shows Duo's latency and
// the day's sign-ins.
func TestBrowserLogAndLiveStatus(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	defer f.done()
	f.seed("admin", adminPassword, store.RoleAdmin)
	alice := f.seed("alice", alicePassword, store.RoleAgent)
	f.seed("bob", bobPassword, store.RoleAgent)
	admin, at := f.newTab("admin"), f.newTab("alice")
	admin.login("admin", adminPassword)
	f.setUpDuo(admin, "alice", "bob")

	// Bob signs in with Duo; Duo denies alice.
	f.newTab("bob").firstDuoSignIn("bob", bobPassword, true)
	f.sim.SetOutcome("alice", duosim.OutcomeDeny)
	at.login("alice", alicePassword)
	if status := at.click("continue-to-duo"); status != http.StatusForbidden {
		at.fail("a Duo deny: status %d, want 403", status)
	}
	f.sim.ClearOutcome("alice")

	// The Log page, filtered to alice's denials.
	admin.click("nav-log")
	admin.at(f.hdHost, "/admin/log")
	aliceID := strconv.FormatInt(alice.ID, 10)
	admin.do("choose alice", chromedp.SetValue(chromedp.ID("filter-operator"), aliceID))
	admin.fill("filter-outcome", "denied")
	admin.click("apply-filter")
	admin.shot("log-filtered")
	type row struct{ Kind, Operator, Outcome, Reason string }
	rows := query(admin, "read the log's rows", chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll("tr.log-event"), r => ({
		Kind: r.querySelector(".ev-kind").textContent.trim(),
		Operator: r.querySelector(".ev-operator").textContent.trim(),
		Outcome: r.querySelector(".ev-outcome").textContent.trim(),
		Reason: r.querySelector(".ev-reason").textContent.trim(),
	}))`))
	if len(rows) == 0 {
		admin.fail("no events for alice's denial")
	}
	sawComplete := false
	for _, r := range rows {
		if r.Operator != "alice" || r.Outcome != "denied" {
			admin.fail("a row the filter does not select: %+v", r)
		}
		sawComplete = sawComplete || r.Kind == "login.complete"
	}
	if !sawComplete {
		admin.fail("no login.complete event among alice's denials: %+v", rows)
	}

	// The CSV download, fetched with the browser's session cookie.
	href := admin.attr("download-csv", "href")
	resp := f.fetchAs(admin, href)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("CSV download: %d %q %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), body)
	}
	records, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(records) < 2 {
		t.Fatalf("CSV download: %v\n%s", err, body)
	}
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	for _, name := range []string{"operator_id", "kind", "outcome"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("CSV header %v lacks %s", records[0], name)
		}
	}
	if len(records)-1 != len(rows) {
		t.Fatalf("CSV has %d rows, the page %d", len(records)-1, len(rows))
	}
	for _, rec := range records[1:] {
		if rec[col["operator_id"]] != aliceID || rec[col["outcome"]] != "denied" {
			t.Fatalf("a CSV row the filter does not select: %v", rec)
		}
	}

	// The live status: a latency and the day's sign-ins. The plugin keeps
	// its counts for a few seconds (a host may poll Status): the page is
	// opened again until they show these sign-ins.
	count := func(id string) int {
		n, err := strconv.Atoi(admin.text(id))
		if err != nil {
			admin.fail("#%s = %q, not a number", id, admin.text(id))
		}
		return n
	}
	waitfor.Until(t, 30*time.Second, "the live status to count bob's and alice's sign-ins", func() bool {
		admin.open("/admin/plugins")
		return count("logins-allowed") >= 1 && count("logins-denied") >= 1
	})
	admin.shot("live-status")
	if got := admin.text("live-latency"); !regexp.MustCompile(`^\d+(\.\d)? ms$`).MatchString(got) {
		admin.fail("Duo latency %q", got)
	}
	if got := admin.text("live-failures"); got != "0" {
		admin.fail("Duo failures in a row: %q", got)
	}
	if got := count("logins-fail-open") + count("logins-exempt"); got != 0 {
		admin.fail("fail-open and exempt sign-ins: %d, want none", got)
	}

	// /metrics: the helpdesk's own and the plugin's, through the SDK.
	rec := httptest.NewRecorder()
	f.app.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{"go_goroutines ", "process_resident_memory_bytes ", "duo_plugin_up 1"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	f.checkLog()
}

// fetchAs GETs a path of the helpdesk with the tab's session cookie, as
// the browser's own download would.
func (f *fixture) fetchAs(b *tab, path string) *http.Response {
	f.t.Helper()
	res := query(b, "read the session cookie", chromedp.Action[network.GetCookiesResult](func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base}})
	}))
	cookies := res.Cookies
	req, err := http.NewRequestWithContext(f.t.Context(), http.MethodGet, b.base+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range cookies {
		if c.Name == web.CookieName(false) {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}
