package host_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// *host.Plugin is a contract.Plugin: hosts can write their Duo code
// against the contract's interfaces and test it with a fake.
var _ contract.Plugin = (*host.Plugin)(nil)

// Start the plugin from its bundle. Options.Activation reads the host's
// own record of whether Duo is on: the SDK asks it before every start and
// restart of the plugin process and activates the new process from it.
//
// No bundle is installed where this example looks, so it shows the
// fail-closed branch: Duo logins are refused until the plugin runs.
func ExampleStart() {
	ctx := context.Background()
	p, err := host.Start(ctx, host.Options{
		ManifestPath: "/opt/helpdesk/plugins/duo-security/plugin.json",
		HostVersion:  "1.4.0",
		Logger:       slog.Default(),
		Env:          []string{"DUO_PLUGIN_LOG_LEVEL=info"},
		Activation: func(ctx context.Context) (contract.ActivateRequest, bool, error) {
			// In a real host: read the plugin's row from the host's database,
			// and return its error, so that the SDK retries the launch.
			return contract.ActivateRequest{
				Host:        contract.HostInfo{Name: "Acme Helpdesk", Version: "1.4.0"},
				CallbackURL: "https://helpdesk.example.com/auth/duo/callback",
				DataDir:     "/var/lib/helpdesk/plugins/duo-security",
				Actor:       contract.Actor{ID: "system", Username: "helpdesk"},
			}, true, nil
		},
		OnStateChange: func(s host.State) {
			slog.Info("duo plugin state", "phase", s.Phase.String(), "restarts", s.Restarts)
		},
	})
	switch {
	case errors.Is(err, host.ErrChecksumMismatch):
		fmt.Println("the Duo plugin binary was tampered with or corrupted: refusing Duo logins")
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, host.ErrNoExecutable):
		fmt.Println("the Duo plugin is not installed: refusing Duo logins")
	case err != nil:
		fmt.Println("the Duo plugin did not start: refusing Duo logins")
	default:
		defer p.Close()
		fmt.Println("Duo plugin", p.State().Phase)
	}
	// Output:
	// the Duo plugin is not installed: refusing Duo logins
}

// After the operator's password was checked, ask the plugin whether Duo is
// needed. Refuse the login on any error and on any decision other than
// DecisionNotRequired or DecisionRedirect.
//
// The login code is written against contract.Login, which *host.Plugin
// implements; here a stand-in answers as the plugin would.
func ExamplePlugin_BeginLogin() {
	ctx := context.Background()
	var duo contract.Login = exampleDuo{} // in a host: the *host.Plugin from host.Start

	for _, op := range []contract.Operator{
		{ID: "42", Username: "alice", Email: "alice@example.com"},
		{ID: "43", Username: "bob", Email: "bob@example.com"},
		{ID: "44", Username: "carol", Email: "carol@example.com"},
		{ID: "45", Username: "dave", Email: "dave@example.com"},
	} {
		res, err := duo.BeginLogin(ctx, contract.BeginLoginRequest{
			Operator: op,
			Client:   contract.ClientInfo{IP: "198.51.100.7", UserAgent: "Mozilla/5.0"},
		})
		switch {
		case errors.Is(err, host.ErrUnavailable):
			// The plugin is down, restarting or too slow: fail closed.
			fmt.Printf("%s: refused, Duo check unavailable (%s)\n", op.Username, contract.ReasonOf(err))
		case err != nil:
			fmt.Printf("%s: refused (%s)\n", op.Username, contract.ReasonOf(err))
		case res.Decision == contract.DecisionNotRequired:
			fmt.Printf("%s: Duo not required, continue with the host's own second factor\n", op.Username)
		case res.Decision == contract.DecisionRedirect:
			// Keep res.State in the server-side pre-auth session (it is a
			// secret: never log it), then redirect the browser.
			fmt.Printf("%s: redirect to %s\n", op.Username, res.RedirectURL)
		default:
			// DecisionDenied, DecisionUnspecified or anything newer: deny.
			fmt.Printf("%s: refused (%s): %s\n", op.Username, res.Reason, res.Message)
		}
	}
	// Output:
	// alice: redirect to https://api-example.duosecurity.com/oauth/v1/authorize?client_id=DIEXAMPLE
	// bob: Duo not required, continue with the host's own second factor
	// carol: refused (duo_unavailable): Duo is unreachable; try again later.
	// dave: refused, Duo check unavailable (PLUGIN_UNAVAILABLE)
}

// On Duo's callback, hand the plugin the state kept in the pre-auth
// session and the state and duo_code from the callback URL, and sign the
// operator in only on a nil error and DecisionAllowed.
func ExamplePlugin_CompleteLogin() {
	ctx := context.Background()
	var duo contract.Login = exampleDuo{} // in a host: the *host.Plugin from host.Start

	for _, callback := range []struct{ state, code string }{
		{state: "state-from-begin-login", code: "code-from-duo"},
		{state: "someone-elses-state", code: "code-from-duo"},
	} {
		res, err := duo.CompleteLogin(ctx, contract.CompleteLoginRequest{
			Operator:      contract.Operator{ID: "42", Username: "alice", Email: "alice@example.com"},
			SessionState:  "state-from-begin-login", // from the pre-auth session
			CallbackState: callback.state,           // the callback's state parameter
			DuoCode:       callback.code,            // the callback's duo_code parameter
			Client:        contract.ClientInfo{IP: "198.51.100.7", UserAgent: "Mozilla/5.0"},
		})
		if err != nil || res.Decision != contract.DecisionAllowed {
			// Fail closed, whatever the cause; res.Reason is for the log.
			fmt.Printf("login refused (%s)\n", res.Reason)
			continue
		}
		fmt.Println("logged in")
	}
	// Output:
	// logged in
	// login refused (state_mismatch)
}

