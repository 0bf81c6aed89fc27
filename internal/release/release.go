// Package release builds a signed release bundle of the plugin: for every
// platform the repository's plugin.json lists, a reproducible binary
// (CGO_ENABLED=0, -trimpath, no build id, no VCS stamp, the version stamped
// in), and a plugin.json whose executables carry each binary's sha256,
// signed with ed25519 (plugin.json.sig, the format of package host), in
// <out>/<id>-<version>/ and a deterministic <out>/<id>-<version>.tar.gz of
// it. cmd/duo-release is its command.
//
// The manifest it writes is the one internal/pluginbuild writes for the
// tests' dev bundle (Manifest); only the flags of the build differ: the dev
// builder keeps the go command's defaults so that its builds come from the
// tests' build cache.
package release

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/filehash"
)

// Module is the plugin's module path; VersionVar the variable a release
// build stamps with -X (package duoplugin's stampedVersion).
const (
	Module     = "github.com/helpdesk-duo/duo-plugin"
	VersionVar = Module + ".stampedVersion"
	// MainPackage is the plugin's command, relative to the module root.
	MainPackage = "./plugin/cmd/duo-plugin"
)

// RepoRoot returns the directory of the module's go.mod (with plugin.json
// beside it), searching up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "plugin.json")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod with plugin.json above the working directory")
		}
		dir = parent
	}
}

// BuildFlags are the go build flags of a release binary of version: no
// paths (-trimpath), no VCS stamp, no build id, no symbol table, the
// version stamped in. With CGO_ENABLED=0 and the same toolchain, the same
// source gives the same bytes wherever it is built.
func BuildFlags(version string) []string {
	return []string{"-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid= -X " + VersionVar + "=" + version}
}

// buildEnv is the environment of a release build: the caller's, with what
// changes the output pinned. GOFLAGS is cleared so that a developer's
// -race or -tags cannot slip in.
func buildEnv(goos, goarch string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOAMD64", "GOARM64", "GOEXPERIMENT":
			return true
		}
		return false
	})
	return append(env, "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=", "GOAMD64=v1", "GOARM64=v8.0")
}

// BuildBinary builds the plugin for goos/goarch from the module at root
// into out, with BuildFlags(version).
func BuildBinary(ctx context.Context, root, goos, goarch, version, out string) error {
	args := append([]string{"build", "-o", out}, BuildFlags(version)...)
	cmd := exec.CommandContext(ctx, "go", append(args, MainPackage)...)
	cmd.Dir = root
	cmd.Env = buildEnv(goos, goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s-%s: %w\n%s", MainPackage, goos, goarch, err, b)
	}
	return nil
}

