// Package layout_test holds the house's import rules against the code: the
// arrows that must never be drawn (docs/ARCHITECTURE.md explains each).
package layout_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/helpdesk-duo/duo-plugin"

// root is the room of the module's root package, duoplugin (manifest.go:
// the embedded plugin.json, plugin side only). It holds that one package,
// not the module's others.
const root = "."

// A rule holds for every package in room (a path relative to the module:
// the package and every package below it; root for the root package
// alone). Only, if set, lists the only rooms of ours it may depend on,
// directly or through others, besides its own; never lists rooms it must
// not depend on. Test-only imports are not dependencies of the product and
// are not checked here.
type rule struct {
	room  string
	only  []string
	never []string
	why   string
}

var rules = []rule{
	{room: "proto", only: []string{"proto"},
		why: "what both sides agree on depends on nothing of ours outside proto/"},
	{room: "proto/contract", only: []string{"proto/duo/v1"},
		why: "the contract reaches none of our packages but its generated code"},
	{room: "proto/duo/v1", only: []string{},
		why: "generated code depends on nothing of ours"},
	{room: "duosim", only: []string{"internal/secret"},
		why: "the simulator is a leaf: it imports nothing of ours but internal/secret"},
	{room: "conformance", only: []string{"duosim", "internal/secret"},
		why: "the vendors' kit drives a helpdesk over HTTP against the simulator: it knows neither the SDK nor any plugin or helpdesk code"},
	{room: "host", never: []string{"plugin", "settings", "migrations", root},
		why: "vendors depend on the contract, not on the plugin's side"},
	{room: "host", never: []string{"helpdesk"},
		why: "the SDK knows no particular helpdesk"},
	{room: "host", never: []string{"duosim"},
		why: "the SDK never ships the simulator"},
	{room: "helpdesk", never: []string{"plugin", "settings", "migrations", root},
		why: "the reference helpdesk uses the SDK like any vendor, never the plugin's side"},
	{room: "plugin", never: []string{"host", "helpdesk"},
		why: "the plugin never knows its host's code"},
	{room: "plugin", never: []string{"duosim"},
		why: "the simulator is for tests and demos, never the product"},
	{room: root, never: []string{"host", "helpdesk", "duosim"},
		why: "the embedded manifest is the plugin's: it never knows its host's code"},
	{room: "settings", never: []string{"host", "helpdesk", "duosim"},
		why: "the settings are the plugin's"},
	{room: "internal/release", never: []string{"plugin", "settings", "migrations", root, "helpdesk", "duosim"},
		why: "the release builder runs the go command on the plugin and signs with the SDK's formats; it links none of the plugin"},
	{room: "cmd/duo-release", only: []string{"internal/release", "host", "proto", "internal/defaults", "internal/filehash"},
		why: "the release command is internal/release's thin main"},
	{room: "migrations", never: []string{"host", "helpdesk"},
		why: "the schema is the plugin's"},
}

// pluginSide and hostSide are the two sides of the boundary; no package of
// ours reaches into both.
var (
	pluginSide = []string{"plugin", "settings", "migrations", root}
	hostSide   = []string{"host", "helpdesk"}
)

// rel is the path of an import path of ours relative to the module (root
// for the module's own package), and false for a package not of ours.
func rel(importPath string) (string, bool) {
	switch {
	case importPath == module:
		return root, true
	case strings.HasPrefix(importPath, module+"/"):
		return strings.TrimPrefix(importPath, module+"/"), true
	}
	return "", false
}

// in reports whether the package at path p (relative, as rel returns it)
// is in room.
func in(p, room string) bool {
	if room == root || p == root {
		return p == room
	}
	return p == room || strings.HasPrefix(p, room+"/")
}

func inAny(p string, rooms []string) bool {
	return slices.ContainsFunc(rooms, func(room string) bool { return in(p, room) })
}

type pkg struct {
	ImportPath string
	Deps       []string
}

// ours lists every package of the module with its dependencies of ours.
func ours(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Deps", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	pkgs := map[string][]string{}
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		path, ok := rel(p.ImportPath)
		if !ok {
			t.Fatalf("go list listed %s, not a package of %s", p.ImportPath, module)
		}
		var deps []string
		for _, d := range p.Deps {
			if dr, ok := rel(d); ok {
				deps = append(deps, dr)
			}
		}
		pkgs[path] = deps
	}
	if _, ok := pkgs[root]; !ok {
		t.Fatal("go list did not list the module's root package")
	}
	return pkgs
}

