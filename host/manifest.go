package host

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Manifest is a plugin bundle's plugin.json.
type Manifest struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Version is the plugin's semantic version, MAJOR.MINOR.PATCH with an
	// optional pre-release and build, without a leading "v" (1.2.3).
	Version string `json:"version"`
	// MinHostVersion, if set, is the oldest host version the plugin runs
	// in, written like Version; Start checks it against Options.HostVersion.
	MinHostVersion string `json:"min_host_version,omitempty"`
	// ProtocolVersion is the wire contract's major version; it must equal
	// contract.ProtocolVersion.
	ProtocolVersion int `json:"protocol_version"`
	// Executables are keyed by GOOS-GOARCH, for example "linux-amd64".
	Executables    map[string]Executable   `json:"executables"`
	SettingsSchema []contract.SettingField `json:"settings_schema,omitempty"`
	// Dir is the directory the manifest was read from; executable paths
	// are relative to it. Set by LoadManifest.
	Dir string `json:"-"`
}

// Executable is one platform's plugin binary.
type Executable struct {
	// Path is relative to the manifest's directory, with forward slashes
	// only, and may not leave it: no ':', no element "..".
	Path string `json:"path"`
	// SHA256 is the hex SHA-256 of the file. Start verifies the binary
	// against it and refuses to run a binary without one unless
	// Options.AllowUnverified is set.
	SHA256 string `json:"sha256,omitempty"`
}

// ManifestProblem is one thing wrong with a manifest.
type ManifestProblem struct {
	// Field is a JSON path such as "settings_schema[2].default", or "" for
	// the document as a whole (for example a syntax error).
	Field   string
	Message string
}

// String returns "field: message", or the message alone.
func (p ManifestProblem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// ManifestError lists every problem found in a manifest.
type ManifestError struct {
	// Path is the manifest file, if it was read from one.
	Path     string
	Problems []ManifestProblem
}

// Error lists every problem on one line.
func (e *ManifestError) Error() string {
	var b strings.Builder
	b.WriteString("invalid plugin manifest")
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	if len(e.Problems) == 1 {
		b.WriteString(": " + e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, ": %d problems", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("; " + p.String())
	}
	return b.String()
}

// LoadManifest reads and validates a plugin.json. Unknown fields are
// ignored, so a newer manifest still loads. Content problems are reported
// all at once as a *ManifestError; a file that cannot be read is reported as
// a wrapped *fs.PathError. A missing sha256 is not a problem here: Start
// decides whether it may run such a binary.
func LoadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin manifest: %w", err)
	}
	return manifestFromBytes(path, data)
}

// manifestFromBytes parses and validates data, read from path.
func manifestFromBytes(path string, data []byte) (*Manifest, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin manifest: %w", err)
	}
	m, err := parseManifest(data)
	if err != nil {
		var me *ManifestError
		if errors.As(err, &me) {
			me.Path = path
		}
		return nil, err
	}
	m.Dir = filepath.Dir(abs)
	return m, nil
}

// parseManifest decodes and validates the bytes of a plugin.json; errors
// are *ManifestError without a Path.
func parseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, &ManifestError{Problems: []ManifestProblem{{Message: describeJSONError(data, err)}}}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// describeJSONError adds the line and column to json's errors that carry an
// offset.
func describeJSONError(data []byte, err error) string {
	var offset int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	if offset < 0 || offset > int64(len(data)) {
		return "invalid JSON: " + err.Error()
	}
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return fmt.Sprintf("invalid JSON at line %d, column %d: %v", line, col, err)
}

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	osArchPattern = regexp.MustCompile(`^[a-z0-9]+-[a-z0-9]+$`)
)