// Paths returns the executables' paths the repository's plugin.json (raw)
// names, keyed by os-arch.
func Paths(raw []byte) (map[string]string, error) {
	var m struct {
		Executables map[string]struct {
			Path string `json:"path"`
		} `json:"executables"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("plugin.json: %w", err)
	}
	out := make(map[string]string, len(m.Executables))
	for k, e := range m.Executables {
		out[k] = e.Path
	}
	return out, nil
}

// Manifest returns the repository's plugin.json (raw) as a bundle's: its
// executables replaced by exes (each with its sha256), its version by
// version unless that is empty; every other field kept. The output is
// indented JSON with sorted keys and a final newline, the same for the
// same input, and valid for host.LoadManifest.
func Manifest(raw []byte, version string, exes map[string]host.Executable) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("plugin.json: %w", err)
	}
	if version != "" {
		m["version"] = version
	}
	m["executables"] = exes
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Config is one release.
type Config struct {
	// Root is the module's directory (go.mod and plugin.json).
	Root string
	// Version is the release's version, like 1.2.3 (no "v"); empty means
	// plugin.json's.
	Version string
	// Out is the directory the bundle and its archive are written to.
	Out string
	// Key signs the manifest.
	Key ed25519.PrivateKey
	// Platforms, if set, builds only these os-arch keys of plugin.json
	// (the tests build one); the manifest then lists only them.
	Platforms []string
	// Progress, if set, is told of each platform as its build starts.
	Progress func(platform string)
	// NoArchive writes the bundle directory only, no .tar.gz (Result's
	// Archive is then ""): for tests that compare builds, where compressing
	// tens of megabytes under the race detector would take minutes.
	// WriteArchive is deterministic on its own.
	NoArchive bool
}

// Result is what Build wrote.
type Result struct {
	ID, Version string
	// Dir is <Out>/<id>-<version>, the bundle; Archive its .tar.gz.
	Dir, Archive string
	// Manifest is the signed plugin.json's bytes.
	Manifest []byte
	// KeyID names the signing key (host.KeyID).
	KeyID string
}

// Build builds, writes, signs and archives one release. It refuses to
// overwrite a bundle or archive that exists, and checks what it wrote the
// way a host will: the manifest with host.LoadManifest, the signature with
// host.VerifyManifest. A failed build removes what it wrote.
func Build(ctx context.Context, cfg Config) (res Result, err error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return Result{}, errors.New("release: no signing key")
	}
	raw, err := os.ReadFile(filepath.Join(cfg.Root, "plugin.json"))
	if err != nil {
		return Result{}, fmt.Errorf("release: %w", err)
	}
	var meta struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return Result{}, fmt.Errorf("release: plugin.json: %w", err)
	}
	version := cfg.Version
	if version == "" {
		version = meta.Version
	}
	// Full MAJOR.MINOR.PATCH, as host validation wants: semver alone
	// accepts the shorthand v1.0.
	sv, _, _ := strings.Cut("v"+version, "+")
	if strings.HasPrefix(version, "v") || !semver.IsValid("v"+version) || semver.Canonical(sv) != sv {
		return Result{}, fmt.Errorf("release: version %q is not a semantic version like 1.2.3 (no leading v)", version)
	}
	paths, err := Paths(raw)
	if err != nil {
		return Result{}, fmt.Errorf("release: %w", err)
	}
	platforms := slices.Sorted(maps.Keys(paths))
	if len(cfg.Platforms) > 0 {
		for _, p := range cfg.Platforms {
			if _, ok := paths[p]; !ok {
				return Result{}, fmt.Errorf("release: platform %s is not in plugin.json's executables (%s)", p, strings.Join(platforms, ", "))
			}
		}
		platforms = slices.Sorted(slices.Values(cfg.Platforms))
	}

	name := meta.ID + "-" + version
	dir := filepath.Join(cfg.Out, name)
	archive := dir + ".tar.gz"
	for _, p := range []string{dir, archive} {
		if _, err := os.Lstat(p); err == nil {
			return Result{}, fmt.Errorf("release: %s exists; remove it to build %s again", p, version)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("release: %w", err)
	}
	defer func() {
		if err != nil { // no half-written release left to mistake for one
			_ = os.RemoveAll(dir)
			_ = os.Remove(archive)
		}
	}()

	exes := make(map[string]host.Executable, len(platforms))
	for _, p := range platforms {
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
		goos, goarch, _ := strings.Cut(p, "-")
		bin := filepath.Join(dir, filepath.FromSlash(paths[p]))
		if err := BuildBinary(ctx, cfg.Root, goos, goarch, version, bin); err != nil {
			return Result{}, fmt.Errorf("release: %w", err)
		}
		sum, err := filehash.SHA256(bin)
		if err != nil {
			return Result{}, fmt.Errorf("release: %w", err)
		}
		exes[p] = host.Executable{Path: paths[p], SHA256: sum}
	}
	manifest, err := Manifest(raw, version, exes)
	if err != nil {
		return Result{}, fmt.Errorf("release: %w", err)
	}
	mp := filepath.Join(dir, "plugin.json")
	if err := os.WriteFile(mp, manifest, 0o644); err != nil {
		return Result{}, fmt.Errorf("release: %w", err)
	}
	if _, err := host.LoadManifest(mp); err != nil {
		return Result{}, fmt.Errorf("release: the manifest written does not load: %w", err)
	}
	keyID, err := Sign(dir, cfg.Key)
	if err != nil {
		return Result{}, fmt.Errorf("release: %w", err)
	}
	if cfg.NoArchive {
		archive = ""
	} else if err := WriteArchive(dir, archive); err != nil {
		return Result{}, fmt.Errorf("release: %w", err)
	}
	return Result{ID: meta.ID, Version: version, Dir: dir, Archive: archive, Manifest: manifest, KeyID: keyID}, nil
}

// Sign signs the plugin.json of the bundle in dir with key, writes the
// signature beside it (host.SignatureFile), checks it as a host will, and
// returns the key's id.
func Sign(dir string, key ed25519.PrivateKey) (string, error) {
	manifest, err := os.ReadFile(filepath.Join(dir, "plugin.json"))
	if err != nil {
		return "", err
	}
	sig := host.SignManifest(key, manifest)
	keyID, err := host.VerifyManifest(manifest, sig, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)})
	if err != nil {
		return "", fmt.Errorf("own signature: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, host.SignatureFile), sig, 0o644); err != nil {
		return "", err
	}
	return keyID, nil
}

// WriteArchive writes the bundle in dir as a .tar.gz whose entries are
// under dir's base name: sorted, regular files and directories only, modes
// 0755 (directories and the executables dir/plugin.json names) or 0644,
// owner 0, time zero, and no name or time in the gzip header, so that the
// same tree always gives the same bytes, whatever the file modes of the
// system that built it (Windows has no execute bit).
func WriteArchive(dir, archive string) (err error) {
	raw, err := os.ReadFile(filepath.Join(dir, "plugin.json"))
	if err != nil {
		return err
	}
	paths, err := Paths(raw)
	if err != nil {
		return err
	}
	executable := map[string]bool{}
	for _, p := range paths {
		executable[p] = true
	}
	f, err := os.OpenFile(archive, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(archive)
		}
	}()
	// The default level: on the 33 MB development binary it gave 18.3 MB in
	// 0.37 s, against 18.1 MB in 4.5 s at BestCompression (and 8 s against
	// 1 min 46 s under the race detector, where the tests archive bundles).
	gz, err := gzip.NewWriterLevel(f, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	top := filepath.Base(dir)
	epoch := time.Unix(0, 0).UTC()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := path.Join(top, filepath.ToSlash(rel))
		hdr := &tar.Header{Name: name, ModTime: epoch, Format: tar.FormatUSTAR}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
			return tw.WriteHeader(hdr)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, fi.Size(), 0o644
			if executable[filepath.ToSlash(rel)] {
				hdr.Mode = 0o755
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(tw, in)
			return err
		default:
			return fmt.Errorf("%s: only files and directories go in a bundle", p)
		}
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// The private key file: one line, "duo-plugin-ed25519-private <base64 of
// the 32-byte seed>", mode 0600. Keep it out of the repository.
const privateKeyPrefix = "duo-plugin-ed25519-private"

// GenerateKey writes a new private key to privPath (which must not exist;
// mode 0600) and its public key, in the format hosts pin, to pubPath.
func GenerateKey(privPath, pubPath string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(f, "%s %s\n", privateKeyPrefix, base64.StdEncoding.EncodeToString(priv.Seed()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(privPath)
		return nil, err
	}
	line := host.FormatPublicKey(pub) + " duo-plugin release key " + host.KeyID(pub) + "\n"
	if err := os.WriteFile(pubPath, []byte(line), 0o644); err != nil {
		return nil, err
	}
	return pub, nil
}

// ReadPrivateKey reads a key GenerateKey wrote. On Unix it refuses a file
// that others may read, as ssh does.
func ReadPrivateKey(p string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("private key %s: mode %s lets others read it; chmod 600 it", p, fi.Mode().Perm())
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(data))
	if len(f) != 2 || f[0] != privateKeyPrefix {
		return nil, fmt.Errorf("private key %s: want one line %q", p, privateKeyPrefix+" <base64 seed>")
	}
	seed, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("private key %s: not %d bytes of base64", p, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
