package hooks

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Limits on what the host may send. Large enough for any real helpdesk,
// small enough that a bad caller cannot fill the database.
const (
	maxIDLen       = 256
	maxUsernameLen = 256
	maxEmailLen    = 320 // RFC 5321 path limit
	maxActorLen    = 256
	maxIDsPerCall  = 10_000
	maxPageSize    = 500 // of every paged list
	defPageSize    = 50  // of ListEnabledOperators
	defNoticesPage = 100 // of ListNotices
	maxCallbackLen = 256 // Duo's limit on redirect_uri
)

// pageSize is the page a caller asked for: zero (or negative) takes def,
// and no page exceeds maxPageSize.
func pageSize(asked int32, def int) int {
	n := int(asked)
	defaults.Set(&n, def)
	return min(n, maxPageSize)
}

// checkText validates one host-supplied string and returns a problem
// description, or "".
func checkText(field, v string, max int, required bool) string {
	switch {
	case required && strings.TrimSpace(v) == "":
		return fmt.Sprintf("%s is required", field)
	case len(v) > max:
		return fmt.Sprintf("%s is %d bytes long; at most %d are allowed", field, len(v), max)
	case !utf8.ValidString(v):
		return fmt.Sprintf("%s is not valid UTF-8", field)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return fmt.Sprintf("%s contains control characters", field)
	}
	return ""
}

// validateOperator checks an operator from the host and reports every
// problem at once.
func validateOperator(op contract.Operator) error {
	var problems []string
	for _, p := range []string{
		checkText("operator.id", op.ID, maxIDLen, true),
		checkText("operator.username", op.Username, maxUsernameLen, true),
		checkText("operator.email", op.Email, maxEmailLen, false),
	} {
		if p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return invalid("invalid operator: %s", strings.Join(problems, "; "))
	}
	return nil
}

// validateCallbackURL checks the host's Duo callback URL: absolute https,
// or http on a loopback address (development), no credentials, within
// Duo's length limit. Empty is allowed: logins then are denied as not
// configured.
func validateCallbackURL(raw string) error {
	if raw == "" {
		return nil
	}
	if len(raw) > maxCallbackLen {
		return invalid("activate: callback URL is %d characters; Duo accepts at most %d", len(raw), maxCallbackLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return invalid("activate: callback URL must be an absolute URL without credentials or fragment, like https://helpdesk.example.com/login/duo/callback")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
		return invalid("activate: callback URL must use https (plain http is allowed only on a loopback address)")
	}
	return invalid("activate: callback URL must use https")
}
