package settings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// manifestSchema reads plugin.json's settings_schema strictly: an attribute
// the Go model lacks is an error, not silently dropped.
func manifestSchema(t *testing.T) []Field {
	t.Helper()
	raw, err := os.ReadFile("../plugin.json")
	if err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	var manifest struct {
		SettingsSchema json.RawMessage `json:"settings_schema"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatalf("parse ../plugin.json: %v", err)
	}
	if manifest.SettingsSchema == nil {
		t.Fatal("../plugin.json has no settings_schema")
	}
	dec := json.NewDecoder(bytes.NewReader(manifest.SettingsSchema))
	dec.DisallowUnknownFields()
	var fields []Field
	if err := dec.Decode(&fields); err != nil {
		t.Fatalf("parse ../plugin.json settings_schema: %v", err)
	}
	return fields
}

// diffSchema names every difference between the manifest's schema and the
// Go model's.
func diffSchema(manifest, model []Field) []string {
	var diffs []string
	mk, gk := keysOf(manifest), keysOf(model)
	for _, k := range mk {
		if !slices.Contains(gk, k) {
			diffs = append(diffs, fmt.Sprintf("key %q is in plugin.json but not in Fields()", k))
		}
	}
	for _, k := range gk {
		if !slices.Contains(mk, k) {
			diffs = append(diffs, fmt.Sprintf("key %q is in Fields() but not in plugin.json", k))
		}
	}
	if len(diffs) == 0 && !slices.Equal(mk, gk) {
		diffs = append(diffs, fmt.Sprintf("key order: plugin.json has %v, Fields() has %v", mk, gk))
	}
	for _, m := range manifest {
		i := slices.Index(gk, m.Key)
		if i < 0 {
			continue
		}
		g := model[i]
		attr := func(name string, mv, gv any) {
			if !reflect.DeepEqual(mv, gv) {
				diffs = append(diffs, fmt.Sprintf("%s.%s: plugin.json has %q, Fields() has %q", m.Key, name, mv, gv))
			}
		}
		attr("display_name", m.DisplayName, g.DisplayName)
		attr("type", m.Type, g.Type)
		attr("help_text", m.HelpText, g.HelpText)
		attr("default", m.Default, g.Default)
		if m.Required != g.Required {
			diffs = append(diffs, fmt.Sprintf("%s.required: plugin.json has %t, Fields() has %t", m.Key, m.Required, g.Required))
		}
		if len(m.Options) != len(g.Options) {
			diffs = append(diffs, fmt.Sprintf("%s.options: plugin.json has %d, Fields() has %d", m.Key, len(m.Options), len(g.Options)))
			continue
		}
		for j := range m.Options {
			attr(fmt.Sprintf("options[%d].value", j), m.Options[j].Value, g.Options[j].Value)
			attr(fmt.Sprintf("options[%d].display_name", j), m.Options[j].DisplayName, g.Options[j].DisplayName)
		}
	}
	return diffs
}

func TestFieldsMatchManifest(t *testing.T) {
	t.Parallel()
	if diffs := diffSchema(manifestSchema(t), Fields()); len(diffs) > 0 {
		t.Errorf("plugin.json's settings_schema and settings.Fields() disagree:\n%s", strings.Join(diffs, "\n"))
	}
}

// TestDiffSchemaNamesDifferences proves the manifest test would say what is
// wrong, not only that something is.
func TestDiffSchemaNamesDifferences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func([]Field) []Field
		want   []string
	}{
		{"equal", func(f []Field) []Field { return f }, nil},
		{"missing key", func(f []Field) []Field { return f[:len(f)-1] }, []string{`key "ca_file" is in plugin.json but not in Fields()`}},
		{"extra key", func(f []Field) []Field { return append(f, Field{Key: "x"}) }, []string{`key "x" is in Fields() but not in plugin.json`}},
		{"order", func(f []Field) []Field { f[0], f[1] = f[1], f[0]; return f }, []string{
			"key order: plugin.json has [client_id client_secret api_hostname fail_mode username_format login_timeout_seconds ca_file], Fields() has [client_secret client_id api_hostname fail_mode username_format login_timeout_seconds ca_file]"}},
		{"default", func(f []Field) []Field { f[3].Default = "open"; return f }, []string{`fail_mode.default: plugin.json has "closed", Fields() has "open"`}},
		{"type", func(f []Field) []Field { f[1].Type = FieldText; return f }, []string{`client_secret.type: plugin.json has "secret", Fields() has "text"`}},
		{"required", func(f []Field) []Field { f[6].Required = true; return f }, []string{"ca_file.required: plugin.json has false, Fields() has true"}},
		{"display name", func(f []Field) []Field { f[0].DisplayName = "Client Id"; return f }, []string{`client_id.display_name: plugin.json has "Client ID", Fields() has "Client Id"`}},
		{"help text", func(f []Field) []Field { f[2].HelpText = ""; return f }, []string{`api_hostname.help_text: plugin.json has "Your Duo API hostname, like api-xxxxxxxx.duosecurity.com.", Fields() has ""`}},
		{"option value", func(f []Field) []Field { f[4].Options[2].Value = "local"; return f }, []string{`username_format.options[2].value: plugin.json has "email_local", Fields() has "local"`}},
		{"option count", func(f []Field) []Field { f[3].Options = f[3].Options[:1]; return f }, []string{"fail_mode.options: plugin.json has 2, Fields() has 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := diffSchema(manifestSchema(t), tt.mutate(Fields()))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFieldsConsistentWithModel(t *testing.T) {
	t.Parallel()
	fields := Fields()
	wantKeys := []string{KeyClientID, KeyClientSecret, KeyAPIHostname, KeyFailMode, KeyUsernameFormat, KeyLoginTimeout, KeyCAFile}
	if got := keysOf(fields); !slices.Equal(got, wantKeys) {
		t.Errorf("Fields() keys = %v, want %v", got, wantKeys)
	}
	// The defaults the settings page shows are the ones Defaults() holds.
	defaults := Defaults().Values()
	for _, f := range fields {
		if f.Type == FieldSecret {
			if _, ok := defaults[f.Key]; ok {
				t.Errorf("Values() contains secret %s", f.Key)
			}
			continue
		}
		if defaults[f.Key] != f.Default {
			t.Errorf("%s: schema default %q, Defaults().Values() %q", f.Key, f.Default, defaults[f.Key])
		}
	}
	tests := []struct {
		key  string
		want []string
	}{
		{KeyFailMode, []string{string(FailClosed), string(FailOpen)}},
		{KeyUsernameFormat, []string{string(FormatUsername), string(FormatEmail), string(FormatEmailLocal)}},
	}
	for _, tt := range tests {
		if got := optionValues(tt.key); !slices.Equal(got, tt.want) {
			t.Errorf("%s options = %v, want the constants %v", tt.key, got, tt.want)
		}
	}
}

func TestFieldsReturnsCopy(t *testing.T) {
	t.Parallel()
	f := Fields()
	f[0].Key = "changed"
	f[3].Options[0].Value = "changed"
	g := Fields()
	if g[0].Key != KeyClientID || g[3].Options[0].Value != string(FailClosed) {
		t.Errorf("modifying Fields()'s result changed the schema: %+v", g)
	}
}

func TestLookupField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		key      string
		wantOK   bool
		wantName string
	}{
		{"known", KeyLoginTimeout, true, "Time to complete Duo (seconds)"},
		{"secret", KeyClientSecret, true, "Client secret"},
		{"unknown", "clientid", false, ""},
		{"case matters", "Client_ID", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, ok := LookupField(tt.key)
			if ok != tt.wantOK || f.DisplayName != tt.wantName {
				t.Errorf("LookupField(%q) = %q, %t; want %q, %t", tt.key, f.DisplayName, ok, tt.wantName, tt.wantOK)
			}
		})
	}
}

func keysOf(fs []Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Key
	}
	return out
}
