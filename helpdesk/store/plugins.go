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

// MarkPluginUninstalled records that plugin id is gone and, in the same
// transaction, resets the notice cursor to 0: a reinstalled plugin starts
// with a fresh database whose notices are numbered from 1 again, and a
// cursor left at the old plugin's last id would skip them. It fails with
// ErrNotFound when there is no record of id.
func (s *Store) MarkPluginUninstalled(ctx context.Context, id, by string) (err error) {
	what := fmt.Sprintf("mark plugin %s uninstalled", id)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx, `UPDATE plugins SET installed = 0, active = 0, updated_at = ?, updated_by = ? WHERE id = ?`, unix(s.now()), by, id)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notice_cursor SET after_id = 0 WHERE id = 1`); err != nil {
		return fmt.Errorf("%s: reset the notice cursor: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
