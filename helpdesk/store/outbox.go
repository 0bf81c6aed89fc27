package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
)

// OutboxMail is one message kept in the outbox instead of being mailed:
// the demo's record of what it would have sent. Text may hold a secret (a
// recovery link), so only an admin page may show it.
type OutboxMail struct {
	// ID and At are set by AppendOutbox; their values passed to it are
	// ignored.
	ID      int64
	At      time.Time
	To      string
	Subject string
	Text    string
	// SentVia names the sender that kept it ("outbox").
	SentVia string
}

// AppendOutbox records mails, in one transaction, each dated now.
func (s *Store) AppendOutbox(ctx context.Context, mails ...OutboxMail) (err error) {
	if len(mails) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append to the outbox: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	at := unix(s.now())
	for _, m := range mails {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (at, "to", subject, text, sent_via) VALUES (?, ?, ?, ?, ?)`,
			at, m.To, m.Subject, m.Text, m.SentVia); err != nil {
			return fmt.Errorf("append to the outbox: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append to the outbox: %w", err)
	}
	return nil
}

// ListOutbox returns the newest mails first, at most limit (limit ≤ 0:
// all of them).
func (s *Store) ListOutbox(ctx context.Context, limit int) ([]OutboxMail, error) {
	if limit <= 0 {
		limit = -1 // SQLite's "no limit"
	}
	out, err := sqlitedb.Query(ctx, s.db, func(sc sqlitedb.Scanner) (OutboxMail, error) {
		var m OutboxMail
		var at int64
		err := sc.Scan(&m.ID, &at, &m.To, &m.Subject, &m.Text, &m.SentVia)
		m.At = fromUnix(at)
		return m, err
	}, `SELECT id, at, "to", subject, text, sent_via FROM outbox ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list the outbox: %w", err)
	}
	return out, nil
}

// ErrNegativeCursor: a notice cursor is a notice id, never negative.
var ErrNegativeCursor = errors.New("the notice cursor cannot be negative")

// NoticeCursor returns the id of the last of the plugin's second-factor
// notices the helpdesk has handled: the AfterID of its next poll (0 before
// the first).
func (s *Store) NoticeCursor(ctx context.Context) (int64, error) {
	var after int64
	if err := s.db.QueryRowContext(ctx, `SELECT after_id FROM notice_cursor WHERE id = 1`).Scan(&after); err != nil {
		return 0, fmt.Errorf("read the notice cursor: %w", err)
	}
	return after, nil
}

// SetNoticeCursor records that the notices up to id after have been
// handled. It may move back (a reinstalled plugin numbers its notices from
// 1 again); the poller is the one to decide.
func (s *Store) SetNoticeCursor(ctx context.Context, after int64) error {
	if after < 0 {
		return fmt.Errorf("set the notice cursor to %d: %w", after, ErrNegativeCursor)
	}
	return s.execOne(ctx, fmt.Sprintf("set the notice cursor to %d", after),
		`UPDATE notice_cursor SET after_id = ?, updated_at = ? WHERE id = 1`, after, unix(s.now()))
}
