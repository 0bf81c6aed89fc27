package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PluginRecord is what the helpdesk knows about one plugin.
type PluginRecord struct {
	ID        string
	Installed bool
	// Active is the helpdesk's word on whether the plugin is active: the
	// login path reads it on every sign-in, so an active plugin whose
	// process is down makes sign-ins fail closed.
	Active    bool
	BundleDir string
	DataDir   string
	Version   string
	UpdatedAt time.Time
	UpdatedBy string
}

// Plugin returns the record of plugin id, or ErrNotFound.
func (s *Store) Plugin(ctx context.Context, id string) (PluginRecord, error) {
	var r PluginRecord
	var installed, active int
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT id, installed, active, bundle_dir, data_dir, version, updated_at, updated_by
		FROM plugins WHERE id = ?`, id).Scan(&r.ID, &installed, &active, &r.BundleDir, &r.DataDir, &r.Version, &updated, &r.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return PluginRecord{}, fmt.Errorf("plugin %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return PluginRecord{}, fmt.Errorf("plugin %s: %w", id, err)
	}
	r.Installed, r.Active, r.UpdatedAt = installed == 1, active == 1, fromUnix(updated)
	return r, nil
}

// PluginActive reports whether plugin id is installed and active.
func (s *Store) PluginActive(ctx context.Context, id string) (bool, error) {
	r, err := s.Plugin(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return r.Installed && r.Active, nil
}

// MarkPluginInstalled records that plugin id's bundle is installed. A
// plugin that was not installed before starts inactive; an installed one
// keeps its active flag.
func (s *Store) MarkPluginInstalled(ctx context.Context, id, bundleDir, dataDir, version, by string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO plugins (id, installed, active, bundle_dir, data_dir, version, updated_at, updated_by)
		VALUES (?, 1, 0, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			active = CASE WHEN plugins.installed = 1 THEN plugins.active ELSE 0 END,
			installed = 1,
			bundle_dir = excluded.bundle_dir,
			data_dir = excluded.data_dir,
			version = excluded.version,
			updated_at = CASE WHEN plugins.installed = 1 THEN plugins.updated_at ELSE excluded.updated_at END,
			updated_by = CASE WHEN plugins.installed = 1 THEN plugins.updated_by ELSE excluded.updated_by END`,
		id, bundleDir, dataDir, version, unix(s.now()), by)
	if err != nil {
		return fmt.Errorf("mark plugin %s installed: %w", id, err)
	}
	return nil
}

// SetPluginActive records whether plugin id is active. It fails with
// ErrNotFound if the plugin is not installed.
func (s *Store) SetPluginActive(ctx context.Context, id string, active bool, by string) error {
	return s.execOne(ctx, fmt.Sprintf("set plugin %s active=%t", id, active),
		`UPDATE plugins SET active = ?, updated_at = ?, updated_by = ? WHERE id = ? AND installed = 1`,
		b2i(active), unix(s.now()), by, id)
}

// MarkPluginUninstalled records that plugin id is gone.
func (s *Store) MarkPluginUninstalled(ctx context.Context, id, by string) error {
	return s.execOne(ctx, fmt.Sprintf("mark plugin %s uninstalled", id),
		`UPDATE plugins SET installed = 0, active = 0, updated_at = ?, updated_by = ? WHERE id = ?`, unix(s.now()), by, id)
}

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
	res, err := s.db.ExecContext(ctx, `INSERT INTO tickets (subject, requester, created_by, created_at) VALUES (?, ?, ?, ?)`,
		subject, requester, creator, unix(s.now()))
	if err != nil {
		return 0, fmt.Errorf("create ticket: %w", err)
	}
	return res.LastInsertId()
}

// CloseTicket closes an open ticket.
func (s *Store) CloseTicket(ctx context.Context, id int64) error {
	return s.execOne(ctx, fmt.Sprintf("close ticket %d", id),
		`UPDATE tickets SET status = 'closed', closed_at = ? WHERE id = ? AND status = 'open'`, unix(s.now()), id)
}

// ListTickets returns the newest tickets first, at most limit.
func (s *Store) ListTickets(ctx context.Context, limit int) ([]Ticket, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT t.id, t.subject, t.requester, t.status, COALESCE(o.username, ''), t.created_at
		FROM tickets t LEFT JOIN operators o ON o.id = t.created_by ORDER BY t.status = 'closed', t.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	defer rows.Close()
	var out []Ticket
	for rows.Next() {
		var t Ticket
		var created int64
		if err := rows.Scan(&t.ID, &t.Subject, &t.Requester, &t.Status, &t.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("list tickets: %w", err)
		}
		t.CreatedAt = fromUnix(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
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
