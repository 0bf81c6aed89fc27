package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// The store's one writer: a goroutine that owns the only write connection
// and runs every write of the store, in the order asked, grouping the
// writes queued meanwhile into one transaction (group commit).
//
// Why: several pooled connections each taking SQLite's single write lock
// slept in its busy handler (which is not fair, and sleeps in steps of up
// to 100 ms: the 1–2 s p99 of issue 11), and every login paid for its own
// fsync. With one writer no write of this store ever waits in the busy
// handler for another of its writes; it waits in the queue, in order. Only
// another process (or connection) holding the lock still makes the writer
// wait, up to the busy timeout, after which every write of that batch
// fails (trust case 29). Each write is one job: its statements run inside
// a SAVEPOINT of the batch's BEGIN IMMEDIATE transaction, so a job that
// fails is rolled back alone, and a job's caller hears of its outcome only
// after the COMMIT: of two conditional UPDATEs on one row in a batch, the
// second sees the first's change, exactly as in two transactions, and a
// failed COMMIT fails every job of the batch. Statements are prepared once
// on the write connection and kept (stmt).
//
// Durability: a batch with any durable job commits with
// synchronous=FULL (the WAL is fsynced before COMMIT returns); a batch of
// relaxed jobs only commits with synchronous=NORMAL: the WAL frames are
// written (so a crash of the process loses nothing) but not fsynced, so a
// power loss or OS crash may lose the last relaxed commits, never a durable
// one before them, nor anything after a later durable commit (the WAL is
// synced in order, and a later FULL commit syncs every frame before it).

// errClosed means the store was closed.
var errClosed = errors.New("store closed")

// maxBatch bounds how many jobs share one transaction, so one batch never
// holds the write lock for long.
const maxBatch = 64

// maxStmts bounds the cache of prepared statements: every query the store
// writes with is a constant, so this is never reached unless code builds
// queries at run time, which then run unprepared.
const maxStmts = 256

// Job states.
const (
	jobQueued int32 = iota
	jobTaken
	jobWithdrawn
)

// job is one write: fn runs inside the batch's transaction.
type job struct {
	ctx     context.Context // the caller's: a job whose caller gave up before it ran is skipped
	fn      func(*txn) error
	durable bool
	state   atomic.Int32
	err     error
	events  []Event
	done    chan struct{}
}

// writer owns the write connection.
type writer struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt // owned by the writer goroutine
	sync  string               // the connection's synchronous setting

	mu     sync.RWMutex // held to read closed and send on queue; Lock to close
	closed bool
	queue  chan *job
	exited chan struct{}

	// fsyncs counts the durable commits (each one fsync of the WAL,
	// checkpoints aside), commits every commit; for the benchmarks.
	fsyncs, commits atomic.Int64
}

func newWriter(ctx context.Context, db *sql.DB) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the write connection: %w", err)
	}
	w := &writer{conn: conn, stmts: map[string]*sql.Stmt{}, sync: "FULL", queue: make(chan *job, 4*maxBatch), exited: make(chan struct{})}
	go w.loop()
	return w, nil
}

// do runs fn as one job and waits for its batch's commit. A caller whose
// ctx ends while the job is still queued withdraws it; once it runs, the
// caller waits for the outcome (the job's statements are not interrupted:
// that would roll back the other jobs of the batch).
func (w *writer) do(ctx context.Context, durable bool, fn func(*txn) error) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j := &job{ctx: ctx, fn: fn, durable: durable, done: make(chan struct{})}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return nil, errClosed
	}
	w.queue <- j
	w.mu.RUnlock()
	select {
	case <-j.done:
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobWithdrawn) {
			return nil, ctx.Err()
		}
		<-j.done
	}
	return j.events, j.err
}

// close runs the jobs already queued, stops the writer and closes the
// connection.
func (w *writer) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	<-w.exited
	for _, st := range w.stmts {
		_ = st.Close()
	}
	return w.conn.Close()
}

func (w *writer) loop() {
	defer close(w.exited)
	batch := make([]*job, 0, maxBatch)
	for j := range w.queue {
		batch = append(batch[:0], j)
	gather:
		for len(batch) < maxBatch {
			select {
			case j, ok := <-w.queue:
				if !ok {
					break gather
				}
				batch = append(batch, j)
			default:
				break gather
			}
		}
		w.run(batch)
	}
}

