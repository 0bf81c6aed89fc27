package web_test

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Two instances behind a load balancer without sticky sessions, on one
// database, each with its own plugin process: a sign-in begun on a (the
// password, the redirect to Duo) completes on b, whose process b activates
// itself because a's admin activated the plugin; the session then holds
// on a; and a's deactivation holds on b at once. On SQLite (two
// connection pools on one file) and on PostgreSQL, the deployment.
func TestSignInContinuesOnAnotherInstance(t *testing.T) {
	t.Parallel()
	for _, backend := range []struct {
		name string
		db   func(t *testing.T) func(t *testing.T) *store.Store
	}{
		{"sqlite", func(t *testing.T) func(t *testing.T) *store.Store {
			path := filepath.Join(t.TempDir(), "helpdesk.db")
			return func(t *testing.T) *store.Store {
				st, err := store.Open(t.Context(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = st.Close() })
				return st
			}
		}},
		{"postgres", func(t *testing.T) func(t *testing.T) *store.Store {
			url := pgtest.Database(t)
			return func(t *testing.T) *store.Store {
				st, err := store.OpenPostgres(t.Context(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = st.Close() })
				return st
			}
		}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			open := backend.db(t)
			a := newEnv(t, envOpts{open: open})
			b := newEnv(t, envOpts{open: open, seeded: true})
			const state = "state-0123456789-abcdefghij"
			for _, e := range []*env{a, b} {
				e.fake.set(func(f *fakePlugin) {
					f.begin = func(contract.Operator) (contract.BeginLoginResponse, error) {
						return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, RedirectURL: "https://duo.example/oauth/v1/authorize?x=1", State: state}, nil
					}
					f.complete = func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
						return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
					}
				})
			}
			a.activate()

			// One browser; its requests alternate between the instances.
			onA, onB := a.client(), b.client()
			onB.hc.Jar = onA.hc.Jar // cookies ignore the port: one browser
			if resp := onA.login("alice", password, "/account"); resp.StatusCode != http.StatusOK || !strings.Contains(onA.last, "duo.example") {
				t.Fatalf("password on a: %d\n%s", resp.StatusCode, onA.last)
			}
			resp := onB.get(web.CallbackPath + "?duo_code=the-code&state=" + state)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
				t.Fatalf("Duo's callback on b: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), onB.last)
			}
			if b.fake.Calls("Activate") != 1 || b.fake.Calls("CompleteLogin") != 1 || a.fake.Calls("CompleteLogin") != 0 {
				t.Fatalf("b activated its process %d times and completed %d sign-ins (a %d); want 1, 1, 0",
					b.fake.Calls("Activate"), b.fake.Calls("CompleteLogin"), a.fake.Calls("CompleteLogin"))
			}
			if resp := onA.get("/account"); resp.StatusCode != http.StatusOK {
				t.Fatalf("signed in on b, then on a: %d", resp.StatusCode)
			}
			// The pending sign-in was used once, whichever instance is asked.
			if resp := onA.get(web.CallbackPath + "?duo_code=the-code&state=" + state); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("the callback replayed on a: %d", resp.StatusCode)
			}

			// Deactivated on a: b's next sign-in does not ask its plugin,
			// and b's process is deactivated.
			if err := a.mgr.Deactivate(t.Context(), contract.Actor{ID: "test"}); err != nil {
				t.Fatal(err)
			}
			other := b.client()
			if resp := other.login("bob", password, ""); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in on b after a's deactivation: %d\n%s", resp.StatusCode, other.last)
			}
			if n := b.fake.Calls("BeginLogin"); n != 0 {
				t.Fatalf("b asked its plugin %d times after the deactivation", n)
			}
			if _, err := b.mgr.Reconcile(t.Context()); err != nil || b.fake.Calls("Deactivate") != 1 {
				t.Fatalf("b's process deactivated %d times (%v); want once", b.fake.Calls("Deactivate"), err)
			}

			// b says its plugin runs (as its Run does): the admin's
			// uninstall on a is refused, and the page says where it runs.
			if err := b.st.ReportInstance(t.Context(), b.mgr.InstanceID(), "helpdesk-b", true); err != nil {
				t.Fatal(err)
			}
			admin := a.client()
			admin.signedIn("admin")
			admin.get("/admin/plugins")
			admin.post("/admin/plugins/duo-security/uninstall", url.Values{"csrf_token": {admin.csrf()}, "confirm": {"duo-security"}})
			admin.get("/admin/plugins")
			if !strings.Contains(admin.last, "other helpdesk instances sharing this database (helpdesk-b)") || a.fake.Calls("Uninstall") != 0 {
				t.Fatalf("uninstall on a while b runs the plugin: Uninstall called %d times; page:\n%s", a.fake.Calls("Uninstall"), admin.last)
			}
		})
	}
}
