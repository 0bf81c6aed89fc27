package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
)

// eventColumns are read FROM audit_events for an EventRecord (scanEvent).
const eventColumns = `id, at, kind, operator_id, actor, actor_id, actor_role, client_ip, user_agent, outcome, reason, detail, notice`

func scanEvent(sc sqldb.Scanner) (EventRecord, error) {
	var (
		r  EventRecord
		at int64
	)
	err := sc.Scan(&r.ID, &at, &r.Kind, &r.OperatorID, &r.Actor, &r.ActorID, &r.ActorRole, &r.ClientIP, &r.UserAgent,
		&r.Outcome, &r.Reason, &r.Detail, &r.Notice)
	r.At = time.Unix(at, 0).UTC()
	return r, err
}

// ListEvents implements AuthLogStore: keyset paging on id, newest first,
// never OFFSET. An operator filter walks audit_events_operator
// (operator_id, id); a time range is turned into an id range once, with
// the covering index audit_events_at, and the at bounds are checked again
// on every row (ids follow insertion, times follow the clock).
func (s *DB) ListEvents(ctx context.Context, f EventFilter, limit int, beforeID int64) ([]EventRecord, error) {
	// Every event written before this call, spooled ones included.
	if err := s.flushSpool(ctx); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("list events: limit %d", limit)
	}
	lo, hi, empty, err := s.idRange(ctx, f)
	if err != nil || empty {
		return nil, err
	}
	if beforeID > 0 {
		hi = min(hi, beforeID-1)
	}
	q, args := f.listQuery(s.dialect, lo, hi, limit)
	out, err := sqldb.Query(ctx, s.rd, scanEvent, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// listQuery is ListEvents' query over ids in [lo, hi]. Without an operator
// filter, a filter on outcomes (or else on kinds) reads each value's newest
// events through audit_events_outcome (outcome, id) (or audit_events_kind
// (kind, id)), at most limit per value, and merges them: a rare value costs
// a page, not a scan of the whole log.
func (f EventFilter) listQuery(d dialect, lo, hi int64, limit int) (string, []any) {
	var col, idx string
	var vals []string
	arm := f // each arm's filter: its one value replaces the list
	switch {
	case f.OperatorID != "":
	case len(f.Outcomes) > 0:
		col, idx, vals = "outcome", "audit_events_outcome", f.Outcomes
		arm.Outcomes = nil
	case len(f.Kinds) > 0:
		col, idx, vals = "kind", "audit_events_kind", f.Kinds
		arm.Kinds = nil
	}
	if col == "" {
		where, args := f.where(lo, hi)
		return `SELECT ` + eventColumns + ` FROM ` + f.from(d) + ` WHERE ` + where + ` ORDER BY id DESC LIMIT ?`, append(args, limit)
	}
	where, args := arm.where(lo, hi)
	vals = slices.Compact(slices.Sorted(slices.Values(vals))) // a repeated value would repeat its rows
	arms := make([]string, len(vals))
	all := make([]any, 0, len(vals)*(len(args)+2)+1)
	for i, v := range vals {
		arms[i] = `SELECT * FROM (SELECT ` + eventColumns + ` FROM audit_events` + d.indexedBy(idx) +
			` WHERE ` + col + ` = ? AND ` + where + ` ORDER BY id DESC LIMIT ?) AS arm`
		all = append(append(append(all, v), args...), limit)
	}
	return strings.Join(arms, " UNION ALL ") + ` ORDER BY id DESC LIMIT ?`, append(all, limit)
}

// EachEvent implements AuthLogStore. Each batch is its own short read
// (no transaction is held between batches), so WAL checkpoints and
// writers are never held up by a slow reader.
func (s *DB) EachEvent(ctx context.Context, f EventFilter, batch int, fn func(EventRecord) error) error {
	// Every event written before this call, spooled ones included.
	if err := s.flushSpool(ctx); err != nil {
		return fmt.Errorf("export events: %w", err)
	}
	if batch <= 0 {
		batch = 1000
	}
	lo, hi, empty, err := s.idRange(ctx, f)
	if err != nil || empty {
		return err
	}
	// The export ends at the newest event when it started: what is
	// written meanwhile belongs to the next export.
	if hi == maxID {
		if err := s.rd.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM audit_events`).Scan(&hi); err != nil {
			return fmt.Errorf("export events: newest id: %w", err)
		}
	}
	after := lo - 1
	buf := make([]EventRecord, 0, batch)
	for {
		where, args := f.where(after+1, hi)
		rows, err := s.rd.QueryContext(ctx, `SELECT `+eventColumns+` FROM `+f.from(s.dialect)+` WHERE `+where+` ORDER BY id LIMIT ?`, append(args, batch)...)
		if err != nil {
			return fmt.Errorf("export events: %w", err)
		}
		buf = buf[:0]
		for rows.Next() {
			r, err := scanEvent(rows)
			if err != nil {
				_ = rows.Close()
				return fmt.Errorf("export events: %w", err)
			}
			buf = append(buf, r)
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return fmt.Errorf("export events: %w", err)
		}
		// The read is over before anyone waits on fn (a slow client).
		for _, r := range buf {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(buf) < batch {
			return nil
		}
		after = buf[len(buf)-1].ID
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

const maxID = int64(1<<63 - 1)

// idRange turns the filter's time range into ids: [lo, hi], from the
// covering index audit_events_at. empty: no event can match.
func (s *DB) idRange(ctx context.Context, f EventFilter) (lo, hi int64, empty bool, err error) {
	lo, hi = 1, maxID
	if f.From.IsZero() && f.To.IsZero() {
		return lo, hi, false, nil
	}
	var conds []string
	var args []any
	if !f.From.IsZero() {
		conds, args = append(conds, "at >= ?"), append(args, f.From.Unix())
	}
	if !f.To.IsZero() {
		conds, args = append(conds, "at < ?"), append(args, f.To.Unix())
	}
	var mn, mx sql.NullInt64
	err = s.rd.QueryRowContext(ctx, `SELECT MIN(id), MAX(id) FROM audit_events`+s.dialect.indexedBy("audit_events_at")+` WHERE `+strings.Join(conds, " AND "), args...).Scan(&mn, &mx)
	if err != nil {
		return 0, 0, false, fmt.Errorf("events: time range: %w", err)
	}
	if !mn.Valid {
		return 0, 0, true, nil
	}
	return mn.Int64, mx.Int64, false, nil
}

// from names the table and, with an operator filter, the index that
// serves it: (operator_id, id) gives that operator's events in id order
// with no sort, whatever statistics the planner has.
func (f EventFilter) from(d dialect) string {
	if f.OperatorID != "" {
		return "audit_events" + d.indexedBy("audit_events_operator")
	}
	return "audit_events"
}

// where is the filter as SQL over ids in [lo, hi].
func (f EventFilter) where(lo, hi int64) (string, []any) {
	conds := []string{"id BETWEEN ? AND ?"}
	args := []any{lo, hi}
	if f.OperatorID != "" {
		conds, args = append(conds, "operator_id = ?"), append(args, f.OperatorID)
	}
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		conds = append(conds, col+" IN (?"+strings.Repeat(",?", len(vals)-1)+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("kind", f.Kinds)
	in("outcome", f.Outcomes)
	if !f.From.IsZero() {
		conds, args = append(conds, "at >= ?"), append(args, f.From.Unix())
	}
	if !f.To.IsZero() {
		conds, args = append(conds, "at < ?"), append(args, f.To.Unix())
	}
	return strings.Join(conds, " AND "), args
}

// countLoginsQuery counts a recent window through audit_events_at.
func countLoginsQuery(d dialect) string {
	return `SELECT outcome, COUNT(*) FROM audit_events` + d.indexedBy("audit_events_at") + ` WHERE at >= ? AND kind IN (?` +
		strings.Repeat(",?", len(LoginKinds)-1) + `) GROUP BY outcome`
}

// CountLogins implements AuthLogStore, through audit_events_at.
func (s *DB) CountLogins(ctx context.Context, since time.Time) (map[string]int64, error) {
	// Every event written before this call, spooled ones included.
	if err := s.flushSpool(ctx); err != nil {
		return nil, fmt.Errorf("count logins: %w", err)
	}
	type row struct {
		outcome string
		n       int64
	}
	q := countLoginsQuery(s.dialect)
	args := []any{since.Unix()}
	for _, k := range LoginKinds {
		args = append(args, k)
	}
	rows, err := sqldb.Query(ctx, s.rd, func(sc sqldb.Scanner) (row, error) {
		var r row
		return r, sc.Scan(&r.outcome, &r.n)
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count logins: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.outcome] = r.n
	}
	return out, nil
}

// PruneEvents implements AuthLogStore: one short write transaction per
// batch, started only when no other write of this store is in flight, so
// a login's write waits at most for one batch. (SQLite's busy handler is
// not fair: a writer asleep in it could otherwise miss every gap between
// batches.)
func (s *DB) PruneEvents(ctx context.Context, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("prune events: batch %d", batch)
	}
	if err := s.yieldToWriters(ctx); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	// Relaxed: what a power cut takes back is deleted again next time.
	var n int64
	err := s.write(ctx, "prune events", relaxed, func(tx *txn) error {
		var err error
		n, err = execCount(ctx, tx, `DELETE FROM audit_events WHERE id IN
			(SELECT id FROM audit_events`+s.dialect.indexedBy("audit_events_at")+` WHERE at < ? LIMIT ?)`, before.Unix(), batch)
		return err
	})
	return n, err
}

// maxYield bounds how long background work waits for other writes, so a
// steady stream of logins cannot hold retention off for ever.
const maxYield = time.Second

// writing notes a write in flight until the returned func is called.
func (s *DB) writing() func() {
	s.writers.Add(1)
	return func() { s.writers.Add(-1) }
}

// yieldToWriters waits while other writes are in flight (at most
// maxYield).
func (s *DB) yieldToWriters(ctx context.Context) error {
	deadline := time.Now().Add(maxYield)
	for s.writers.Load() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// ObserveEvents implements Observable. Call it once, before the store is
// shared.
func (s *DB) ObserveEvents(fn func(Event)) { s.observer = fn }

// deliver hands committed events to the observer.
func (s *DB) deliver(events []Event) {
	if s.observer == nil {
		return
	}
	for _, ev := range events {
		s.observer(ev)
	}
}
