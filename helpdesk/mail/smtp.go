package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
)

// SMTP sends real mail through one SMTP server (submission, RFC 6409): a
// connection per message, STARTTLS unless configured off, AUTH PLAIN when
// credentials are set, EHLO localhost as net/smtp does. It keeps no copy of what it sends — unlike Outbox, so
// that a recovery link mailed for real is nowhere in the helpdesk database.
// Safe for concurrent use.
type SMTP struct {
	cfg  Config
	from *mail.Address
	host string
}

var _ Sender = (*SMTP)(nil)

// NewSMTP checks cfg (every problem at once, as a *ConfigError) and returns
// the sender. It does not connect: a server that is down shows at Send.
func NewSMTP(cfg Config) (*SMTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StartTLS == "" {
		cfg.StartTLS = StartTLSRequired
	}
	defaults.Set(&cfg.Timeout, DefaultTimeout)
	from, _ := parseAddress(cfg.From) // checked by Validate
	host, _, _ := net.SplitHostPort(cfg.Addr)
	return &SMTP{cfg: cfg, from: from, host: host}, nil
}

// Format prints the sender as its server's address, whatever the verb.
// Without it fmt would print the configuration's password: it cannot call
// secret.Value's redaction through the unexported field that holds it.
func (s *SMTP) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "mail.SMTP(%s)", s.cfg.Addr) }

// Send mails m, all within ctx's deadline and the configured Timeout,
// connection included. The error wraps ErrInvalidMessage,
// ErrStartTLSUnavailable or ErrAuthFailed when it is one of those, and
// ctx's error when the time ran out.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := m.parse()
	if err != nil {
		return err
	}
	msg := compose(s.from, to, m, time.Now())
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.send(ctx, to.Address, msg); err != nil {
		// The connection's deadline is ctx's and reports an i/o timeout,
		// possibly a moment before ctx's own timer fires: say it was the
		// context's, so that callers can branch on it.
		cerr := ctx.Err()
		if cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			cerr = context.DeadlineExceeded
		}
		if cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return fmt.Errorf("send mail via %s: %w", s.cfg.Addr, err)
	}
	return nil
}

func (s *SMTP) send(ctx context.Context, to string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	// net/smtp knows no context: the deadline bounds every read and write,
	// and a cancellation wakes whatever is blocked.
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("read the greeting: %w", err)
	}
	defer c.Close()
	// Hello now, so that a failing EHLO is reported as such rather than as
	// a missing extension (Extension swallows its error).
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if s.cfg.StartTLS == StartTLSRequired {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return ErrStartTLSUnavailable
		}
		if err := c.StartTLS(&tls.Config{ServerName: s.host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, mechs := c.Extension("AUTH"); !ok || !slices.Contains(strings.Fields(strings.ToUpper(mechs)), "PLAIN") {
			return errors.New("log in: the server does not offer AUTH PLAIN")
		}
		// PlainAuth refuses, on its own, to send the password in clear to
		// anything but localhost: a second lock behind Config's check.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password.Reveal(), s.host)); err != nil {
			if tpErr, ok := errors.AsType[*textproto.Error](err); ok {
				return fmt.Errorf("log in as %q: %w: %d %s", s.cfg.Username, ErrAuthFailed, tpErr.Code, tpErr.Msg)
			}
			return fmt.Errorf("log in as %q: %w", s.cfg.Username, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The server has accepted the message: a failing QUIT must not make the
	// caller send it again.
	_ = c.Quit()
	return nil
}
