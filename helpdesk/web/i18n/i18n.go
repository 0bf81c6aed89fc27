// Package i18n is the reference helpdesk's message catalogue: every text a
// person reads on its pages, by stable id, in English (the default) and
// German, embedded from locales/<area>.<lang>.toml. A Localizer answers
// for one request, in the language its Accept-Language header matches.
//
// An id the catalogue does not hold is never shown silently: the tests
// fail on one (they scan the templates and the Go code), and at run time
// the English text is shown instead and the miss is logged once per id.
package i18n

import (
	"embed"
	"fmt"
	"html"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"sync"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/pelletier/go-toml/v2"
	"golang.org/x/text/language"
)

//go:embed locales/*.toml
var locales embed.FS

// Supported are the languages of the catalogue, the default first.
var Supported = []language.Tag{language.English, language.German}

// Catalog is the loaded catalogue. It is safe for concurrent use.
type Catalog struct {
	bundle  *goi18n.Bundle
	matcher language.Matcher
	log     *slog.Logger
	logged  sync.Map // "lang\x00id" -> struct{}: misses already logged
}

// Files are the catalogue's file names (locales/<area>.<lang>.toml).
func Files() ([]string, error) { return fs.Glob(locales, "locales/*.toml") }

// ReadFile returns one embedded catalogue file.
func ReadFile(name string) ([]byte, error) { return fs.ReadFile(locales, name) }

// ParseFile reads one catalogue file into its language and messages.
func ParseFile(name string) (*goi18n.MessageFile, error) {
	buf, err := ReadFile(name)
	if err != nil {
		return nil, err
	}
	return goi18n.ParseMessageFileBytes(buf, name, map[string]goi18n.UnmarshalFunc{"toml": toml.Unmarshal})
}

// New loads the embedded catalogue. Misses are logged to log.
func New(log *slog.Logger) (*Catalog, error) {
	if log == nil {
		log = slog.Default()
	}
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	names, err := Files()
	if err != nil {
		return nil, fmt.Errorf("i18n: %w", err)
	}
	for _, n := range names {
		buf, err := ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		if _, err := b.ParseMessageFileBytes(buf, n); err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", n, err)
		}
	}
	return &Catalog{bundle: b, matcher: language.NewMatcher(Supported), log: log}, nil
}

// MustNew is New for tests and package-level defaults.
func MustNew(log *slog.Logger) *Catalog {
	c, err := New(log)
	if err != nil {
		panic(err)
	}
	return c
}

// Match returns the supported language that best fits an Accept-Language
// header; English when none fits or the header is missing or malformed.
func (c *Catalog) Match(acceptLanguage string) language.Tag {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return Supported[0]
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return Supported[0]
	}
	return Supported[i]
}

// For returns the Localizer for lang (one of Supported).
func (c *Catalog) For(lang language.Tag) *Localizer {
	return &Localizer{c: c, tag: lang, loc: goi18n.NewLocalizer(c.bundle, lang.String())}
}

// ForRequest returns the Localizer for the request's Accept-Language.
func (c *Catalog) ForRequest(r *http.Request) *Localizer {
	return c.For(c.Match(r.Header.Get("Accept-Language")))
}

// Localizer turns message ids into text in one language.
type Localizer struct {
	c   *Catalog
	tag language.Tag
	loc *goi18n.Localizer
}

// Lang is the BCP 47 tag of the language, for <html lang>.
func (l *Localizer) Lang() string { return l.tag.String() }

// Tag is the language.
func (l *Localizer) Tag() language.Tag { return l.tag }

// T returns message id with its arguments, given as name, value pairs.
func (l *Localizer) T(id string, kv ...any) string {
	return l.localize(id, nil, nil, kv, false)
}

// N returns message id in the plural form for count, which its text reads
// as {{.Count}}; more arguments as name, value pairs.
func (l *Localizer) N(id string, count int, kv ...any) string {
	return l.localize(id, &count, nil, kv, false)
}

// HTML returns message id whose catalogue text holds markup (<strong>,
// <code>, <a href="…">): the catalogue is trusted, every argument is
// escaped.
func (l *Localizer) HTML(id string, kv ...any) string {
	return l.localize(id, nil, nil, kv, true)
}

// Text returns message id with string arguments, or def (English, a
// text/template with the same arguments) when the catalogue does not hold
// id: for texts whose ids come from elsewhere, such as the plugin's.
// Such a miss is logged once.
func (l *Localizer) Text(id string, args map[string]string, def string) string {
	kv := make([]any, 0, 2*len(args))
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kv = append(kv, k, args[k])
	}
	d := &goi18n.Message{ID: id, Other: def}
	return l.localize(id, nil, d, kv, false)
}

// Has reports whether the catalogue holds id in English.
func (l *Localizer) Has(id string) bool {
	_, _, err := goi18n.NewLocalizer(l.c.bundle, "en").LocalizeWithTag(&goi18n.LocalizeConfig{MessageID: id})
	return err == nil
}

func (l *Localizer) localize(id string, count *int, def *goi18n.Message, kv []any, escape bool) string {
	data := make(map[string]any, len(kv)/2+1)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		v := kv[i+1]
		if escape {
			v = html.EscapeString(fmt.Sprint(v))
		}
		data[k] = v
	}
	lc := &goi18n.LocalizeConfig{MessageID: id, TemplateData: data, DefaultMessage: def}
	if count != nil {
		lc.PluralCount = *count
		data["Count"] = *count
	}
	out, tag, err := l.loc.LocalizeWithTag(lc)
	if err == nil {
		return out
	}
	key := l.tag.String() + "\x00" + id
	if _, seen := l.c.logged.LoadOrStore(key, struct{}{}); !seen {
		if out != "" {
			l.c.log.Warn("i18n: message missing in this language; shown in English", "id", id, "lang", l.tag.String(), "shown", tag.String())
		} else {
			l.c.log.Error("i18n: unknown message id", "id", id, "lang", l.tag.String(), "error", err)
		}
	}
	if out == "" {
		return id
	}
	return out
}
