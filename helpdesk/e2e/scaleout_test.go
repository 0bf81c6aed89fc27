package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/internal/lbtest"
	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
)

// TestScaleOutTwoInstances (issue 13): the helpdesk as deployed to scale
// out. Two `helpdesk serve` processes (-instance hd0, hd1) on one
// PostgreSQL database (the helpdesk's schema and the plugin's), with the
// same DUO_PLUGIN_SECRETS_KEY, behind HAProxy in round robin with no
// stickiness; the browser only ever talks to the balancer, and so does
// Duo's callback (-base-url). The journey: the admin signs in, activates
// the plugin, saves the simulator's settings and enables Duo for alice and
// bob; alice signs in with Duo (enrols, approves, saves her backup codes);
// bob, whose Duo answer is deny, is refused; alice signs in with a backup
// code; alice signs in with Duo until one sign-in had its password POST
// and its Duo callback served by different instances. Then, with alice at
// Duo's prompt, the instance that took her password is killed with
// SIGKILL; once the balancer holds it DOWN, she approves and the callback
// completes her sign-in on the survivor (the pending sign-in and the
// plugin's login state are in PostgreSQL). The killed instance's plugin
// exits by itself, and no log holds a secret.
func TestScaleOutTwoInstances(t *testing.T) {
	t.Parallel()
	// The database first: without PostgreSQL the test skips (fails under
	// CI=true) before Chromium starts. Its drop, a cleanup, runs last.
	dbURL := pgtest.Database(t)
	f := startWorld(t)
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		t.Fatal(err)
	}
	secretsKey := base64.StdEncoding.EncodeToString(key[:])
	f.secret("plugin secrets key", secretsKey)
	f.secret("database URL", dbURL)

	addrs := []string{freeAddr(t), freeAddr(t)}
	lb := lbtest.Start(t, addrs, lbtest.Options{})
	f.hdHost = lb.Addr // the tabs browse the balancer only
	cfgs := make([]hdConfig, len(addrs))
	for i := range addrs {
		name := fmt.Sprintf("hd%d", i)
		cfgs[i] = hdConfig{
			DataDir:   filepath.Join(f.tmp, name), // one each; the bundle is shared
			PluginDir: f.bundleDir,
			BaseURL:   lb.URL,
			Env:       []string{"HELPDESK_DATABASE_URL=" + dbURL, "DUO_PLUGIN_SECRETS_KEY=" + secretsKey},
			Args:      []string{"-instance", name},
		}
	}
	f.addOperator(cfgs[0], "admin", adminPassword, store.RoleAdmin)
	f.addOperator(cfgs[1], "alice", alicePassword, store.RoleAgent)
	f.addOperator(cfgs[0], "bob", bobPassword, store.RoleAgent)
	hds := make([]*hdProc, len(addrs))
	for i, addr := range addrs {
		hds[i] = f.startHelpdesk(fmt.Sprintf("hd%d", i), addr, cfgs[i])
	}
	for i := range addrs {
		up := lb.WaitState(t, i, "UP", 10*time.Second)
		t.Logf("balancer holds %s UP %v after the helpdesks answered", lbtest.ServerName(i), up.Round(time.Millisecond))
	}
	// Which instance served each helpdesk page the tabs saw.
	pages := map[string]int{}
	note := func(b *tab) {
		if b.servedBy != "" {
			pages[b.servedBy]++
		}
	}

	// --- The admin: sign in, activate, settings, Duo for alice and bob.
	admin, alice, bob := f.newTab("admin"), f.newTab("alice"), f.newTab("bob")
	admin.login("admin", adminPassword)
	note(admin)
	admin.signedInAs("admin")
	f.setUpDuo(admin, "alice", "bob")
	note(admin)
	admin.shot("duo-set-up-through-balancer")

	// --- alice's first Duo sign-in: enrol, approve, the backup codes.
	codes := alice.firstDuoSignIn("alice", alicePassword, true)
	note(alice)
	alice.shot("first-duo-sign-in")
	alice.click("logout")
	note(alice)

	// --- bob: Duo answers deny; refused, whichever instance takes it.
	f.sim.SetOutcome("bob", duosim.OutcomeDeny)
	bob.login("bob", bobPassword)
	note(bob)
	if status := bob.click("continue-to-duo"); status != 403 {
		bob.fail("Duo denies bob: status %d, want 403", status)
	}
	note(bob)
	bob.at(lb.Addr, web.CallbackPath)
	bob.want([]string{"refused", "use-code"}, []string{"signed-in-as"})
	bob.shot("refused-duo-deny")
	bob.open("/")
	bob.at(lb.Addr, "/login")

	// --- alice: a backup code instead of Duo.
	alice.login("alice", alicePassword)
	note(alice)
	alice.click("use-code")
	alice.fill("code", codes[0])
	alice.click("verify-code")
	note(alice)
	alice.at(lb.Addr, "/")
	alice.signedInAs("alice")
	alice.click("logout")

	// --- alice with Duo again, until one sign-in crossed instances: its
	// password POST served by one, Duo's callback by the other. Round
	// robin makes that likely at once, but other requests (a favicon)
	// take turns too, so it is counted from the balancer's log, not
	// assumed.
	crossed := false
	for try := 1; try <= 6 && !crossed; try++ {
		before := len(lbRequests(lb))
		alice.login("alice", alicePassword)
		note(alice)
		alice.click("continue-to-duo")
		alice.duoApprove(false)
		alice.at(lb.Addr, "/")
		alice.signedInAs("alice")
		note(alice)
		post, callback := lbLoginServers(t, lb, before)
		t.Logf("Duo sign-in %d: password POST served by %s, Duo callback by %s", try, post, callback)
		crossed = post != callback
		alice.click("logout")
	}
	if !crossed {
		t.Fatalf("no Duo sign-in had its password and its callback served by different instances; balancer log:\n%s", lb.Log())
	}
	if pages[lbtest.ServerName(0)] == 0 || pages[lbtest.ServerName(1)] == 0 {
		t.Fatalf("pages served: %v, want both instances", pages)
	}

	// --- The instance that takes alice's password dies (SIGKILL) while she
	// is at Duo's prompt; she completes the sign-in on the other one.
	plugins := make([][]int, len(hds))
	for i, hd := range hds {
		waitFor(t, 15*time.Second, hd.name+"'s plugin to run", func() bool {
			plugins[i] = pluginsOf(t, hd.pid())
			return len(plugins[i]) == 1
		})
	}
	before := len(lbRequests(lb))
	alice.login("alice", alicePassword)
	alice.click("continue-to-duo")
	alice.at(f.simHost, "/oauth/v1/authorize")
	alice.want([]string{"approve"}, nil)
	post := ""
	waitFor(t, 10*time.Second, "the balancer to log the password POST", func() bool {
		post = lastServer(lbRequests(lb)[before:], "POST", "/login")
		return post != ""
	})
	victim := serverIndex(t, post)
	survivor := 1 - victim
	killed := time.Now()
	hds[victim].kill()
	down := lb.WaitState(t, victim, "DOWN", 10*time.Second)
	t.Logf("%s (%s) killed mid sign-in; the balancer held it DOWN after %v", hds[victim].name, post, down.Round(time.Millisecond))
	alice.click("approve")
	alice.at(lb.Addr, "/")
	alice.signedInAs("alice")
	note(alice)
	if alice.servedBy != lbtest.ServerName(survivor) {
		alice.fail("page after the callback served by %q, want the survivor %s", alice.servedBy, lbtest.ServerName(survivor))
	}
	_, callback := lbLoginServers(t, lb, before)
	if callback != lbtest.ServerName(survivor) {
		t.Fatalf("the Duo callback after the kill was served by %q, want the survivor %s", callback, lbtest.ServerName(survivor))
	}
	alice.shot("signed-in-on-survivor")
	t.Logf("sign-in completed on %s %v after the kill", lbtest.ServerName(survivor), time.Since(killed).Round(time.Millisecond))
	// The survivor serves everyone now; the admin's session is shared too.
	admin.open("/admin/plugins")
	admin.signedInAs("admin")
	admin.want([]string{"deactivate", "settings"}, []string{"activate"})
	waitFor(t, 10*time.Second, "the killed helpdesk's plugin to exit", func() bool { return !alive(plugins[victim][0]) })
	t.Logf("plugin %d exited %v after its helpdesk was killed", plugins[victim][0], time.Since(killed).Round(time.Millisecond))
	if !alive(plugins[survivor][0]) {
		t.Errorf("the survivor's plugin %d is gone", plugins[survivor][0])
	}
	t.Logf("pages served: %v", pages)
	// The balancer logs every request, Duo's callbacks among them, whose
	// query holds the state and Duo's code: its log keeps the path only.
	if log := lb.Log(); strings.Contains(log, "duo_code") || strings.Contains(log, "state=") || !strings.Contains(log, "/login/duo") {
		t.Errorf("the balancer's log holds a callback's query, or no callback at all:\n%s", log)
	}
	f.checkLog()
	f.done()
}

