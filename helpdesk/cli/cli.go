// Package cli is the reference helpdesk's command line: serve, demo,
// plugins install|status|deactivate (the break-glass switch) and user add. The
// command in helpdesk/cmd/helpdesk only calls Main.
package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/auth"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/demo"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
)

const usage = `helpdesk — the reference helpdesk for the Duo Security plugin

Usage:
  helpdesk demo [-addr 127.0.0.1:8080] [-data-dir .data] [-duo-addr 127.0.0.1:8443] [-preconfigure] [-metrics-addr ADDR]
      Build the plugin, start the Duo simulator and the helpdesk, seed demo logins.
  helpdesk serve [-addr 127.0.0.1:8080] [-data-dir .data] [-plugin-dir DIR] [-plugin-keys FILE] [-base-url URL]
                 [-allow-unverified-plugin] [-tls-cert FILE -tls-key FILE] [-metrics-addr 127.0.0.1:9464]
                 [-database-url URL] [-instance NAME]
      Run the helpdesk. Environment: HELPDESK_ADDR, HELPDESK_DATA_DIR, HELPDESK_PLUGIN_DIR,
      HELPDESK_PLUGIN_KEYS, HELPDESK_BASE_URL, HELPDESK_ALLOW_UNVERIFIED_PLUGIN, HELPDESK_TLS_CERT,
      HELPDESK_TLS_KEY, HELPDESK_METRICS_ADDR, HELPDESK_DATABASE_URL, HELPDESK_INSTANCE (flags win).
      DUO_PLUGIN_* variables reach the plugin process.
      With a database URL (PostgreSQL), several instances behind a load balancer share the
      helpdesk's state (schema helpdesk) and the plugin's (DUO_PLUGIN_DATABASE_URL is set to the
      same URL unless already set; the plugin also needs DUO_PLUGIN_SECRETS_KEY, the same on every
      instance). -instance names this one in the logs.
      With -plugin-keys (a file of "duo-plugin-ed25519 <base64>" lines, the pinned release keys) it
      runs only the signed release "plugins install" put in the plugin dir; without, the unsigned
      bundle there (the demo's). With a metrics address, GET /metrics there serves Prometheus
      metrics (off by default).
  helpdesk plugins install [-keys FILE] [-data-dir DIR] [-plugin-dir DIR] ARCHIVE
      Verify a signed release (duo-security-X.Y.Z.tar.gz, or its directory) against the pinned keys
      (-keys, default HELPDESK_PLUGIN_KEYS) and make it the plugin dir's current release. A refused
      bundle changes nothing. It runs from the plugin's next start (restart the helpdesk).
  helpdesk plugins status -data-dir DIR | -database-url URL
      Show whether the Duo Security plugin is installed and active.
  helpdesk plugins deactivate -data-dir DIR | -database-url URL
      Break-glass: mark the plugin inactive in the helpdesk's database, so that
      sign-ins stop requiring Duo. Works while the helpdesk is running.
  helpdesk plugins recovery-link -data-dir DIR -username NAME [-base-url URL]
      Issue a recovery link for an operator who lost their second factor (for
      example the only admin): it is mailed (SMTP, or the outbox) and printed.
  helpdesk user add -data-dir DIR | -database-url URL -username NAME [-email E] [-name N] [-role agent|helpdesk|admin] [-service-account] [-password-stdin]
      Add an operator. Without -password-stdin a random password is generated and printed.
      -service-account marks an API or service account (a program signs in with it).
  helpdesk user service-account -data-dir DIR | -database-url URL -username NAME [-off]
      Mark an operator as a service account (-off: a person again). The Duo plugin lets
      service accounts skip Duo only while its setting allows it.

Common flags: -log-level debug|info|warn|error, -log-format text|json (serve, demo).
`

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr)
	case "plugins":
		err = pluginsCmd(ctx, args[1:], stdout, stderr)
	case "user":
		err = userCmd(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "helpdesk: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "helpdesk: %v\n", err)
		return 1
	}
}

