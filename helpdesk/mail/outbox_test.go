package mail_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
)

func TestOutboxKeepsMessages(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "helpdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var s mail.Sender = mail.NewOutbox(st)

	link := mail.Message{To: "Alice <alice@example.com>", Subject: "Ihr Link für den Zugang", Text: "Open https://helpdesk.example/recover?t=secret\nwithin 15 minutes."}
	notice := mail.Message{To: "bob@example.com", Subject: "Your second factor changed", Text: "An admin reset it."}
	for _, m := range []mail.Message{link, notice} {
		if err := s.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Refused as SMTP would refuse it, and not kept.
	if err := s.Send(ctx, mail.Message{To: "bob@example.com", Subject: "x\r\nBcc: eve@example.com", Text: "t"}); !errors.Is(err, mail.ErrInvalidMessage) {
		t.Fatalf("header injection: %v", err)
	}

	got, err := st.ListOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("outbox: %+v", got)
	}
	for i, want := range []mail.Message{notice, link} { // newest first
		if g := got[i]; g.To != want.To || g.Subject != want.Subject || g.Text != want.Text || g.At.IsZero() {
			t.Errorf("outbox[%d] = %+v, want %+v", i, g, want)
		}
	}

	// A store that fails says so, with what was being done.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, notice); err == nil || errors.Is(err, mail.ErrInvalidMessage) {
		t.Fatalf("send to a closed store: %v", err)
	} else if want := "keep mail in the outbox: append to the outbox: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}
