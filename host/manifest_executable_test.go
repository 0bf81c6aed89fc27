package host

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// evalSymlinks resolves path or fails the test; t.TempDir may itself be
// under a symlink (macOS's /var), and Executable returns resolved paths.
func evalSymlinks(t *testing.T, path string) string {
	t.Helper()
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return resolved
}

// symlink creates link pointing at target, skipping the test where the
// platform refuses symlinks (Windows without developer mode).
func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		if runtime.GOOS == "windows" {
			t.Skipf("symlinks unavailable: %v", err)
		}
		t.Fatal(err)
	}
}

func TestManifestExecutable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "bin/ok", []byte("#!/bin/sh\n"), 0o755)
	writeFile(t, dir, "bin/noexec", []byte("x"), 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "bin/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Dir: dir, Executables: map[string]Executable{
		"linux-amd64":  {Path: "bin/ok", SHA256: strings.ToUpper(testSHA)},
		"linux-arm64":  {Path: "bin/missing"},
		"darwin-arm64": {Path: "bin/noexec"},
		"darwin-amd64": {Path: "bin/dir"},
	}}
	type testCase struct {
		name, goos, goarch string
		wantPath, wantSHA  string
		wantErr            string
	}
	tests := []testCase{
		{name: "found", goos: "linux", goarch: "amd64", wantPath: filepath.Join(evalSymlinks(t, dir), "bin/ok"), wantSHA: testSHA},
		{name: "no entry", goos: "linux", goarch: "riscv64", wantErr: "no executable for linux-riscv64 in manifest (has: darwin-amd64, darwin-arm64, linux-amd64, linux-arm64)"},
		{name: "missing file", goos: "linux", goarch: "arm64", wantErr: "executable for linux-arm64: " + filepath.Join(dir, "bin/missing") + " does not exist"},
		{name: "not a file", goos: "darwin", goarch: "amd64", wantErr: "executable for darwin-amd64: " + filepath.Join(dir, "bin/dir") + " is not a regular file"},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, testCase{name: "not executable", goos: "darwin", goarch: "arm64", wantErr: "executable for darwin-arm64: " + filepath.Join(dir, "bin/noexec") + " is not executable (mode -rw-r--r--)"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, sum, err := m.Executable(tc.goos, tc.goarch)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrNoExecutable) {
					t.Fatalf("Executable error = %v, want %q matching ErrNoExecutable", err, tc.wantErr)
				}
				return
			}
			if err != nil || path != tc.wantPath || sum != tc.wantSHA {
				t.Fatalf("Executable = %q, %q, %v; want %q, %q", path, sum, err, tc.wantPath, tc.wantSHA)
			}
		})
	}
}

