package cli_test

import (
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
)

// An admin seeds operators into the shared PostgreSQL database and uses
// the break-glass switch there, with -database-url or its variable; no
// output names the URL (it may hold a password), -help included.
func TestCommandsOnTheSharedDatabase(t *testing.T) {
	url := pgtest.Database(t)
	code, out, errOut := run(t, "a long enough password\n", "user", "add", "-database-url", url, "-username", "Root", "-role", "admin", "-password-stdin")
	if code != 0 || !strings.Contains(out, "Added admin Root") {
		t.Fatalf("user add: %d %q %q", code, out, errOut)
	}
	t.Setenv("HELPDESK_DATABASE_URL", url)
	code, out, errOut = run(t, "", "user", "service-account", "-username", "root")
	if code != 0 || !strings.Contains(out, "now a service account") {
		t.Fatalf("user service-account from the variable: %d %q %q", code, out, errOut)
	}
	st, err := store.OpenPostgres(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if op, err := st.OperatorByUsername(t.Context(), "root"); err != nil || !op.ServiceAccount || !op.IsAdmin() {
		t.Fatalf("the seeded operator: %+v, %v", op, err)
	}
	if err := st.MarkPluginInstalled(t.Context(), plugins.ID, "/b", "/d", "0.1.0", "test"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPluginActive(t.Context(), plugins.ID, true, "admin"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "", "plugins", "deactivate")
	if code != 0 || !strings.Contains(out, "now INACTIVE in the shared PostgreSQL database") {
		t.Fatalf("break-glass: %d %q %q", code, out, errOut)
	}
	if active, err := st.PluginActive(t.Context(), plugins.ID); err != nil || active {
		t.Fatalf("active after break-glass: %t, %v", active, err)
	}
	_, help, helpErr := run(t, "", "serve", "-help")
	_, bad, badErr := run(t, "", "user", "add", "-database-url", url+"x", "-username", "x")
	for _, s := range []string{out, errOut, help, helpErr, bad, badErr} {
		if strings.Contains(s, url) || strings.Contains(s, "duo_test:") {
			t.Fatalf("the database URL was printed: %q", s)
		}
	}
	if !strings.Contains(helpErr+help, "-database-url") || !strings.Contains(helpErr+help, "-instance") {
		t.Fatalf("serve -help lacks -database-url or -instance: %q", helpErr+help)
	}
}
