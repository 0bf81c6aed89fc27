package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// processAlert is the Plugins page's alert that the process is not running.
var processAlert = regexp.MustCompile(`(?s)<div class="alert" id="process-alert">.*?</div>`)

var processState = regexp.MustCompile(`(?s)<dd id="process-state">(.*?)</dd>`)

// TestPluginsPageInactiveKeepsSettings: an inactive plugin reports neither
// its configuration nor its schema, so the page claims neither.
func TestPluginsPageInactiveKeepsSettings(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client()
	c.signedIn("admin")
	c.get("/admin/plugins")
	for _, want := range []string{"Inactive: its settings and records are kept and come back when you activate it.", `id="activate"`} {
		if !strings.Contains(c.last, want) {
			t.Errorf("page lacks %q:\n%s", want, c.last)
		}
	}
	for _, bad := range []string{"not configured", "schema-version", "version 0", "Last Duo health check"} {
		if strings.Contains(c.last, bad) {
			t.Errorf("an inactive plugin's page says %q:\n%s", bad, c.last)
		}
	}

	c.lang = "de"
	c.get("/admin/plugins")
	if !strings.Contains(c.last, "Inaktiv: Seine Einstellungen und Daten bleiben erhalten") {
		t.Errorf("German page lacks the inactive note:\n%s", c.last)
	}
}

// TestPluginsPageNeverRunningBesideAnError: a process that dies while the
// page asks its Status is shown in the phase the SDK reports after the
// call, never as running.
func TestPluginsPageNeverRunningBesideAnError(t *testing.T) {
	for _, phase := range []host.Phase{host.PhaseRestarting, host.PhaseDown, host.PhaseFailed} {
		t.Run(phase.String(), func(t *testing.T) {
			e := newEnv(t, envOpts{})
			e.activate()
			e.fake.set(func(f *fakePlugin) {
				f.status = func() (contract.StatusResponse, error) {
					f.set(func(f *fakePlugin) { f.phase = phase })
					return contract.StatusResponse{}, fmt.Errorf("status: %w", host.ErrUnavailable)
				}
			})
			c := e.client()
			c.signedIn("admin")
			c.get("/admin/plugins")
			m := processState.FindStringSubmatch(c.last)
			if m == nil {
				t.Fatalf("no process state:\n%s", c.last)
			}
			if strings.Contains(m[1], "running") || !strings.Contains(m[1], phase.String()) {
				t.Errorf("process state %q, want %s and not running", m[1], phase)
			}
			if !strings.Contains(c.last, "The plugin process is not running ("+phase.String()+").") ||
				!strings.Contains(c.last, "every sign-in is refused") {
				t.Errorf("no alert that the process is %s:\n%s", phase, c.last)
			}
			if strings.Contains(c.last, `id="check-duo"`) {
				t.Error("Check Duo now is offered with the process not running")
			}
		})
	}

	// Running but not answering: not "running" either.
	e := newEnv(t, envOpts{})
	e.activate()
	e.fake.set(func(f *fakePlugin) {
		f.status = func() (contract.StatusResponse, error) {
			return contract.StatusResponse{}, fmt.Errorf("status: %w", host.ErrUnavailable)
		}
	})
	c := e.client()
	c.signedIn("admin")
	c.get("/admin/plugins")
	if m := processState.FindStringSubmatch(c.last); m == nil || strings.Contains(m[1], "running") || !strings.Contains(m[1], "not answering") {
		t.Errorf("process state of a silent process: %q", m)
	}
}

// TestCase25ChecksumMismatchShownAndLoginsRefused is the reference
// helpdesk's half of trust case 25 (internal/trust has the SDK's): a
// bundle whose executable does not match the manifest's sha256 is refused
// by the real SDK, the Plugins page says why, and with the plugin active
// every sign-in that needs Duo is refused.
func TestCase25ChecksumMismatchShownAndLoginsRefused(t *testing.T) {
	const executable = "#!/bin/sh\necho 'must never run' >&2\nexit 1\n"
	sum := sha256.Sum256([]byte("another binary"))
	manifest := fmt.Sprintf(`{"id":"duo-security","name":"Duo Security","version":"0.1.0","protocol_version":1,
"executables":{%q:{"path":"bin/duo-plugin","sha256":%q}},
"settings_schema":[{"key":"client_id","display_name":"Client ID","type":"text","required":true}]}`,
		runtime.GOOS+"-"+runtime.GOARCH, hex.EncodeToString(sum[:]))
	e := newEnv(t, envOpts{manifest: manifest, bundle: map[string]string{"bin/duo-plugin": executable},
		start: plugins.SDKStarter(host.Options{StartTimeout: 5 * time.Second})})
	if err := e.mgr.StartError(); !errors.Is(err, host.ErrChecksumMismatch) {
		t.Fatalf("StartError = %v; want host.ErrChecksumMismatch", err)
	}
	wantBundleRefused(t, e, "does not match the sha256 in the manifest; refusing to run it")
}

// wantBundleRefused checks a helpdesk whose plugin bundle the SDK refused
// to start: with the record saying active (as after a restart), the
// Plugins page's alert says the process is not running, why (each of
// whys), and that every sign-in is refused; and alice's sign-in is refused
// with the fail-closed message. It returns the Plugins page.
func wantBundleRefused(t *testing.T, e *env, whys ...string) string {
	t.Helper()
	a := e.client()
	a.signedIn("admin")
	if err := e.st.SetPluginActive(t.Context(), plugins.ID, true, "test"); err != nil {
		t.Fatal(err)
	}
	a.get("/admin/plugins")
	alert := html.UnescapeString(processAlert.FindString(a.last))
	for _, want := range append(append([]string{"The plugin process is not running"}, whys...), "every sign-in is refused") {
		if !strings.Contains(alert, want) {
			t.Errorf("the Plugins page's alert lacks %q:\n%s", want, alert)
		}
	}
	c := e.client()
	resp := c.login("alice", password, "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(c.last, web.MsgFailClosed) {
		t.Fatalf("sign-in with the bundle refused: status %d:\n%s", resp.StatusCode, c.last)
	}
	if resp := c.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("signed in although the plugin could not ask Duo")
	}
	return a.last
}
