package host

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/internal/filehash"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// An install root holds every installed release and a pointer to the one in
// use:
//
//	<root>/releases/<version>-<random>/   one directory per install, never changed once in place
//	<root>/current                        the name of the directory in use, one line
//
// The switch to a new release is the rename of a freshly written pointer file
// over current: atomic on every platform Go supports (Windows included,
// where a symlink would need a privilege), so current names either the old
// release or the new one, never a half. A host reads it with CurrentManifest
// each time it starts the plugin; a running plugin keeps the directory it
// was started from until the host starts it again.
const (
	releasesDir = "releases"
	currentFile = "current"
	lockFile    = "install.lock"
	stagingPre  = ".staging-"
)

// Limits of what Install unpacks, so that an archive cannot fill the disk.
const (
	maxBundleBytes = 1 << 30
	maxBundleFiles = 10000
)

// ErrBadBundle means Install refused a bundle: an archive entry outside the
// bundle (an absolute path, "..", a link of any kind), a bundle for another
// plugin, a missing or invalid manifest, or no usable binary for this
// platform. The error's text says which; a checksum that does not match
// also matches ErrChecksumMismatch, a missing binary ErrNoExecutable.
var ErrBadBundle = errors.New("plugin bundle refused")

// ErrNotInstalled means the install root has no current release.
var ErrNotInstalled = errors.New("no plugin bundle installed")

// InstalledBundle is a release Install put in place.
type InstalledBundle struct {
	ID      string
	Version string
	// Dir is the release's directory, <root>/releases/<version>-<random>.
	Dir string
	// ManifestPath is Dir's plugin.json: Options.ManifestPath for Start.
	ManifestPath string
	// KeyID names the trusted key that signed the manifest (KeyID).
	KeyID string
	// Previous is the directory that was current before, "" if none. It is
	// kept, so that a host still running it can restart it.
	Previous string
}

// Install puts the bundle at src, a directory holding plugin.json or a
// .tar.gz whose entries all sit under one top directory (what duo-release
// writes), into root and makes it current. Before anything changes it
// unpacks the bundle into a fresh directory under root/releases and checks,
// there, the manifest's signature against trusted (ErrBadSignature), the
// manifest (a *ManifestError), the plugin's id, and this platform's binary
// against its sha256 (and every other binary the bundle holds). Then it
// renames the directory to releases/<version>-<random> and switches current
// to it atomically. Any failure leaves root as it was: the previous release
// stays current and untouched, and the new directory is removed.
//
// After the switch, releases other than the new one and the previous one
// are removed (a failure to remove them is not an error), so an install root
// holds two releases. Install refuses to run while another holds
// root/install.lock; a lock left by a crash must be removed by hand (the
// error names it). ctx is checked between files.
func Install(ctx context.Context, src, root string, trusted []ed25519.PublicKey) (InstalledBundle, error) {
	fail := func(err error) (InstalledBundle, error) {
		return InstalledBundle{}, fmt.Errorf("install plugin bundle %s: %w", src, err)
	}
	if len(trusted) == 0 {
		return fail(sentinelError(ErrBadSignature, "no trusted keys: an install must verify the bundle's signature"))
	}
	// The source first: a bundle that is not there changes nothing, not
	// even the creation of root.
	fi, err := os.Stat(src)
	if err != nil {
		return fail(err)
	}
	rels := filepath.Join(root, releasesDir)
	if err := os.MkdirAll(rels, 0o755); err != nil {
		return fail(err)
	}
	lock := filepath.Join(root, lockFile)
	lf, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fail(fmt.Errorf("another install holds %s (if none is running, one crashed: remove the file)", lock))
		}
		return fail(err)
	}
	_ = lf.Close()
	defer os.Remove(lock)

	staging, err := os.MkdirTemp(rels, stagingPre)
	if err != nil {
		return fail(err)
	}
	placed := ""
	defer func() {
		if placed == "" {
			_ = os.RemoveAll(staging)
		}
	}()

	switch {
	case fi.IsDir():
		err = copyBundleDir(ctx, src, staging)
	default:
		err = unpackBundle(ctx, src, staging)
	}
	if err != nil {
		return fail(err)
	}
	m, keyID, err := checkBundle(staging, trusted)
	if err != nil {
		return fail(err)
	}

	name := m.Version + "-" + randomHex(4)
	dir := filepath.Join(rels, name)
	if err := os.Rename(staging, dir); err != nil {
		return fail(err)
	}
	placed = dir
	previous, err := currentRelease(root)
	if err != nil && !errors.Is(err, ErrNotInstalled) {
		previous = "" // an unreadable pointer is replaced; nothing to keep
	}
	if err := writeCurrent(root, name); err != nil {
		_ = os.RemoveAll(dir)
		return fail(fmt.Errorf("switch to %s: %w", name, err))
	}
	pruneReleases(rels, name, previous)

	out := InstalledBundle{ID: m.ID, Version: m.Version, Dir: dir, ManifestPath: filepath.Join(dir, "plugin.json"), KeyID: keyID}
	if previous != "" {
		out.Previous = filepath.Join(rels, previous)
	}
	return out, nil
}

