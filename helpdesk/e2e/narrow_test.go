package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
)

// documentWidth answers how wide the page's document is: wider than the
// viewport, it scrolls sideways.
func documentWidth() chromedp.Action[int] {
	return chromedp.Evaluate[int](`document.documentElement.scrollWidth`)
}

// TestBrowserNarrowScreen: at 390×844 (a phone) the pages with tables do
// not scroll the document sideways; the tables scroll in their regions.
func TestBrowserNarrowScreen(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	defer f.done()
	f.seed("admin", "admin-narrow-pass", store.RoleAdmin)
	f.seed("alice", "alice-narrow-pass", store.RoleAgent)
	admin := f.newTab("admin")
	admin.login("admin", "admin-narrow-pass")
	f.setUpDuo(admin, "alice")
	admin.do("narrow viewport", chromedp.EmulateViewport(390, 844))
	for _, path := range []string{"/", "/admin/operators", "/admin/plugins", "/account", "/admin/outbox", "/admin/log"} {
		admin.open(path)
		if w := query(admin, "scroll width", documentWidth()); w > 390 {
			admin.fail("%s is %d px wide at a 390 px viewport", path, w)
		}
	}
}
