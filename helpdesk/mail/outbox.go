package mail

import (
	"context"
	"fmt"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
)

// OutboxStore is where Outbox keeps messages: the helpdesk store.
type OutboxStore interface {
	AppendOutbox(ctx context.Context, m store.OutboxMail) error
}

var (
	_ OutboxStore = (*store.Store)(nil)
	_ Sender      = (*Outbox)(nil)
)

// Outbox is the demo's Sender when no SMTP server is configured: it mails
// nothing and keeps each message in the helpdesk database, so that an
// admin page can show what would have been sent. A recovery link's text is
// a secret, so that page must be admin-only; a real deployment configures
// SMTP, which keeps no copy. Safe for concurrent use.
type Outbox struct {
	store OutboxStore
}

// NewOutbox returns an Outbox keeping messages in s.
func NewOutbox(s OutboxStore) *Outbox { return &Outbox{store: s} }

// Send validates m as SMTP would (ErrInvalidMessage) and keeps it.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := o.store.AppendOutbox(ctx, store.OutboxMail{To: m.To, Subject: m.Subject, Text: m.Text}); err != nil {
		return fmt.Errorf("keep mail in the outbox: %w", err)
	}
	return nil
}