var errUsage = errors.New("usage")

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("helpdesk "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return errUsage
	}
	return nil
}

func env(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

type logFlags struct{ level, format *string }

func addLogFlags(fs *flag.FlagSet) logFlags {
	return logFlags{
		level:  fs.String("log-level", env("HELPDESK_LOG_LEVEL", "info"), "log level: debug, info, warn or error"),
		format: fs.String("log-format", env("HELPDESK_LOG_FORMAT", "text"), "log format: text or json"),
	}
}

func (l logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*l.level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", *l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch *l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("-log-format %q: want text or json", *l.format)
	}
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	addr := fs.String("addr", env("HELPDESK_ADDR", "127.0.0.1:8080"), "listen address")
	dataDir := fs.String("data-dir", env("HELPDESK_DATA_DIR", demo.DefaultDataDir), "data directory (helpdesk.db, plugin data)")
	pluginDir := fs.String("plugin-dir", env("HELPDESK_PLUGIN_DIR", ""), "plugin bundle directory with plugin.json, or with -plugin-keys the install root (default DATA/plugins/duo-security)")
	keysFile := fs.String("plugin-keys", env("HELPDESK_PLUGIN_KEYS", ""), "file of pinned release keys: run only signed releases installed with `helpdesk plugins install`")
	baseURL := fs.String("base-url", env("HELPDESK_BASE_URL", ""), "external URL of the helpdesk (default http://ADDR)")
	unverified := fs.Bool("allow-unverified-plugin", env("HELPDESK_ALLOW_UNVERIFIED_PLUGIN", "") == "true",
		"run a plugin binary whose manifest has no sha256 (development only)")
	tlsCert := fs.String("tls-cert", env("HELPDESK_TLS_CERT", ""), "PEM certificate file: serve HTTPS (with -tls-key)")
	tlsKey := fs.String("tls-key", env("HELPDESK_TLS_KEY", ""), "PEM private key file for -tls-cert")
	metricsAddr := fs.String("metrics-addr", env("HELPDESK_METRICS_ADDR", ""), "listen address of GET /metrics for Prometheus, like 127.0.0.1:9464 (off when empty)")
	db := addDatabaseFlag(fs)
	instance := fs.String("instance", env("HELPDESK_INSTANCE", ""), "name of this instance in the logs, when several share one database (default the host name)")
	lf := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	var keys []ed25519.PublicKey
	if *keysFile != "" {
		if keys, err = readKeys(*keysFile); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	defer ln.Close()
	// The helpdesk's own logger is named by app.New; these lines too.
	clog := log
	if *instance != "" {
		clog = log.With("instance", *instance)
	}
	a, err := app.New(ctx, app.Config{
		Addr:                  ln.Addr().String(),
		DataDir:               *dataDir,
		PluginDir:             *pluginDir,
		PluginKeys:            keys,
		BaseURL:               *baseURL,
		AllowUnverifiedPlugin: *unverified,
		TLSCertFile:           *tlsCert,
		TLSKeyFile:            *tlsKey,
		MetricsAddr:           *metricsAddr,
		Logger:                log,
		DatabaseURL:           db.url(),
		Instance:              *instance,
	})
	if err != nil {
		return err
	}
	defer a.Close()
	ops, err := a.Store().ListOperators(ctx)
	if err == nil && len(ops) == 0 {
		where := "-data-dir " + *dataDir
		if db.url() != "" {
			where = "-database-url URL (or HELPDESK_DATABASE_URL)"
		}
		clog.Warn("no operators yet: add an admin with `helpdesk user add " + where + " -username admin -role admin`")
	}
	if db.url() != "" {
		clog.Info("helpdesk state in PostgreSQL, schema " + store.PostgresSchema + ", shared with the instances on the same database")
	}
	clog.Info("helpdesk listening", "url", a.BaseURL())
	return a.Serve(ctx, ln)
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	addr := fs.String("addr", demo.DefaultAddr, "helpdesk listen address")
	duoAddr := fs.String("duo-addr", demo.DefaultDuoAddr, "Duo simulator listen address")
	dataDir := fs.String("data-dir", demo.DefaultDataDir, "data directory")
	pre := fs.Bool("preconfigure", false, "activate the plugin and save the simulator's credentials in its settings")
	metricsAddr := fs.String("metrics-addr", env("HELPDESK_METRICS_ADDR", ""), "listen address of GET /metrics for Prometheus, like 127.0.0.1:9464 (off when empty)")
	lf := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	return demo.Run(ctx, demo.Config{Addr: *addr, DuoAddr: *duoAddr, DataDir: *dataDir, Preconfigure: *pre, MetricsAddr: *metricsAddr, Logger: log, Out: stdout})
}

// EnvDatabaseURL is -database-url's variable.
const EnvDatabaseURL = "HELPDESK_DATABASE_URL"

// dbFlag is -database-url. Its default, HELPDESK_DATABASE_URL, is read
// after parsing rather than made the flag's default, so that -help never
// prints it (it may hold a password).
type dbFlag struct{ v *string }

func addDatabaseFlag(fs *flag.FlagSet) dbFlag {
	return dbFlag{fs.String("database-url", "",
		"PostgreSQL database shared by several instances (schema "+store.PostgresSchema+"; default $"+EnvDatabaseURL+"; prefer the variable: a flag shows in ps)")}
}

func (d dbFlag) url() string {
	if *d.v != "" {
		return *d.v
	}
	return strings.TrimSpace(os.Getenv(EnvDatabaseURL))
}

// where names the helpdesk's database for messages: never the URL.
func where(dataDir, dbURL string) string {
	if dbURL != "" {
		return "the shared PostgreSQL database (schema " + store.PostgresSchema + ")"
	}
	return "the helpdesk at " + dataDir
}

// openStore opens an existing helpdesk database; it refuses to create one
// (a typo in -data-dir must not look like "nothing installed"). With a
// database URL it opens the shared PostgreSQL schema instead (created if
// need be: an admin seeds a new deployment this way).
func openStore(ctx context.Context, dataDir, dbURL string) (*store.Store, error) {
	if dbURL != "" {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return store.OpenPostgres(cctx, dbURL)
	}
	if dataDir == "" {
		return nil, errors.New("-data-dir is required")
	}
	path := app.DBPath(dataDir)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no helpdesk database at %s (is -data-dir right?): %w", path, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return store.Open(cctx, path)
}

func pluginsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: helpdesk plugins install|status|deactivate|recovery-link -data-dir DIR\n")
		return errUsage
	}
	sub := args[0]
	switch sub {
	case "recovery-link":
		return recoveryLinkCmd(ctx, args[1:], stdout, stderr)
	case "install":
		return installCmd(ctx, args[1:], stdout, stderr)
	}
	if sub != "status" && sub != "deactivate" {
		fmt.Fprintf(stderr, "helpdesk plugins: unknown command %q (want install, status, deactivate or recovery-link)\n", sub)
		return errUsage
	}
	fs := newFlags("plugins "+sub, stderr)
	dataDir := fs.String("data-dir", env("HELPDESK_DATA_DIR", ""), "the helpdesk's data directory")
	db := addDatabaseFlag(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	st, err := openStore(ctx, *dataDir, db.url())
	if err != nil {
		return err
	}
	defer st.Close()
	rec, err := st.Plugin(ctx, plugins.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !rec.Installed) {
		fmt.Fprintf(stdout, "Duo Security (%s) is not installed in %s.\n", plugins.ID, where(*dataDir, db.url()))
		return nil
	}
	if err != nil {
		return err
	}
	if sub == "status" {
		state := "inactive"
		if rec.Active {
			state = "ACTIVE (sign-ins of Duo-enabled operators need Duo; they fail closed while the plugin is down)"
		}
		fmt.Fprintf(stdout, "Plugin:   Duo Security (%s) %s\n", rec.ID, rec.Version)
		fmt.Fprintf(stdout, "State:    %s\n", state)
		fmt.Fprintf(stdout, "Bundle:   %s\n", rec.BundleDir)
		// An install root (plugins install): the release the next start
		// runs, when serve pins the release keys.
		if mp, err := host.CurrentManifest(rec.BundleDir); err == nil {
			fmt.Fprintf(stdout, "Release:  %s (signed; run by serve -plugin-keys)\n", filepath.Dir(mp))
		}
		fmt.Fprintf(stdout, "Data:     %s\n", rec.DataDir)
		fmt.Fprintf(stdout, "Changed:  %s by %s\n", rec.UpdatedAt.Local().Format(time.RFC3339), rec.UpdatedBy)
		return nil
	}
	if !rec.Active {
		fmt.Fprintf(stdout, "Duo Security is already inactive in %s; nothing to do.\n", where(*dataDir, db.url()))
		return nil
	}
	by := "shell (break-glass)"
	if u := os.Getenv("USER"); u != "" {
		by = "shell user " + u + " (break-glass)"
	}
	if err := st.SetPluginActive(ctx, plugins.ID, false, by); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Duo Security is now INACTIVE in %s.\n", where(*dataDir, db.url()))
	fmt.Fprintf(stdout, "Sign-ins no longer ask Duo, from the next sign-in on, even while the helpdesk runs (every instance on it);\n")
	fmt.Fprintf(stdout, "operators who set up an authenticator app are still asked for its code.\n")
	fmt.Fprintf(stdout, "Its settings are kept. Re-activate it on the Plugins page once Duo works again.\n")
	return nil
}

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func userCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "service-account" {
		return serviceAccountCmd(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprint(stderr, "usage: helpdesk user add -data-dir DIR -username NAME [-email E] [-name N] [-role agent|helpdesk|admin] [-service-account] [-password-stdin]\n"+
			"       helpdesk user service-account -data-dir DIR | -database-url URL -username NAME [-off]\n")
		return errUsage
	}
	fs := newFlags("user add", stderr)
	dataDir := fs.String("data-dir", env("HELPDESK_DATA_DIR", demo.DefaultDataDir), "the helpdesk's data directory")
	username := fs.String("username", "", "username (letters, digits, '.', '_', '-')")
	email := fs.String("email", "", "e-mail address")
	name := fs.String("name", "", "display name")
	role := fs.String("role", store.RoleAgent, "agent, helpdesk or admin")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	service := fs.Bool("service-account", false, "an API or service account: a program signs in with it, not a person")
	db := addDatabaseFlag(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if !usernamePattern.MatchString(*username) {
		return errors.New("-username is required: 1 to 64 letters, digits, '.', '_' or '-'")
	}
	if *role != store.RoleAgent && *role != store.RoleHelpDesk && *role != store.RoleAdmin {
		return fmt.Errorf("-role %q: want %s, %s or %s", *role, store.RoleAgent, store.RoleHelpDesk, store.RoleAdmin)
	}
	password, generated := "", false
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	} else {
		tok, err := auth.NewToken()
		if err != nil {
			return err
		}
		password, generated = tok[:20], true
	}
	hash, err := auth.HashPassword(password, 0)
	if err != nil {
		return err
	}
	var st *store.Store
	if db.url() != "" {
		st, err = openStore(ctx, "", db.url())
	} else {
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st, err = store.Open(cctx, app.DBPath(*dataDir))
	}
	if err != nil {
		return err
	}
	defer st.Close()
	op, err := st.CreateOperator(ctx, store.NewOperator{Username: *username, Email: *email, DisplayName: *name, Role: *role, PasswordHash: hash,
		ServiceAccount: *service})
	if err != nil {
		return err
	}
	kind := ""
	if op.ServiceAccount {
		kind = " service account"
	}
	fmt.Fprintf(stdout, "Added %s%s %s (id %d).\n", op.Role, kind, op.Username, op.ID)
	if generated {
		fmt.Fprintf(stdout, "Password: %s\n(shown once; the helpdesk keeps only its hash)\n", password)
	}
	return nil
}

