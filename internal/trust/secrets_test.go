package trust

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// rawFiles is every byte of the plugin's database on disk: the main file
// and its WAL (SQLite stores text verbatim, so a secret written in the
// clear would be found here, whatever table holds it). control is a value
// the plugin stores in the clear: the scan must find it, or it proves
// nothing.
func (e *env) rawFiles(control string) map[string][]byte {
	e.t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{"duo.db", "duo.db-wal"} {
		b, err := os.ReadFile(filepath.Join(e.dataDir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		out[name] = b
	}
	found := false
	for _, b := range out {
		found = found || bytes.Contains(b, []byte(control))
	}
	if !found {
		e.t.Fatalf("the database's bytes on disk do not hold %q, stored in the clear: the scan would prove nothing", control)
	}
	return out
}

// Case 23: the settings API never returns the client secret (it says
// only that one is set), the key file is 0600, and the secret is stored
// as ciphertext: not one copy of it in the database's bytes on disk.
func TestCase23ClientSecretNeverReturnedAndEncrypted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}})
	secret := e.sim.Apps()[0].ClientSecret.Reveal()

	got, err := e.p.GetSettings(ctxT(t), contract.GetSettingsRequest{Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if !got.SecretSet["client_secret"] || got.Values["client_secret"] != "" {
		t.Fatalf("GetSettings: client_secret value %q, set %v; want no value and set", got.Values["client_secret"], got.SecretSet["client_secret"])
	}
	for k, v := range got.Values {
		if strings.Contains(v, secret) {
			t.Fatalf("GetSettings returns the client secret in %q", k)
		}
	}

	fi, err := os.Stat(filepath.Join(e.dataDir, "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("secrets.key mode %v, want 0600", perm)
	}
	for name, b := range e.rawFiles(e.sim.APIHost()) { // api_hostname is stored in the clear
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("%s holds the client secret in the clear", name)
		}
	}
}

// Case 18 (in part): the database holds only hashes of the backup codes:
// no code, in any form an operator may type it, is in its bytes on disk.
// The other half of the case, codes drawn from crypto/rand, is checked on
// the source: no package of the plugin's imports math/rand, and
// plugin/codes imports crypto/rand.
func TestCase18CodesStoredOnlyAsHashes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	codes := e.setUpCodes(alice)
	if res := e.redeem(alice, codes[0]); res.Decision != contract.DecisionAllowed {
		t.Fatalf("redeem = %+v", res)
	}
	files := e.rawFiles(`alice`) // her Duo username is stored in the clear
	for _, c := range codes {
		bare := strings.ReplaceAll(c, "-", "")
		for _, form := range []string{c, bare, strings.ToUpper(c), strings.ToUpper(bare)} {
			for name, b := range files {
				if bytes.Contains(b, []byte(form)) {
					t.Fatalf("%s holds a backup code in the clear", name)
				}
			}
		}
	}

	root, err := pluginbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cryptoRand := false
	for _, dir := range []string{"plugin", "settings", "migrations"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				switch {
				case p == "math/rand" || p == "math/rand/v2":
					t.Errorf("%s imports %s", path, p)
				case p == "crypto/rand" && filepath.Dir(path) == filepath.Join(root, "plugin", "codes"):
					cryptoRand = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !cryptoRand {
		t.Fatal("plugin/codes does not import crypto/rand")
	}
}