// Uninstall removes the plugin's data for good; the plugin must be
// deactivated first and the confirmation must name it. Hosts branch on
// contract.ReasonOf, never on messages.
func ExamplePlugin_Uninstall() {
	ctx := context.Background()
	var duo contract.Lifecycle = &exampleLifecycle{active: true} // in a host: the *host.Plugin from host.Start
	admin := contract.Actor{ID: "1", Username: "admin", IP: "192.0.2.10"}

	uninstall := func(confirm string) {
		res, err := duo.Uninstall(ctx, contract.UninstallRequest{Confirm: confirm, Actor: admin})
		switch contract.ReasonOf(err) {
		case "":
			fmt.Printf("removed %q\n", res.Removed)
		case contract.ReasonActive:
			fmt.Println("deactivate the plugin first")
		case contract.ReasonConfirmation:
			fmt.Println("type the plugin's id to confirm")
		default:
			fmt.Println("uninstall failed:", contract.ReasonOf(err))
		}
	}
	uninstall(contract.PluginID)
	if _, err := duo.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
		fmt.Println("deactivate:", err)
		return
	}
	uninstall("yes")
	uninstall(contract.PluginID)
	// Output:
	// deactivate the plugin first
	// type the plugin's id to confirm
	// removed ["/var/lib/helpdesk/plugins/duo-security/duo.db" "/var/lib/helpdesk/plugins/duo-security/secret.key"]
}

// exampleDuo answers logins as the plugin would, for the examples.
type exampleDuo struct{}

func (exampleDuo) BeginLogin(_ context.Context, req contract.BeginLoginRequest) (contract.BeginLoginResponse, error) {
	switch req.Operator.Username {
	case "alice":
		return contract.BeginLoginResponse{
			Decision:    contract.DecisionRedirect,
			RedirectURL: "https://api-example.duosecurity.com/oauth/v1/authorize?client_id=DIEXAMPLE",
			State:       "state-from-begin-login",
		}, nil
	case "bob":
		return contract.BeginLoginResponse{Decision: contract.DecisionNotRequired}, nil
	case "carol":
		return contract.BeginLoginResponse{
			Decision: contract.DecisionDenied, Reason: contract.LoginReasonDuoUnavailable,
			Message: "Duo is unreachable; try again later.",
		}, nil
	default:
		// What *host.Plugin returns while the plugin process restarts.
		return contract.BeginLoginResponse{}, fmt.Errorf("begin login: %w", errors.Join(host.ErrUnavailable,
			&contract.Error{Reason: contract.ReasonPluginUnavailable, Message: "the plugin is restarting"}))
	}
}

func (exampleDuo) CompleteLogin(_ context.Context, req contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
	if req.SessionState == "" || req.SessionState != req.CallbackState {
		return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonStateMismatch, Message: "Duo verification failed."}, nil
	}
	return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
}

// exampleLifecycle deactivates and uninstalls as the plugin would, for the
// examples.
type exampleLifecycle struct {
	contract.Lifecycle // Activate and Status are not used here
	active             bool
}

func (l *exampleLifecycle) Deactivate(context.Context, contract.DeactivateRequest) (contract.DeactivateResponse, error) {
	l.active = false
	return contract.DeactivateResponse{}, nil
}

func (l *exampleLifecycle) Uninstall(_ context.Context, req contract.UninstallRequest) (contract.UninstallResponse, error) {
	switch {
	case req.Confirm != contract.PluginID:
		return contract.UninstallResponse{}, contract.Errorf(contract.ReasonConfirmation, "confirm must name the plugin")
	case l.active:
		return contract.UninstallResponse{}, contract.Errorf(contract.ReasonActive, "deactivate first")
	}
	const dir = "/var/lib/helpdesk/plugins/duo-security"
	return contract.UninstallResponse{Removed: []string{dir + "/duo.db", dir + "/secret.key"}}, nil
}

// Offer the authentication log only when the plugin serves it: a plugin
// older than the SDK may not. Calling regardless is safe too: the call
// fails with an error matching host.ErrUnsupported.
func ExamplePlugin_Supports() {
	var p *host.Plugin // from host.Start
	ctx := context.Background()

	ok, err := p.Supports(ctx, host.FeatureAuthLog)
	switch {
	case err != nil:
		slog.Warn("the plugin is down; hide the log page for now", "error", err)
	case !ok:
		fmt.Println("this plugin has no authentication log: upgrade it to see one")
	default:
		res, err := p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Actor: contract.Actor{ID: "1", Username: "admin", Role: contract.RoleAdmin}})
		if errors.Is(err, host.ErrUnsupported) {
			fmt.Println("this plugin has no authentication log")
			return
		}
		fmt.Printf("%d events\n", len(res.Events))
	}
}