// serviceAccountCmd marks an existing operator as a service account, or a
// person again.
func serviceAccountCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("user service-account", stderr)
	dataDir := fs.String("data-dir", env("HELPDESK_DATA_DIR", ""), "the helpdesk's data directory")
	username := fs.String("username", "", "the operator's username")
	off := fs.Bool("off", false, "mark the operator as a person again")
	db := addDatabaseFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *username == "" {
		return errors.New("-username is required")
	}
	st, err := openStore(ctx, *dataDir, db.url())
	if err != nil {
		return err
	}
	defer st.Close()
	op, err := st.OperatorByUsername(ctx, *username)
	if err != nil {
		return err
	}
	if err := st.SetServiceAccount(ctx, op.ID, !*off); err != nil {
		return err
	}
	if *off {
		fmt.Fprintf(stdout, "%s is no longer a service account.\n", op.Username)
	} else {
		fmt.Fprintf(stdout, "%s is now a service account. It skips Duo only while the plugin's setting \"Let service accounts sign in without Duo\" is on.\n", op.Username)
	}
	return nil
}

// readKeys reads a file of pinned release keys (host.ParsePublicKeys).
func readKeys(path string) ([]ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plugin keys: %w", err)
	}
	keys, err := host.ParsePublicKeys(data)
	if err != nil {
		return nil, fmt.Errorf("plugin keys %s: %w", path, err)
	}
	return keys, nil
}