// CurrentManifest returns the plugin.json of root's current release, for
// Options.ManifestPath (with Options.TrustedKeys, Start verifies it again).
// It fails with ErrNotInstalled when nothing was installed.
func CurrentManifest(root string) (string, error) {
	name, err := currentRelease(root)
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, releasesDir, name, "plugin.json")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("current plugin release %s: %w", name, err)
	}
	return p, nil
}

// currentRelease reads the pointer file: the name of one directory under
// releases, nothing else.
func currentRelease(root string) (string, error) {
	p := filepath.Join(root, currentFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", sentinelError(ErrNotInstalled, "no plugin bundle installed in %s (%s does not exist)", root, p)
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	name := strings.TrimSpace(string(data))
	if name == "" || name != filepath.Base(name) || !filepath.IsLocal(name) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("%s names %q, not a release directory", p, name)
	}
	return name, nil
}

// writeCurrent points current at name: a new file, synced, renamed over
// the old one, and the directory synced, so that after a crash current
// names the old release or the new one.
func writeCurrent(root, name string) error {
	f, err := os.CreateTemp(root, ".current-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.WriteString(name + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(root, currentFile))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	syncDir(root)
	return nil
}

// syncDir makes a rename in dir durable where the platform allows it
// (Windows cannot open a directory for syncing; its rename is durable).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// pruneReleases removes every release but keep (and leftovers of crashed
// installs), holding the install lock.
func pruneReleases(rels string, keep ...string) {
	entries, err := os.ReadDir(rels)
	if err != nil {
		return
	}
	for _, e := range entries {
		if slices.Contains(keep, e.Name()) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(rels, e.Name()))
	}
}

// checkBundle verifies an unpacked bundle in dir: the signature over the
// manifest's bytes, the manifest, the plugin id, and the binaries.
func checkBundle(dir string, trusted []ed25519.PublicKey) (*Manifest, string, error) {
	mp := filepath.Join(dir, "plugin.json")
	data, err := os.ReadFile(mp)
	if err != nil {
		return nil, "", fmt.Errorf("%w: no plugin.json at the bundle's top", ErrBadBundle)
	}
	sig, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	if err != nil {
		return nil, "", sentinelError(ErrBadSignature, "the bundle is not signed: no %s beside plugin.json", SignatureFile)
	}
	keyID, err := VerifyManifest(data, sig, trusted)
	if err != nil {
		return nil, "", err
	}
	m, err := parseManifest(data)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	m.Dir = dir
	if m.ID != contract.PluginID {
		return nil, "", fmt.Errorf("%w: the bundle is for plugin %q, not %q", ErrBadBundle, m.ID, contract.PluginID)
	}
	// This platform's binary must be there, signed and intact. An archive
	// repacked on a system without execute bits loses them; the bit is
	// set here, where the manifest says which file is the binary (and the
	// checksum below says it is the right one).
	if e, ok := m.Executables[runtime.GOOS+"-"+runtime.GOARCH]; ok {
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
			_ = os.Chmod(p, 0o755)
		}
	}
	if _, sum, err := m.Executable(runtime.GOOS, runtime.GOARCH); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadBundle, err)
	} else if sum == "" {
		return nil, "", fmt.Errorf("%w: %w", ErrBadBundle, sentinelError(ErrUnverified, "the manifest has no sha256 for %s-%s", runtime.GOOS, runtime.GOARCH))
	}
	// Every binary present is checked: a vendor may drop the platforms it
	// does not ship, but must not ship a binary the manifest does not vouch for.
	for _, key := range sortedKeys(m.Executables) {
		e := m.Executables[key]
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		got, err := filehash.SHA256(p)
		if err != nil {
			return nil, "", fmt.Errorf("%w: executables[%s]: %w", ErrBadBundle, key, err)
		}
		if e.SHA256 == "" || !strings.EqualFold(got, e.SHA256) {
			return nil, "", fmt.Errorf("%w: %w", ErrBadBundle, sentinelError(ErrChecksumMismatch,
				"executables[%s]: %s has sha256 %s, the signed manifest says %q", key, e.Path, got, e.SHA256))
		}
	}
	return m, keyID, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// refuse is an archive entry Install will not unpack.
