package host

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// insideBundle is the oracle for an executable's path, independent of the
// operating system the host runs on: relative (no leading "/" or "\", no
// drive letter or other volume), and no element ".." whether "/" or "\"
// separates them, so no platform resolves it outside the bundle.
func insideBundle(p string) bool {
	if p == "" || p[0] == '/' || p[0] == '\\' || strings.ContainsRune(p, ':') || strings.ContainsRune(p, 0) {
		return false
	}
	for _, elem := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if elem == ".." {
			return false
		}
	}
	return true
}

// fullSemver is the oracle for a version: MAJOR.MINOR.PATCH (no "v", no
// shorthand) with an optional pre-release and build, as semver.org writes it.
func fullSemver(v string) bool {
	if v == "" || v[0] == 'v' || !semver.IsValid("v"+v) {
		return false
	}
	core, _, _ := strings.Cut(v, "-")
	core, _, _ = strings.Cut(core, "+")
	return strings.Count(core, ".") == 2
}

// FuzzManifest: for any bytes, parsing never panics, gives the same answer
// twice, and either refuses with a *ManifestError naming at least one
// problem or returns a manifest that has an id, a version and (if set) a
// min_host_version that are full semantic versions, at least one
// executable, and executable paths that are relative and stay inside the
// bundle on every platform. A valid manifest validates again after a JSON
// round trip.
func FuzzManifest(f *testing.F) {
	valid := `{"id":"duo-security","name":"Duo","version":"0.1.0","protocol_version":1,` +
		`"executables":{"linux-amd64":{"path":"bin/linux-amd64/duo-plugin"}}}`
	for _, seed := range []string{
		valid,
		strings.Replace(valid, `bin/linux-amd64/duo-plugin`, `../outside`, 1),
		strings.Replace(valid, `bin/linux-amd64/duo-plugin`, `/abs/plugin`, 1),
		strings.Replace(valid, `bin/linux-amd64/duo-plugin`, `bin\\..\\..\\evil.exe`, 1),
		strings.Replace(valid, `bin/linux-amd64/duo-plugin`, `C:evil.exe`, 1),
		strings.Replace(valid, `bin/linux-amd64/duo-plugin`, `bin/./x/../duo-plugin`, 1),
		strings.Replace(valid, `"0.1.0"`, `"1.2"`, 1),
		strings.Replace(valid, `"0.1.0"`, `"v1.2.3"`, 1),
		strings.Replace(valid, `"0.1.0"`, `"1.2.3-rc.1+build.5"`, 1),
		strings.Replace(valid, `"id":"duo-security"`, `"id":""`, 1),
		strings.Replace(valid, `}}}`, `}},"settings_schema":[{"key":"k","display_name":"K","type":"dropdown","options":[{"value":"a"},{"value":"a"}]}]}`, 1),
		`{"id":"x","id":"y"}`, `null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(data)
		m2, err2 := parseManifest(data)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) || !reflect.DeepEqual(m, m2) {
			t.Fatalf("parseManifest(%q) not deterministic: %v then %v", data, err, err2)
		}
		if err != nil {
			var me *ManifestError
			if !errors.As(err, &me) || len(me.Problems) == 0 || m != nil {
				t.Fatalf("parseManifest(%q): error %v is not a *ManifestError with problems", data, err)
			}
			return
		}
		if m.ID == "" || !idPattern.MatchString(m.ID) {
			t.Fatalf("valid manifest with id %q", m.ID)
		}
		if !fullSemver(m.Version) {
			t.Fatalf("valid manifest with version %q", m.Version)
		}
		if m.MinHostVersion != "" && !fullSemver(m.MinHostVersion) {
			t.Fatalf("valid manifest with min_host_version %q", m.MinHostVersion)
		}
		if len(m.Executables) == 0 {
			t.Fatal("valid manifest without executables")
		}
		for key, e := range m.Executables {
			if !insideBundle(e.Path) {
				t.Fatalf("valid manifest with executables[%s].path %q, which is absolute or leaves the bundle", key, e.Path)
			}
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseManifest(again); err != nil {
			t.Fatalf("a valid manifest re-encoded as %s is refused: %v", again, err)
		}
	})
}
