package web_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

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