func refuse(name, format string, args ...any) error {
	return fmt.Errorf("%w: entry %q: %s", ErrBadBundle, name, fmt.Sprintf(format, args...))
}

// unpackBundle unpacks a .tar.gz into dir: regular files and directories
// only, every entry under one top directory (stripped), nothing absolute,
// no "..", no link of any kind, no entry twice. Since nothing it creates is
// a link, nothing it writes can land outside dir.
func unpackBundle(ctx context.Context, archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%w: %s is neither a directory nor a .tar.gz: %w", ErrBadBundle, archive, err)
	}
	tr := tar.NewReader(gz)
	var top string
	var total int64
	for files := 0; ; files++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		// With GODEBUG=tarinsecurepath=0 the reader flags what entryPath
		// refuses anyway; let entryPath name it.
		if errors.Is(err, tar.ErrInsecurePath) && hdr != nil {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("%w: read archive: %w", ErrBadBundle, err)
		}
		if files >= maxBundleFiles {
			return fmt.Errorf("%w: more than %d entries", ErrBadBundle, maxBundleFiles)
		}
		rest, err := entryPath(hdr.Name, &top)
		if err != nil {
			return err
		}
		if rest == "" {
			if hdr.Typeflag != tar.TypeDir {
				return refuse(hdr.Name, "a file at the archive's top: every entry must be under one directory")
			}
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(rest))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if hdr.Size < 0 || total+hdr.Size > maxBundleBytes {
				return fmt.Errorf("%w: more than %d bytes unpacked", ErrBadBundle, int64(maxBundleBytes))
			}
			total += hdr.Size
			if err := writeBundleFile(dst, io.LimitReader(tr, hdr.Size), hdr.Size, fs.FileMode(hdr.Mode)); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return refuse(hdr.Name, "appears twice")
				}
				return err
			}
		case tar.TypeSymlink, tar.TypeLink:
			return refuse(hdr.Name, "a link (to %q): a bundle holds only files and directories", hdr.Linkname)
		default:
			return refuse(hdr.Name, "type %q: a bundle holds only files and directories", hdr.Typeflag)
		}
	}
	if top == "" {
		return fmt.Errorf("%w: the archive is empty", ErrBadBundle)
	}
	return nil
}

// entryPath checks an archive entry's name and returns it without its top
// directory; top is set by the first entry and every other must share it.
func entryPath(name string, top *string) (string, error) {
	if strings.ContainsAny(name, "\\:\x00") {
		return "", refuse(name, "not a portable relative path (a '\\', ':' or NUL)")
	}
	if path.IsAbs(name) {
		return "", refuse(name, "an absolute path")
	}
	if slices.Contains(strings.Split(name, "/"), "..") {
		return "", refuse(name, "a path with \"..\"")
	}
	clean := path.Clean(name)
	first, rest, _ := strings.Cut(clean, "/")
	switch {
	case first == ".":
		return "", refuse(name, "no top directory: every entry must be under one directory")
	case *top == "":
		*top = first
	case first != *top:
		return "", refuse(name, "outside the archive's top directory %q", *top)
	}
	if rest != "" && !filepath.IsLocal(filepath.FromSlash(rest)) {
		return "", refuse(name, "not a local path")
	}
	return rest, nil
}

// writeBundleFile writes exactly size bytes from r to a new file (never an
// existing one), executable for everyone if mode has any execute bit, and
// syncs it: the switch to the release must not outlive its files in a crash.
func writeBundleFile(dst string, r io.Reader, size int64, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("%w: %s: %d bytes, want %d", ErrBadBundle, dst, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyBundleDir copies a bundle directory into dir with the same rules as
// an archive: files and directories only, no links.
func copyBundleDir(ctx context.Context, src, dir string) error {
	// The directory named may itself be a symlink (a "latest" link, say);
	// what is under it may not.
	src, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	var total int64
	files := 0
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		dst := filepath.Join(dir, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if files++; files > maxBundleFiles {
				return fmt.Errorf("%w: more than %d files", ErrBadBundle, maxBundleFiles)
			}
			if total += fi.Size(); total > maxBundleBytes {
				return fmt.Errorf("%w: more than %d bytes", ErrBadBundle, int64(maxBundleBytes))
			}
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			return writeBundleFile(dst, in, fi.Size(), fi.Mode())
		case d.Type()&fs.ModeSymlink != 0:
			return refuse(filepath.ToSlash(rel), "a symlink: a bundle holds only files and directories")
		default:
			return refuse(filepath.ToSlash(rel), "not a regular file or directory")
		}
	})
}
