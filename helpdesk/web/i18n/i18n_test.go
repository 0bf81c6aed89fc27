package i18n_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/web/i18n"
)

func TestMatch(t *testing.T) {
	c := i18n.MustNew(nil)
	for header, want := range map[string]language.Tag{
		"":                         language.English,
		"de":                       language.German,
		"de-AT,en;q=0.5":           language.German,
		"fr-FR,fr;q=0.9":           language.English,
		"fr,de;q=0.8":              language.German,
		"en-GB":                    language.English,
		"this is not a header ;;;": language.English,
	} {
		if got := c.Match(header); got != want {
			t.Errorf("Match(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestUnknownIDFallsBackAndLogsOnce(t *testing.T) {
	var buf bytes.Buffer
	c := i18n.MustNew(slog.New(slog.NewTextHandler(&buf, nil)))
	de := c.For(language.German)
	if got := de.T("no.such.id"); got != "no.such.id" {
		t.Errorf("unknown id = %q", got)
	}
	de.T("no.such.id")
	if n := strings.Count(buf.String(), "unknown message id"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, buf.String())
	}
	if got := de.Text("plugin.unknown", map[string]string{"Name": "alice"}, "Hello {{.Name}}"); got != "Hello alice" {
		t.Errorf("plugin text with an unknown id = %q, want its default", got)
	}
	if got := de.Text("signin.wrong_credentials", nil, "Wrong"); got != "Benutzername oder Passwort ist falsch." {
		t.Errorf("plugin text with a known id = %q", got)
	}
}

func TestPlural(t *testing.T) {
	c := i18n.MustNew(nil)
	de := c.For(language.German)
	if got := de.N("time.minutes_ago", 1); got != "vor 1 Minute" {
		t.Errorf("1: %q", got)
	}
	if got := de.N("time.minutes_ago", 5); got != "vor 5 Minuten" {
		t.Errorf("5: %q", got)
	}
	if got := c.For(language.English).HTML("plugins.none_help", "Dir", "<x>"); !strings.Contains(got, "<code>&lt;x&gt;</code>") {
		t.Errorf("HTML does not escape its argument: %q", got)
	}
}
