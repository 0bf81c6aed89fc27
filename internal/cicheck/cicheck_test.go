// Package cicheck checks that CI is what README.md and docs/SECURITY.md say
// it is (the trust suite's case 34 and 39): it builds and tests with the
// patched Go toolchain, never with one whose standard library has known
// vulnerabilities the code reaches (scripts/vulncheck.sh proves the latter
// for the toolchain it runs with), and .ci/run runs every gate: the race
// detector, govulncheck, staticcheck and every fuzz target.
package cicheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// Patched is the toolchain README.md, .ci/run and scripts/ export as
// GOTOOLCHAIN.
const Patched = "go1.27.3"

func TestCase39BuiltWithThePatchedToolchain(t *testing.T) {
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
	for _, f := range []string{"../../README.md", "../../.ci/run", "../../scripts/vulncheck.sh", "../../scripts/firstrun.sh", "../../scripts/genproto.sh", "../../scripts/fuzz.sh", "../../scripts/staticcheck.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "GOTOOLCHAIN=") || !strings.Contains(string(b), Patched) {
			t.Errorf("%s does not export GOTOOLCHAIN=%s", f, Patched)
		}
	}
}

// TestCase34CIRunsEveryGate reads .ci/run's commands (comments dropped) for each
// gate of case 34 and 39, in the order that makes a failure cheapest.
func TestCase34CIRunsEveryGate(t *testing.T) {
	b, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	at := func(gate string) int {
		return slices.IndexFunc(cmds, func(c string) bool { return strings.HasPrefix(c, gate) })
	}
	gates := []string{"scripts/staticcheck.sh", "go test -race -count=1", "scripts/vulncheck.sh", "scripts/fuzz.sh"}
	last := -1
	for _, g := range gates {
		i := at(g)
		switch {
		case i < 0:
			t.Errorf(".ci/run does not run %q", g)
		case i < last:
			t.Errorf(".ci/run runs %q too early: want the order %q", g, gates)
		default:
			last = i
		}
	}
}

// TestFuzzScriptFindsEveryTarget compares scripts/fuzz.sh's discovery (a
// grep) with the Go parser's view of every _test.go file: a fuzz target the
// script missed would never be fuzzed in CI.
func TestFuzzScriptFindsEveryTarget(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no bash to run scripts/fuzz.sh -l, which .ci/run needs: %v", err)
		}
		t.Skipf("!!! no bash to run scripts/fuzz.sh -l: %v", err)
	}
	var want []string
	for _, fn := range testFuncs(t) {
		if strings.HasPrefix(fn.decl.Name.Name, "Fuzz") && takesTestingF(fn.decl) {
			want = append(want, "./"+path.Dir(fn.file)+" "+fn.decl.Name.Name)
		}
	}
	slices.Sort(want)
	if len(want) < 9 {
		t.Fatalf("found only %d fuzz targets (%q): the walk is broken", len(want), want)
	}
	out, err := exec.Command("bash", "../../scripts/fuzz.sh", "-l").Output()
	if err != nil {
		t.Fatalf("scripts/fuzz.sh -l: %v", err)
	}
	got := strings.Fields(string(out))
	var pairs []string
	for i := 0; i+1 < len(got); i += 2 {
		pairs = append(pairs, got[i]+" "+got[i+1])
	}
	if !slices.Equal(pairs, want) {
		t.Errorf("scripts/fuzz.sh -l lists\n%q\nthe Go parser finds\n%q", pairs, want)
	}
}

// testFunc is a top-level function of a _test.go file of the repository.
type testFunc struct {
	file string // slash-separated, relative to the repository's root
	decl *ast.FuncDecl
}

// testFuncs reads every _test.go file of the repository (not under
// testdata or a dot directory) with the Go parser and returns its
// top-level functions.
func testFuncs(t *testing.T) []testFunc {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var out []testFunc
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		case !strings.HasSuffix(p, "_test.go"):
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil {
				out = append(out, testFunc{file: filepath.ToSlash(rel), decl: fn})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// trustCases is how many cases the trust suite's issue (10) names.
const trustCases = 39

// caseTest is a test named for a case of the trust suite: TestCaseNN….
var caseTest = regexp.MustCompile(`^TestCase(\d\d)[A-Z]`)

// TestEveryTrustCaseHasATest fails for a case of the trust suite without a
// TestCaseNN… function anywhere in the repository, for a case number the
// issue does not have, and for a case test internal/trust/doc.go (the
// suite's index, which docs/SECURITY.md points at) does not list: the
// suite cannot quietly lose a case, and its index stays true.
func TestEveryTrustCaseHasATest(t *testing.T) {
	doc, err := os.ReadFile("../../internal/trust/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	where := map[int][]testFunc{}
	for _, fn := range testFuncs(t) {
		if m := caseTest.FindStringSubmatch(fn.decl.Name.Name); m != nil {
			n, _ := strconv.Atoi(m[1])
			where[n] = append(where[n], fn)
		}
	}
	for n := 1; n <= trustCases; n++ {
		if len(where[n]) == 0 {
			t.Errorf("trust case %d has no TestCase%02d… test", n, n)
		}
		for _, fn := range where[n] {
			if !strings.Contains(string(doc), fn.decl.Name.Name) {
				t.Errorf("internal/trust/doc.go does not list %s (%s)", fn.decl.Name.Name, fn.file)
			}
		}
	}
	for n, fns := range where {
		if n < 1 || n > trustCases {
			t.Errorf("%s (%s): the trust suite has no case %d", fns[0].decl.Name.Name, fns[0].file, n)
		}
	}
}

// takesTestingF is whether fn's one parameter is a *testing.F.
func takesTestingF(fn *ast.FuncDecl) bool {
	ps := fn.Type.Params.List
	if len(ps) != 1 || len(ps[0].Names) > 1 {
		return false
	}
	star, ok := ps[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "F" && isIdent(sel.X, "testing")
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
