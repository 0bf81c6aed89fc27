package contract

// SettingField is one entry of plugin.json's settings_schema: what the
// host's settings page shows for one setting. The JSON tags are the
// manifest's; the plugin validates against the same entries.
type SettingField struct {
	Key         string          `json:"key"`
	DisplayName string          `json:"display_name"`
	Type        SettingType     `json:"type"`
	HelpText    string          `json:"help_text"`
	Default     string          `json:"default"`
	Options     []SettingOption `json:"options,omitempty"`
	Required    bool            `json:"required"`
}

// SettingOption is one choice of a dropdown setting.
type SettingOption struct {
	Value       string `json:"value"`
	DisplayName string `json:"display_name"`
}

// SettingType is the kind of input a settings page shows.
type SettingType string

// The setting types of plugin.json's settings_schema.
const (
	SettingText     SettingType = "text"     // a one-line text box
	SettingSecret   SettingType = "secret"   // a password box; the value is never shown back
	SettingBool     SettingType = "bool"     // a checkbox: "true" or "false"
	SettingDropdown SettingType = "dropdown" // one of Options
	SettingNumber   SettingType = "number"   // an integer
)