// lbRequest is one request in HAProxy's log: the server that answered it,
// its method and its path (no query).
type lbRequest struct{ server, method, path string }

// lbLine matches an httplog line's backend/server and request line.
var lbLine = regexp.MustCompile(`helpdesks/(\S+) .*"([A-Z]+) ([^ ?"]*)`)

// lbRequests is every request the balancer has logged so far, in order.
func lbRequests(lb *lbtest.Balancer) []lbRequest {
	var reqs []lbRequest
	for _, line := range strings.Split(lb.Log(), "\n") {
		if m := lbLine.FindStringSubmatch(line); m != nil {
			reqs = append(reqs, lbRequest{m[1], m[2], m[3]})
		}
	}
	return reqs
}

// lastServer is the server of the last of reqs with method and path, or "".
func lastServer(reqs []lbRequest, method, path string) string {
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].method == method && reqs[i].path == path {
			return reqs[i].server
		}
	}
	return ""
}

// lbLoginServers waits until the balancer has logged, after its first
// skip requests, a password POST and a Duo callback after it, and returns
// the servers of the last such POST and of the first callback after it.
func lbLoginServers(t *testing.T, lb *lbtest.Balancer, skip int) (post, callback string) {
	t.Helper()
	waitFor(t, 10*time.Second, "the balancer to log the sign-in's requests", func() bool {
		reqs := lbRequests(lb)[skip:]
		post, callback = "", ""
		for _, r := range reqs {
			switch {
			case r.method == "POST" && r.path == "/login":
				post, callback = r.server, ""
			case post != "" && callback == "" && r.method == "GET" && r.path == web.CallbackPath:
				callback = r.server
			}
		}
		return post != "" && callback != ""
	})
	return post, callback
}

// serverIndex is the index of the backend HAProxy calls name.
func serverIndex(t *testing.T, name string) int {
	t.Helper()
	for i := range 2 {
		if lbtest.ServerName(i) == name {
			return i
		}
	}
	t.Fatalf("unknown server %q", name)
	return -1
}
