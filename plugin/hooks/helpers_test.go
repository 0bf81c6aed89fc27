package hooks

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }
func newClock() *clock               { return &clock{now: time.Now()} }

var admin = contract.Actor{ID: "1", Username: "admin", IP: "192.0.2.1"}

// env is an active plugin in-process, on a real SQLite file, talking to the
// simulator.
type env struct {
	t   testing.TB
	p   *Plugin
	sim *duosim.Server
	clk *clock
}

// newEnv activates a plugin against sim with its app saved (unchecked) and
// extra settings applied on top.
func newEnv(t testing.TB, sim *duosim.Server, rt settings.Runtime, extra map[string]string) *env {
	t.Helper()
	rt.AllowTestDuoHost = true
	if rt.DuoTimeout == 0 {
		rt.DuoTimeout = 2 * time.Second
	}
	clk := newClock()
	p := New(Config{Runtime: rt, Store: store.SQLiteBackend{}, Duo: duo.NewFactory(rt), Now: clk.Now})
	ctx := context.Background()
	if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: filepath.Join(t.TempDir(), "d"), CallbackURL: "http://127.0.0.1:9/cb", Actor: admin}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Deactivate(context.Background(), contract.DeactivateRequest{}) })
	app := sim.Apps()[0]
	values := map[string]string{"client_id": app.ClientID, "client_secret": app.ClientSecret.Reveal(),
		"api_hostname": sim.APIHost(), "ca_file": sim.CAFile()}
	for k, v := range extra {
		values[k] = v
	}
	if res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: values, SkipDuoCheck: true, Actor: admin}); err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	return &env{t: t, p: p, sim: sim, clk: clk}
}

func (e *env) enable(op contract.Operator) {
	e.t.Helper()
	if _, err := e.p.SetOperatorEnabled(context.Background(), contract.SetOperatorEnabledRequest{Operator: op, Enabled: true, Actor: admin}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) begin(ctx context.Context, op contract.Operator) contract.BeginLoginResponse {
	e.t.Helper()
	res, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: op})
	if err != nil {
		e.t.Fatalf("BeginLogin(%s): %v", op.Username, err)
	}
	return res
}

// duoCode follows the redirect as a browser would, against the scripted
// simulator, and returns the code Duo sends back.
func (e *env) duoCode(redirectURL string) string {
	e.t.Helper()
	hc := e.sim.HTTPClient(5 * time.Second)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(redirectURL)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("duo_code")
	if code == "" {
		e.t.Fatalf("no code in %q", resp.Header.Get("Location"))
	}
	return code
}
