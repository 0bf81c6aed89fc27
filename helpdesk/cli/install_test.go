package cli_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/release"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// writeKeys writes a key file as a vendor pins it.
func writeKeys(t *testing.T, pub ed25519.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "duo-plugin.keys")
	if err := os.WriteFile(p, []byte("# the Duo plugin's release key\n"+host.FormatPublicKey(pub)+" test release key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A release as an admin installs it: the plugin's bundle (the dev
// builder's binary, for speed) signed with a fresh key and archived by
// internal/release, the code duo-release runs; installed with `helpdesk
// plugins install`; run by the helpdesk with the key pinned, as `serve
// -plugin-keys` does. A tampered archive is refused in the SDK's words and
// the installed release stays current; an install again takes effect at
// the plugin's next start.
func TestPluginsInstallSignedRelease(t *testing.T) {
	t.Setenv("HELPDESK_PLUGIN_KEYS", "")
	t.Setenv("HELPDESK_PLUGIN_DIR", "")
	ctx := t.Context()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := writeKeys(t, pub)
	bundle := filepath.Dir(pluginbuild.ForTest(t))
	if _, err := release.Sign(bundle, priv); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "duo-security.tar.gz")
	if err := release.WriteArchive(bundle, archive); err != nil {
		t.Fatal(err)
	}
	man, err := host.LoadManifest(filepath.Join(bundle, "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	root := app.DefaultBundleDir(dir)
	code, out, errOut := run(t, "", "plugins", "install", "-keys", keys, "-data-dir", dir, archive)
	if want := "Installed Duo Security " + man.Version + " (signed by key " + host.KeyID(pub) + ") in " + filepath.Join(root, "releases"); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("install: %d, want %q in:\n%s\n%s", code, want, out, errOut)
	}
	installed, err := host.CurrentManifest(root)
	if err != nil {
		t.Fatal(err)
	}

	// The same bundle, its binary changed after signing.
	tampered := filepath.Join(t.TempDir(), "duo-security")
	if err := os.CopyFS(tampered, os.DirFS(bundle)); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tampered, "bin", pluginbuild.Target(), "duo-plugin")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, append(data, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	tamperedArchive := filepath.Join(t.TempDir(), "duo-security.tar.gz")
	if err := release.WriteArchive(tampered, tamperedArchive); err != nil {
		t.Fatal(err)
	}
	otherPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"tampered binary", []string{"-keys", keys, tamperedArchive},
			[]string{"the signed manifest says", "sha256", "Nothing was changed"}},
		{"signed by a key not pinned", []string{"-keys", writeKeys(t, otherPub), archive},
			[]string{"signed by key " + host.KeyID(pub) + ", which is not a trusted key", "Nothing was changed"}},
		{"no keys", []string{archive}, []string{"-keys (or HELPDESK_PLUGIN_KEYS) is required"}},
	} {
		code, out, errOut := run(t, "", append([]string{"plugins", "install", "-data-dir", dir}, tc.args...)...)
		if code != 1 || out != "" {
			t.Errorf("%s: exit %d, stdout %q; want 1 and nothing", tc.name, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, errOut)
			}
		}
		if cur, err := host.CurrentManifest(root); err != nil || cur != installed {
			t.Errorf("%s: current release %q, %v; want %q kept", tc.name, cur, err, installed)
		}
	}

	pinned, err := host.ParsePublicKeys([]byte(host.FormatPublicKey(pub)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(ctx, app.Config{
		Addr: "127.0.0.1:0", DataDir: dir, PluginKeys: pinned,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Getenv: func(string) string { return "" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	p, err := a.Plugins().Plugin()
	if err != nil {
		t.Fatalf("the installed release did not start: %v", err)
	}
	st, err := p.Status(ctx, contract.StatusRequest{})
	if err != nil || st.PluginVersion != man.Version {
		t.Fatalf("Status = %+v, %v; want version %s", st, err, man.Version)
	}
	if got := a.Plugins().Release(); got != filepath.Dir(installed) {
		t.Fatalf("Release() = %q, want %q", got, filepath.Dir(installed))
	}
	if code, out, _ := run(t, "", "plugins", "status", "-data-dir", dir); code != 0 || !strings.Contains(out, "Release:  "+filepath.Dir(installed)) {
		t.Fatalf("plugins status: %d\n%s", code, out)
	}

	// An install while the helpdesk runs: the running plugin keeps its
	// release until its next start, which runs the new one.
	if code, out, errOut := run(t, "", "plugins", "install", "-keys", keys, "-data-dir", dir, archive); code != 0 ||
		!strings.Contains(out, "The previous release is kept in "+filepath.Dir(installed)) {
		t.Fatalf("second install: %d\n%s\n%s", code, out, errOut)
	}
	next, err := host.CurrentManifest(root)
	if err != nil || next == installed {
		t.Fatalf("CurrentManifest after the second install = %q, %v", next, err)
	}
	if got := a.Plugins().Release(); got != filepath.Dir(installed) {
		t.Fatalf("Release() before the restart = %q, want %q", got, filepath.Dir(installed))
	}
	if err := a.Plugins().Restart(ctx, contract.Actor{ID: "test", Role: contract.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if got := a.Plugins().Release(); got != filepath.Dir(next) {
		t.Fatalf("Release() after the restart = %q, want %q", got, filepath.Dir(next))
	}
}

// serve refuses a key file it cannot read before it opens anything.
func TestServeRefusesABadKeyFile(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(bad, []byte("ssh-ed25519 AAAA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, _, errOut := run(t, "", "serve", "-addr", "127.0.0.1:0", "-data-dir", dir, "-plugin-keys", bad)
	if code != 1 || !strings.Contains(errOut, "plugin keys "+bad+": line 1") {
		t.Fatalf("serve with a bad key file: %d %q", code, errOut)
	}
	if _, err := os.Stat(app.DBPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("serve created its database before refusing the key file: %v", err)
	}
}
