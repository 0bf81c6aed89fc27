package host

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

var platform = runtime.GOOS + "-" + runtime.GOARCH

// testBundle is a bundle to install, as files: its manifest is built from
// the fields and signed with key unless unsigned.
type testBundle struct {
	id, version string
	binary      []byte
	manifestSum string // "" for the binary's real sum
	noSum       bool
	platform    string // "" for this machine's
	protocol    int
	key         ed25519.PrivateKey
	unsigned    bool
	// after, if set, changes the files once the manifest is signed.
	after func(files map[string][]byte)
}

const binPath = "bin/plugin"

// files returns the bundle's files by slash path.
func (b testBundle) files(t *testing.T) map[string][]byte {
	t.Helper()
	if b.id == "" {
		b.id = contract.PluginID
	}
	if b.binary == nil {
		b.binary = []byte("plugin " + b.version)
	}
	if b.platform == "" {
		b.platform = platform
	}
	if b.protocol == 0 {
		b.protocol = contract.ProtocolVersion
	}
	sum := sha256.Sum256(b.binary)
	e := Executable{Path: binPath, SHA256: hex.EncodeToString(sum[:])}
	if b.manifestSum != "" {
		e.SHA256 = b.manifestSum
	}
	if b.noSum {
		e.SHA256 = ""
	}
	m, err := json.MarshalIndent(Manifest{ID: b.id, Name: "Duo Security", Version: b.version, ProtocolVersion: b.protocol,
		Executables: map[string]Executable{b.platform: e}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"plugin.json": m, binPath: b.binary}
	if !b.unsigned {
		files[SignatureFile] = SignManifest(b.key, m)
	}
	if b.after != nil {
		b.after(files)
	}
	return files
}

// dir writes the bundle as a directory.
func (b testBundle) dir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range b.files(t) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if name == binPath {
			mode = 0o755
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// entry is one archive entry; typ 0 is a regular file.
type entry struct {
	name string
	typ  byte
	data []byte
	link string
	mode int64 // 0 for 0755 (directories and the binary) or 0644
}

// archive writes entries as a .tar.gz.
func archive(t *testing.T, entries []entry) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.data)), Linkname: e.link}
		if e.typ == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if e.typ == tar.TypeDir || e.name == binPath || strings.HasSuffix(e.name, "/"+binPath) {
			hdr.Mode = 0o755
		}
		if e.mode != 0 {
			hdr.Mode = e.mode
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "bundle.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// entries are the bundle's files under top/, with their directories,
// sorted, plus extra.
func (b testBundle) entries(t *testing.T, top string, extra ...entry) []entry {
	t.Helper()
	files := b.files(t)
	names := slices.Sorted(maps.Keys(files))
	out := []entry{{name: top + "/", typ: tar.TypeDir}, {name: top + "/bin/", typ: tar.TypeDir}}
	for _, n := range names {
		out = append(out, entry{name: top + "/" + n, data: files[n]})
	}
	return append(out, extra...)
}

// tgz is the bundle as an archive, like duo-release writes it.
func (b testBundle) tgz(t *testing.T) string {
	t.Helper()
	return b.tgzWith(t)
}

func (b testBundle) tgzWith(t *testing.T, extra ...entry) string {
	t.Helper()
	return archive(t, b.entries(t, "duo-security-"+b.version, extra...))
}

// snapshot is every file under root with its content, to prove a refused
// install changed nothing.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(p)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInstall(t *testing.T) {
	t.Parallel()
	pub, priv := newKey(t)
	trusted := []ed25519.PublicKey{pub}
	ctx := context.Background()
	root := t.TempDir()

	if _, err := CurrentManifest(root); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("CurrentManifest of an empty root: %v, want ErrNotInstalled", err)
	}

	// A directory, then an archive, then another archive.
	sources := []struct {
		version string
		src     string
	}{
		{"1.0.0", testBundle{version: "1.0.0", key: priv}.dir(t)},
		{"1.1.0", testBundle{version: "1.1.0", key: priv}.tgz(t)},
		{"1.2.0-rc.1", testBundle{version: "1.2.0-rc.1", key: priv}.tgz(t)},
	}
	var dirs []string
	for i, s := range sources {
		got, err := Install(ctx, s.src, root, trusted)
		if err != nil {
			t.Fatalf("Install %s: %v", s.version, err)
		}
		if got.ID != contract.PluginID || got.Version != s.version || got.KeyID != KeyID(pub) ||
			got.ManifestPath != filepath.Join(got.Dir, "plugin.json") || filepath.Dir(got.Dir) != filepath.Join(root, "releases") ||
			!strings.HasPrefix(filepath.Base(got.Dir), s.version+"-") {
			t.Fatalf("Install %s = %+v", s.version, got)
		}
		if i > 0 && got.Previous != dirs[i-1] {
			t.Fatalf("Install %s: Previous = %q, want %q", s.version, got.Previous, dirs[i-1])
		}
		dirs = append(dirs, got.Dir)
		cur, err := CurrentManifest(root)
		if err != nil || cur != got.ManifestPath {
			t.Fatalf("CurrentManifest = %q, %v; want %q", cur, err, got.ManifestPath)
		}
		// What is installed is what a signed Start accepts.
		m, err := readSignedManifest(cur, trusted)
		if err != nil || m.Version != s.version {
			t.Fatalf("installed manifest: %+v, %v", m, err)
		}
		exe, sum, err := m.Executable(runtime.GOOS, runtime.GOARCH)
		if err != nil || sum == "" {
			t.Fatalf("installed executable: %q %q %v", exe, sum, err)
		}
	}
	// An archive repacked where files have no execute bit still installs
	// a binary that runs.
	noExec := testBundle{version: "1.3.0", key: priv}.entries(t, "repacked")
	for i := range noExec {
		if noExec[i].typ == 0 {
			noExec[i].mode = 0o644
		}
	}
	got, err := Install(ctx, archive(t, noExec), root, trusted)
	if err != nil {
		t.Fatalf("Install of a bundle without execute bits: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(got.Dir, filepath.FromSlash(binPath))); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o755 {
		t.Fatalf("installed binary: %v, %v; want mode 0755", fi.Mode(), err)
	}
	dirs = append(dirs, got.Dir)

	// The current release and the one before are kept; older ones go.
	entries, err := os.ReadDir(filepath.Join(root, "releases"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{filepath.Base(dirs[2]), filepath.Base(dirs[3])}; !slices.Equal(names, want) {
		t.Fatalf("releases/ holds %v, want %v (the current one and the previous one)", names, want)
	}
	if _, err := os.Stat(filepath.Join(root, "install.lock")); !os.IsNotExist(err) {
		t.Fatalf("install.lock left behind: %v", err)
	}
}

// Every refusal leaves the install root exactly as it was: the previous
// release current and untouched, nothing new under releases/.
func TestInstallRefuses(t *testing.T) {
	t.Parallel()
	pub, priv := newKey(t)
	_, otherPriv := newKey(t)
	trusted := []ed25519.PublicKey{pub}
	good := testBundle{version: "2.0.0", key: priv}
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		src     func(t *testing.T) string
		trusted []ed25519.PublicKey
		wantIs  []error
		wantMsg string
	}{
		{name: "no trusted keys", src: good.tgz, trusted: []ed25519.PublicKey{},
			wantIs: []error{ErrBadSignature}, wantMsg: "no trusted keys"},
		{name: "unsigned", src: testBundle{version: "2.0.0", unsigned: true}.tgz,
			wantIs: []error{ErrBadSignature}, wantMsg: "not signed: no plugin.json.sig"},
		{name: "signed by another key", src: testBundle{version: "2.0.0", key: otherPriv}.tgz,
			wantIs: []error{ErrBadSignature}, wantMsg: "which is not a trusted key"},
		{name: "manifest tampered", src: testBundle{version: "2.0.0", key: priv, after: func(f map[string][]byte) {
			f["plugin.json"] = bytes.Replace(f["plugin.json"], []byte(`"2.0.0"`), []byte(`"2.0.1"`), 1)
		}}.tgz, wantIs: []error{ErrBadSignature}, wantMsg: "does not verify"},
		{name: "signature tampered", src: testBundle{version: "2.0.0", key: priv, after: func(f map[string][]byte) {
			s := f[SignatureFile]
			i := bytes.LastIndexByte(s, ' ') + 1
			s[i] ^= 'A' ^ 'B'
		}}.tgz, wantIs: []error{ErrBadSignature}, wantMsg: "signature"},
		{name: "binary tampered", src: testBundle{version: "2.0.0", key: priv, after: func(f map[string][]byte) {
			f[binPath] = []byte("evil")
		}}.tgz, wantIs: []error{ErrBadBundle, ErrChecksumMismatch}, wantMsg: "executables[" + platform + "]: bin/plugin has sha256 "},
		{name: "binary tampered, as a directory", src: testBundle{version: "2.0.0", key: priv, after: func(f map[string][]byte) {
			f[binPath] = []byte("evil")
		}}.dir, wantIs: []error{ErrBadBundle, ErrChecksumMismatch}, wantMsg: "the signed manifest says"},
		{name: "another plugin", src: testBundle{id: "other-plugin", version: "2.0.0", key: priv}.tgz,
			wantIs: []error{ErrBadBundle}, wantMsg: `the bundle is for plugin "other-plugin", not "duo-security"`},
		{name: "no binary for this platform", src: testBundle{version: "2.0.0", key: priv, platform: "plan9-mips"}.tgz,
			wantIs: []error{ErrBadBundle, ErrNoExecutable}, wantMsg: "no executable for " + platform},
		{name: "no sha256 for this platform", src: testBundle{version: "2.0.0", key: priv, noSum: true}.tgz,
			wantIs: []error{ErrBadBundle, ErrUnverified}, wantMsg: "no sha256 for " + platform},
		{name: "signed but invalid manifest", src: testBundle{version: "2.0.0", key: priv, protocol: 99}.tgz,
			wantIs: []error{ErrBadBundle}, wantMsg: "protocol_version: the plugin speaks protocol version 99"},
		{name: "path traversal", src: func(t *testing.T) string {
			return good.tgzWith(t, entry{name: "duo-security-2.0.0/../../escaped", data: []byte("x")})
		}, wantIs: []error{ErrBadBundle}, wantMsg: `entry "duo-security-2.0.0/../../escaped": a path with ".."`},
		{name: "absolute path", src: func(t *testing.T) string {
			return good.tgzWith(t, entry{name: "/tmp/escaped", data: []byte("x")})
		}, wantIs: []error{ErrBadBundle}, wantMsg: `entry "/tmp/escaped": an absolute path`},
		{name: "symlink out", src: func(t *testing.T) string {
			return good.tgzWith(t, entry{name: "duo-security-2.0.0/bin/link", typ: tar.TypeSymlink, link: outside})
		}, wantIs: []error{ErrBadBundle}, wantMsg: "a link (to \"" + outside + "\")"},
		{name: "symlink inside", src: func(t *testing.T) string {
			return good.tgzWith(t, entry{name: "duo-security-2.0.0/bin/link", typ: tar.TypeSymlink, link: "plugin"})
		}, wantIs: []error{ErrBadBundle}, wantMsg: "a bundle holds only files and directories"},
		{name: "hard link", src: func(t *testing.T) string {
			return good.tgzWith(t, entry{name: "duo-security-2.0.0/bin/hard", typ: tar.TypeLink, link: outside})
		}, wantIs: []error{ErrBadBundle}, wantMsg: "a link"},
		{name: "entry outside the top directory", src: func(t *testing.T) string {
			return good.tgzWith(t, entry{name: "elsewhere/plugin.json", data: []byte("{}")})
		}, wantIs: []error{ErrBadBundle}, wantMsg: `outside the archive's top directory "duo-security-2.0.0"`},
		{name: "entry twice", src: func(t *testing.T) string {
			return good.tgzWith(t, entry{name: "duo-security-2.0.0/" + binPath, data: []byte("evil")})
		}, wantIs: []error{ErrBadBundle}, wantMsg: "appears twice"},
		{name: "a device", src: func(t *testing.T) string {
			return good.tgzWith(t, entry{name: "duo-security-2.0.0/dev", typ: tar.TypeChar})
		}, wantIs: []error{ErrBadBundle}, wantMsg: "a bundle holds only files and directories"},
		{name: "not an archive", src: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "x.tar.gz")
			if err := os.WriteFile(p, []byte("plain text"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, wantIs: []error{ErrBadBundle}, wantMsg: "neither a directory nor a .tar.gz"},
		{name: "a symlink in a directory bundle", src: func(t *testing.T) string {
			dir := good.dir(t)
			if err := os.Symlink(outside, filepath.Join(dir, "bin", "link")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, wantIs: []error{ErrBadBundle}, wantMsg: `entry "bin/link": a symlink`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			prev, err := Install(context.Background(), testBundle{version: "1.0.0", key: priv}.tgz(t), root, trusted)
			if err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, root)
			keys := trusted
			if tc.trusted != nil {
				keys = tc.trusted
			}
			got, err := Install(context.Background(), tc.src(t), root, keys)
			if err == nil {
				t.Fatalf("Install succeeded (%+v), want a refusal", got)
			}
			for _, want := range tc.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("Install error = %v, want it to match %v", err, want)
				}
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Install error = %q, want it to contain %q", err, tc.wantMsg)
			}
			if after := snapshot(t, root); !maps.Equal(before, after) {
				t.Errorf("a refused install changed the root:\nbefore %v\nafter  %v", keysOf(before), keysOf(after))
			}
			if cur, err := CurrentManifest(root); err != nil || cur != prev.ManifestPath {
				t.Errorf("CurrentManifest = %q, %v; want the previous %q", cur, err, prev.ManifestPath)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(outside), "escaped")); err == nil {
				t.Error("an entry was written outside the install root")
			}
		})
	}
}

