package mail_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/internal/secret/secrettest"
)

const (
	testUser = "helpdesk-mailer"
	testPass = "correct horse battery staple"
)

func newSMTP(t *testing.T, c mail.Config) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tlsConfig is the configuration of a sender for ts with STARTTLS and the
// right credentials.
func tlsConfig(ts *testServer) mail.Config {
	return mail.Config{
		Addr:     ts.Addr,
		From:     "Helpdesk <helpdesk@example.com>",
		Username: testUser,
		Password: secret.Value(testPass),
		RootCAs:  ts.Roots,
	}
}

// parsed is a received message read back the way a mail client would.
type parsed struct {
	Header netmail.Header
	Raw    string
	Body   string // quoted-printable decoded
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n") {
		// RFC 5322 recommends 78; RFC 2047 requires 76 on a line with an
		// encoded word.
		if max := 78; len(line) > max || strings.Contains(line, "=?") && len(line) > 76 {
			t.Errorf("line %d is %d characters long: %q", i+1, len(line), line)
		}
		if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
			t.Errorf("line %d ends with white space: %q", i+1, line)
		}
	}
	if bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("a bare LF in the message")
	}
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read the message: %v\n%s", err, data)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("decode the body: %v", err)
	}
	return parsed{Header: m.Header, Raw: string(data), Body: string(body)}
}

func TestSMTPDelivers(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{TLS: true, User: testUser, Pass: testPass})
	s := newSMTP(t, tlsConfig(ts))
	text := "Hello Alice,\n\nopen https://helpdesk.example/recover?token=abc=def within 15 minutes.\n" +
		".\n" + // alone on a line, it would end DATA without dot-stuffing
		"Trailing space \n" +
		strings.Repeat("A long line that quoted-printable must break softly. ", 4) + "\n" +
		"Grüße, the helpdesk"
	before := time.Now().Truncate(time.Second)
	err := s.Send(t.Context(), mail.Message{To: "Alice Example <alice@example.com>", Subject: "Your recovery link", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	mails := ts.Mails()
	if len(mails) != 1 {
		t.Fatalf("the server received %d mails", len(mails))
	}
	got := mails[0]
	if got.From != "helpdesk@example.com" || len(got.To) != 1 || got.To[0] != "alice@example.com" || !got.TLS {
		t.Fatalf("envelope: from %q to %q over TLS %t", got.From, got.To, got.TLS)
	}
	if l := ts.Logins(); len(l) != 1 || l[0] != (login{Username: testUser, TLS: true, OK: true}) {
		t.Fatalf("logins: %+v", l)
	}
	p := parse(t, got.Data)
	for name, want := range map[string]string{
		"From":                      `"Helpdesk" <helpdesk@example.com>`,
		"To":                        `"Alice Example" <alice@example.com>`,
		"Subject":                   "Your recovery link",
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Auto-Submitted":            "auto-generated",
	} {
		if v := p.Header.Get(name); v != want {
			t.Errorf("%s: %q, want %q", name, v, want)
		}
	}
	if date, err := p.Header.Date(); err != nil || date.Before(before) || date.After(after) {
		t.Errorf("Date: %v, %v; want between %v and %v", date, err, before, after)
	}
	if id := p.Header.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{32}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID: %q", id)
	}
	if want := strings.ReplaceAll(text, "\n", "\r\n") + "\r\n"; p.Body != want {
		t.Errorf("body:\n%q\nwant\n%q", p.Body, want)
	}

	// Each message has its own Message-ID.
	if err := s.Send(t.Context(), mail.Message{To: "alice@example.com", Subject: "again", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	mails = ts.Mails()
	second := parse(t, mails[1].Data)
	if a, b := p.Header.Get("Message-ID"), second.Header.Get("Message-ID"); a == b {
		t.Errorf("two messages share the Message-ID %s", a)
	}
	if to := second.Header.Get("To"); to != "alice@example.com" {
		t.Errorf("a bare address is written as it is: To: %q", to)
	}
}

func TestSMTPSubjects(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{TLS: true, User: testUser, Pass: testPass})
	s := newSMTP(t, tlsConfig(ts))
	dec := new(mime.WordDecoder)
	for _, tc := range []struct {
		name    string
		subject string
		encoded bool
	}{
		{"ASCII as it is", "Your second factor changed", false},
		{"long ASCII folded", strings.Repeat("word ", 30) + "end", false},
		{"non-ASCII encoded", "Ihr Zugang für Zoë", true},
		{"long non-ASCII encoded and folded", strings.Repeat("Wiederherstellungslink für Zoë — ", 5) + "Ende", true},
		{"non-Latin", "二要素認証が変更されました", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(ts.Mails())
			if err := s.Send(t.Context(), mail.Message{To: "alice@example.com", Subject: tc.subject, Text: "x"}); err != nil {
				t.Fatal(err)
			}
			p := parse(t, ts.Mails()[n].Data)
			raw := p.Header.Get("Subject")
			if tc.encoded != strings.HasPrefix(raw, "=?utf-8?q?") {
				t.Errorf("raw Subject %q: encoded = %t, want %t", raw, !tc.encoded, tc.encoded)
			}
			if !tc.encoded && raw != tc.subject {
				t.Errorf("Subject %q, want %q", raw, tc.subject)
			}
			if tc.encoded {
				if got, err := dec.DecodeHeader(raw); err != nil || got != tc.subject {
					t.Errorf("decoded Subject %q, %v; want %q", got, err, tc.subject)
				}
			}
		})
	}
}

