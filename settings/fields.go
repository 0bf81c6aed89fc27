package settings

// Keys of the Duo settings, as in plugin.json's settings_schema and in the
// store's key/value rows.
const (
	KeyClientID       = "client_id"             // Duo.ClientID
	KeyClientSecret   = "client_secret"         // Duo.ClientSecret; stored apart, encrypted
	KeyAPIHostname    = "api_hostname"          // Duo.APIHostname
	KeyFailMode       = "fail_mode"             // Duo.FailMode
	KeyUsernameFormat = "username_format"       // Duo.UsernameFormat
	KeyLoginTimeout   = "login_timeout_seconds" // Duo.LoginTimeout, in whole seconds
	KeyCAFile         = "ca_file"               // Duo.CAFile; test mode only
)

// FieldType is the kind of input the helpdesk's settings page shows for a
// field.
type FieldType string

// The field types of plugin.json's settings_schema.
const (
	FieldText     FieldType = "text"     // a one-line text box
	FieldSecret   FieldType = "secret"   // a password box; the value is never shown back
	FieldBool     FieldType = "bool"     // a checkbox: "true" or "false"
	FieldDropdown FieldType = "dropdown" // one of Options
	FieldNumber   FieldType = "number"   // an integer
)

// Field describes one setting as the settings page shows it. The JSON tags
// are plugin.json's, so a Field round-trips through the manifest.
type Field struct {
	Key         string    `json:"key"`
	DisplayName string    `json:"display_name"`
	Type        FieldType `json:"type"`
	HelpText    string    `json:"help_text"`
	Default     string    `json:"default"`
	Options     []Option  `json:"options,omitempty"`
	Required    bool      `json:"required"`
}

// Option is one choice of a dropdown field.
type Option struct {
	Value       string `json:"value"`
	DisplayName string `json:"display_name"`
}

// schema is the Go side of plugin.json's settings_schema; a test fails when
// the two disagree in anything.
var schema = []Field{
	{
		Key:         KeyClientID,
		DisplayName: "Client ID",
		Type:        FieldText,
		HelpText:    "The Client ID of your Duo Web SDK application (20 characters). In the Duo Admin Panel: Applications > Protect an Application > Web SDK.",
		Default:     "",
		Required:    true,
	},
	{
		Key:         KeyClientSecret,
		DisplayName: "Client secret",
		Type:        FieldSecret,
		HelpText:    "The Client secret of the same application (40 characters). It is stored encrypted and never shown again; leave blank to keep the saved one.",
		Default:     "",
		Required:    true,
	},
	{
		Key:         KeyAPIHostname,
		DisplayName: "API hostname",
		Type:        FieldText,
		HelpText:    "Your Duo API hostname, like api-xxxxxxxx.duosecurity.com.",
		Default:     "",
		Required:    true,
	},
	{
		Key:         KeyFailMode,
		DisplayName: "When Duo is unreachable",
		Type:        FieldDropdown,
		HelpText:    "Closed refuses the login of Duo-enabled operators while Duo cannot be reached. Open lets them in on the password alone, and every such login is logged as a warning.",
		Default:     string(FailClosed),
		Options: []Option{
			{Value: string(FailClosed), DisplayName: "Fail closed: refuse the login (recommended)"},
			{Value: string(FailOpen), DisplayName: "Fail open: allow the login without Duo"},
		},
		Required: true,
	},
	{
		Key:         KeyUsernameFormat,
		DisplayName: "Duo username",
		Type:        FieldDropdown,
		HelpText:    "Which part of the helpdesk account is sent to Duo as the username. A per-operator alias on the Operators page wins over this.",
		Default:     string(FormatUsername),
		Options: []Option{
			{Value: string(FormatUsername), DisplayName: "Helpdesk username"},
			{Value: string(FormatEmail), DisplayName: "E-mail address"},
			{Value: string(FormatEmailLocal), DisplayName: "E-mail address before the @"},
		},
		Required: true,
	},
	{
		Key:         KeyLoginTimeout,
		DisplayName: "Time to complete Duo (seconds)",
		Type:        FieldNumber,
		HelpText:    "How long an operator has to complete the Duo prompt after entering their password: 30 to 600 seconds.",
		Default:     "300",
		Required:    true,
	},
	{
		Key:         KeyCAFile,
		DisplayName: "Trusted CA file (testing only)",
		Type:        FieldText,
		HelpText:    "For testing against a Duo simulator: a PEM file of the CA to trust for the API hostname. Honoured only when the plugin process runs with DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true; leave blank in production.",
		Default:     "",
		Required:    false,
	},
}

// Fields returns the schema of the Duo settings, in the order the settings
// page shows them. It equals plugin.json's settings_schema. The result is a
// fresh copy the caller may modify.
func Fields() []Field {
	out := make([]Field, len(schema))
	for i, f := range schema {
		f.Options = append([]Option(nil), f.Options...)
		out[i] = f
	}
	return out
}

// LookupField returns the schema entry of key, and whether key is a setting.
func LookupField(key string) (Field, bool) {
	i := fieldIndex(key)
	if i < 0 {
		return Field{}, false
	}
	return Fields()[i], true
}

// fieldIndex is key's position in the schema, or -1.
func fieldIndex(key string) int {
	for i, f := range schema {
		if f.Key == key {
			return i
		}
	}
	return -1
}

// optionValues lists the values of key's dropdown options.
func optionValues(key string) []string {
	i := fieldIndex(key)
	if i < 0 {
		return nil
	}
	vals := make([]string, len(schema[i].Options))
	for j, o := range schema[i].Options {
		vals[j] = o.Value
	}
	return vals
}
