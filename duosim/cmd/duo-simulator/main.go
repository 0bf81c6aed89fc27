// Command duo-simulator runs the local Duo Universal Prompt simulator
// (package duosim) as a stand-alone HTTPS server, for manual testing and
// for end-to-end tests that run in another process.
//
// On start it prints, one per line on stdout,
//
//	api_host=127.0.0.1:8443
//	ca_file=/abs/path/duo-simulator-ca.pem
//	client_id=DI…
//	client_secret=…
//	spki_sha256=…
//
// and then serves until SIGINT or SIGTERM. Printing the secret is
// deliberate: it is a throw-away credential that only this simulator
// accepts, and the application under test needs it. Logs go to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "duo-simulator:", err)
		os.Exit(2)
	}
}

const usageText = `Usage: duo-simulator [flags]

A local, TLS-speaking simulator of Duo's OIDC "Universal Prompt" API
(/oauth/v1/health_check, /oauth/v1/authorize, /oauth/v1/token), faithful
enough for Duo's own duo_universal_golang client. Each start makes a new CA;
point your Duo client at api_host and make it (and the browser) trust
ca_file, or start Chromium with
--ignore-certificate-errors-spki-list=<spki_sha256>.

It prints api_host=, ca_file=, client_id=, client_secret= and spki_sha256=
lines on stdout, then serves until SIGINT or SIGTERM.

Outcomes (per user, -outcome user=OUTCOME; default interactive, or allow
with -scripted):
  interactive      HTML prompt: enrol page for new users, then Approve/Deny
  allow            redirect at once; auth_result allow
  deny             code whose token says deny (reason user_cancelled)
  fraud            deny/fraud (reason user_marked_fraud)
  locked_out       deny/locked_out (reason locked_out)
  enroll_required  deny (reason deny_unenrolled_user)
  bypass           allow/bypass (reason bypass_user)
  wrong_user       allow, but preferred_username names another user
  slow             allow, but the token call stalls for -slow-delay
  unavailable      authorize and token answer 503

With -unresponsive it is a Duo that accepts connections and never answers:
POSTs to /oauth/v1/health_check and /oauth/v1/token complete TLS, are read,
and get no response until the client gives up or the simulator stops (then
the connection is dropped). The authorize and prompt pages still work.

Flags:
`

// outcomeFlags collects repeated -outcome user=outcome flags.
type outcomeFlags map[string]duosim.Outcome

func (o outcomeFlags) String() string { return "" }

func (o outcomeFlags) Set(v string) error {
	user, name, ok := strings.Cut(v, "=")
	if !ok || user == "" {
		return fmt.Errorf("want user=outcome, got %q", v)
	}
	outcome, err := duosim.ParseOutcome(name)
	if err != nil {
		return err
	}
	o[user] = outcome
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("duo-simulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "address to listen on (port 0 picks a free port)")
	caFile := fs.String("ca-file", "./duo-simulator-ca.pem", "where to write the CA certificate (PEM)")
	clientID := fs.String("client-id", "", "client id to accept: 20 letters or digits (random if empty)")
	clientSecret := fs.String("client-secret", "", "client secret to accept: 40 letters or digits (random if empty)")
	scripted := fs.Bool("scripted", false, "users without an -outcome get allow instead of the interactive prompt")
	codeTTL := fs.Duration("code-ttl", duosim.DefaultCodeTTL, "how long an authorization code stays redeemable")
	slowDelay := fs.Duration("slow-delay", duosim.DefaultSlowDelay, "how long the slow outcome stalls the token call")
	unresponsive := fs.Bool("unresponsive", false, "hold health-check and token requests without ever answering")
	verbose := fs.Bool("v", false, "log every request outcome (to stderr)")
	outcomes := outcomeFlags{}
	fs.Var(outcomes, "outcome", "user=OUTCOME; repeatable")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	app, err := duosim.NewApp()
	if err != nil {
		return err
	}
	if *clientID != "" {
		app.ClientID = *clientID
	}
	if *clientSecret != "" {
		app.ClientSecret = secret.Value(*clientSecret)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sim, err := duosim.Start(startCtx, duosim.Config{
		Addr:      *addr,
		Apps:      []duosim.App{app},
		CAFile:    *caFile,
		CodeTTL:   *codeTTL,
		SlowDelay: *slowDelay,
		Logger:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Scripted:  *scripted,
		Outcomes:  outcomes,
	})
	if err != nil {
		return err
	}
	// Before printing the settings, so no client can reach it answering.
	sim.SetUnresponsive(*unresponsive)
	_, err = fmt.Fprintf(stdout, "api_host=%s\nca_file=%s\nclient_id=%s\nclient_secret=%s\nspki_sha256=%s\n",
		sim.APIHost(), sim.CAFile(), app.ClientID, app.ClientSecret.Reveal(), sim.SPKIHash())
	if err != nil {
		return errors.Join(fmt.Errorf("print settings: %w", err), sim.Close())
	}
	<-ctx.Done()
	return sim.Close()
}
