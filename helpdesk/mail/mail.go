// Package mail sends the reference helpdesk's mail: recovery links and
// second-factor notices to operators. A Sender is either SMTP (real mail)
// or Outbox (the demo's stand-in when no SMTP server is configured, which
// keeps each message in the helpdesk database for an admin page).
//
// The package logs nothing: a message body may hold a recovery link and the
// configuration holds a password, so callers log outcomes (an operator id,
// "sent" or the error), and errors never carry a password, a subject or a
// body.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sender sends one message. Implementations are safe for concurrent use.
type Sender interface {
	// Send delivers m, or hands it to whatever stands in for delivery, by
	// ctx's deadline. A message that fails Validate is refused with
	// ErrInvalidMessage before anything is sent or stored.
	Send(ctx context.Context, m Message) error
}

// Message is one plain-text mail to one recipient.
type Message struct {
	// To is one address, "alice@example.com" or "Alice <alice@example.com>",
	// as net/mail.ParseAddress reads it; the address itself must be ASCII
	// (SMTPUTF8 is not supported).
	To string
	// Subject is one line: no line breaks or other control characters, at
	// most MaxSubjectRunes. Non-ASCII is encoded (RFC 2047).
	Subject string
	// Text is the UTF-8 body. Any line ending is accepted; it is sent
	// quoted-printable, so nothing in it can end the headers or the DATA
	// command.
	Text string
}

// MaxSubjectRunes bounds a subject so that even unfolded it stays within
// RFC 5322's 998-character line limit.
const MaxSubjectRunes = 200

// Errors callers branch on.
var (
	// ErrInvalidMessage: the message was refused before anything was sent;
	// the error names each field at fault.
	ErrInvalidMessage = errors.New("invalid mail message")
	// ErrStartTLSUnavailable: STARTTLS is required and the server does not
	// offer it; nothing, credentials least of all, was sent.
	ErrStartTLSUnavailable = errors.New("the SMTP server does not offer STARTTLS")
	// ErrAuthFailed: the SMTP server refused the credentials.
	ErrAuthFailed = errors.New("the SMTP server refused the credentials")
)

// Validate reports every problem of m at once, wrapping ErrInvalidMessage.
// The error names fields, never their values: an address is personal and a
// body may hold a secret.
func (m Message) Validate() error {
	_, err := m.parse()
	return err
}

// parse validates m and returns its parsed recipient.
func (m Message) parse() (*mail.Address, error) {
	var problems []string
	to, err := parseAddress(m.To)
	if err != nil {
		problems = append(problems, "To: "+err.Error())
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		problems = append(problems, "Subject: required")
	case !utf8.ValidString(m.Subject):
		problems = append(problems, "Subject: not valid UTF-8")
	case hasControl(m.Subject):
		problems = append(problems, "Subject: contains a line break or another control character")
	case utf8.RuneCountInString(m.Subject) > MaxSubjectRunes:
		problems = append(problems, fmt.Sprintf("Subject: longer than %d characters", MaxSubjectRunes))
	}
	if !utf8.ValidString(m.Text) {
		problems = append(problems, "Text: not valid UTF-8")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidMessage, strings.Join(problems, "; "))
	}
	return to, nil
}

// parseAddress reads one address for a header and an SMTP envelope. The
// control-character check comes first because a line break is how a value
// would smuggle in headers or SMTP commands.
func parseAddress(s string) (*mail.Address, error) {
	switch {
	case strings.TrimSpace(s) == "":
		return nil, errors.New("required")
	case !utf8.ValidString(s):
		return nil, errors.New("not valid UTF-8")
	case hasControl(s):
		return nil, errors.New("contains a line break or another control character")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, errors.New("not one e-mail address")
	}
	if !isASCII(a.Address) {
		return nil, errors.New("the address must be ASCII (internationalised addresses are not supported)")
	}
	return a, nil
}

// hasControl reports C0 and C1 controls, DEL and the Unicode line and
// paragraph separators: none belongs in a one-line header value.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