func TestSMTPWrongCredentials(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{TLS: true, User: testUser, Pass: testPass})
	c := tlsConfig(ts)
	c.Password = "wrong password"
	err := newSMTP(t, c).Send(t.Context(), mail.Message{To: "alice@example.com", Subject: "s", Text: "secret link"})
	if !errors.Is(err, mail.ErrAuthFailed) {
		t.Fatalf("Send = %v, want ErrAuthFailed", err)
	}
	want := `send mail via ` + ts.Addr + `: log in as "helpdesk-mailer": the SMTP server refused the credentials: 535 5.7.8 Authentication failed`
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant\n%s", err, want)
	}
	if l := ts.Logins(); len(l) != 1 || l[0] != (login{Username: testUser, TLS: true, OK: false}) {
		t.Errorf("logins: %+v", l)
	}
	if n := len(ts.Mails()); n != 0 {
		t.Errorf("%d mails received", n)
	}
}

// A server that never answers must not hold a recovery page longer than
// its budget.
func TestSMTPServerNeverAnswers(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	const budget = 300 * time.Millisecond
	for _, tc := range []struct {
		name    string
		ctx     func(t *testing.T) context.Context
		timeout time.Duration
		want    error
	}{
		{"ctx deadline", func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), budget)
			t.Cleanup(cancel)
			return ctx
		}, 0, context.DeadlineExceeded},
		{"configured timeout", func(t *testing.T) context.Context { return t.Context() }, budget, context.DeadlineExceeded},
		{"ctx canceled", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(budget, cancel)
			t.Cleanup(cancel)
			return ctx
		}, 0, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSMTP(t, mail.Config{Addr: addr, From: "helpdesk@example.com", Timeout: tc.timeout})
			start := time.Now()
			err := s.Send(tc.ctx(t), mail.Message{To: "alice@example.com", Subject: "s", Text: "t"})
			took := time.Since(start)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Send = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "read the greeting") {
				t.Errorf("error does not say what was under way: %v", err)
			}
			if took < budget-10*time.Millisecond || took > budget+3*time.Second {
				t.Errorf("Send took %v, want about %v", took, budget)
			}
		})
	}
}

// STARTTLS is required and the server does not offer it, though it would
// take a password in clear: nothing is sent, the credentials least of all.
func TestSMTPStartTLSNotOffered(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{User: testUser, Pass: testPass, InsecureAuth: true})
	c := tlsConfig(ts)
	err := newSMTP(t, c).Send(t.Context(), mail.Message{To: "alice@example.com", Subject: "s", Text: "t"})
	if !errors.Is(err, mail.ErrStartTLSUnavailable) {
		t.Fatalf("Send = %v, want ErrStartTLSUnavailable", err)
	}
	if l := ts.Logins(); len(l) != 0 {
		t.Errorf("logins: %+v", l)
	}
	if n := len(ts.Mails()); n != 0 {
		t.Errorf("%d mails received", n)
	}
	assertNoCredentialsOnWire(t, ts.Wire())
}

