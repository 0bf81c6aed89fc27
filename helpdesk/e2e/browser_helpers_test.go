package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/internal/lbtest"
)

// findChromium returns a Chromium or Chrome binary. Without one the browser
// tests cannot run: CI (CI=true) must run them, so there it is a failure;
// elsewhere the test is skipped, loudly.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium not found, and CI must run the browser tests (install the chromium package)")
	}
	t.Skip("!!! SKIPPED: Chromium not found; browser tests did not run (install chromium, or set CHROMIUM_PATH)")
	return ""
}

// startBrowser starts a headless Chromium with its profile in profileDir
// and the extra options, and stops it when the test ends. Tabs are new
// chromedp contexts of the one it answers.
func startBrowser(t *testing.T, chromium, profileDir string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profileDir),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(opts, extra...)...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browserCtx
}

// artifactsDir is where screenshots and logs go.
func artifactsDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("HELPDESK_E2E_ARTIFACTS"); d != "" {
		dir := filepath.Join(d, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// tab is one browser tab with its own cookie jar (its own browser context).
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	base string
	fx   *fixture
	// servedBy is the last page's lbtest.Header (X-Served-By): which
	// backend behind a balancer served it ("" without one).
	servedBy string
}

const stepTimeout = 30 * time.Second

func (b *tab) fail(format string, args ...any) {
	b.t.Helper()
	b.shot("FAIL")
	if html, err := b.run(chromedp.OuterHTML(chromedp.CSS("main"), chromedp.AtLeast(0))); err == nil {
		b.t.Logf("[%s] page at failure (%s):\n%s", b.name, b.location(), html)
	}
	b.t.Fatalf("[%s] %s", b.name, fmt.Sprintf(format, args...))
}

func (b *tab) run(a chromedp.Action[string]) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// open loads a page of the helpdesk (path) or any absolute URL.
func (b *tab) open(target string) int64 {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.base + target
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(target))
	if err != nil {
		b.fail("open %s: %v", target, err)
	}
	b.servedBy = headerValue(resp.Headers, lbtest.Header)
	b.checkA11y()
	return resp.Status
}

// click clicks the element with id and waits for the page it leads to.
func (b *tab) click(id string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		b.fail("click #%s: %v", id, err)
	}
	b.checkA11y()
	if resp == nil {
		b.servedBy = ""
		return 0
	}
	b.servedBy = headerValue(resp.Headers, lbtest.Header)
	return resp.Status
}

// headerValue is the header name of h, whatever its case (HAProxy sends
// header names in lower case), or "".
func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// acceptLanguage makes every later request of the tab send header as its
// Accept-Language, in place of the browser's own.
func (b *tab) acceptLanguage(header string) {
	b.t.Helper()
	b.do("set Accept-Language", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": header},
		})
		return err
	}))
}

// focused is the id of the element that has the focus ("" for none or
// one without an id; "(body)" when nothing on the page has it).
func (b *tab) focused() string {
	b.t.Helper()
	return query(b, "focused element", chromedp.Evaluate[string](
		`(e => !e || e === document.body ? "(body)" : e.id)(document.activeElement)`))
}

// htmlLang is the lang attribute of the page's <html>.
func (b *tab) htmlLang() string {
	b.t.Helper()
	return query(b, "<html lang>", chromedp.Evaluate[string](`document.documentElement.getAttribute("lang") || ""`))
}

func (b *tab) fill(id, value string) {
	b.t.Helper()
	b.do("fill #"+id, chromedp.SetValue(chromedp.ID(id), value))
}

func (b *tab) text(id string) string {
	b.t.Helper()
	s, err := b.run(chromedp.Text(chromedp.ID(id)))
	if err != nil {
		b.fail("text of #%s: %v", id, err)
	}
	return strings.TrimSpace(s)
}

func (b *tab) textCSS(css string) string {
	b.t.Helper()
	s, err := b.run(chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		b.fail("text of %s: %v", css, err)
	}
	return strings.TrimSpace(s)
}

func (b *tab) value(id string) string {
	b.t.Helper()
	s, err := b.run(chromedp.Value(chromedp.ID(id)))
	if err != nil {
		b.fail("value of #%s: %v", id, err)
	}
	return s
}

func (b *tab) attr(id, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID(id), name))
	if err != nil {
		b.fail("attribute %s of #%s: %v", name, id, err)
	}
	return r.Value
}

// count returns how many elements match a CSS selector, without waiting.
func (b *tab) count(css string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(css), chromedp.AtLeast(0)))
	if err != nil {
		b.fail("query %s: %v", css, err)
	}
	return len(nodes)
}

func (b *tab) has(id string) bool { b.t.Helper(); return b.count("#"+id) > 0 }

// want asserts which of the ids are on the page and which are not.
func (b *tab) want(present []string, absent []string) {
	b.t.Helper()
	for _, id := range present {
		if !b.has(id) {
			b.fail("want #%s on the page at %s, it is not there", id, b.location())
		}
	}
	for _, id := range absent {
		if b.has(id) {
			b.fail("want no #%s on the page at %s, but it is there", id, b.location())
		}
	}
}

func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	return loc
}

