// Package pluginbuild builds the plugin binary and writes a bundle that a
// host can load: bin/<os>-<arch>/duo-plugin and a plugin.json whose
// executable entry carries the binary's sha256. Tests use it to launch the
// real plugin (and Binary for other commands, such as the benchmarks' bare
// plugin); the demo uses it to build what it runs. Releases are built by
// internal/release (cmd/duo-release), which writes the same manifest.
//
// It builds with the go command's default flags, the ones `go run` and
// `go test` use, so that every package the command that called it already
// compiled comes from the build cache: a different flag (-trimpath, say)
// would compile every dependency again. It sets no deadline of its own: on
// a cold, busy machine a build takes what it takes.
package pluginbuild

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/filehash"
	"github.com/helpdesk-duo/duo-plugin/internal/release"
)

// RepoRoot returns the directory of the module's go.mod, searching up from
// the working directory.
func RepoRoot() (string, error) { return release.RepoRoot() }

// Target is the manifest key for this machine, e.g. linux-amd64.
func Target() string { return runtime.GOOS + "-" + runtime.GOARCH }

// Bundle builds the plugin from root into outDir and writes
// outDir/plugin.json, listing this machine's binary alone, at the path the
// repository's plugin.json names for it. It returns the manifest's path.
// The manifest is written as a release's is (release.Manifest); the binary
// is built with the default flags, not a release's.
func Bundle(ctx context.Context, root, outDir string) (string, error) {
	return bundle(ctx, root, outDir)
}

// BundleWithFlags is Bundle with extra go build flags (StrippedFlags,
// say, for a release's size).
func BundleWithFlags(ctx context.Context, root, outDir string, flags ...string) (string, error) {
	return bundle(ctx, root, outDir, flags...)
}

// bundle is Bundle with extra go build flags.
func bundle(ctx context.Context, root, outDir string, flags ...string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(root, "plugin.json"))
	if err != nil {
		return "", fmt.Errorf("pluginbuild: %w", err)
	}
	paths, err := release.Paths(raw)
	if err != nil {
		return "", fmt.Errorf("pluginbuild: %w", err)
	}
	rel, ok := paths[Target()]
	if !ok {
		return "", fmt.Errorf("pluginbuild: plugin.json has no executable for %s", Target())
	}
	bin := filepath.Join(outDir, filepath.FromSlash(rel))
	if err := goBuild(ctx, root, release.MainPackage, bin, flags...); err != nil {
		return "", err
	}
	sum, err := filehash.SHA256(bin)
	if err != nil {
		return "", fmt.Errorf("pluginbuild: %w", err)
	}
	out, err := release.Manifest(raw, "", map[string]host.Executable{Target(): {Path: rel, SHA256: sum}})
	if err != nil {
		return "", fmt.Errorf("pluginbuild: %w", err)
	}
	path := filepath.Join(outDir, "plugin.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", fmt.Errorf("pluginbuild: %w", err)
	}
	return path, nil
}

// goBuild builds the main package pkg (relative to root) into out, with
// extra flags for go build.
func goBuild(ctx context.Context, root, pkg, out string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pluginbuild: go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// A build made once per process, in a temporary directory of its own.
type build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*build{}
)

// once runs run at most once per key in this process, in a fresh
// temporary directory, and returns its first result every time. It runs
// with no deadline: on a cold, busy machine a build takes what it takes.
func once(key string, run func(ctx context.Context, root, dir string) (string, error)) (string, error) {
	buildsMu.Lock()
	b := builds[key]
	if b == nil {
		b = &build{}
		builds[key] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			b.err = err
			return
		}
		if b.dir, b.err = os.MkdirTemp("", "pluginbuild-"); b.err != nil {
			return
		}
		if b.path, b.err = run(context.Background(), root, b.dir); b.err != nil {
			// A failed build leaves nothing behind, even if the caller
			// exits without Cleanup.
			_ = os.RemoveAll(b.dir)
			b.dir = ""
		}
	})
	return b.path, b.err
}

// Binary builds the module's main package pkg (a path like
// "./internal/bareplugin") once per process and returns the binary's path.
// Call it from TestMain before m.Run, so that no test's own deadline runs
// while it compiles; Cleanup removes it.
func Binary(pkg string) (string, error) { return BinaryWithFlags(pkg) }

// StrippedFlags build without the symbol table, DWARF and file-system
// paths, as a size-conscious release would. The benchmarks build the
// plugin and their floor both ways; -trimpath recompiles every dependency
// once (then the build cache has them), which is why tests do not use it.
var StrippedFlags = []string{"-trimpath", "-ldflags=-s -w"}

