package web_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web/i18n"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// catalogue reads every catalogue file: messages by language, then id.
func catalogue(t *testing.T) map[string]map[string]*goi18n.Message {
	t.Helper()
	names, err := i18n.Files()
	if err != nil || len(names) == 0 {
		t.Fatalf("catalogue files: %v %v", names, err)
	}
	out := map[string]map[string]*goi18n.Message{}
	for _, n := range names {
		mf, err := i18n.ParseFile(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		lang := mf.Tag.String()
		if out[lang] == nil {
			out[lang] = map[string]*goi18n.Message{}
		}
		for _, m := range mf.Messages {
			if _, dup := out[lang][m.ID]; dup {
				t.Errorf("%s: id %s is defined twice in %s", n, m.ID, lang)
			}
			out[lang][m.ID] = m
		}
	}
	return out
}

var templateID = regexp.MustCompile(`\$\.(?:T|N|HTML) "([^"]+)"`)

// usedIDs are the message ids the templates and the Go code name: every
// {{$.T "id"}}, {{$.N "id"}} and {{$.HTML "id"}}, and every string literal
// of the package's Go code shaped like an id of one of the catalogue's
// areas (the first part of its ids).
func usedIDs(t *testing.T, areas map[string]bool) map[string]string {
	t.Helper()
	used := map[string]string{} // id -> where
	tmpls, _ := filepath.Glob("templates/*.html")
	for _, f := range tmpls {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templateID.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = f
		}
	}
	idShape := regexp.MustCompile(`^[a-z_]+(\.[a-z0-9_]+)+$`)
	gos, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range gos {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && idShape.MatchString(s) && areas[strings.SplitN(s, ".", 2)[0]] {
				used[s] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	if len(used) < 100 {
		t.Fatalf("found only %d message ids in use: the scan is broken", len(used))
	}
	return used
}

func TestEveryMessageIDUsedIsInEnglishAndGerman(t *testing.T) {
	cat := catalogue(t)
	areas := map[string]bool{}
	for id := range cat["en"] {
		areas[strings.SplitN(id, ".", 2)[0]] = true
	}
	for id, where := range usedIDs(t, areas) {
		for _, lang := range []string{"en", "de"} {
			if _, ok := cat[lang][id]; !ok {
				t.Errorf("%s: message id %q is not in the %s catalogue", where, id, lang)
			}
		}
	}
}

var placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

func placeholders(m *goi18n.Message) []string {
	var out []string
	for _, s := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
		for _, p := range placeholder.FindAllStringSubmatch(s, -1) {
			out = append(out, p[1])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestGermanTranslatesEveryEnglishID: the same ids in each area's English
// and German files, plural where English is plural, with the same
// arguments, and text of its own.
func TestGermanTranslatesEveryEnglishID(t *testing.T) {
	names, _ := i18n.Files()
	byArea := map[string]map[string][]string{} // area -> lang -> ids
	for _, n := range names {
		base := strings.TrimSuffix(filepath.Base(n), ".toml")
		area, lang, _ := strings.Cut(base, ".")
		if area == "plugin" || area == "plugin_settings" {
			continue // German only: see TestGermanCoversThePluginsTexts and TestGermanCoversThePluginsSettings
		}
		mf, err := i18n.ParseFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if byArea[area] == nil {
			byArea[area] = map[string][]string{}
		}
		for _, m := range mf.Messages {
			byArea[area][lang] = append(byArea[area][lang], m.ID)
		}
	}
	for area, langs := range byArea {
		if !slices.Equal(slices.Sorted(maps.Keys(langs)), []string{"de", "en"}) {
			t.Errorf("area %s has the languages %v, want de and en", area, slices.Sorted(maps.Keys(langs)))
			continue
		}
		en, de := map[string]bool{}, map[string]bool{}
		for _, id := range langs["en"] {
			en[id] = true
		}
		for _, id := range langs["de"] {
			de[id] = true
		}
		for id := range en {
			if !de[id] {
				t.Errorf("%s: %s has no German translation", area, id)
			}
		}
		for id := range de {
			if !en[id] {
				t.Errorf("%s: German %s has no English original", area, id)
			}
		}
	}
	cat := catalogue(t)
	same := 0
	for id, e := range cat["en"] {
		if strings.HasPrefix(id, "duo.") {
			continue
		}
		d, ok := cat["de"][id]
		if !ok {
			continue
		}
		if (e.One != "") != (d.One != "") || d.Other == "" {
			t.Errorf("%s: plural forms differ: en one=%q other=%q, de one=%q other=%q", id, e.One, e.Other, d.One, d.Other)
		}
		if pe, pd := placeholders(e), placeholders(d); !slices.Equal(pe, pd) {
			t.Errorf("%s: English takes %v, German %v", id, pe, pd)
		}
		if e.Other == d.Other {
			same++
		}
	}
	// A few words are the same in both (Tickets, Status, Duo…); a German
	// file copied from the English one is not.
	if same > len(cat["en"])/10 {
		t.Errorf("%d of %d German messages are the English text", same, len(cat["en"]))
	}
}

func TestMsgFailClosedIsTheCatalogues(t *testing.T) {
	if got := catalogue(t)["en"]["signin.fail_closed"].Other; got != web.MsgFailClosed {
		t.Errorf("signin.fail_closed = %q, web.MsgFailClosed = %q", got, web.MsgFailClosed)
	}
}

func TestPagesSpeakTheRequestsLanguage(t *testing.T) {
	e := newEnv(t, envOpts{})
	cases := []struct {
		name, lang, htmlLang string
		login, operators     []string
	}{
		{"German", "de-DE,de;q=0.9,en;q=0.5", "de",
			[]string{"Anmelden", "Benutzername", "Passwort"},
			[]string{"<h1>Mitarbeitende</h1>", "Duo Security ist nicht aktiv", `aria-current="page"`, "Abmelden"}},
		{"French falls back to English", "fr-FR,fr;q=0.9", "en",
			[]string{"Sign in", "Username", "Password"},
			[]string{"<h1>Operators</h1>", "Duo Security is not active", "Sign out"}},
		{"none", "", "en", []string{"Sign in"}, []string{"<h1>Operators</h1>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.client()
			c.lang = tc.lang
			c.get("/login")
			if !strings.Contains(c.last, `<html lang="`+tc.htmlLang+`">`) {
				t.Errorf("login page is not lang=%s:\n%.300s", tc.htmlLang, c.last)
			}
			for _, want := range tc.login {
				if !strings.Contains(c.last, want) {
					t.Errorf("login page lacks %q", want)
				}
			}
			c.signedIn("admin")
			c.get("/admin/operators")
			for _, want := range append(tc.operators, `<html lang="`+tc.htmlLang+`">`) {
				if !strings.Contains(c.last, want) {
					t.Errorf("operators page lacks %q:\n%s", want, c.last)
				}
			}
		})
	}
	if strings.Contains(e.logs(), "i18n:") {
		t.Errorf("the catalogue missed a message:\n%s", e.logs())
	}
}

func TestWrongPasswordInGermanFocusesTheErrorSummary(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client()
	c.lang = "de"
	c.login("admin", "wrong", "")
	for _, want := range []string{
		`id="login-error" role="alert" tabindex="-1" autofocus`,
		`<a href="#username">Benutzername oder Passwort ist falsch.</a>`,
		`aria-invalid="true" aria-describedby="login-error"`,
	} {
		if !strings.Contains(c.last, want) {
			t.Errorf("page lacks %q:\n%s", want, c.last)
		}
	}
}

var pluginArg = regexp.MustCompile(`\{(\w+)\}`)

// TestGermanCoversThePluginsTexts: every id in the contract's catalogue
// has German, taking the same arguments, and German has no other plugin
// ids; a German page shows a plugin Text in German.
func TestGermanCoversThePluginsTexts(t *testing.T) {
	de := catalogue(t)["de"]
	texts := contract.Texts()
	for id, english := range texts {
		m, ok := de[string(id)]
		if !ok {
			t.Errorf("plugin text %s has no German", id)
			continue
		}
		var want []string
		for _, a := range pluginArg.FindAllStringSubmatch(english, -1) {
			want = append(want, a[1])
		}
		slices.Sort(want)
		if got := placeholders(m); !slices.Equal(got, slices.Compact(want)) {
			t.Errorf("%s: English takes %v, German %v", id, want, got)
		}
		if m.Other == english {
			t.Errorf("%s: German is the English text", id)
		}
	}
	for id := range de {
		if strings.HasPrefix(id, "duo.setting.") {
			continue // the settings schema's: see TestGermanCoversThePluginsSettings
		}
		if _, ok := texts[contract.TextID(id)]; strings.HasPrefix(id, "duo.") && !ok {
			t.Errorf("German has %s, which the contract does not list", id)
		}
	}

	e := newEnv(t, envOpts{})
	e.activate()
	e.fake.set(func(f *fakePlugin) {
		f.begin = func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionDenied,
				Message: contract.TextDuoUnavailable.English(), Text: contract.TextDuoUnavailable.Text()}, nil
		}
	})
	for lang, want := range map[string]string{"de": "Duo Security ist gerade nicht erreichbar", "en": contract.TextDuoUnavailable.English()} {
		c := e.client()
		c.lang = lang
		c.login("alice", password, "")
		if !strings.Contains(c.last, want) {
			t.Errorf("%s: refusal lacks %q:\n%s", lang, want, c.last)
		}
	}
}
