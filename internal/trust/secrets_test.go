package trust

import (
	"bytes"
	"fmt"
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

// Case 18: the database holds only hashes of every secret a login or a
// recovery hands out: backup codes (in every form an operator may type
// them), the ticket that confirms them, a bypass code, a recovery-link
// token and a pending login's state; none is in its bytes on disk (main
// file and WAL). The other half of the case, codes drawn from crypto/rand,
// is checked on the source: no package of the plugin's imports math/rand,
// and plugin/codes imports crypto/rand.
func TestCase18CodesStoredOnlyAsHashes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice, bob)
	ctx := ctxT(t)
	b := e.redirect(alice)
	q := e.browser(b.RedirectURL)
	first := e.complete(alice, b.State, q.Get("state"), q.Get("duo_code"))
	if first.Decision != contract.DecisionConfirmBackupCodes {
		t.Fatalf("first Duo login = %+v, want CONFIRM_BACKUP_CODES", first)
	}
	if c := e.confirm(alice, first.BackupCodesTicket); c.Decision != contract.DecisionAllowed {
		t.Fatalf("confirm = %+v", c)
	}
	codes := first.BackupCodes
	if res := e.redeem(alice, codes[0]); res.Decision != contract.DecisionAllowed {
		t.Fatalf("redeem = %+v", res)
	}
	bypass, err := e.p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: bob, Uses: 1, LifetimeSeconds: 3600, Actor: admin, OperatorRole: contract.RoleAgent})
	if err != nil {
		t.Fatalf("IssueBypassCode: %v", err)
	}
	link, err := e.p.CreateRecoveryLink(ctx, contract.CreateRecoveryLinkRequest{Operator: bob, Actor: admin})
	if err != nil {
		t.Fatalf("CreateRecoveryLink: %v", err)
	}
	pending := e.redirect(bob) // a state left pending

	secrets := map[string]string{"backup-code ticket": first.BackupCodesTicket, "bypass code": bypass.Code,
		"recovery-link token": link.Token, "login state": pending.State}
	for i, c := range codes {
		bare := strings.ReplaceAll(c, "-", "")
		for j, form := range []string{c, bare, strings.ToUpper(c), strings.ToUpper(bare)} {
			secrets[fmt.Sprintf("backup code %d (form %d)", i, j)] = form
		}
	}
	files := e.rawFiles(`alice`) // her Duo username is stored in the clear
	for what, v := range secrets {
		if len(v) < 8 {
			t.Fatalf("%s %q is too short to search for", what, v)
		}
		for name, b := range files {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a %s in the clear", name, what)
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