// BinaryWithFlags is Binary built with extra go build flags.
func BinaryWithFlags(pkg string, flags ...string) (string, error) {
	key := "binary " + pkg
	if len(flags) > 0 {
		key += " " + strings.Join(flags, " ")
	}
	return once(key, func(ctx context.Context, root, dir string) (string, error) {
		out := filepath.Join(dir, path.Base(pkg))
		return out, goBuild(ctx, root, pkg, out, flags...)
	})
}

// sharedBundle builds the shared test bundle once per process and returns
// its manifest's path.
func sharedBundle() (string, error) {
	return sharedTaggedBundle("")
}

// sharedTaggedBundle is sharedBundle built with tags.
func sharedTaggedBundle(tags string) (string, error) {
	var flags []string
	if tags != "" {
		flags = []string{"-tags", tags}
	}
	return flaggedBundle(flags...)
}

// flaggedBundle is sharedBundle built with extra go build flags.
func flaggedBundle(flags ...string) (string, error) {
	return once("bundle "+strings.Join(flags, " "), func(ctx context.Context, root, dir string) (string, error) {
		return bundle(ctx, root, dir, flags...)
	})
}

// PrepareTagged builds, once per process, a bundle of the plugin built
// with the build tags tags (comma-separated), such as the contract's
// test-only duotest_older and duotest_protocol2, which make the binary
// pose as another plugin. Call it from TestMain before m.Run.
func PrepareTagged(tags string) error {
	_, err := sharedTaggedBundle(tags)
	return err
}

// ForTestTagged is ForTest for the bundle built with tags (PrepareTagged).
func ForTestTagged(t testing.TB, tags string) string {
	t.Helper()
	manifest, err := sharedTaggedBundle(tags)
	if err != nil {
		t.Fatalf("build plugin with tags %q: %v", tags, err)
	}
	return copyBundle(t, manifest)
}

// ForTestWithFlags is ForTest for a bundle of the plugin built with extra
// go build flags (such as StrippedFlags), built once per process.
func ForTestWithFlags(t testing.TB, flags ...string) string {
	t.Helper()
	manifest, err := flaggedBundle(flags...)
	if err != nil {
		t.Fatalf("build plugin with flags %q: %v", flags, err)
	}
	return copyBundle(t, manifest)
}

// Prepare builds the shared test bundle, once per process. Call it from
// TestMain before m.Run, so that no test's own deadline runs while the
// plugin compiles.
func Prepare() error {
	_, err := sharedBundle()
	return err
}

// Shared returns the shared test bundle's manifest, built once per
// process (by Prepare, or now), for code without a testing.TB, such as
// runnable examples. It is read-only: a test that tampers with a bundle
// takes its own copy with ForTest. Cleanup removes it.
func Shared() (string, error) { return sharedBundle() }

// ForTest returns a fresh copy of the shared bundle (built by Prepare, or
// now) in t.TempDir(), so a test may tamper with its copy. The shared
// build is removed by Cleanup (call it from TestMain after m.Run).
func ForTest(t testing.TB) string {
	t.Helper()
	manifest, err := sharedBundle()
	if err != nil {
		t.Fatalf("build plugin: %v", err)
	}
	return copyBundle(t, manifest)
}

// copyBundle copies the bundle of manifest into t.TempDir() and returns
// the copy's manifest.
func copyBundle(t testing.TB, manifest string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Dir(manifest))); err != nil {
		t.Fatalf("copy plugin bundle: %v", err)
	}
	// CopyFS drops the executable bit.
	bin := filepath.Join(dst, "bin", Target(), "duo-plugin")
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatalf("chmod plugin: %v", err)
	}
	return filepath.Join(dst, "plugin.json")
}

// Cleanup removes every build made by Prepare and Binary in this process.
// Call it from TestMain after m.Run.
func Cleanup() {
	buildsMu.Lock()
	defer buildsMu.Unlock()
	for _, b := range builds {
		if b.dir != "" {
			_ = os.RemoveAll(b.dir)
		}
	}
}

// EditExecutable rewrites the bundle's plugin.json in place, letting edit
// change this platform's executables entry (its "path" and "sha256"): how
// tests make a manifest that lies or leaves out the checksum.
func EditExecutable(t testing.TB, manifest string, edit func(exe map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	exe, ok := m["executables"].(map[string]any)[Target()].(map[string]any)
	if !ok {
		t.Fatalf("%s has no executables entry for %s", manifest, Target())
	}
	edit(exe)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
