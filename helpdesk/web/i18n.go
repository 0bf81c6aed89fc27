package web

import (
	"fmt"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"golang.org/x/text/language"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web/i18n"
)

// The helpdesk's words come from the message catalogue (package i18n), in
// the language the request's Accept-Language header matches.

// loc is the request's Localizer.
func (s *Server) loc(r *http.Request) *i18n.Localizer { return s.cat.ForRequest(r) }

// tr is message id in the request's language, with name, value pairs.
func (s *Server) tr(r *http.Request, id string, kv ...any) string { return s.loc(r).T(id, kv...) }

// localizePluginText is how the helpdesk shows a text the plugin wrote: by
// its id, from the helpdesk's catalogue in the reader's language, with its
// arguments; def, the plugin's own English, for English readers and when
// the catalogue does not know the id (a newer plugin; logged once).
func localizePluginText(loc *i18n.Localizer, id string, args map[string]string, def string) string {
	if id == "" || loc.Tag() == language.English {
		return def
	}
	return loc.Text(id, args, def)
}

// pluginText shows a plugin's Text (or its message, when it sent no
// Text) in the request's language.
func (s *Server) pluginText(r *http.Request, t contract.Text, message string) string {
	if t.ID == "" {
		return message
	}
	def := message
	if def == "" {
		def = t.English()
	}
	return localizePluginText(s.loc(r), string(t.ID), t.Args, def)
}

// T is message id with name, value pairs.
func (p page) T(id string, kv ...any) string { return p.L.T(id, kv...) }

// N is message id in the plural form for count, any integer.
func (p page) N(id string, count any, kv ...any) string {
	n, err := strconv.Atoi(fmt.Sprint(count))
	if err != nil {
		panic(fmt.Sprintf("i18n: %s: count %v is not an integer", id, count))
	}
	return p.L.N(id, n, kv...)
}

// HTML is message id whose catalogue text holds markup; the arguments are
// escaped.
func (p page) HTML(id string, kv ...any) template.HTML {
	return template.HTML(p.L.HTML(id, kv...)) //nolint:gosec // catalogue markup, escaped arguments
}

// When is a moment in the reader's language, or "never".
func (p page) When(t time.Time) string { return when(p.L, t) }

func when(l *i18n.Localizer, t time.Time) string {
	if t.IsZero() {
		return l.T("time.never")
	}
	return t.Local().Format(l.T("time.layout"))
}

// Ago is how long ago t was.
func (p page) Ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < 5*time.Second:
		return p.T("time.just_now")
	case d < time.Minute:
		return p.N("time.seconds_ago", int(d.Seconds()))
	case d < time.Hour:
		return p.N("time.minutes_ago", int(d.Minutes()))
	default:
		return p.N("time.hours_ago", int(d.Hours()))
	}
}

// Role is a helpdesk role's name in the reader's language.
func (p page) Role(role string) string {
	switch role {
	case store.RoleAdmin:
		return p.T("role.admin")
	case store.RoleHelpDesk:
		return p.T("role.helpdesk")
	case store.RoleAgent:
		return p.T("role.agent")
	}
	return role
}