// installCmd installs a signed release into the install root that serve
// runs with -plugin-keys. It needs no helpdesk database and may run while
// the helpdesk does: the running plugin keeps its release until its next
// start.
func installCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plugins install", stderr)
	keysFile := fs.String("keys", env("HELPDESK_PLUGIN_KEYS", ""), "file of pinned release keys (\"duo-plugin-ed25519 <base64>\" lines)")
	dataDir := fs.String("data-dir", env("HELPDESK_DATA_DIR", demo.DefaultDataDir), "the helpdesk's data directory")
	pluginDir := fs.String("plugin-dir", env("HELPDESK_PLUGIN_DIR", ""), "the install root (default DATA/plugins/duo-security)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, "usage: helpdesk plugins install [-keys FILE] [-data-dir DIR] [-plugin-dir DIR] ARCHIVE\n")
		return errUsage
	}
	if *keysFile == "" {
		return errors.New("plugins install: -keys (or HELPDESK_PLUGIN_KEYS) is required: a release is installed only if a pinned key signed it")
	}
	keys, err := readKeys(*keysFile)
	if err != nil {
		return err
	}
	root := *pluginDir
	if root == "" {
		root = app.DefaultBundleDir(*dataDir)
	}
	if root, err = filepath.Abs(root); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	inst, err := host.Install(cctx, fs.Arg(0), root, keys)
	if err != nil {
		// The SDK's message says what failed; Install changed nothing.
		return fmt.Errorf("%w\nNothing was changed: the installed release, if any, stays current", err)
	}
	fmt.Fprintf(stdout, "Installed Duo Security %s (signed by key %s) in %s.\n", inst.Version, inst.KeyID, inst.Dir)
	if inst.Previous != "" {
		fmt.Fprintf(stdout, "The previous release is kept in %s.\n", inst.Previous)
	}
	fmt.Fprintf(stdout, "It runs from the plugin's next start: restart the helpdesk (serve -plugin-keys %s -plugin-dir %s).\n", *keysFile, root)
	return nil
}
