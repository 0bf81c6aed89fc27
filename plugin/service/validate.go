package service

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/helpdesk-duo/duo-plugin/plugin/store"
)

// Limits on what the host may send. Large enough for any real helpdesk,
// small enough that a bad caller cannot fill the database.
const (
	maxIDLen       = 256
	maxUsernameLen = 256
	maxEmailLen    = 320 // RFC 5321 path limit
	maxActorLen    = 256
	maxPageSize    = 500
	defPageSize    = 50
)

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
func validateOperator(op store.Operator) error {
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

// normalizeAlias trims and lower-cases a Duo username alias, as Duo's
// usernames are case-insensitive.
func normalizeAlias(alias string) (string, error) {
	alias = strings.ToLower(strings.TrimSpace(alias))
	if p := checkText("duo_alias", alias, maxUsernameLen, false); p != "" {
		return "", invalid("invalid Duo username alias: %s", p)
	}
	return alias, nil
}
