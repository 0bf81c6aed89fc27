package trust

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

// issueCases is how many cases the trust suite's issue names.
const issueCases = 39

// caseTest is a test function named for a case: TestCaseNN….
var caseTest = regexp.MustCompile(`^TestCase(\d\d)[A-Z]`)

// TestEveryCaseHasATest reads every _test.go file of the repository with
// the Go parser and fails for a case of the issue without a TestCaseNN…
// function, for a case number the issue does not have, and for a case
// doc.go does not list: the suite cannot quietly lose a case, and its
// index stays true.
func TestEveryCaseHasATest(t *testing.T) {
	t.Parallel()
	root, err := pluginbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	where := map[int][]string{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil {
				continue
			}
			if m := caseTest.FindStringSubmatch(fn.Name.Name); m != nil {
				n, _ := strconv.Atoi(m[1])
				rel, _ := filepath.Rel(root, path)
				where[n] = append(where[n], filepath.ToSlash(rel)+" "+fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "internal", "trust", "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= issueCases; n++ {
		if len(where[n]) == 0 {
			t.Errorf("case %d has no TestCase%02d… test", n, n)
			continue
		}
		for _, w := range where[n] {
			name := w[strings.LastIndexByte(w, ' ')+1:]
			if !strings.Contains(string(doc), name) {
				t.Errorf("doc.go does not list %s", w)
			}
		}
	}
	for n, ws := range where {
		if n < 1 || n > issueCases {
			t.Errorf("%q: the issue has no case %d", ws, n)
		}
	}
}
