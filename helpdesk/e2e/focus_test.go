package e2e

import (
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
)

// TestBrowserErrorSummaryTakesFocus: after a failed submit the page's
// error summary has the keyboard focus, so a screen reader reads it and
// Tab goes on to the fields it links to: after a wrong password on the
// sign-in page, and after settings the plugin refuses.
func TestBrowserErrorSummaryTakesFocus(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	defer f.done()
	f.seed("admin", "admin-focus-pass", store.RoleAdmin)
	admin := f.newTab("admin")

	// A fresh sign-in page puts the focus in the username field.
	admin.open("/login")
	if got := admin.focused(); got != "username" {
		admin.fail("on a fresh sign-in page the focus is on %q, want username", got)
	}
	admin.fill("username", "admin")
	admin.fill("password", "not-the-password")
	// The form's answer is the page itself (401), not a redirect: the
	// autofocus of the summary is what moves the focus.
	if status := admin.click("login"); status != 401 {
		admin.fail("a wrong password answered %d, want 401", status)
	}
	admin.at(f.hdHost, "/login")
	admin.want([]string{"login-error"}, nil)
	if got := admin.focused(); got != "login-error" {
		admin.fail("after a wrong password the focus is on %q, want the error summary login-error", got)
	}

	admin.login("admin", "admin-focus-pass")
	admin.at(f.hdHost, "/")
	admin.open("/admin/plugins")
	admin.click("activate")
	admin.click("settings")
	// A client id of the wrong shape and no secret nor hostname: the
	// plugin refuses before it asks Duo anything.
	admin.fill("client_id", "not-a-client-id")
	if status := admin.click("save"); status != 422 {
		admin.fail("invalid settings answered %d, want 422", status)
	}
	admin.want([]string{"settings-errors", "error-client_id"}, nil)
	if got := admin.focused(); got != "settings-errors" {
		admin.fail("after invalid settings the focus is on %q, want the error summary settings-errors", got)
	}
}
