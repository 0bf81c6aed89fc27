package mail

import (
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

// StartTLS says whether the SMTP sender upgrades the connection with
// STARTTLS (RFC 3207) before anything else.
type StartTLS string

// StartTLS modes.
const (
	// StartTLSRequired refuses a server that does not offer STARTTLS or
	// whose certificate does not verify. The zero value means this.
	StartTLSRequired StartTLS = "required"
	// StartTLSNone sends in clear: only for a relay without credentials on
	// a trusted network (or a loopback test server, see
	// Config.AllowLoopbackPlainAuth).
	StartTLSNone StartTLS = "none"
)

// DefaultTimeout bounds one Send, connection included, when Config.Timeout
// is zero; a shorter ctx deadline wins.
const DefaultTimeout = 30 * time.Second

// Config is the SMTP sender's configuration. ConfigFromEnv fills the first
// five fields; the others are for code (tests) only.
type Config struct {
	// Addr is the server's host:port ("smtp.example.com:587").
	Addr string
	// From is the sender's address, "helpdesk@example.com" or
	// "Helpdesk <helpdesk@example.com>".
	From string
	// Username and Password, both or neither, log in with AUTH PLAIN.
	Username string
	Password secret.Value
	// StartTLS: "" means StartTLSRequired.
	StartTLS StartTLS

	// Timeout bounds one Send; zero or negative means DefaultTimeout.
	Timeout time.Duration
	// RootCAs verify the server's certificate; nil means the system's.
	RootCAs *x509.CertPool
	// AllowLoopbackPlainAuth lets credentials go without STARTTLS when Addr
	// is localhost, 127.0.0.1 or ::1: for a test server on this machine,
	// never for a real one.
	AllowLoopbackPlainAuth bool
}

// Configured reports whether an SMTP server is set; when it is not, the
// helpdesk keeps its mail in the outbox (the demo).
func (c Config) Configured() bool { return c.Addr != "" }

// The environment variables ConfigFromEnv reads.
const (
	EnvAddr     = "HELPDESK_SMTP_ADDR"
	EnvFrom     = "HELPDESK_SMTP_FROM"
	EnvUsername = "HELPDESK_SMTP_USERNAME"
	EnvPassword = "HELPDESK_SMTP_PASSWORD"
	EnvStartTLS = "HELPDESK_SMTP_STARTTLS"
)

var envNames = map[string]string{
	"Addr": EnvAddr, "From": EnvFrom, "Username": EnvUsername, "Password": EnvPassword, "StartTLS": EnvStartTLS,
}

// ConfigError lists every problem of a configuration, each naming its field
// (or its environment variable) and never the password.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "invalid mail configuration: " + strings.Join(e.Problems, "; ")
}

// ConfigFromEnv reads the SMTP configuration through getenv (os.Getenv, or
// a map's lookup in tests). When none of the variables is set it returns
// the zero Config (not Configured) and no error. Otherwise it returns every
// problem at once as a *ConfigError naming the variables. Values other than
// the password are trimmed (the password is taken as it is) and
// HELPDESK_SMTP_STARTTLS is case-insensitive, "required" when empty.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := Config{
		Addr:     get(EnvAddr),
		From:     get(EnvFrom),
		Username: get(EnvUsername),
		Password: secret.Value(getenv(EnvPassword)),
		StartTLS: StartTLS(strings.ToLower(get(EnvStartTLS))),
	}
	if c == (Config{}) {
		return Config{}, nil
	}
	if p := c.problems(func(f string) string { return envNames[f] }); len(p) > 0 {
		return Config{}, &ConfigError{Problems: p}
	}
	if c.StartTLS == "" {
		c.StartTLS = StartTLSRequired
	}
	return c, nil
}

// Validate returns every problem of c at once as a *ConfigError naming the
// fields.
func (c Config) Validate() error {
	if p := c.problems(func(f string) string { return f }); len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

// problems checks c; name turns a field's name into the one the reader
// knows (the field or its environment variable).
func (c Config) problems(name func(string) string) []string {
	var out []string
	add := func(field, format string, args ...any) {
		out = append(out, name(field)+": "+fmt.Sprintf(format, args...))
	}

	host := ""
	if c.Addr == "" {
		add("Addr", "required (host:port of the SMTP server)")
	} else if h, port, err := net.SplitHostPort(c.Addr); err != nil {
		add("Addr", "want host:port, such as smtp.example.com:587")
	} else if n, err := strconv.Atoi(port); h == "" || err != nil || n < 1 || n > 65535 {
		add("Addr", "want host:port with a port from 1 to 65535, such as smtp.example.com:587")
	} else {
		host = h
	}

	if c.From == "" {
		add("From", "required (the sender's address)")
	} else if _, err := parseAddress(c.From); err != nil {
		add("From", "%v", err)
	}

	creds := c.Username != "" || c.Password.IsSet()
	switch {
	case c.Username == "" && c.Password.IsSet():
		add("Username", "required with %s", name("Password"))
	case c.Username != "" && !c.Password.IsSet():
		add("Password", "required with %s", name("Username"))
	}
	// AUTH PLAIN separates its fields with NUL; a control character in the
	// username could only be an error or an attack on the server.
	if hasControl(c.Username) {
		add("Username", "contains a control character")
	}
	if strings.ContainsRune(c.Password.Reveal(), 0) {
		add("Password", "contains a NUL character, which AUTH PLAIN cannot carry")
	}

	switch c.StartTLS {
	case "", StartTLSRequired:
	case StartTLSNone:
		if creds && !(c.AllowLoopbackPlainAuth && isLoopbackHost(host)) {
			add("StartTLS", "%s would send the password in clear; use %s", StartTLSNone, StartTLSRequired)
		}
	default:
		add("StartTLS", "want %s or %s, not %q", StartTLSRequired, StartTLSNone, string(c.StartTLS))
	}
	return out
}

// isLoopbackHost names the hosts net/smtp's PlainAuth itself accepts
// without TLS, so that the two checks agree.
func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}
