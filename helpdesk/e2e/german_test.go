package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
)

// TestBrowserGerman: a Chromium whose Accept-Language asks for German
// gets the helpdesk in German, word for word as de.toml has it, on pages
// marked <html lang="de">: the sign-in page, the Operators page and the
// Plugins page, through signing in and activating the plugin, and the
// plugin's settings form.
func TestBrowserGerman(t *testing.T) {
	t.Parallel()
	f := startFixture(t)
	defer f.done()
	f.seed("admin", "admin-german-pass", store.RoleAdmin)
	f.seed("alice", "alice-german-pass", store.RoleAgent)
	admin := f.newTab("admin")
	admin.acceptLanguage("de-DE,de;q=0.9")

	// texts asserts the text of each element (by CSS selector).
	texts := func(want map[string]string) {
		t.Helper()
		for css, w := range want {
			if got := admin.textCSS(css); got != w {
				admin.fail("%s on %s reads %q, want %q", css, admin.location(), got, w)
			}
		}
	}
	german := func() {
		t.Helper()
		if lang := admin.htmlLang(); lang != "de" {
			admin.fail("<html lang=%q> on %s, want de", lang, admin.location())
		}
	}

	admin.open("/login")
	german()
	texts(map[string]string{
		"h1":                  "Anmelden",            // signin.title
		`label[for=username]`: "Benutzername",        // signin.username
		`label[for=password]`: "Passwort",            // signin.password
		"#login":              "Anmelden",            // signin.submit
		"a.skip":              "Zum Inhalt springen", // layout.skip
	})
	admin.shot("login-de")
	admin.fill("username", "admin")
	admin.fill("password", "a-wrong-password")
	admin.click("login")
	german()
	texts(map[string]string{
		"#login-error p": "Es gibt ein Problem:",                   // form.error_summary
		"#login-error a": "Benutzername oder Passwort ist falsch.", // signin.wrong_credentials
	})

	admin.login("admin", "admin-german-pass")
	admin.at(f.hdHost, "/")
	german()
	admin.open("/admin/operators")
	german()
	texts(map[string]string{
		"h1":                               "Mitarbeitende",     // operators.title
		"#nav-operators":                   "Mitarbeitende",     // layout.operators
		"#nav-account":                     "Mein Konto",        // layout.account
		"#logout":                          "Abmelden",          // layout.sign_out
		"#operators thead th:nth-child(3)": "E-Mail",            // operators.email
		"#operators thead th:nth-child(5)": "Authenticator-App", // operators.totp
		// operators.inactive, its markup gone
		"#duo-inactive": "Duo Security ist nicht aktiv, daher melden sich Mitarbeitende mit der Zwei-Faktor-Methode des Helpdesks an. " +
			"Aktivieren Sie es auf der Seite Plugins, um Duo für Mitarbeitende einzuschalten.",
	})
	admin.shot("operators-de")

	admin.open("/admin/plugins")
	german()
	texts(map[string]string{
		"h1":            "Plugins",    // plugins.title
		"#plugin-state": "Inaktiv",    // plugins.inactive
		"#activate":     "Aktivieren", // plugins.activate
	})
	admin.click("activate")
	german()
	texts(map[string]string{
		"#plugin-state": "Aktiv",        // plugins.active
		"#deactivate":   "Deaktivieren", // plugins.deactivate
	})
	admin.shot("plugins-de")

	// The settings form: the schema's English names, help and options in
	// German from the catalogue (plugin_settings.de.toml).
	admin.click("settings")
	german()
	texts(map[string]string{
		"h1":                       "Einstellungen von Duo Security",                           // settings.title
		"label[for=client_secret]": "Client-Secret (Pflichtfeld)",                              // duo.setting.client_secret.name, settings.required
		"#help-api_hostname":       "Ihr Duo-API-Hostname, etwa api-xxxxxxxx.duosecurity.com.", // duo.setting.api_hostname.help
		"#field-enforce_all label": "Duo für alle Mitarbeitenden vorschreiben",                 // duo.setting.enforce_all.name
		"#save":                    "Speichern",                                                // form.save
	})
	// An option of a closed <select> has no rendered text: read its content.
	if got := query(admin, "option text", chromedp.Evaluate[string](`document.querySelector("#fail_mode option[value=open]").textContent`)); got != "Offen: Anmeldung ohne Duo zulassen" { // duo.setting.fail_mode.option.open
		admin.fail("the fail_mode option open reads %q", got)
	}
	admin.shot("settings-de")
}
