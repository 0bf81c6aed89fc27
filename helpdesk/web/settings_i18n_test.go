package web_test

import (
	"html"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// pluginManifest is the plugin's own plugin.json, which the helpdesk loads
// from the bundle.
const pluginManifest = "../../plugin.json"

// TestGermanCoversThePluginsSettings: every setting of plugin.json's
// settings_schema has German for its name, its help text and each of its
// dropdown options under the conventional ids, different from the English
// and taking no arguments, and German names no setting the schema lacks.
func TestGermanCoversThePluginsSettings(t *testing.T) {
	m, err := host.LoadManifest(pluginManifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.SettingsSchema) == 0 {
		t.Fatal("plugin.json has no settings: the check would prove nothing")
	}
	de := catalogue(t)["de"]
	want := map[string]string{} // id -> English
	for _, f := range m.SettingsSchema {
		want[web.SettingNameID(f.Key)] = f.DisplayName
		if f.HelpText != "" {
			want[web.SettingHelpID(f.Key)] = f.HelpText
		}
		for _, o := range f.Options {
			want[web.SettingOptionID(f.Key, o.Value)] = o.DisplayName
		}
	}
	for id, english := range want {
		msg, ok := de[id]
		switch {
		case !ok:
			t.Errorf("%s has no German (English: %q)", id, english)
		case strings.TrimSpace(msg.Other) == "":
			t.Errorf("%s: German is empty", id)
		case msg.Other == english:
			t.Errorf("%s: German is the English text %q", id, english)
		case len(placeholders(msg)) > 0:
			t.Errorf("%s: German takes arguments %v, the schema's text none", id, placeholders(msg))
		}
	}
	for id := range de {
		if _, ok := want[id]; strings.HasPrefix(id, "duo.setting.") && !ok {
			t.Errorf("German has %s, which is no text of plugin.json's settings_schema", id)
		}
	}
	t.Logf("%d settings, %d texts", len(m.SettingsSchema), len(want))
}

// TestSettingsPageInTheReadersLanguage: the settings form of the real
// plugin.json reads German to a German reader (names, help, options, and
// the names inside the plugin's field errors) and the schema's English to
// anyone else; a setting the catalogue does not know is shown in English,
// its miss logged.
func TestSettingsPageInTheReadersLanguage(t *testing.T) {
	raw, err := os.ReadFile(pluginManifest)
	if err != nil {
		t.Fatal(err)
	}
	// A newer plugin's setting, not in the catalogue.
	manifest := strings.Replace(string(raw), `"settings_schema": [`, `"settings_schema": [
    {"key": "brand_new", "display_name": "A brand-new setting", "type": "dropdown", "help_text": "Help for a setting the helpdesk has not seen.",
     "default": "a", "options": [{"value": "a", "display_name": "Choice A"}], "required": false},`, 1)
	if manifest == string(raw) {
		t.Fatal("could not add a setting to plugin.json")
	}
	e := newEnv(t, envOpts{manifest: manifest})
	e.activate()
	e.fake.set(func(f *fakePlugin) {
		f.update = func(contract.UpdateSettingsRequest) (contract.UpdateSettingsResponse, error) {
			return contract.UpdateSettingsResponse{Errors: []contract.FieldError{{
				Field: "client_id", Message: "Client ID is required.",
				Text: contract.Text{ID: contract.TextSettingRequired, Args: map[string]string{"field": "Client ID"}},
			}}}, nil
		}
	})
	const path = "/admin/plugins/duo-security/settings"
	for _, tc := range []struct {
		lang      string
		want, not []string
	}{
		{"de-DE,de;q=0.9", []string{
			`<label for="client_id">Client-ID <span class="muted small">(Pflichtfeld)</span></label>`,
			`>Wenn Duo nicht erreichbar ist <span`,
			`<option value="closed" selected>Geschlossen: Anmeldung ablehnen (empfohlen)</option>`,
			`<option value="email_local" >E-Mail-Adresse vor dem @</option>`,
			`id="help-log_retention_days">Ältere Ereignisse werden im Hintergrund nach und nach gelöscht: 1 bis 3650 Tage.</p>`,
			`> Duo für alle Agenten vorschreiben</label>`,
			// not in the catalogue: the schema's English
			`<label for="brand_new">A brand-new setting</label>`,
			`id="help-brand_new">Help for a setting the helpdesk has not seen.</p>`,
			`<option value="a" selected>Choice A</option>`,
		}, []string{`<label for="client_id">Client ID`, "When Duo is unreachable", "Fail closed", "Time to complete Duo"}},
		{"en", []string{
			`<label for="client_id">Client ID <span class="muted small">(required)</span></label>`,
			`<option value="closed" selected>Fail closed: refuse the login (recommended)</option>`,
			`> Require Duo for every agent</label>`,
			`<label for="brand_new">A brand-new setting</label>`,
		}, []string{`<label for="client_id">Client-ID`, "Geschlossen"}},
	} {
		c := e.client()
		c.lang = tc.lang
		c.signedIn("admin")
		if resp := c.get(path); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: settings page answered %d", tc.lang, resp.StatusCode)
		}
		page := html.UnescapeString(c.last)
		for _, w := range tc.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: the settings page lacks %q", tc.lang, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(page, n) {
				t.Errorf("%s: the settings page says %q", tc.lang, n)
			}
		}
		if t.Failed() {
			t.Fatalf("page:\n%s", page)
		}
		// The plugin names the field in English; a German reader reads
		// its German name, in the field's error and in the summary.
		if resp := c.postForm(path, url.Values{}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("%s: refused settings answered %d", tc.lang, resp.StatusCode)
		}
		page = html.UnescapeString(c.last)
		want := `<p class="field-error" id="error-client_id">Client ID is required.</p>`
		if strings.HasPrefix(tc.lang, "de") {
			want = `<p class="field-error" id="error-client_id">Client-ID ist erforderlich.</p>`
			if !strings.Contains(page, `<a href="#client_id">Client-ID: Client-ID ist erforderlich.</a>`) {
				t.Errorf("%s: the summary does not name the field in German:\n%s", tc.lang, page)
			}
		}
		if !strings.Contains(page, want) {
			t.Errorf("%s: the page lacks %q:\n%s", tc.lang, want, page)
		}
	}
	logs := e.logs()
	for _, id := range []string{"duo.setting.brand_new.name", "duo.setting.brand_new.help", "duo.setting.brand_new.option.a"} {
		if n := strings.Count(logs, "id="+id+" "); n != 1 {
			t.Errorf("the miss of %s is logged %d times, want once:\n%s", id, n, logs)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "i18n:") && !strings.Contains(line, "brand_new") {
			t.Errorf("the catalogue missed a message of the real schema: %s", line)
		}
	}
}
