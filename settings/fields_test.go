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

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// manifestSchema reads plugin.json's settings_schema strictly: an attribute
// the Go model lacks is an error, not silently dropped.
func manifestSchema(t *testing.T) []contract.SettingField {
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
	var fields []contract.SettingField
	if err := dec.Decode(&fields); err != nil {
		t.Fatalf("parse ../plugin.json settings_schema: %v", err)
	}
	return fields
}

// The embedded schema is plugin.json's, read strictly: an attribute the Go
// model lacks would be dropped silently by the lenient embedded parse.
func TestSchemaIsPluginJSON(t *testing.T) {
	t.Parallel()
	if got := Fields(); !reflect.DeepEqual(got, manifestSchema(t)) {
		t.Errorf("Fields() differs from ../plugin.json's settings_schema:\n got %+v\nwant %+v", got, manifestSchema(t))
	}
}

func TestFieldsConsistentWithModel(t *testing.T) {
	t.Parallel()
	fields := Fields()
	wantKeys := []string{KeyClientID, KeyClientSecret, KeyAPIHostname, KeyFailMode, KeyUsernameFormat, KeyLoginTimeout, KeyCAFile,
		KeyBackupCodeCount, KeyBackupCodesLowAt, KeyRecoveryLinkHours, KeyBypassMaxUses, KeyBypassMaxHours, KeyAllowSelfDisable,
		KeyEnforceAll, KeyEnforceRoleAdmin, KeyEnforceRoleHelpDesk, KeyEnforceRoleAgent, KeyAllowExemption,
		KeyLockoutThreshold, KeyLockoutMinutes, KeyLockoutContact, KeyLogRetentionDays}
	if got := keysOf(fields); !slices.Equal(got, wantKeys) {
		t.Errorf("Fields() keys = %v, want %v", got, wantKeys)
	}
	// The defaults the settings page shows are the ones Defaults() holds.
	defaults := Defaults().Values()
	for _, f := range fields {
		if f.Type == contract.SettingSecret {
			if _, ok := defaults[f.Key]; ok {
				t.Errorf("Values() contains secret %s", f.Key)
			}
			continue
		}
		if defaults[f.Key] != f.Default {
			t.Errorf("%s: schema default %q, Defaults().Values() %q", f.Key, f.Default, defaults[f.Key])
		}
	}
	// Every number setting has bounds, and its help text states them.
	for _, f := range fields {
		if f.Type != contract.SettingNumber {
			continue
		}
		r, ok := numbers[f.Key]
		if !ok {
			t.Errorf("%s: a number setting without bounds", f.Key)
			continue
		}
		if bounds := fmt.Sprintf("%d to %d", r.min, r.max); !strings.Contains(f.HelpText, bounds) {
			t.Errorf("%s: help text %q does not state the bounds %s", f.Key, f.HelpText, bounds)
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

func keysOf(fs []contract.SettingField) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Key
	}
	return out
}
