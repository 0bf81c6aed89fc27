package store

import (
	"context"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
)

// Ticket is a customer request.
type Ticket struct {
	ID        int64
	Subject   string
	Requester string
	Status    string
	CreatedBy string
	CreatedAt time.Time
}

// CreateTicket opens a ticket.
func (s *Store) CreateTicket(ctx context.Context, subject, requester string, by int64) (int64, error) {
	var creator any
	if by != 0 {
		creator = by
	}
	var id int64
	if err := s.db.QueryRowContext(ctx, `INSERT INTO tickets (subject, requester, created_by, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		subject, requester, creator, unix(s.now())).Scan(&id); err != nil {
		return 0, fmt.Errorf("create ticket: %w", err)
	}
	return id, nil
}

// CloseTicket closes an open ticket.
func (s *Store) CloseTicket(ctx context.Context, id int64) error {
	return s.execOne(ctx, fmt.Sprintf("close ticket %d", id),
		`UPDATE tickets SET status = 'closed', closed_at = ? WHERE id = ? AND status = 'open'`, unix(s.now()), id)
}

// ListTickets returns the newest tickets first, at most limit.
func (s *Store) ListTickets(ctx context.Context, limit int) ([]Ticket, error) {
	out, err := sqldb.Query(ctx, s.db, func(sc sqldb.Scanner) (Ticket, error) {
		var t Ticket
		var created int64
		err := sc.Scan(&t.ID, &t.Subject, &t.Requester, &t.Status, &t.CreatedBy, &created)
		t.CreatedAt = fromUnix(created)
		return t, err
	}, `SELECT t.id, t.subject, t.requester, t.status, COALESCE(o.username, ''), t.created_at
		FROM tickets t LEFT JOIN operators o ON o.id = t.created_by ORDER BY t.status = 'closed', t.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	return out, nil
}

// CountTickets counts every ticket.
func (s *Store) CountTickets(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count tickets: %w", err)
	}
	return n, nil
}
