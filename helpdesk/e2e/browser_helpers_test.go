package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	t      *testing.T
	name   string
	ctx    context.Context
	base   string
	shots  string
	nshots *int
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
	if resp == nil {
		return 0
	}
	return resp.Status
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
	*b.nshots++
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("[%s] screenshot %s: %v", b.name, name, err)
		return
	}
	file := filepath.Join(b.shots, fmt.Sprintf("%02d-%s-%s.png", *b.nshots, b.name, name))
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
