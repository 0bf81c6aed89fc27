package host

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

const testSHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// validManifest is a minimal manifest that loads; cases mutate a copy.
func validManifest() map[string]any {
	return map[string]any{
		"id":               "duo-security",
		"name":             "Duo Security",
		"version":          "0.1.0",
		"protocol_version": contract.ProtocolVersion,
		"executables": map[string]any{
			"linux-amd64": map[string]any{"path": "bin/linux-amd64/duo-plugin", "sha256": testSHA},
		},
		"settings_schema": []any{
			map[string]any{"key": "client_id", "display_name": "Client ID", "type": "text", "required": true},
			map[string]any{
				"key": "fail_mode", "display_name": "Fail mode", "type": "dropdown", "default": "closed",
				"options": []any{
					map[string]any{"value": "closed", "display_name": "Closed"},
					map[string]any{"value": "open", "display_name": "Open"},
				},
			},
		},
	}
}

func writeFile(t *testing.T, dir, name string, data []byte, mode fs.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadManifestProblems(t *testing.T) {
	t.Parallel()
	settings := func(m map[string]any) []any { return m["settings_schema"].([]any) }
	setting := func(m map[string]any, i int) map[string]any { return settings(m)[i].(map[string]any) }

	tests := []struct {
		name   string
		raw    string                 // used instead of the mutated valid manifest when set
		mutate func(m map[string]any) // applied to validManifest()
		want   []ManifestProblem
	}{
		{
			name: "empty object: every required field",
			raw:  `{}`,
			want: []ManifestProblem{
				{"id", "required"},
				{"name", "required"},
				{"version", "required"},
				{"protocol_version", "required"},
				{"executables", "required: at least one entry keyed like linux-amd64"},
			},
		},
		{
			name:   "unknown fields are tolerated",
			mutate: func(m map[string]any) { m["homepage_url"] = "https://example.test"; m["server"] = map[string]any{} },
		},
		{
			name:   "wrong protocol version",
			mutate: func(m map[string]any) { m["protocol_version"] = 2 },
			want:   []ManifestProblem{{"protocol_version", "the plugin speaks protocol version 2, this host SDK speaks 1"}},
		},
		{
			name: "bad id and versions",
			mutate: func(m map[string]any) {
				m["id"] = "duo security"
				m["version"] = "v1.0"
				m["min_host_version"] = "one"
			},
			want: []ManifestProblem{
				{"id", `"duo security" may hold only letters, digits, '.', '_' and '-'`},
				{"version", `"v1.0" is not a semantic version like 1.2.3`},
				{"min_host_version", `"one" is not a semantic version like 1.2.3`},
			},
		},
		{
			name: "versions golang.org/x/mod/semver would take but a manifest may not",
			mutate: func(m map[string]any) {
				m["version"] = "v1.2.3"
				m["min_host_version"] = "1.2"
			},
			want: []ManifestProblem{
				{"version", `"v1.2.3" is not a semantic version like 1.2.3`},
				{"min_host_version", `"1.2" is not a semantic version like 1.2.3`},
			},
		},
		{
			name: "pre-release and build versions",
			mutate: func(m map[string]any) {
				m["version"] = "1.0.0-alpha.10+build.5"
				m["min_host_version"] = "2.1.0-rc.1"
			},
		},
		{
			name: "bad executables",
			mutate: func(m map[string]any) {
				m["executables"] = map[string]any{
					"linux":         map[string]any{"path": "bin/x"},
					"linux-arm64":   map[string]any{"path": "bin/x", "sha256": "abc"},
					"darwin-arm64":  map[string]any{"path": "../outside", "sha256": strings.Repeat("g", 64)},
					"windows-amd64": map[string]any{"path": "/abs/plugin.exe"},
					"freebsd-amd64": map[string]any{"sha256": strings.ToUpper(testSHA)},
				}
			},
			want: []ManifestProblem{
				{"executables[darwin-arm64].path", `"../outside" must be a relative path inside the plugin's directory`},
				{"executables[darwin-arm64].sha256", "must be 64 hexadecimal characters"},
				{"executables[freebsd-amd64].path", "required"},
				{"executables[linux]", `key "linux" is not shaped like os-arch (for example linux-amd64)`},
				{"executables[linux-arm64].sha256", "must be 64 hexadecimal characters"},
				{"executables[windows-amd64].path", `"/abs/plugin.exe" must be a relative path inside the plugin's directory`},
			},
		},
		{
			name: "unknown setting type",
			mutate: func(m map[string]any) {
				setting(m, 0)["type"] = "password"
			},
			want: []ManifestProblem{{"settings_schema[0].type", `unknown type "password": want one of text, secret, bool, dropdown, number`}},
		},
		{
			name: "dropdown default not among its options",
			mutate: func(m map[string]any) {
				setting(m, 1)["default"] = "ajar"
			},
			want: []ManifestProblem{{"settings_schema[1].default", `"ajar" is not one of the options`}},
		},
		{
			name: "dropdown without options",
			mutate: func(m map[string]any) {
				delete(setting(m, 1), "options")
			},
			want: []ManifestProblem{{"settings_schema[1].options", "a dropdown needs at least one option"}},
		},
		{
			name: "duplicate setting keys",
			mutate: func(m map[string]any) {
				setting(m, 1)["key"] = "client_id"
			},
			want: []ManifestProblem{{"settings_schema[1].key", `duplicate key "client_id" (also settings_schema[0])`}},
		},
		{
			name: "bad setting defaults and fields",
			mutate: func(m map[string]any) {
				m["settings_schema"] = append(settings(m),
					map[string]any{"key": "secret", "display_name": "S", "type": "secret", "default": "hunter2"},
					map[string]any{"key": "flag", "display_name": "F", "type": "bool", "default": "yes"},
					map[string]any{"key": "n", "display_name": "N", "type": "number", "default": "ten"},
					map[string]any{"key": "half", "display_name": "H", "type": "number", "default": "2.5"},
					map[string]any{"key": "big", "display_name": "B", "type": "number", "default": "1e3"},
					map[string]any{"key": "whole", "display_name": "W", "type": "number", "default": "-120"},
					map[string]any{"key": "", "type": ""},
					map[string]any{"key": "t", "display_name": "T", "type": "text", "options": []any{map[string]any{"value": "a"}}},
					map[string]any{"key": "d", "display_name": "D", "type": "dropdown", "options": []any{
						map[string]any{"value": "a"}, map[string]any{"value": "a"}, map[string]any{"value": ""},
					}},
				)
			},
			want: []ManifestProblem{
				{"settings_schema[2].default", "a secret setting may not have a default"},
				{"settings_schema[3].default", `"yes" is not true or false`},
				{"settings_schema[4].default", `"ten" is not a whole number`},
				{"settings_schema[5].default", `"2.5" is not a whole number`},
				{"settings_schema[6].default", `"1e3" is not a whole number`},
				// settings_schema[7], a whole number, is fine.
				{"settings_schema[8].key", "required"},
				{"settings_schema[8].display_name", "required"},
				{"settings_schema[8].type", "required: one of text, secret, bool, dropdown, number"},
				{"settings_schema[9].options", "only dropdown settings have options"},
				{"settings_schema[10].options[1].value", `duplicate option "a"`},
				{"settings_schema[10].options[2].value", "required"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := []byte(tc.raw)
			if tc.raw == "" {
				m := validManifest()
				if tc.mutate != nil {
					tc.mutate(m)
				}
				var err error
				if data, err = json.MarshalIndent(m, "", "  "); err != nil {
					t.Fatal(err)
				}
			}
			path := writeFile(t, t.TempDir(), "plugin.json", data, 0o644)
			m, err := LoadManifest(path)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("LoadManifest: %v", err)
				}
				if m.Dir != filepath.Dir(path) {
					t.Fatalf("Dir = %q, want %q", m.Dir, filepath.Dir(path))
				}
				return
			}
			var me *ManifestError
			if !errors.As(err, &me) {
				t.Fatalf("LoadManifest error = %v (%T), want *ManifestError", err, err)
			}
			if me.Path != path {
				t.Errorf("ManifestError.Path = %q, want %q", me.Path, path)
			}
			if !reflect.DeepEqual(me.Problems, tc.want) {
				t.Fatalf("problems:\n got %q\nwant %q", me.Problems, tc.want)
			}
		})
	}
}

func TestLoadManifestUnreadableAndMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		raw        *string
		wantPrefix string // of the single problem's message
		wantNotExt bool
	}{
		{name: "missing file", wantNotExt: true},
		{name: "syntax error", raw: ptr("{\n  \"id\": \"x\",\n  \"name\": oops\n}"), wantPrefix: "invalid JSON at line 3, column 11: "},
		{name: "wrong type", raw: ptr("{\n  \"protocol_version\": \"1\"\n}"), wantPrefix: "invalid JSON at line 2, column 25: "},
		{name: "truncated", raw: ptr(`{"id": "x"`), wantPrefix: "invalid JSON at line 1, column 10: "},
		{name: "empty file", raw: ptr(""), wantPrefix: "invalid JSON at line 1, column 1: "},
		{name: "not an object", raw: ptr(`[]`), wantPrefix: "invalid JSON at line 1, column 1: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "plugin.json")
			if tc.raw != nil {
				writeFile(t, filepath.Dir(path), "plugin.json", []byte(*tc.raw), 0o644)
			}
			_, err := LoadManifest(path)
			if tc.wantNotExt {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("LoadManifest error = %v, want fs.ErrNotExist", err)
				}
				return
			}
			var me *ManifestError
			if !errors.As(err, &me) || len(me.Problems) != 1 || me.Problems[0].Field != "" {
				t.Fatalf("LoadManifest error = %v, want one document-level problem", err)
			}
			if msg := me.Problems[0].Message; !strings.HasPrefix(msg, tc.wantPrefix) {
				t.Fatalf("problem = %q, want prefix %q", msg, tc.wantPrefix)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestManifestErrorMessage(t *testing.T) {
	t.Parallel()
	one := &ManifestError{Path: "p.json", Problems: []ManifestProblem{{"id", "required"}}}
	if got, want := one.Error(), "invalid plugin manifest p.json: id: required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	two := &ManifestError{Problems: []ManifestProblem{{"id", "required"}, {"", "bad"}}}
	if got, want := two.Error(), "invalid plugin manifest: 2 problems; id: required; bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// The repository's own manifest loads: it has no sha256 yet, which the
// loader allows and Start refuses without AllowUnverified.
func TestRepositoryManifestLoads(t *testing.T) {
	t.Parallel()
	m, err := LoadManifest(filepath.Join("..", "plugin.json"))
	if err != nil {
		t.Fatalf("LoadManifest(../plugin.json): %v", err)
	}
	if m.ID != contract.PluginID || m.ProtocolVersion != contract.ProtocolVersion {
		t.Fatalf("manifest id/protocol = %q/%d, want %q/%d", m.ID, m.ProtocolVersion, contract.PluginID, contract.ProtocolVersion)
	}
	keys := map[string]contract.SettingType{}
	for _, s := range m.SettingsSchema {
		keys[s.Key] = s.Type
	}
	for _, k := range []string{"client_id", "client_secret", "api_hostname", "fail_mode"} {
		if keys[k] == "" {
			t.Errorf("settings_schema has no %q", k)
		}
	}
	if keys["client_secret"] != contract.SettingSecret {
		t.Errorf("client_secret has type %q, want %q", keys["client_secret"], contract.SettingSecret)
	}
}

// The repository's plugin.json, the one every release starts from, is valid
// for the SDK and lists the six platforms a release builds, Windows with
// its .exe.
func TestRepositoryManifest(t *testing.T) {
	t.Parallel()
	m, err := LoadManifest("../plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"darwin-amd64", "darwin-arm64", "linux-amd64", "linux-arm64", "windows-amd64", "windows-arm64"}
	if got := sortedKeys(m.Executables); !slices.Equal(got, want) {
		t.Fatalf("executables = %v, want %v", got, want)
	}
	for key, e := range m.Executables {
		goos, _, _ := strings.Cut(key, "-")
		if wantPath := "bin/" + key + "/duo-plugin"; goos == "windows" && e.Path != wantPath+".exe" || goos != "windows" && e.Path != wantPath {
			t.Errorf("executables[%s].path = %q", key, e.Path)
		}
	}
}