// run runs one batch in one transaction.
func (w *writer) run(batch []*job) {
	live := batch[:0:0]
	durable := false
	for _, j := range batch {
		if !j.state.CompareAndSwap(jobQueued, jobTaken) {
			continue // withdrawn: its caller is gone
		}
		if err := j.ctx.Err(); err != nil {
			j.err = err
			close(j.done)
			continue
		}
		live = append(live, j)
		durable = durable || j.durable
	}
	if len(live) == 0 {
		return
	}
	err := w.runTx(live, durable)
	for _, j := range live {
		if err != nil && j.err == nil {
			j.err, j.events = err, nil
		}
		close(j.done)
	}
}

// runTx runs the jobs in one transaction; an error fails every job that
// has not failed on its own.
func (w *writer) runTx(live []*job, durable bool) error {
	// Not a caller's context: a cancelled statement would roll back the
	// whole transaction, the other callers' jobs with it.
	ctx := context.Background()
	want := "NORMAL"
	if durable {
		want = "FULL"
	}
	if w.sync != want {
		if _, err := w.exec(ctx, "PRAGMA synchronous = "+want); err != nil {
			return fmt.Errorf("set synchronous: %w", err)
		}
		w.sync = want
	}
	if _, err := w.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	failed := 0
	for _, j := range live {
		if len(live) > 1 {
			if _, err := w.exec(ctx, "SAVEPOINT job"); err != nil {
				return w.abort(ctx, fmt.Errorf("savepoint: %w", err))
			}
		}
		tx := &txn{x: w, ctx: ctx}
		if err, panicked := runJob(j.fn, tx); panicked {
			// The job stopped half way: nothing of the batch can stand.
			j.err = err
			return w.abort(ctx, err)
		} else if err != nil {
			j.err = err
			failed++
			if len(live) > 1 {
				if _, rerr := w.exec(ctx, "ROLLBACK TO job"); rerr != nil {
					// SQLite rolled the whole transaction back
					// (an I/O error, a full disk): nothing of the
					// batch stands.
					return w.abort(ctx, fmt.Errorf("%w (and the batch was lost: %v)", err, rerr))
				}
			}
		} else {
			j.events = tx.events
		}
		if len(live) > 1 {
			if _, err := w.exec(ctx, "RELEASE job"); err != nil {
				return w.abort(ctx, fmt.Errorf("release savepoint: %w", err))
			}
		}
	}
	if failed == len(live) {
		_, _ = w.exec(ctx, "ROLLBACK")
		return nil
	}
	if _, err := w.exec(ctx, "COMMIT"); err != nil {
		return w.abort(ctx, fmt.Errorf("commit: %w", err))
	}
	w.commits.Add(1)
	if durable {
		w.fsyncs.Add(1)
	}
	return nil
}

// runJob runs fn, turning a panic into an error (the writer goroutine
// must outlive a bug in one write, as the gRPC handlers do).
func runJob(fn func(*txn) error, tx *txn) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = fmt.Errorf("write panicked: %v", r), true
		}
	}()
	return fn(tx), false
}

// abort rolls the transaction back (it may be gone already) and returns
// err.
func (w *writer) abort(ctx context.Context, err error) error {
	_, _ = w.exec(ctx, "ROLLBACK")
	return err
}

// stmt returns the prepared statement for query, preparing it on first
// use; nil when it cannot be prepared (the caller then runs the query
// unprepared, which reports the error) or the cache is full.
func (w *writer) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := w.stmts[query]; ok {
		return st
	}
	if len(w.stmts) >= maxStmts {
		return nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	w.stmts[query] = st
	return st
}

func (w *writer) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := w.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return w.conn.ExecContext(ctx, query, args...)
}

func (w *writer) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := w.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return w.conn.QueryRowContext(ctx, query, args...)
}

func (w *writer) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := w.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return w.conn.QueryContext(ctx, query, args...)
}

// txExec runs statements in one write transaction: SQLite's writer (its
// batch's transaction, with prepared statements) or a PostgreSQL
// transaction (pgTx).
type txExec interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	queryRow(ctx context.Context, query string, args ...any) *sql.Row
	query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// txn is a job's view of its write transaction, and the audit events it
// wrote, which reach the observer only once committed. Its methods take a
// context to read like *sql.Tx's, but run under ctx: on SQLite the
// batch's (see writer.do), on PostgreSQL the caller's.
type txn struct {
	x      txExec
	ctx    context.Context
	events []Event
}

// ExecContext runs a statement in the transaction.
func (t *txn) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	return t.x.exec(t.ctx, query, args...)
}

// QueryRowContext runs a query for at most one row in the transaction.
func (t *txn) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	return t.x.queryRow(t.ctx, query, args...)
}

// QueryContext runs a query in the transaction.
func (t *txn) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.x.query(t.ctx, query, args...)
}
