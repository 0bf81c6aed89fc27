package host_test

import (
	"context"
	"errors"
	"log"
	"log/slog"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Start the plugin from its bundle, activate it, and ask it about a login.
func ExampleStart() {
	ctx := context.Background()
	p, err := host.Start(ctx, host.Options{
		ManifestPath: "/opt/helpdesk/plugins/duo-security/plugin.json",
		HostVersion:  "1.4.0",
		Logger:       slog.Default(),
		Env:          []string{"DUO_PLUGIN_LOG_LEVEL=info"},
		OnStateChange: func(s host.State) {
			slog.Info("duo plugin state", "phase", s.Phase.String(), "restarts", s.Restarts)
		},
	})
	switch {
	case errors.Is(err, host.ErrChecksumMismatch):
		log.Fatalf("the Duo plugin binary was tampered with or corrupted: %v", err)
	case err != nil:
		log.Fatalf("start the Duo plugin: %v", err)
	}
	defer p.Close()

	status, err := p.Activate(ctx, host.ActivateRequest{
		Host:        host.HostInfo{Name: "Acme Helpdesk", Version: "1.4.0"},
		CallbackURL: "https://helpdesk.example.com/auth/duo/callback",
		DataDir:     "/var/lib/helpdesk/plugins/duo-security",
		Actor:       host.Actor{ID: "1", Username: "admin", IP: "192.0.2.10"},
	})
	if err != nil {
		log.Fatalf("activate the Duo plugin: %v", err)
	}
	if !status.Configured {
		log.Print("Duo is active but not configured yet: open its settings")
	}

	// After the operator's password was checked:
	res, err := p.BeginLogin(ctx,
		host.Operator{ID: "42", Username: "alice", Email: "alice@example.com"},
		host.ClientInfo{IP: "198.51.100.7", UserAgent: "Mozilla/5.0"})
	switch {
	case err != nil:
		// Fail closed: the plugin is down, slow, or refused the call.
		log.Printf("login refused: Duo check unavailable (%s)", host.ReasonOf(err))
	case res.Decision == host.DecisionNotRequired:
		log.Print("Duo is not required for this operator: continue with the built-in second factor")
	case res.Decision == host.DecisionRedirect:
		// Keep res.State in the server-side pre-auth session, then redirect
		// the browser to res.RedirectURL.
		log.Print("redirecting to Duo")
	default:
		// DecisionDenied, DecisionUnspecified or anything newer: deny.
		log.Printf("login refused: %s", res.Message)
	}
}

// On Duo's callback, compare the state kept in the session with the one in
// the URL, and log the operator in only on DecisionAllowed.
func ExamplePlugin_CompleteLogin() {
	var p *host.Plugin // from host.Start
	ctx := context.Background()

	res, err := p.CompleteLogin(ctx, host.CompleteLoginRequest{
		Operator:      host.Operator{ID: "42", Username: "alice", Email: "alice@example.com"},
		SessionState:  "the state BeginLogin returned, from the pre-auth session",
		CallbackState: "the state query parameter of the callback",
		DuoCode:       "the duo_code query parameter of the callback",
		Client:        host.ClientInfo{IP: "198.51.100.7", UserAgent: "Mozilla/5.0"},
	})
	if err != nil || res.Decision != host.DecisionAllowed {
		log.Print("login refused") // fail closed, whatever the cause
		return
	}
	log.Print("logged in")
}

// Uninstall removes the plugin's data for good; the plugin must be
// deactivated first and the confirmation must name it.
func ExamplePlugin_Uninstall() {
	var p *host.Plugin // from host.Start
	ctx := context.Background()
	admin := host.Actor{ID: "1", Username: "admin", IP: "192.0.2.10"}

	if err := p.Deactivate(ctx, admin); err != nil {
		log.Fatalf("deactivate: %v", err)
	}
	removed, err := p.Uninstall(ctx, host.UninstallRequest{Confirm: contract.PluginID, Actor: admin})
	switch host.ReasonOf(err) {
	case "":
		log.Printf("removed %d files", len(removed))
	case contract.ReasonActive:
		log.Print("deactivate the plugin first")
	case contract.ReasonConfirmation:
		log.Print("type the plugin's id to confirm")
	default:
		log.Printf("uninstall failed: %v", err)
	}
}
