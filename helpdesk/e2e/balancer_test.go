package e2e

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/internal/lbtest"
)

// TestHelpdeskProcessBehindBalancer: the pieces of the scale-out test,
// on one helpdesk process (SQLite) behind HAProxy. An admin added with
// `helpdesk user add` signs in through the balancer with a password and
// activates the plugin; the helpdesk is killed with SIGKILL, its plugin
// exits by itself, and the balancer answers 503.
func TestHelpdeskProcessBehindBalancer(t *testing.T) {
	t.Parallel()
	f := startWorld(t)
	addr := freeAddr(t)
	lb := lbtest.Start(t, []string{addr}, lbtest.Options{})
	f.hdHost = lb.Addr // the tabs browse the balancer
	cfg := hdConfig{DataDir: filepath.Join(f.tmp, "hd0"), PluginDir: f.bundleDir, BaseURL: lb.URL}
	f.addOperator(cfg, "admin", adminPassword, store.RoleAdmin)
	hd := f.startHelpdesk("hd0", addr, cfg)
	up := lb.WaitState(t, 0, "UP", 5*time.Second)
	t.Logf("balancer holds %s UP %v after it answered", lbtest.ServerName(0), up.Round(time.Millisecond))

	admin := f.newTab("admin")
	const pluginsPath = "/admin/plugins"
	admin.open(pluginsPath)
	admin.at(lb.Addr, "/login")
	admin.fill("username", "admin")
	admin.fill("password", adminPassword)
	admin.click("login")
	admin.at(lb.Addr, pluginsPath)
	admin.signedInAs("admin")
	if admin.servedBy != lbtest.ServerName(0) {
		admin.fail("page served by %q, want %s", admin.servedBy, lbtest.ServerName(0))
	}
	admin.click("activate")
	admin.want([]string{"deactivate", "settings"}, []string{"activate"})
	admin.shot("activated-through-balancer")
	plugins := pluginsOf(t, hd.pid())
	if len(plugins) != 1 {
		t.Fatalf("helpdesk %d has children %v, want its one plugin", hd.pid(), plugins)
	}

	// The helpdesk dies without a word; its plugin notices by itself.
	killed := time.Now()
	hd.kill()
	waitFor(t, 10*time.Second, "the killed helpdesk's plugin to exit", func() bool { return !alive(plugins[0]) })
	t.Logf("plugin %d exited %v after its helpdesk was killed", plugins[0], time.Since(killed).Round(time.Millisecond))

	// With its only backend dead, the balancer answers 503 itself. (A path
	// the tab saw before: the balancer's error page is not one of the
	// helpdesk's, whose accessibility checkA11y checks once per path.)
	if status := admin.open(pluginsPath); status != http.StatusServiceUnavailable {
		admin.fail("helpdesk dead: status %d through the balancer, want 503", status)
	}
	t.Logf("503 through the balancer %v after the kill", time.Since(killed).Round(time.Millisecond))
	f.checkLog()
	f.done()
}
