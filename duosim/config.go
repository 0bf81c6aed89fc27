package duosim

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

// Defaults applied by Start to zero-valued Config fields.
const (
	DefaultAddr      = "127.0.0.1:0"
	DefaultCodeTTL   = 60 * time.Second
	DefaultSlowDelay = 30 * time.Second
)

// Config configures a simulator. The zero value is usable: it listens on a
// random loopback port with one randomly generated app, shows the
// interactive prompt to every user and logs nothing.
type Config struct {
	// Addr is the TCP address to listen on. Default DefaultAddr.
	Addr string

	// Apps are the Web SDK applications the simulator accepts. Each
	// ClientID must be 20 and each ClientSecret 40 ASCII letters or digits
	// (the lengths duo_universal_golang insists on). If empty, one random
	// app is generated; read it back with Server.Apps.
	Apps []App

	// CAFile is where the PEM of the simulator's CA certificate is written.
	// If empty, it goes into a temporary directory that Close removes; a
	// named file is left in place on Close.
	CAFile string

	// CodeTTL is how long an authorization code stays redeemable.
	// Default DefaultCodeTTL.
	CodeTTL time.Duration

	// SlowDelay is how long a token request for a user scripted with
	// OutcomeSlow stalls. The stall ends early when the request's context
	// ends or the server closes. Default DefaultSlowDelay.
	SlowDelay time.Duration

	// Now is the simulator's clock for JWT validation, code expiry and the
	// times it puts in tokens. It does not affect TLS certificate validity.
	// Default time.Now.
	Now func() time.Time

	// Logger receives one record per request outcome. It never receives a
	// secret, code, state, JWT or query string. Default: discard.
	Logger *slog.Logger

	// Scripted makes users without a scripted outcome get OutcomeAllow
	// instead of OutcomeInteractive.
	Scripted bool

	// Outcomes are initial per-username outcomes, as if SetOutcome had been
	// called for each before the first request.
	Outcomes map[string]Outcome
}

// App is a Duo Web SDK application: the client id and secret an
// integration is configured with. The secret is a secret.Value, so every
// printed, logged or encoded form of an App redacts it; Reveal it where it
// is handed to a Duo client.
type App struct {
	ClientID     string
	ClientSecret secret.Value
}

const (
	clientIDLength     = 20
	clientSecretLength = 40
	upperAlnum         = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alnum              = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// NewApp returns a random valid app: a client id of "DI" and 18 upper-case
// letters or digits, and a secret of 40 letters or digits, like Duo issues.
func NewApp() (App, error) {
	id, err := randomString(clientIDLength-2, upperAlnum)
	if err != nil {
		return App{}, fmt.Errorf("generate client id: %w", err)
	}
	clientSecret, err := randomString(clientSecretLength, alnum)
	if err != nil {
		return App{}, fmt.Errorf("generate client secret: %w", err)
	}
	return App{ClientID: "DI" + id, ClientSecret: secret.Value(clientSecret)}, nil
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(alnum, rune(s[i])) {
			return false
		}
	}
	return true
}

// withDefaults validates cfg and fills in defaults. Every problem is
// reported at once, each naming its field.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	switch {
	case cfg.CodeTTL == 0:
		cfg.CodeTTL = DefaultCodeTTL
	case cfg.CodeTTL < 0:
		errs = append(errs, fmt.Errorf("CodeTTL: must not be negative, got %v", cfg.CodeTTL))
	}
	switch {
	case cfg.SlowDelay == 0:
		cfg.SlowDelay = DefaultSlowDelay
	case cfg.SlowDelay < 0:
		errs = append(errs, fmt.Errorf("SlowDelay: must not be negative, got %v", cfg.SlowDelay))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Apps) == 0 {
		app, err := NewApp()
		if err != nil {
			errs = append(errs, fmt.Errorf("Apps: %w", err))
		}
		cfg.Apps = []App{app}
	} else {
		cfg.Apps = append([]App(nil), cfg.Apps...)
	}
	seen := make(map[string]bool, len(cfg.Apps))
	for i, a := range cfg.Apps {
		if len(a.ClientID) != clientIDLength || !isAlnum(a.ClientID) {
			errs = append(errs, fmt.Errorf("Apps[%d].ClientID: must be %d ASCII letters or digits", i, clientIDLength))
		}
		if len(a.ClientSecret) != clientSecretLength || !isAlnum(a.ClientSecret.Reveal()) {
			errs = append(errs, fmt.Errorf("Apps[%d].ClientSecret: must be %d ASCII letters or digits", i, clientSecretLength))
		}
		if seen[a.ClientID] {
			errs = append(errs, fmt.Errorf("Apps[%d].ClientID: duplicate client id %q", i, a.ClientID))
		}
		seen[a.ClientID] = true
	}
	outcomes := make(map[string]Outcome, len(cfg.Outcomes))
	for user, o := range cfg.Outcomes {
		if !o.valid() {
			errs = append(errs, fmt.Errorf("config field Outcomes[%q]: unknown outcome %q", user, string(o)))
		}
		outcomes[user] = o
	}
	cfg.Outcomes = outcomes
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("duosim: invalid config: %w", err)
	}
	return cfg, nil
}
