// Package toolchain holds one check: CI builds and tests with the patched
// Go toolchain the README names, never with one whose standard library has
// known vulnerabilities the code reaches (scripts/vulncheck.sh proves the
// latter for the toolchain it runs with).
package toolchain

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// Patched is the toolchain README.md, .ci/run and scripts/ export as
// GOTOOLCHAIN.
const Patched = "go1.27.3"

func TestCIUsesThePatchedToolchain(t *testing.T) {
	got := runtime.Version()
	older := semver.Compare("v"+strings.TrimPrefix(got, "go"), "v"+strings.TrimPrefix(Patched, "go")) < 0
	switch {
	case !older:
	case os.Getenv("CI") == "true":
		t.Fatalf("built with %s, older than %s: export GOTOOLCHAIN=%s (README)", got, Patched, Patched)
	default:
		t.Skipf("!!! built with %s, older than the patched %s: export GOTOOLCHAIN=%s (README)", got, Patched, Patched)
	}
}

// The scripts and the README name the same toolchain as this test.
func TestScriptsNameThePatchedToolchain(t *testing.T) {
	for _, f := range []string{"../../README.md", "../../.ci/run", "../../scripts/vulncheck.sh", "../../scripts/firstrun.sh", "../../scripts/genproto.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "GOTOOLCHAIN=") || !strings.Contains(string(b), Patched) {
			t.Errorf("%s does not export GOTOOLCHAIN=%s", f, Patched)
		}
	}
}
