// Package layout_test holds the house's import rules against the code: the
// arrows that must never be drawn (docs/ARCHITECTURE.md explains each).
package layout_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/helpdesk-duo/duo-plugin"

// never lists, for each room (a package path prefix under the module),
// the rooms it must not depend on, directly or through others. Test-only
// imports are not dependencies of the product and are not checked.
var never = []struct {
	room, mustNotReach, why string
}{
	{"plugin/", "host/", "the plugin never knows its host's code"},
	{"plugin/", "helpdesk/", "the plugin never knows its host's code"},
	{"plugin/", "duosim/", "the simulator is for tests and demos, never the product"},
	{"host/", "plugin/", "vendors depend on the contract, not on the plugin's internals"},
	{"host/", "settings/", "the settings are the plugin's"},
	{"host/", "migrations/", "the schema is the plugin's"},
	{"host/", "helpdesk/", "the SDK knows no particular helpdesk"},
	{"host/", "duosim/", "the SDK never ships the simulator"},
	{"helpdesk/", "plugin/", "the reference helpdesk uses the SDK like any vendor"},
	{"helpdesk/", "settings/", "the reference helpdesk uses the SDK like any vendor"},
	{"helpdesk/", "migrations/", "the reference helpdesk uses the SDK like any vendor"},
	{"duosim/", "plugin/", "the simulator is a leaf"},
	{"duosim/", "host/", "the simulator is a leaf"},
	{"duosim/", "helpdesk/", "the simulator is a leaf"},
	{"duosim/", "proto/", "the simulator speaks Duo's protocol, not ours"},
	{"proto/", "plugin/", "the contract depends on nothing of ours"},
	{"proto/", "host/", "the contract depends on nothing of ours"},
	{"proto/", "settings/", "the contract depends on nothing of ours"},
	{"settings/", "host/", "the settings are the plugin's"},
	{"settings/", "helpdesk/", "the settings are the plugin's"},
	{"migrations/", "host/", "the schema is the plugin's"},
}

type pkg struct {
	ImportPath string
	Deps       []string
}

func TestNoArrowRunsWhereItMustNot(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Deps", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[string]bool{}
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		for _, rule := range never {
			if !strings.HasPrefix(rel+"/", rule.room) {
				continue
			}
			seen[rule.room] = true
			for _, d := range p.Deps {
				if strings.HasPrefix(strings.TrimPrefix(d, module+"/")+"/", rule.mustNotReach) && strings.HasPrefix(d, module+"/") {
					t.Errorf("%s depends on %s: %s", p.ImportPath, d, rule.why)
				}
			}
		}
	}
	for _, rule := range never {
		if !seen[rule.room] {
			t.Errorf("no package in %s: the rule %q checks nothing (was the room renamed?)", rule.room, rule.why)
		}
	}
}

// The tests through the real binary drive the plugin as a vendor would:
// through the SDK and the contract, never the plugin's packages.
func TestBoundaryTestsUseOnlyTheSDK(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-test", "-json=ImportPath,Imports", module+"/internal/integration")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
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
			for _, banned := range []string{module + "/plugin/", module + "/settings", module + "/migrations"} {
				if strings.HasPrefix(imp, banned) {
					t.Errorf("%s imports %s: boundary tests must use only the SDK and the contract", p.ImportPath, imp)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list found no package in internal/integration")
	}
}
