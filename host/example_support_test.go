package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// exampleEnv is what the runnable examples stand on: the real plugin
// binary (a bundle built once per test binary), started with host.Start
// as ExampleStart shows, against the Duo simulator (every prompt approves
// at once). A host has all this from its own start-up; the examples get it
// from newExampleEnv so that they show only the calls they are about.
type exampleEnv struct {
	plugin  *host.Plugin
	sim     *duosim.Server
	dataDir string
	active  atomic.Bool // the host's record: is the plugin active?
	states  chan host.State
}

// The actors of the examples.
var (
	exampleAdmin    = contract.Actor{ID: "1", Username: "admin", Role: contract.RoleAdmin, IP: "192.0.2.10"}
	exampleHelpDesk = contract.Actor{ID: "2", Username: "hannah", Role: contract.RoleHelpDesk, IP: "192.0.2.11"}
	exampleAlice    = contract.Operator{ID: "42", Username: "alice", Email: "alice@example.com", Role: contract.RoleAgent}
	exampleClient   = contract.ClientInfo{IP: "198.51.100.7", UserAgent: "Mozilla/5.0"}
)

// newExampleEnv starts the plugin. With active, the host's record says
// "active" from the start, Duo's settings are saved and Duo is on for
// alice; without, the plugin runs inactive. It panics on failure: an
// example then fails with the panic.
func newExampleEnv(active bool) *exampleEnv {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	manifest, err := pluginbuild.Shared()
	if err != nil {
		panic(err)
	}
	sim, err := duosim.Start(ctx, duosim.Config{Scripted: true})
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "duo-example-")
	if err != nil {
		panic(err)
	}
	e := &exampleEnv{sim: sim, dataDir: dir, states: make(chan host.State, 64)}
	e.active.Store(active)
	e.plugin, err = host.Start(ctx, host.Options{
		ManifestPath: manifest,
		Activation: func(context.Context) (contract.ActivateRequest, bool, error) {
			return contract.ActivateRequest{
				Host:        contract.HostInfo{Name: "Acme Helpdesk", Version: "1.4.0"},
				CallbackURL: "https://helpdesk.example.com/login/duo/callback",
				DataDir:     dir,
				Actor:       contract.Actor{ID: "0", Username: "helpdesk", Role: contract.RoleSystem},
			}, e.active.Load(), nil
		},
		Env:    []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s"},
		Logger: slog.New(slog.DiscardHandler),
		OnStateChange: func(s host.State) {
			select {
			case e.states <- s:
			default:
			}
		},
	})
	if err != nil {
		panic(err)
	}
	if !active {
		return e
	}
	app := sim.Apps()[0]
	res, err := e.plugin.UpdateSettings(ctx, contract.UpdateSettingsRequest{Actor: exampleAdmin, Values: map[string]string{
		"client_id": app.ClientID, "client_secret": app.ClientSecret.Reveal(),
		"api_hostname": sim.APIHost(), "ca_file": sim.CAFile()}})
	if err != nil || !res.Saved {
		panic(fmt.Sprintf("save Duo settings: %+v, %v", res, err))
	}
	if _, err := e.plugin.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: exampleAlice, Enabled: true, Actor: exampleAdmin}); err != nil {
		panic(err)
	}
	return e
}

func (e *exampleEnv) close() {
	_ = e.plugin.Close()
	_ = e.sim.Close()
	_ = os.RemoveAll(e.dataDir)
}

// atDuo plays the browser at Duo: it follows the authorization URL to the
// simulator, which approves at once, and returns the state and duo_code
// of Duo's redirect to the callback.
func (e *exampleEnv) atDuo(redirectURL string) (state, duoCode string) {
	hc := e.sim.HTTPClient(10 * time.Second)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(redirectURL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		panic(err)
	}
	return back.Query().Get("state"), back.Query().Get("duo_code")
}

// signInWithDuo is an operator's sign-in with Duo up to the callback's
// CompleteLogin (ExamplePlugin_CompleteLogin shows the host's side).
func (e *exampleEnv) signInWithDuo(ctx context.Context, op contract.Operator) contract.CompleteLoginResponse {
	begin, err := e.plugin.BeginLogin(ctx, contract.BeginLoginRequest{Operator: op, Client: exampleClient})
	if err != nil || begin.Decision != contract.DecisionRedirect {
		panic(fmt.Sprintf("BeginLogin = %+v, %v", begin, err))
	}
	state, code := e.atDuo(begin.RedirectURL)
	done, err := e.plugin.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: op, SessionState: begin.State,
		CallbackState: state, DuoCode: code, Client: exampleClient})
	if err != nil {
		panic(err)
	}
	return done
}

// firstSignIn is an operator's first sign-in with Duo, the backup codes
// confirmed; it returns them.
func (e *exampleEnv) firstSignIn(ctx context.Context, op contract.Operator) []string {
	done := e.signInWithDuo(ctx, op)
	if done.Decision != contract.DecisionConfirmBackupCodes {
		panic(fmt.Sprintf("first sign-in: %s, want confirm_backup_codes", done.Decision))
	}
	ok, err := e.plugin.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: op, Ticket: done.BackupCodesTicket, Client: exampleClient})
	if err != nil || ok.Decision != contract.DecisionAllowed {
		panic(fmt.Sprintf("ConfirmBackupCodes = %+v, %v", ok, err))
	}
	return done.BackupCodes
}