// A symlink in the bundle must not let the host hash or run a file outside
// it, and the path returned must be the file itself, not the link.
func TestManifestExecutableSymlinks(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bundle := filepath.Join(root, "bundle")
	writeFile(t, bundle, "bin/real", []byte("#!/bin/sh\n"), 0o755)
	writeFile(t, root, "outside/tool", []byte("#!/bin/sh\n"), 0o755)
	realRoot := evalSymlinks(t, root)
	realBundle := filepath.Join(realRoot, "bundle")
	realTool := filepath.Join(realRoot, "outside", "tool")

	symlink(t, "real", filepath.Join(bundle, "bin/relative-inside"))
	symlink(t, filepath.Join(bundle, "bin/real"), filepath.Join(bundle, "bin/absolute-inside"))
	symlink(t, "../bin/real", filepath.Join(bundle, "libexec/up-and-back"))
	symlink(t, filepath.Join(root, "outside/tool"), filepath.Join(bundle, "bin/absolute-outside"))
	symlink(t, "../../outside/tool", filepath.Join(bundle, "bin/relative-outside"))
	symlink(t, filepath.Join(root, "outside"), filepath.Join(bundle, "linked-dir"))
	symlink(t, "nowhere", filepath.Join(bundle, "bin/dangling"))
	symlink(t, bundle, filepath.Join(root, "current"))

	outside := func(rel string) string {
		return "executable for linux-amd64: " + filepath.Join(bundle, rel) + " resolves to " + realTool +
			", outside the plugin's directory " + realBundle
	}
	tests := []struct {
		name     string
		dir      string // the manifest's directory; bundle when empty
		path     string // the manifest's executable path
		wantPath string
		wantErr  string
	}{
		{name: "relative symlink inside", path: "bin/relative-inside", wantPath: filepath.Join(realBundle, "bin", "real")},
		{name: "absolute symlink inside", path: "bin/absolute-inside", wantPath: filepath.Join(realBundle, "bin", "real")},
		{name: "symlink leaving a subdirectory but not the bundle", path: "libexec/up-and-back", wantPath: filepath.Join(realBundle, "bin", "real")},
		{name: "bundle directory reached through a symlink", dir: filepath.Join(root, "current"), path: "bin/real", wantPath: filepath.Join(realBundle, "bin", "real")},
		{name: "absolute symlink outside", path: "bin/absolute-outside", wantErr: outside("bin/absolute-outside")},
		{name: "relative symlink outside via ..", path: "bin/relative-outside", wantErr: outside("bin/relative-outside")},
		{name: "symlinked directory component outside", path: "linked-dir/tool", wantErr: outside("linked-dir/tool")},
		{name: "dangling symlink", path: "bin/dangling", wantErr: "executable for linux-amd64: " + filepath.Join(bundle, "bin/dangling") + " is a symlink to nowhere, which does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.dir
			if dir == "" {
				dir = bundle
			}
			m := &Manifest{Dir: dir, Executables: map[string]Executable{"linux-amd64": {Path: tc.path, SHA256: testSHA}}}
			path, sum, err := m.Executable("linux", "amd64")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrNoExecutable) {
					t.Fatalf("Executable error = %v, want %q matching ErrNoExecutable", err, tc.wantErr)
				}
				return
			}
			if err != nil || path != tc.wantPath || sum != testSHA {
				t.Fatalf("Executable = %q, %q, %v; want %q, %q", path, sum, err, tc.wantPath, testSHA)
			}
		})
	}
}

// TestVerifiedCopyIsTheFileRun: launch runs a private copy, hashed as it is
// written. The bundle's file changed after the copy leaves the copy as it
// was checked; a copy that does not match is refused and removed; without
// a checksum (AllowUnverified) the file is copied as it is; Options.ExecDir
// says where the copies go.
func TestVerifiedCopyIsTheFileRun(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the copies go, to see that none is left
	bundle := t.TempDir()
	genuine := []byte("#!/bin/sh\necho genuine\n")
	path := writeFile(t, bundle, "bin/duo-plugin", genuine, 0o755)
	sum := sha256.Sum256(genuine)
	p := &Plugin{checksum: sum[:]}

	exe, cleanup, err := p.verifiedCopy(path)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(exe) != "duo-plugin" || !strings.HasPrefix(exe, tmp) {
		t.Fatalf("copy at %s; want duo-plugin under %s", exe, tmp)
	}
	writeFile(t, bundle, "bin/duo-plugin", []byte("#!/bin/sh\necho impostor\n"), 0o755)
	if got, err := os.ReadFile(exe); err != nil || !bytes.Equal(got, genuine) {
		t.Fatalf("the copy holds %q, %v after the bundle's file changed; want the checked bytes", got, err)
	}
	for _, f := range []string{exe, filepath.Dir(exe)} {
		if fi, err := os.Stat(f); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700) {
			t.Fatalf("%s: %v, %v; want mode 0700, only this user may write or swap it", f, fi.Mode(), err)
		}
	}
	cleanup()

	if _, _, err := p.verifiedCopy(path); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("copy of the changed file: %v; want ErrChecksumMismatch", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("left behind in the temporary directory: %v", left)
	}

	execDir := t.TempDir() // Options.ExecDir, for a host whose /tmp is noexec
	unverified := &Plugin{opts: Options{ExecDir: execDir}}
	exe, cleanup, err = unverified.verifiedCopy(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if !strings.HasPrefix(exe, execDir+string(filepath.Separator)) {
		t.Fatalf("copy at %s; want it under Options.ExecDir %s", exe, execDir)
	}
	if got, _ := os.ReadFile(exe); !strings.Contains(string(got), "impostor") {
		t.Fatalf("without a checksum the copy holds %q; want the file as it is", got)
	}
}