// Validate checks the manifest and returns a *ManifestError listing every
// problem, or nil.
func (m *Manifest) Validate() error {
	var probs []ManifestProblem
	add := func(field, format string, args ...any) {
		probs = append(probs, ManifestProblem{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	switch {
	case m.ID == "":
		add("id", "required")
	case !idPattern.MatchString(m.ID):
		add("id", "%q may hold only letters, digits, '.', '_' and '-'", m.ID)
	}
	if m.Name == "" {
		add("name", "required")
	}
	switch {
	case m.Version == "":
		add("version", "required")
	case !isVersion(m.Version):
		add("version", "%q is not a semantic version like 1.2.3", m.Version)
	}
	if m.MinHostVersion != "" && !isVersion(m.MinHostVersion) {
		add("min_host_version", "%q is not a semantic version like 1.2.3", m.MinHostVersion)
	}
	switch {
	case m.ProtocolVersion == 0:
		add("protocol_version", "required")
	case m.ProtocolVersion != contract.ProtocolVersion:
		add("protocol_version", "the plugin speaks protocol version %d, this host SDK speaks %d", m.ProtocolVersion, contract.ProtocolVersion)
	}

	if len(m.Executables) == 0 {
		add("executables", "required: at least one entry keyed like linux-amd64")
	}
	for _, key := range sortedKeys(m.Executables) {
		e := m.Executables[key]
		field := "executables[" + key + "]"
		if !osArchPattern.MatchString(key) {
			add(field, "key %q is not shaped like os-arch (for example linux-amd64)", key)
		}
		switch {
		case e.Path == "":
			add(field+".path", "required")
		case !inBundle(e.Path):
			add(field+".path", "%q must be a relative path inside the plugin's directory", e.Path)
		}
		if e.SHA256 != "" {
			if b, err := hex.DecodeString(e.SHA256); err != nil || len(b) != 32 {
				add(field+".sha256", "must be 64 hexadecimal characters")
			}
		}
	}

	seen := make(map[string]int, len(m.SettingsSchema))
	for i, s := range m.SettingsSchema {
		field := fmt.Sprintf("settings_schema[%d]", i)
		if s.Key == "" {
			add(field+".key", "required")
		} else if first, dup := seen[s.Key]; dup {
			add(field+".key", "duplicate key %q (also settings_schema[%d])", s.Key, first)
		} else {
			seen[s.Key] = i
		}
		if s.DisplayName == "" {
			add(field+".display_name", "required")
		}
		switch s.Type {
		case contract.SettingText:
		case contract.SettingSecret:
			if s.Default != "" {
				add(field+".default", "a secret setting may not have a default")
			}
		case contract.SettingBool:
			if s.Default != "" && s.Default != "true" && s.Default != "false" {
				add(field+".default", "%q is not true or false", s.Default)
			}
		case contract.SettingNumber:
			// A number setting is an integer (contract.SettingNumber).
			if s.Default != "" {
				if _, err := strconv.Atoi(s.Default); err != nil {
					add(field+".default", "%q is not a whole number", s.Default)
				}
			}
		case contract.SettingDropdown:
			if len(s.Options) == 0 {
				add(field+".options", "a dropdown needs at least one option")
			}
			values := make(map[string]bool, len(s.Options))
			for j, o := range s.Options {
				of := fmt.Sprintf("%s.options[%d].value", field, j)
				switch {
				case o.Value == "":
					add(of, "required")
				case values[o.Value]:
					add(of, "duplicate option %q", o.Value)
				}
				values[o.Value] = true
			}
			if s.Default != "" && len(s.Options) > 0 && !values[s.Default] {
				add(field+".default", "%q is not one of the options", s.Default)
			}
		case "":
			add(field+".type", "required: one of text, secret, bool, dropdown, number")
		default:
			add(field+".type", "unknown type %q: want one of text, secret, bool, dropdown, number", s.Type)
		}
		if s.Type != contract.SettingDropdown && len(s.Options) > 0 {
			add(field+".options", "only dropdown settings have options")
		}
	}

	if len(probs) > 0 {
		return &ManifestError{Problems: probs}
	}
	return nil
}

// inBundle reports whether an executable's path names a file inside the
// bundle on every platform, whichever one validates the manifest: forward
// slashes only (a backslash is a separator on Windows), no volume (a ':'
// would be a drive on Windows), no element "..", even one that would come
// back inside, and local by filepath.IsLocal.
func inBundle(p string) bool {
	return !strings.ContainsAny(p, "\\:\x00") &&
		!slices.Contains(strings.Split(p, "/"), "..") &&
		filepath.IsLocal(filepath.FromSlash(p))
}

// clone returns a deep copy, so that a caller changing its manifest cannot
// race the supervisor reading ours.
func (m *Manifest) clone() *Manifest {
	c := *m
	c.Executables = make(map[string]Executable, len(m.Executables))
	for k, v := range m.Executables {
		c.Executables[k] = v
	}
	c.SettingsSchema = make([]contract.SettingField, len(m.SettingsSchema))
	for i, f := range m.SettingsSchema {
		f.Options = slices.Clone(f.Options)
		c.SettingsSchema[i] = f
	}
	return &c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
