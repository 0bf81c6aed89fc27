package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The reads every hook call makes on SQLite (OperatorToggle,
// SettingsRevision) run on a few read connections of their own, with the
// statements prepared on the driver's connection: each read is the
// driver's statement, one row and its reset, without database/sql's pool,
// statement cache and Rows around it (a quarter of the read's CPU).
//
// Each read is still its own read transaction: the statement's rows are
// closed (reset) before the connection is given back, so the next read
// sees every write committed before it, by this process or another.
// When every hot connection is busy, a read takes the pool's way
// (s.toggle, s.revision) rather than wait.

// hotConns is how many connections the hot reads keep.
const hotConns = 4

type hotConn struct {
	c        *sql.Conn
	toggle   driver.StmtQueryContext
	revision driver.StmtQueryContext
	closers  []driver.Stmt
	dest     []driver.Value
}

type hotReader struct {
	free chan *hotConn
	mu   sync.Mutex // guards n, closed
	n    int        // connections not yet closed
	// closed: Close ran; a connection given back is closed, not kept.
	closed bool
}

// openHot takes hotConns connections out of db and prepares the hot reads
// on them.
func openHot(ctx context.Context, db *sql.DB) (*hotReader, error) {
	h := &hotReader{free: make(chan *hotConn, hotConns)}
	for range hotConns {
		hc, err := newHotConn(ctx, db)
		if err != nil {
			_ = h.close()
			return nil, err
		}
		h.n++
		h.free <- hc
	}
	return h, nil
}

func newHotConn(ctx context.Context, db *sql.DB) (*hotConn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("hot reads: %w", err)
	}
	hc := &hotConn{c: c, dest: make([]driver.Value, 7)}
	err = c.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot prepare with a context", dc)
		}
		for _, q := range []struct {
			sql string
			to  *driver.StmtQueryContext
		}{{toggleQuery, &hc.toggle}, {revisionQuery, &hc.revision}} {
			st, err := p.PrepareContext(ctx, q.sql)
			if err != nil {
				return err
			}
			hc.closers = append(hc.closers, st)
			qc, ok := st.(driver.StmtQueryContext)
			if !ok {
				return fmt.Errorf("driver statement %T cannot query with a context", st)
			}
			*q.to = qc
		}
		return nil
	})
	if err != nil {
		hc.close()
		return nil, fmt.Errorf("hot reads: prepare: %w", err)
	}
	return hc, nil
}

func (hc *hotConn) close() {
	_ = hc.c.Raw(func(any) error {
		for _, st := range hc.closers {
			_ = st.Close()
		}
		return nil
	})
	_ = hc.c.Close()
}

// query runs st (one of hc's statements) with args and reads its one row
// into hc.dest, then resets it, ending the read transaction.
func (hc *hotConn) query(ctx context.Context, st driver.StmtQueryContext, args []driver.NamedValue) error {
	return hc.c.Raw(func(any) error {
		rows, err := st.QueryContext(ctx, args)
		if err != nil {
			return err
		}
		err = rows.Next(hc.dest[:len(rows.Columns())])
		if errors.Is(err, io.EOF) {
			err = sql.ErrNoRows
		}
		// Always: an open statement would hold its read transaction, and
		// later reads on hc would not see newer writes.
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// get is a free connection, or nil when all are busy or closed.
func (h *hotReader) get() *hotConn {
	select {
	case hc := <-h.free:
		return hc
	default:
		return nil
	}
}

// put gives hc back; after an error that leaves the connection unusable,
// or after close, it is closed instead.
func (h *hotReader) put(hc *hotConn, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || errors.Is(err, driver.ErrBadConn) {
		hc.close()
		h.n--
		return
	}
	h.free <- hc // never blocks: at most h.n are out
}

// close closes the free connections and marks the rest to be closed as
// they come back.
func (h *hotReader) close() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for {
		select {
		case hc := <-h.free:
			hc.close()
			h.n--
		default:
			return nil
		}
	}
}

// hotToggle is OperatorToggle on a hot connection; ok is false when none
// was free.
func (s *DB) hotToggle(ctx context.Context, operatorID string) (t Toggle, ok bool, err error) {
	hc := s.hot.get()
	if hc == nil {
		return Toggle{}, false, nil
	}
	err = hc.query(ctx, hc.toggle, []driver.NamedValue{{Ordinal: 1, Value: operatorID}})
	if err == nil {
		t, err = scanToggle(hc.dest)
	}
	s.hot.put(hc, err)
	return t, true, err
}

// hotRevision is SettingsRevision on a hot connection; ok is false when
// none was free.
func (s *DB) hotRevision(ctx context.Context) (rev int64, ok bool, err error) {
	hc := s.hot.get()
	if hc == nil {
		return 0, false, nil
	}
	err = hc.query(ctx, hc.revision, nil)
	if err == nil {
		var n sql.NullInt64
		if n, err = nullInt(hc.dest[0]); err == nil && !n.Valid {
			err = errors.New("settings revision is NULL")
		}
		rev = n.Int64
	}
	s.hot.put(hc, err)
	return rev, true, err
}

// scanToggle reads toggleQuery's row as OperatorToggle's Scan does,
// without its scanners' allocations.
func scanToggle(v []driver.Value) (Toggle, error) {
	var (
		t   Toggle
		ns  [7]sql.NullInt64
		err error
	)
	for i, col := range v {
		if i == 3 {
			continue // duo_alias
		}
		if ns[i], err = nullInt(col); err != nil {
			return Toggle{}, fmt.Errorf("column %d: %w", i, err)
		}
	}
	if !ns[0].Valid || !ns[1].Valid {
		return Toggle{}, errors.New("settings revision is NULL")
	}
	switch a := v[3].(type) {
	case nil:
	case string:
		t.DuoAlias = a
	case []byte:
		t.DuoAlias = string(a)
	default:
		return Toggle{}, fmt.Errorf("duo_alias is %T", a)
	}
	t.SettingsRevision, t.Known, t.Enabled = ns[0].Int64, ns[1].Int64 != 0, ns[2].Int64 == 1
	t.FailedAttempts, t.LockedAt, t.LockedUntil = int(ns[4].Int64), unixOrZero(ns[5]), unixOrZero(ns[6])
	return t, nil
}

// nullInt is an INTEGER column's value as the driver gives it.
func nullInt(v driver.Value) (sql.NullInt64, error) {
	switch n := v.(type) {
	case nil:
		return sql.NullInt64{}, nil
	case int64:
		return sql.NullInt64{Int64: n, Valid: true}, nil
	}
	var n sql.NullInt64
	err := n.Scan(v) // anything else, converted as database/sql would
	return n, err
}