func keysOf(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// A missing bundle changes nothing, not even the root; an install held by
// another (or left by a crash) is refused and named; a pointer that names
// no release is an error, not "nothing installed".
func TestInstallLockAndPointer(t *testing.T) {
	t.Parallel()
	pub, priv := newKey(t)
	root := t.TempDir()
	never := filepath.Join(root, "never")
	if _, err := Install(context.Background(), filepath.Join(root, "no-such.tar.gz"), never, []ed25519.PublicKey{pub}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Install of a missing bundle: %v", err)
	}
	if _, err := os.Stat(never); !os.IsNotExist(err) {
		t.Fatalf("a missing bundle created the install root: %v", err)
	}
	lock := filepath.Join(root, "install.lock")
	if err := os.WriteFile(lock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Install(context.Background(), testBundle{version: "1.0.0", key: priv}.tgz(t), root, []ed25519.PublicKey{pub})
	if err == nil || !strings.Contains(err.Error(), "another install holds "+lock) {
		t.Fatalf("Install while locked: %v", err)
	}
	if _, err := CurrentManifest(root); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("CurrentManifest after a refused install: %v", err)
	}
	for _, bad := range []string{"../../etc", ".staging-x", "", "a/b"} {
		if err := os.WriteFile(filepath.Join(root, "current"), []byte(bad+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := CurrentManifest(root); err == nil || errors.Is(err, ErrNotInstalled) {
			t.Errorf("CurrentManifest with current = %q: %v, want an error naming it", bad, err)
		}
	}
}