// path is the current location's path, asserting it is on host.
func (b *tab) at(wantHost, wantPath string) {
	b.t.Helper()
	loc := b.location()
	u, err := url.Parse(loc)
	if err != nil || u.Host != wantHost || u.Path != wantPath {
		b.fail("want to be at %s%s, am at %s", wantHost, wantPath, loc)
	}
}

// shot saves a PNG screenshot of the whole page.
func (b *tab) shot(name string) {
	b.fx.nshots++
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("[%s] screenshot %s: %v", b.name, name, err)
		return
	}
	file := filepath.Join(b.fx.artifacts, fmt.Sprintf("%02d-%s-%s.png", b.fx.nshots, b.name, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Logf("[%s] screenshot %s: %v", b.name, name, err)
	}
}

// login signs in through the form at /login and waits for what follows.
func (b *tab) login(username, password string) int64 {
	b.t.Helper()
	b.open("/login")
	b.fill("username", username)
	b.fill("password", password)
	return b.click("login")
}

// query runs a query action in the tab and fails the test if it fails.
func query[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail("%s: %v", what, err)
	}
	return v
}

// tick ticks the checkbox id, which loads no page, and checks that it is
// ticked.
func (b *tab) tick(id string) {
	b.t.Helper()
	b.do("tick #"+id, chromedp.Click(chromedp.ID(id)))
	if !query(b, "state of #"+id, chromedp.JavascriptAttribute[bool](chromedp.ID(id), "checked")) {
		b.fail("#%s is not ticked after a click", id)
	}
}

// typeText types s into the empty field id key by key, as a person does,
// and checks the field holds exactly s.
func (b *tab) typeText(id, s string) {
	b.t.Helper()
	b.do("type into #"+id, chromedp.Clear(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), s))
	if got := b.value(id); got != s {
		b.fail("#%s holds %q after typing %q", id, got, s)
	}
}

// signedInAs checks the page header names username.
func (b *tab) signedInAs(username string) {
	b.t.Helper()
	if got := b.text("signed-in-as"); got != username {
		b.fail("signed in as %q, want %s", got, username)
	}
}

// backupCodeShape is a backup code as shown: two groups of five from an
// alphabet without 0, 1, i, l and o.
var backupCodeShape = regexp.MustCompile(`^[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}$`)

// backupCodes reads a page of backup codes: ten codes in #backup-codes,
// of the shown shape and all different, and #download-codes, a
// data:text/plain link to a file holding the same codes. They go on the
// list of secrets the log must not show.
func (b *tab) backupCodes(owner string) []string {
	b.t.Helper()
	codes := strings.Fields(b.value("backup-codes"))
	if len(codes) != 10 {
		b.fail("%d backup codes shown, want 10", len(codes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if !backupCodeShape.MatchString(c) {
			b.fail("backup code %d has the shape %q", i, c)
		}
		if seen[c] {
			b.fail("backup code %d shown twice", i)
		}
		seen[c] = true
		b.fx.code(fmt.Sprintf("backup code %d of %s", i, owner), c)
	}
	href := b.attr("download-codes", "href")
	payload, ok := strings.CutPrefix(href, "data:text/plain")
	if !ok {
		b.fail("download link is not a data:text/plain URL: %.40q", href)
	}
	_, payload, _ = strings.Cut(payload, ",")
	file, err := url.PathUnescape(payload)
	if err != nil {
		b.fail("download link does not decode: %v", err)
	}
	if got := strings.Fields(file); len(got) < len(codes) || !slices.Equal(got[len(got)-len(codes):], codes) {
		b.fail("the downloaded file does not end with the codes shown:\n%s", file)
	}
	if name := b.attr("download-codes", "download"); name != "backup-codes.txt" {
		b.fail("download file name %q", name)
	}
	return codes
}

// duoApprove approves at the simulator's prompt, after enrolling a device
// when enroll is set (the simulator asks only the first time).
func (b *tab) duoApprove(enroll bool) {
	b.t.Helper()
	b.at(b.fx.simHost, "/oauth/v1/authorize")
	if enroll {
		b.click("enroll")
	}
	b.want([]string{"approve", "deny"}, []string{"enroll"})
	b.click("approve")
}

// firstDuoSignIn signs in with the password and Duo at a time the plugin
// issues backup codes (the first time, or the first after a reset), saves
// them and finishes signing in. It returns the codes.
func (b *tab) firstDuoSignIn(username, password string, enroll bool) []string {
	b.t.Helper()
	b.login(username, password)
	b.click("continue-to-duo")
	b.duoApprove(enroll)
	b.at(b.fx.hdHost, web.CallbackPath)
	codes := b.backupCodes(username)
	b.tick("saved-codes")
	b.click("finish-sign-in")
	b.at(b.fx.hdHost, "/")
	b.signedInAs(username)
	return codes
}

// outboxMail is one mail on the Outbox page.
type outboxMail struct{ To, Subject, Text string }

// outbox reads the mails on the Outbox page.
func (b *tab) outbox() []outboxMail {
	b.t.Helper()
	return query(b, "read the outbox", chromedp.Evaluate[[]outboxMail](`Array.from(document.querySelectorAll(".mail"), m => ({
		To: m.querySelector(".mail-to").textContent,
		Subject: m.querySelector(".mail-subject").textContent,
		Text: m.querySelector("pre.mail-text").textContent,
	}))`))
}
