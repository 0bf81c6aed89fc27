package store

import (
	"context"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
)

// TakeLease takes or renews the lease called name for holder until now +
// ttl, and reports whether holder has it: it is free, expired, or already
// holder's. One conditional upsert, so that of several instances asking at
// once exactly one gets it on either engine. Leases are for tasks one
// instance at a time must do (mailing notices); holders' clocks should
// agree to well within ttl.
func (s *Store) TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.now()
	return s.execChanged(ctx, "take lease "+name, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
		name, holder, unix(now.Add(ttl)), unix(now))
}

// ReleaseLease gives up holder's lease called name, if it holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// Instance is one running helpdesk instance as it last reported itself.
type Instance struct {
	ID            string
	Name          string
	PluginRunning bool
	SeenAt        time.Time
}

// ReportInstance records that instance id (named name) is alive now and
// whether its plugin process runs.
func (s *Store) ReportInstance(ctx context.Context, id, name string, pluginRunning bool) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO instances (id, name, plugin_running, seen_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, plugin_running = excluded.plugin_running, seen_at = excluded.seen_at`,
		id, name, b2i(pluginRunning), unix(s.now())); err != nil {
		return fmt.Errorf("report instance %s: %w", name, err)
	}
	return nil
}

// ForgetInstance removes instance id's report (it is shutting down).
func (s *Store) ForgetInstance(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM instances WHERE id = ?`, id); err != nil {
		return fmt.Errorf("forget instance: %w", err)
	}
	return nil
}

// OtherPluginProcesses returns the instances other than id that reported
// a running plugin process after since.
func (s *Store) OtherPluginProcesses(ctx context.Context, id string, since time.Time) ([]Instance, error) {
	out, err := sqldb.Query(ctx, s.db, func(sc sqldb.Scanner) (Instance, error) {
		var in Instance
		var running int
		var seen int64
		err := sc.Scan(&in.ID, &in.Name, &running, &seen)
		in.PluginRunning, in.SeenAt = running == 1, fromUnix(seen)
		return in, err
	}, `SELECT id, name, plugin_running, seen_at FROM instances
		WHERE id <> ? AND plugin_running = 1 AND seen_at > ? ORDER BY name, id`, id, unix(since))
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}
