package cli_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/cli"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestBreakGlass is the site owner's way out when Duo or the plugin is
// broken and nobody can sign in: `helpdesk plugins deactivate` marks the
// plugin inactive in the helpdesk's database, while the helpdesk runs.
func TestBreakGlass(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), app.DBPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	// The running helpdesk keeps its database open throughout.
	defer st.Close()
	if err := st.MarkPluginInstalled(t.Context(), plugins.ID, "/b", "/d", "0.1.0", "test"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPluginActive(t.Context(), plugins.ID, true, "admin"); err != nil {
		t.Fatal(err)
	}

	code, out, _ := run(t, "", "plugins", "status", "-data-dir", dir)
	if code != 0 || !strings.Contains(out, "ACTIVE") {
		t.Fatalf("status: %d %q", code, out)
	}
	code, out, errOut := run(t, "", "plugins", "deactivate", "-data-dir", dir)
	if code != 0 || !strings.Contains(out, "now INACTIVE") {
		t.Fatalf("deactivate: %d %q %q", code, out, errOut)
	}
	// What the login path reads at the next sign-in.
	active, err := st.PluginActive(t.Context(), plugins.ID)
	if err != nil || active {
		t.Fatalf("active = %v, %v after break-glass", active, err)
	}
	rec, _ := st.Plugin(t.Context(), plugins.ID)
	if !strings.Contains(rec.UpdatedBy, "break-glass") || !rec.Installed {
		t.Fatalf("record %+v", rec)
	}
	code, out, _ = run(t, "", "plugins", "deactivate", "-data-dir", dir)
	if code != 0 || !strings.Contains(out, "already inactive") {
		t.Fatalf("second deactivate: %d %q", code, out)
	}
	code, out, _ = run(t, "", "plugins", "status", "-data-dir", dir)
	if code != 0 || !strings.Contains(out, "inactive") {
		t.Fatalf("status after: %d %q", code, out)
	}
}

func TestBreakGlassRefusesAWrongDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "typo")
	code, _, errOut := run(t, "", "plugins", "deactivate", "-data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "no helpdesk database") {
		t.Fatalf("deactivate on a missing database: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "", "plugins", "deactivate"); code != 1 {
		t.Fatalf("without -data-dir: %d", code)
	}
}

func TestUserAdd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := run(t, "a long enough password\n", "user", "add", "-data-dir", dir, "-username", "dana", "-role", "admin", "-password-stdin")
	if code != 0 || !strings.Contains(out, "Added admin dana") || strings.Contains(out, "Password:") {
		t.Fatalf("user add: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, "", "user", "add", "-data-dir", dir, "-username", "erik")
	if code != 0 || !strings.Contains(out, "Password: ") {
		t.Fatalf("user add with a generated password: %d %q", code, out)
	}
	if code, _, errOut := run(t, "", "user", "add", "-data-dir", dir, "-username", "dana"); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("duplicate: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "", "user", "add", "-data-dir", dir, "-username", "bad name"); code != 1 {
		t.Fatalf("bad username: %d", code)
	}
	code, out, errOut = run(t, "", "user", "add", "-data-dir", dir, "-username", "hana", "-role", "helpdesk")
	if code != 0 || !strings.Contains(out, "Added helpdesk hana") {
		t.Fatalf("user add -role helpdesk: %d %q %q", code, out, errOut)
	}
	code, _, errOut = run(t, "", "user", "add", "-data-dir", dir, "-username", "ivan", "-role", "boss")
	if want := `-role "boss": want agent, helpdesk or admin`; code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("unknown role: %d %q; want %q", code, errOut, want)
	}
}

// A service account is marked at creation or later, and cleared again;
// the helpdesk tells the plugin on every call.
func TestUserServiceAccount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := run(t, "", "user", "add", "-data-dir", dir, "-username", "api-bot", "-service-account")
	if code != 0 || !strings.Contains(out, "Added agent service account api-bot") {
		t.Fatalf("user add -service-account: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := run(t, "", "user", "add", "-data-dir", dir, "-username", "rita"); code != 0 {
		t.Fatalf("user add: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "", "user", "service-account", "-data-dir", dir, "-username", "rita")
	if code != 0 || !strings.Contains(out, "rita is now a service account") {
		t.Fatalf("user service-account: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "", "user", "service-account", "-data-dir", dir, "-username", "api-bot", "-off")
	if code != 0 || !strings.Contains(out, "api-bot is no longer a service account") {
		t.Fatalf("user service-account -off: %d %q %q", code, out, errOut)
	}
	st, err := store.Open(t.Context(), app.DBPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, want := range map[string]bool{"rita": true, "api-bot": false} {
		if op, err := st.OperatorByUsername(t.Context(), name); err != nil || op.ServiceAccount != want {
			t.Errorf("%s: service account %v (%v), want %v", name, op.ServiceAccount, err, want)
		}
	}
	if code, _, errOut := run(t, "", "user", "service-account", "-data-dir", dir, "-username", "nobody"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("an unknown operator: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "", "user", "service-account", "-data-dir", dir); code != 1 {
		t.Fatalf("no -username: %d", code)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	if code, _, _ := run(t, ""); code != 2 {
		t.Fatalf("no command: %d", code)
	}
	if code, _, _ := run(t, "", "frobnicate"); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
	if code, out, _ := run(t, "", "help"); code != 0 || !strings.Contains(out, "plugins deactivate") {
		t.Fatalf("help: %d", code)
	}
}
