package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
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
}

// AppendOutbox records m, dated now.
func (s *Store) AppendOutbox(ctx context.Context, m OutboxMail) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO outbox (at, "to", subject, text) VALUES (?, ?, ?, ?)`,
		unix(s.now()), m.To, m.Subject, m.Text); err != nil {
		return fmt.Errorf("append to the outbox: %w", err)
	}
	return nil
}

// ListOutbox returns the newest mails first, at most limit (limit ≤ 0:
// all of them).
func (s *Store) ListOutbox(ctx context.Context, limit int) ([]OutboxMail, error) {
	scan := func(sc sqldb.Scanner) (OutboxMail, error) {
		var m OutboxMail
		var at int64
		err := sc.Scan(&m.ID, &at, &m.To, &m.Subject, &m.Text)
		m.At = fromUnix(at)
		return m, err
	}
	const query = `SELECT id, at, "to", subject, text FROM outbox ORDER BY id DESC`
	var out []OutboxMail
	var err error
	if limit > 0 {
		out, err = sqldb.Query(ctx, s.db, scan, query+` LIMIT ?`, limit)
	} else {
		// No LIMIT at all: the engines disagree on how to say "none".
		out, err = sqldb.Query(ctx, s.db, scan, query)
	}
	if err != nil {
		return nil, fmt.Errorf("list the outbox: %w", err)
	}
	return out, nil
}

// ErrCursorMoved: the notice cursor is no longer where the caller read it.
// Uninstalling the plugin resets it (MarkPluginUninstalled).
var ErrCursorMoved = errors.New("the notice cursor moved meanwhile (the plugin was uninstalled?)")

// NoticeCursor returns the id of the last of the plugin's second-factor
// notices the helpdesk has handled: the AfterID of its next poll (0 before
// the first, and again after an uninstall).
func (s *Store) NoticeCursor(ctx context.Context) (int64, error) {
	var after int64
	if err := s.db.QueryRowContext(ctx, `SELECT after_id FROM notice_cursor WHERE id = 1`).Scan(&after); err != nil {
		return 0, fmt.Errorf("read the notice cursor: %w", err)
	}
	return after, nil
}

// AdvanceNoticeCursor records that the notices after from, up to id to,
// have been handled, if the cursor is still at from; otherwise it fails
// with ErrCursorMoved. An uninstall resets the cursor to 0 (a reinstalled
// plugin numbers its notices from 1 again), and a poll that read it before
// must not put the old plugin's numbering back. The schema refuses a
// negative cursor.
func (s *Store) AdvanceNoticeCursor(ctx context.Context, from, to int64) error {
	what := fmt.Sprintf("advance the notice cursor from %d to %d", from, to)
	err := s.execOne(ctx, what, `UPDATE notice_cursor SET after_id = ? WHERE id = 1 AND after_id = ?`, to, from)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s: %w", what, ErrCursorMoved)
	}
	return err
}
