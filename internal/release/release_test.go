package release_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"debug/buildinfo"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/release"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pluginbuild.Cleanup()
	os.Exit(code)
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// copyTree copies the module's source to dst: everything but .git and what
// builds and demos leave behind.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		switch rel {
		case ".git", ".data", "dist", "bin":
			// In a git worktree .git is a file: SkipDir would skip the
			// rest of the directory holding it.
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, data, 0o644)
		}
		return nil // symlinks and the like are no part of the source
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A release built twice, from two copies of the tree at different paths,
// is the same to the byte: binary, signed manifest and signature (the
// archive's determinism is TestArchiveIsDeterministic's: compressing the
// binary under the race detector took minutes on a loaded machine).
// One platform (linux-amd64, cross-compiled wherever the test runs) stands
// for all: the flags are the same for each. The first build compiles every
// dependency with -trimpath (the tests' cache holds them without it); the
// second finds them in the cache, whose keys hold no path under -trimpath,
// and links again.
func TestReleaseIsReproducible(t *testing.T) {
	t.Parallel()
	root, err := release.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "another", "checkout")
	copyTree(t, root, elsewhere)
	_, key := newKey(t)
	const version = "0.0.1-reproducible.1"

	var res []release.Result
	for _, r := range []string{root, elsewhere} {
		start := time.Now()
		got, err := release.Build(context.Background(), release.Config{
			Root: r, Version: version, Out: t.TempDir(), Key: key, Platforms: []string{"linux-amd64"}, NoArchive: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("release built from %s in %s", r, time.Since(start).Round(time.Millisecond))
		res = append(res, got)
	}
	if !bytes.Equal(res[0].Manifest, res[1].Manifest) {
		t.Fatalf("the manifests differ (so do the binaries' sha256):\n%s\n%s", res[0].Manifest, res[1].Manifest)
	}
	for _, name := range []string{host.SignatureFile, "bin/linux-amd64/duo-plugin"} {
		a := read(t, filepath.Join(res[0].Dir, name))
		b := read(t, filepath.Join(res[1].Dir, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the two builds", name)
		}
	}

	bin := filepath.Join(res[0].Dir, "bin", "linux-amd64", "duo-plugin")
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
		if strings.HasPrefix(s.Key, "vcs") {
			t.Errorf("build info has %s=%s: a release carries no VCS stamp", s.Key, s.Value)
		}
	}
	for k, want := range map[string]string{"-trimpath": "true", "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v1"} {
		if settings[k] != want {
			t.Errorf("build info %s = %q, want %q", k, settings[k], want)
		}
	}
	// -trimpath keeps -ldflags out of the build info; the build id itself
	// says whether -buildid= took.
	if id, err := exec.Command("go", "tool", "buildid", bin).Output(); err != nil || len(bytes.TrimSpace(id)) != 0 {
		t.Errorf("go tool buildid = %q, %v; want no build id", id, err)
	}
	data := read(t, bin)
	for _, p := range []string{root, elsewhere} {
		if bytes.Contains(data, []byte(p)) {
			t.Errorf("the binary holds the path it was built from, %s", p)
		}
	}
	if !bytes.Contains(data, []byte(version)) {
		t.Errorf("the binary does not hold its version %s: was it stamped?", version)
	}
	m, err := host.LoadManifest(filepath.Join(res[0].Dir, "plugin.json"))
	if err != nil || m.Version != version || len(m.Executables) != 1 || m.Executables["linux-amd64"].SHA256 == "" {
		t.Fatalf("release manifest: %+v, %v", m, err)
	}
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// End to end: a bundle for this machine (the dev builder's binary, for
// speed), signed and archived by this package, installed by the SDK,
// started with the pinned key, answers Status with its manifest's version.
// A tampered bundle installed after it is refused, and the installed one
// still starts.
func TestSignedBundleInstallsAndStarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pub, priv := newKey(t)
	trusted := []ed25519.PublicKey{pub}

	bundle := filepath.Dir(pluginbuild.ForTest(t))
	keyID, err := release.Sign(bundle, priv)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "duo-security.tar.gz")
	if err := release.WriteArchive(bundle, archive); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "plugins", "duo-security")
	inst, err := host.Install(ctx, archive, root, trusted)
	if err != nil {
		t.Fatal(err)
	}
	if inst.KeyID != keyID || inst.ID != contract.PluginID {
		t.Fatalf("Install = %+v, want key %s", inst, keyID)
	}

	// The same bundle with its binary changed, signature and all.
	tampered := t.TempDir()
	if err := os.CopyFS(tampered, os.DirFS(bundle)); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tampered, "bin", pluginbuild.Target(), "duo-plugin")
	if err := os.WriteFile(bin, append(read(t, bin), 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Install(ctx, tampered, root, trusted); !errors.Is(err, host.ErrChecksumMismatch) {
		t.Fatalf("Install of a tampered binary: %v, want ErrChecksumMismatch", err)
	}

	mp, err := host.CurrentManifest(root)
	if err != nil || mp != inst.ManifestPath {
		t.Fatalf("CurrentManifest = %q, %v; want %q", mp, err, inst.ManifestPath)
	}
	p, err := host.Start(ctx, host.Options{
		ManifestPath: mp,
		TrustedKeys:  trusted,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		StartTimeout: time.Minute, // a cold, busy machine
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	st, err := p.Status(ctx, contract.StatusRequest{})
	if err != nil || st.PluginVersion != inst.Version || st.Active {
		t.Fatalf("Status = %+v, %v; want version %s, inactive", st, err, inst.Version)
	}
}

func TestPrivateKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv := filepath.Join(dir, "key")
	pub, err := release.GenerateKey(priv, priv+".pub")
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := host.ParsePublicKeys(read(t, priv+".pub"))
	if err != nil || len(pinned) != 1 || !pinned[0].Equal(pub) {
		t.Fatalf("the .pub file: %v, %v", pinned, err)
	}
	key, err := release.ReadPrivateKey(priv)
	if err != nil || !key.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatalf("ReadPrivateKey: %v", err)
	}
	if _, err := release.GenerateKey(priv, priv+".pub"); err == nil {
		t.Fatal("GenerateKey overwrote a key")
	}
	if err := os.Chmod(priv, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := release.ReadPrivateKey(priv); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("ReadPrivateKey of a world-readable key: %v", err)
	}
}

// The archive of one bundle is the same to the byte whatever the tree's
// place, file times and modes: entries sorted, time zero, owner 0, 0755
// for the executables plugin.json names and directories, 0644 for the
// rest.
func TestArchiveIsDeterministic(t *testing.T) {
	t.Parallel()
	manifest := []byte(`{"id":"duo-security","executables":{"linux-amd64":{"path":"bin/linux-amd64/duo-plugin"}}}`)
	binary := bytes.Repeat([]byte("not really an executable\x00\x01"), 4096)
	write := func(dir string, mode fs.FileMode, at time.Time) {
		for name, data := range map[string][]byte{"plugin.json": manifest, host.SignatureFile: []byte("sig"), "bin/linux-amd64/duo-plugin": binary} {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	a := filepath.Join(t.TempDir(), "duo-security-1.0.0")
	b := filepath.Join(t.TempDir(), "elsewhere", "duo-security-1.0.0")
	write(a, 0o600, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))
	write(b, 0o755, time.Now())
	var archives [][]byte
	for _, dir := range []string{a, b} {
		out := filepath.Join(t.TempDir(), "bundle.tar.gz")
		if err := release.WriteArchive(dir, out); err != nil {
			t.Fatal(err)
		}
		archives = append(archives, read(t, out))
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Fatal("two archives of the same bundle differ")
	}
	gz, err := gzip.NewReader(bytes.NewReader(archives[0]))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	modes := map[string]int64{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(time.Unix(0, 0)) || hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: time %s, owner %d:%d; want time zero, owner 0", hdr.Name, hdr.ModTime, hdr.Uid, hdr.Gid)
		}
		modes[hdr.Name] = hdr.Mode
	}
	for name, want := range map[string]int64{"duo-security-1.0.0/": 0o755, "duo-security-1.0.0/plugin.json": 0o644,
		"duo-security-1.0.0/bin/linux-amd64/duo-plugin": 0o755} {
		if modes[name] != want {
			t.Errorf("%s: mode %o, want %o (all: %v)", name, modes[name], want, modes)
		}
	}
}
