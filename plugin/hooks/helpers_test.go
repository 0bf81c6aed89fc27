package hooks

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

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

var admin = contract.Actor{ID: "99", Username: "admin", IP: "192.0.2.1", Role: contract.RoleAdmin}

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
	return newEnvLogged(t, sim, rt, extra, nil)
}

// newEnvLogged is newEnv with the plugin logging to logger.
func newEnvLogged(t testing.TB, sim *duosim.Server, rt settings.Runtime, extra map[string]string, logger hclog.Logger) *env {
	t.Helper()
	rt.AllowTestDuoHost = true
	if rt.DuoTimeout == 0 {
		rt.DuoTimeout = 2 * time.Second
	}
	clk := newClock()
	p := New(Config{Runtime: rt, Store: store.SQLiteBackend{}, Duo: duo.NewFactory(rt), Now: clk.Now, Logger: logger})
	ctx := context.Background()
	if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: filepath.Join(t.TempDir(), "d"), CallbackURL: "http://127.0.0.1:9/cb", Actor: admin}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Deactivate(context.Background(), contract.DeactivateRequest{Actor: admin}) })
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

// actor is someone the host vouches for, with a role.
func actor(id string, role contract.Role) contract.Actor {
	return contract.Actor{ID: id, Username: "user-" + id, IP: "192.0.2.9", Role: role}
}

// duoLogin runs BeginLogin, the browser at the scripted Duo and
// CompleteLogin, and returns CompleteLogin's answer as it is.
func (e *env) duoLogin(ctx context.Context, op contract.Operator) contract.CompleteLoginResponse {
	e.t.Helper()
	b := e.begin(ctx, op)
	if b.Decision != contract.DecisionRedirect {
		e.t.Fatalf("BeginLogin(%s) = %+v, want REDIRECT", op.Username, b)
	}
	res, err := e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: op, SessionState: b.State, CallbackState: b.State, DuoCode: e.duoCode(b.RedirectURL)})
	if err != nil {
		e.t.Fatalf("CompleteLogin(%s): %v", op.Username, err)
	}
	return res
}

// login is a whole Duo sign-in as an operator who saves the backup codes
// they are shown: it confirms them when asked, and returns them (nil when
// none were shown).
func (e *env) login(ctx context.Context, op contract.Operator) []string {
	e.t.Helper()
	res := e.duoLogin(ctx, op)
	if res.Decision == contract.DecisionAllowed {
		return nil
	}
	if res.Decision != contract.DecisionConfirmBackupCodes {
		e.t.Fatalf("Duo login of %s = %+v, want ALLOWED or CONFIRM_BACKUP_CODES", op.Username, res)
	}
	conf, err := e.p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: op, Ticket: res.BackupCodesTicket})
	if err != nil || conf.Decision != contract.DecisionAllowed {
		e.t.Fatalf("ConfirmBackupCodes(%s) = %+v, %v", op.Username, conf, err)
	}
	return res.BackupCodes
}

// setUp enables Duo for op and runs their first sign-in; it returns the
// backup codes they confirmed.
func (e *env) setUp(ctx context.Context, op contract.Operator) []string {
	e.t.Helper()
	e.enable(op)
	codes := e.login(ctx, op)
	if len(codes) == 0 {
		e.t.Fatalf("the first sign-in of %s showed no backup codes", op.Username)
	}
	return codes
}

// state is op's state as an admin sees it.
func (e *env) state(op contract.Operator) contract.OperatorState {
	e.t.Helper()
	res, err := e.p.GetOperatorStates(context.Background(), contract.GetOperatorStatesRequest{OperatorIDs: []string{op.ID}, Actor: admin})
	if err != nil || len(res.States) != 1 {
		e.t.Fatalf("GetOperatorStates(%s) = %+v, %v", op.ID, res, err)
	}
	return res.States[0]
}

// redeem signs op in with a code.
func (e *env) redeem(op contract.Operator, code string) contract.CompleteLoginResponse {
	e.t.Helper()
	res, err := e.p.RedeemCode(context.Background(), contract.RedeemCodeRequest{Operator: op, Code: code, Client: contract.ClientInfo{IP: "198.51.100.4"}})
	if err != nil {
		e.t.Fatalf("RedeemCode(%s): %v", op.Username, err)
	}
	return res
}

// events returns the audit events of the given kind ("" for all).
func (e *env) events(kind string) []store.EventRecord {
	e.t.Helper()
	var out []store.EventRecord
	err := e.p.withActive(context.Background(), func(a *activeState) error {
		all, err := a.store.Events(context.Background(), 0, 100_000)
		for _, ev := range all {
			if kind == "" || ev.Kind == kind {
				out = append(out, ev)
			}
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// atOnce makes call n times concurrently, all released together, and
// returns the answers; an error fails t.
func atOnce(t *testing.T, n int, call func() (contract.CompleteLoginResponse, error)) []contract.CompleteLoginResponse {
	t.Helper()
	results := make([]contract.CompleteLoginResponse, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := call()
			if err != nil {
				t.Errorf("call %d of %d at once: %v", i, n, err)
			}
			results[i] = r
		})
	}
	close(start)
	wg.Wait()
	return results
}