// A certificate the sender does not trust ends the session before AUTH.
func TestSMTPUntrustedCertificate(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{TLS: true, User: testUser, Pass: testPass})
	c := tlsConfig(ts)
	c.RootCAs = nil // the system's roots, which do not know the throwaway CA
	err := newSMTP(t, c).Send(t.Context(), mail.Message{To: "alice@example.com", Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send = %v, want a STARTTLS certificate error", err)
	}
	if l := ts.Logins(); len(l) != 0 {
		t.Errorf("logins: %+v", l)
	}
	assertNoCredentialsOnWire(t, ts.Wire())
}

// assertNoCredentialsOnWire checks the transcript of both directions (the
// server's own "250-AUTH PLAIN" offer aside) for a login or a transaction.
func assertNoCredentialsOnWire(t *testing.T, wire string) {
	t.Helper()
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPass))
	if strings.Contains(wire, plain) || strings.Contains(wire, testPass) {
		t.Errorf("credentials on the wire:\n%s", wire)
	}
	for _, line := range strings.Split(wire, "\n") {
		if cmd := strings.ToUpper(line); strings.HasPrefix(cmd, "AUTH") || strings.HasPrefix(cmd, "MAIL") {
			t.Errorf("the client sent %q:\n%s", line, wire)
		}
	}
	if !strings.Contains(wire, "EHLO") {
		t.Errorf("no EHLO in the transcript; is it recorded?\n%s", wire)
	}
}

// Without STARTTLS, credentials are allowed only when the configuration
// says so and the server is on this machine.
func TestSMTPLoopbackPlainAuth(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{User: testUser, Pass: testPass, InsecureAuth: true})
	c := tlsConfig(ts)
	c.StartTLS = mail.StartTLSNone
	if _, err := mail.NewSMTP(c); err == nil || !strings.Contains(err.Error(), "StartTLS: none would send the password in clear") {
		t.Fatalf("credentials in clear without the loopback allowance: %v", err)
	}
	c.AllowLoopbackPlainAuth = true
	if err := newSMTP(t, c).Send(t.Context(), mail.Message{To: "alice@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if l := ts.Logins(); len(l) != 1 || l[0] != (login{Username: testUser, TLS: false, OK: true}) {
		t.Errorf("logins: %+v", l)
	}
	if n := len(ts.Mails()); n != 1 {
		t.Errorf("%d mails received", n)
	}
}

