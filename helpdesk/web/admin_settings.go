package web

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web/i18n"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// settingField is one field of the generated settings form.
type settingField struct {
	Key       string
	Label     string
	Type      contract.SettingType
	Help      string
	Required  bool
	Value     string
	Checked   bool
	Options   []settingOption
	SecretSet bool
	Error     string
}

type settingError struct {
	Field, Label, Message string
}

type settingOption struct {
	Value, Label string
	Selected     bool
}

type settingsData struct {
	Fields []settingField
	// Errors are every problem of the submission, for the summary at the
	// top of the form: Field (the input's id) is empty for one that
	// belongs to no field.
	Errors    []settingError
	SkipCheck bool
	Checked   bool // a Duo check ran for this submission
	Duo       contract.DuoHealth
}

// The settings_schema of plugin.json is English. The helpdesk shows its
// names, help texts and dropdown options in the reader's language through
// conventional catalogue ids (German in locales/plugin_settings.de.toml):
//
//	duo.setting.<key>.name
//	duo.setting.<key>.help
//	duo.setting.<key>.option.<value>
//
// A text the catalogue does not hold (a setting of a newer plugin) is
// shown in the schema's English, and the miss is logged once.

// SettingNameID, SettingHelpID and SettingOptionID are the catalogue ids
// of a setting's name, help text and dropdown option.
func SettingNameID(key string) string { return "duo.setting." + key + ".name" }

// SettingHelpID: see SettingNameID.
func SettingHelpID(key string) string { return "duo.setting." + key + ".help" }

// SettingOptionID: see SettingNameID.
func SettingOptionID(key, value string) string {
	return "duo.setting." + key + ".option." + value
}

// schemaText is english, a text of the settings_schema, in the reader's
// language.
func schemaText(loc *i18n.Localizer, id, english string) string {
	if english == "" {
		return ""
	}
	return localizePluginText(loc, id, nil, english)
}

// buildFields makes the form from the manifest's settings_schema, in the
// reader's language: values from vals (the saved settings, or what was
// submitted), never a secret.
func buildFields(loc *i18n.Localizer, schema []contract.SettingField, vals map[string]string, secretSet map[string]bool) []settingField {
	out := make([]settingField, 0, len(schema))
	for _, f := range schema {
		v, ok := vals[f.Key]
		if !ok {
			v = f.Default
		}
		sf := settingField{Key: f.Key, Type: f.Type, Required: f.Required,
			Label: schemaText(loc, SettingNameID(f.Key), f.DisplayName),
			Help:  schemaText(loc, SettingHelpID(f.Key), f.HelpText)}
		switch f.Type {
		case contract.SettingSecret:
			sf.SecretSet = secretSet[f.Key]
		case contract.SettingBool:
			sf.Checked = v == "true"
		case contract.SettingDropdown:
			for _, o := range f.Options {
				sf.Options = append(sf.Options, settingOption{Value: o.Value, Selected: o.Value == v,
					Label: schemaText(loc, SettingOptionID(f.Key, o.Value), o.DisplayName)})
			}
		default:
			sf.Value = v
		}
		out = append(out, sf)
	}
	return out
}

func (s *Server) schema() []contract.SettingField {
	if m := s.plugins.Manifest(); m != nil {
		return m.SettingsSchema
	}
	return nil
}

const settingsPath = pluginsPath + "/" + plugins.ID + "/settings"

func (s *Server) handleSettingsForm(w http.ResponseWriter, r *http.Request) {
	var cur contract.GetSettingsResponse
	if !s.withActivePlugin(w, r, m("fail.read_settings"), pluginsPath, func(ctx context.Context, p plugins.Plugin) (err error) {
		cur, err = p.GetSettings(ctx, contract.GetSettingsRequest{Actor: s.actor(r)})
		return err
	}) {
		return
	}
	s.render(w, r, http.StatusOK, "settings", s.tr(r, "settings.title"), "plugins",
		settingsData{Fields: buildFields(s.loc(r), s.schema(), cur.Values, cur.SecretSet)})
}

func (s *Server) handleSaveSettings(w http.ResponseWriter, r *http.Request) {
	schema := s.schema()
	values := make(map[string]string, len(schema))
	for _, f := range schema {
		switch f.Type {
		case contract.SettingBool:
			values[f.Key] = strconv.FormatBool(r.PostForm.Get(f.Key) != "")
		case contract.SettingSecret:
			// Empty keeps the saved secret.
			values[f.Key] = r.PostForm.Get(f.Key)
		default:
			values[f.Key] = strings.TrimSpace(r.PostForm.Get(f.Key))
		}
	}
	skip := r.PostForm.Get("skip_duo_check") != ""
	var (
		res contract.UpdateSettingsResponse
		cur contract.GetSettingsResponse
	)
	if !s.withActivePlugin(w, r, m("fail.save_settings"), pluginsPath, func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: values, SkipDuoCheck: skip, Actor: s.actor(r)})
		if err == nil && !res.Saved {
			cur, _ = p.GetSettings(ctx, contract.GetSettingsRequest{Actor: s.actor(r)})
		}
		return err
	}) {
		return
	}
	if res.Saved {
		s.log.Info("duo settings saved", "actor", s.actor(r).Username, "duo_checked", res.Duo.Checked)
		text := s.tr(r, "settings.saved_flash")
		switch {
		case res.Duo.Checked && res.Duo.OK:
			text += " " + s.tr(r, "settings.saved_checked", "Time", res.Duo.CheckedAt.Local().Format("15:04:05"))
		case skip:
			text += " " + s.tr(r, "settings.saved_unchecked")
		}
		s.flash(r, flashSuccess, text)
		redirect(w, r, settingsPath)
		return
	}
	// Show the submission again, with each error next to its field. The
	// secret is never sent back.
	fields := buildFields(s.loc(r), schema, maps.Clone(values), cur.SecretSet)
	byKey := make(map[string]int, len(fields))
	for i, f := range fields {
		byKey[f.Key] = i
	}
	d := settingsData{SkipCheck: skip, Checked: res.Duo.Checked, Duo: res.Duo}
	names := settingNames(s.loc(r), schema)
	for _, fe := range res.Errors {
		text := s.pluginText(r, withSettingNames(fe.Text, names), fe.Message)
		if i, ok := byKey[fe.Field]; ok {
			if fields[i].Error != "" {
				fields[i].Error += " "
			}
			fields[i].Error += text
			d.Errors = append(d.Errors, settingError{Field: fe.Field, Label: fields[i].Label, Message: text})
			continue
		}
		d.Errors = append(d.Errors, settingError{Message: text})
	}
	d.Fields = fields
	s.render(w, r, http.StatusUnprocessableEntity, "settings", s.tr(r, "settings.title"), "plugins", d)
}

// settingNames maps each setting's English name, as the plugin's field
// errors name it in {field} and {count_field}, to its name in the
// reader's language.
func settingNames(loc *i18n.Localizer, schema []contract.SettingField) map[string]string {
	out := make(map[string]string, len(schema))
	for _, f := range schema {
		out[f.DisplayName] = schemaText(loc, SettingNameID(f.Key), f.DisplayName)
	}
	return out
}

// withSettingNames is t with the settings it names by their English name
// named in the reader's language.
func withSettingNames(t contract.Text, names map[string]string) contract.Text {
	if len(t.Args) == 0 {
		return t
	}
	args := maps.Clone(t.Args)
	for _, k := range []string{"field", "count_field"} {
		if n, ok := names[args[k]]; ok {
			args[k] = n
		}
	}
	t.Args = args
	return t
}