// violations returns, for one rule, each dependency that breaks it.
func (r rule) violations(deps []string) []string {
	var bad []string
	for _, d := range deps {
		switch {
		case in(d, r.room):
		case r.only != nil && !inAny(d, r.only):
			bad = append(bad, d)
		case inAny(d, r.never):
			bad = append(bad, d)
		}
	}
	return bad
}

func TestNoArrowRunsWhereItMustNot(t *testing.T) {
	t.Parallel()
	pkgs := ours(t)
	seen := map[string]bool{}
	for p, deps := range pkgs {
		for _, r := range rules {
			if !in(p, r.room) {
				continue
			}
			seen[r.room] = true
			for _, d := range r.violations(deps) {
				t.Errorf("%s depends on %s: %s", name(p), name(d), r.why)
			}
		}
		if reaches(deps, pluginSide) && reaches(deps, hostSide) {
			t.Errorf("%s depends on both sides of the boundary (%v and %v): no package imports both", name(p), pluginSide, hostSide)
		}
	}
	for _, r := range rules {
		if !seen[r.room] {
			t.Errorf("no package in %s: the rule %q checks nothing (was the room renamed?)", r.room, r.why)
		}
	}
}

func reaches(deps, rooms []string) bool {
	return slices.ContainsFunc(deps, func(d string) bool { return inAny(d, rooms) })
}

// name is the import path of the package at p.
func name(p string) string {
	if p == root {
		return module
	}
	return module + "/" + p
}

// The rules themselves: the root room holds the root package alone, an
// allow-list refuses what it does not name, and a room may use itself.
func TestRulesMatchAsTheyShould(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		r    rule
		deps []string
		want []string
	}{
		{"the root room is the root package alone", rule{room: "host", never: []string{root}}, []string{"host/internal/supervisor", "proto/contract"}, nil},
		{"reaching the root package", rule{room: "host", never: []string{root}}, []string{root, "proto/contract"}, []string{root}},
		{"an allow-list refuses the rest", rule{room: "duosim", only: []string{"internal/secret"}},
			[]string{"duosim", "internal/secret", "internal/defaults", root}, []string{"internal/defaults", root}},
		{"an empty allow-list refuses everything", rule{room: "proto/duo/v1", only: []string{}}, []string{"internal/secret"}, []string{"internal/secret"}},
		{"a prefix is not a room", rule{room: "plugin", never: []string{"host"}}, []string{"hostname"}, nil},
	}
	for _, tc := range cases {
		if got := tc.r.violations(tc.deps); !slices.Equal(got, tc.want) {
			t.Errorf("%s: violations %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		p, room string
		want    bool
	}{
		{root, root, true}, {root, "host", false}, {"host", root, false}, {"host", "host", true},
		{"host/internal/supervisor", "host", true}, {"hostname", "host", false}, {"proto/duo/v1", "proto", true},
	} {
		if got := in(tc.p, tc.room); got != tc.want {
			t.Errorf("in(%q, %q) = %v, want %v", tc.p, tc.room, got, tc.want)
		}
	}
}

// The tests through the real binary (internal/integration and the trust
// suite, internal/trust) drive the plugin as a vendor would: through the
// SDK and the contract, never the plugin's packages.
func TestBoundaryTestsUseOnlyTheSDK(t *testing.T) {
	t.Parallel()
	for _, pkg := range []string{"internal/integration", "internal/trust", "internal/upgrade"} {
		cmd := exec.Command("go", "list", "-test", "-json=ImportPath,Imports", module+"/"+pkg)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(out)))
		checked := 0
		for {
			var p struct {
				ImportPath string
				Imports    []string
			}
			if err := dec.Decode(&p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, imp := range p.Imports {
				if r, ok := rel(imp); ok && inAny(r, pluginSide) {
					t.Errorf("%s imports %s: boundary tests must use only the SDK and the contract", p.ImportPath, imp)
				}
			}
		}
		if checked == 0 {
			t.Fatalf("go list found no package in %s", pkg)
		}
	}
}