// No credentials and STARTTLS off: a relay on a trusted network.
func TestSMTPPlainRelay(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	s := newSMTP(t, mail.Config{Addr: ts.Addr, From: "helpdesk@example.com", StartTLS: mail.StartTLSNone})
	if err := s.Send(t.Context(), mail.Message{To: "bob@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if m := ts.Mails(); len(m) != 1 || m[0].TLS || m[0].To[0] != "bob@example.com" {
		t.Fatalf("mails: %+v", m)
	}
}

// Header injection and other invalid messages are refused before any
// connection is made.
func TestSMTPRefusesInvalidMessages(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{TLS: true, User: testUser, Pass: testPass})
	s := newSMTP(t, tlsConfig(ts))
	ok := mail.Message{To: "alice@example.com", Subject: "s", Text: "t"}
	with := func(f func(*mail.Message)) mail.Message { m := ok; f(&m); return m }
	for _, tc := range []struct {
		name string
		msg  mail.Message
		want string
	}{
		{"CRLF in To", with(func(m *mail.Message) { m.To = "alice@example.com\r\nBcc: eve@example.com" }),
			"To: contains a line break or another control character"},
		{"LF in To", with(func(m *mail.Message) { m.To = "alice@example.com\nBcc: eve@example.com" }),
			"To: contains a line break or another control character"},
		{"two recipients", with(func(m *mail.Message) { m.To = "alice@example.com, eve@example.com" }), "To: not one e-mail address"},
		{"not an address", with(func(m *mail.Message) { m.To = "alice" }), "To: not one e-mail address"},
		{"no To", with(func(m *mail.Message) { m.To = " " }), "To: required"},
		{"non-ASCII address", with(func(m *mail.Message) { m.To = "zoë@example.com" }),
			"To: the address must be ASCII (internationalised addresses are not supported)"},
		{"CRLF in Subject", with(func(m *mail.Message) { m.Subject = "Hello\r\nBcc: eve@example.com" }),
			"Subject: contains a line break or another control character"},
		{"CR in Subject", with(func(m *mail.Message) { m.Subject = "Hello\rBcc: eve@example.com" }),
			"Subject: contains a line break or another control character"},
		{"LF in Subject", with(func(m *mail.Message) { m.Subject = "Hello\n\nbody" }),
			"Subject: contains a line break or another control character"},
		{"NEL in Subject", with(func(m *mail.Message) { m.Subject = "Hello\u0085Bcc: eve@example.com" }),
			"Subject: contains a line break or another control character"},
		{"line separator in Subject", with(func(m *mail.Message) { m.Subject = "Hello\u2028x" }),
			"Subject: contains a line break or another control character"},
		{"no Subject", with(func(m *mail.Message) { m.Subject = "" }), "Subject: required"},
		{"Subject too long", with(func(m *mail.Message) { m.Subject = strings.Repeat("é", 201) }), "Subject: longer than 200 characters"},
		{"Subject not UTF-8", with(func(m *mail.Message) { m.Subject = "\xff" }), "Subject: not valid UTF-8"},
		{"Text not UTF-8", with(func(m *mail.Message) { m.Text = "a\xffb" }), "Text: not valid UTF-8"},
		{"every problem at once", mail.Message{To: "a@b.example\r\n", Subject: "x\ny", Text: "\xff"},
			"To: contains a line break or another control character; Subject: contains a line break or another control character; Text: not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Send(t.Context(), tc.msg)
			if !errors.Is(err, mail.ErrInvalidMessage) {
				t.Fatalf("Send = %v, want ErrInvalidMessage", err)
			}
			if want := "invalid mail message: " + tc.want; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if err := tc.msg.Validate(); err == nil {
				t.Error("Validate accepts it")
			}
		})
	}
	if n := ts.Sessions(); n != 0 {
		t.Errorf("%d connections for refused messages", n)
	}
}

// Nothing in the body can end the headers or the DATA command: it arrives
// as one message, with the headers the sender wrote and the body intact.
func TestSMTPBodyCannotInject(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{TLS: true, User: testUser, Pass: testPass})
	s := newSMTP(t, tlsConfig(ts))
	text := "first\r\n\r\nBcc: eve@example.com\r\n.\r\nMAIL FROM:<eve@example.com>\r\nRCPT TO:<eve@example.com>\r\nDATA\r\nSubject: forged\r\n\r\nforged\r\n.\rlast\x00"
	if err := s.Send(t.Context(), mail.Message{To: "alice@example.com", Subject: "s", Text: text}); err != nil {
		t.Fatal(err)
	}
	mails := ts.Mails()
	if len(mails) != 1 || len(mails[0].To) != 1 || mails[0].To[0] != "alice@example.com" {
		t.Fatalf("mails: %+v", mails)
	}
	p := parse(t, mails[0].Data)
	if p.Header.Get("Bcc") != "" || p.Header.Get("Subject") != "s" {
		t.Errorf("headers: %v", p.Header)
	}
	want := strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	if want = strings.ReplaceAll(want, "\n", "\r\n") + "\r\n"; p.Body != want {
		t.Errorf("body %q, want %q", p.Body, want)
	}
}

// The configuration never prints its password, nor does the sender holding
// it, nor any error.
func TestSMTPNeverPrintsThePassword(t *testing.T) {
	t.Parallel()
	c := mail.Config{Addr: "smtp.example.com:587", From: "helpdesk@example.com", Username: "u", Password: secret.Value(testPass)}
	s := newSMTP(t, c)
	invalid := mail.Config{Addr: "x", Password: secret.Value(testPass + "\x00")}.Validate()
	if invalid == nil {
		t.Fatal("a password with NUL was accepted")
	}
	secrettest.NoLeakThroughFmt(t, testPass, []any{c, s, mail.Sender(s), invalid}, []any{&c, s})
	if got := fmt.Sprintf("%+v", s); got != "mail.SMTP(smtp.example.com:587)" {
		t.Errorf("the sender prints as %q", got)
	}
}
