package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Executable returns the absolute path and the expected SHA-256 (lower-case
// hex, "" if the manifest has none) of the binary for goos-goarch. The path
// has its symlinks resolved, so that the file hashed is the file executed.
// It fails, matching ErrNoExecutable, when the manifest has no entry for the
// platform or the file is missing, resolves to outside the manifest's
// directory, is not a regular file, or is not executable.
func (m *Manifest) Executable(goos, goarch string) (path string, sha256 string, err error) {
	key := goos + "-" + goarch
	e, ok := m.Executables[key]
	if !ok {
		has := strings.Join(sortedKeys(m.Executables), ", ")
		if has == "" {
			has = "none"
		}
		return "", "", sentinelError(ErrNoExecutable, "no executable for %s in manifest (has: %s)", key, has)
	}
	path = filepath.FromSlash(e.Path)
	if !filepath.IsAbs(path) {
		path = filepath.Join(m.Dir, path)
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return "", "", sentinelError(ErrNoExecutable, "executable for %s: %v", key, err)
	}
	resolved, err := resolveInBundle(m.Dir, path)
	if err != nil {
		return "", "", sentinelError(ErrNoExecutable, "executable for %s: %v", key, err)
	}
	fi, err := os.Stat(resolved)
	switch {
	case err != nil:
		return "", "", sentinelError(ErrNoExecutable, "executable for %s: %v", key, err)
	case !fi.Mode().IsRegular():
		return "", "", sentinelError(ErrNoExecutable, "executable for %s: %s is not a regular file", key, path)
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0:
		return "", "", sentinelError(ErrNoExecutable, "executable for %s: %s is not executable (mode %s)", key, path, fi.Mode().Perm())
	}
	return resolved, strings.ToLower(e.SHA256), nil
}

// resolveInBundle resolves every symlink in path and refuses a result outside
// dir (itself resolved, since the temporary directory, for one, can be a
// symlink), so that a bundle cannot run or hash a file it does not contain.
func resolveInBundle(dir, path string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("plugin directory: %w", err)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("plugin directory: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if target, lerr := os.Readlink(path); lerr == nil {
			return "", fmt.Errorf("%s is a symlink to %s, which does not exist", path, target)
		}
		return "", fmt.Errorf("%s does not exist", path)
	case err != nil:
		return "", err
	}
	if rel, err := filepath.Rel(realDir, resolved); err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%s resolves to %s, outside the plugin's directory %s", path, resolved, realDir)
	}
	return resolved, nil
}
