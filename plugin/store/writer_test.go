package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
)

// execForTest runs one statement through the writer (the read pool is
// query_only), durably.
func (s *SQLite) execForTest(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.tx(ctx, "test", func(tx *txn) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// appendJob is a job that writes ev and then fails with fail (nil: it
// succeeds).
func appendJob(ctx context.Context, ev Event, durable bool, fail error) *job {
	return &job{ctx: ctx, durable: durable, done: make(chan struct{}), fn: func(tx *txn) error {
		if err := appendEvent(ctx, tx, ev); err != nil {
			return err
		}
		return fail
	}}
}

// A batch is one transaction: a job that fails is rolled back alone (its
// savepoint), the others commit together, and each caller hears its own
// outcome; a withdrawn job never runs. The batch commits with
// synchronous=FULL when any job is durable, else NORMAL.
func TestWriterBatchIsolatesFailedJobs(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := context.Background()
	boom := errors.New("boom")
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name     string
		durable  bool
		wantSync string
	}{
		{"relaxed", false, "NORMAL"},
		{"durable", true, "FULL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs := []*job{
				appendJob(ctx, ev(tc.name+".a"), false, nil),
				appendJob(ctx, ev(tc.name+".b"), tc.durable, boom),
				appendJob(ctx, ev(tc.name+".c"), false, nil),
				appendJob(gone, ev(tc.name+".gone"), false, nil),
			}
			withdrawn := appendJob(ctx, ev(tc.name+".withdrawn"), false, nil)
			withdrawn.state.Store(jobWithdrawn)
			jobs = append(jobs, withdrawn)
			allBefore, durableBefore := s.Commits()
			// The writer's goroutine is idle (nothing is queued), so
			// running a batch here is the only use of its connection.
			s.w.run(jobs)
			for i, want := range []error{nil, boom, nil, context.Canceled} {
				<-jobs[i].done
				if !errors.Is(jobs[i].err, want) {
					t.Errorf("job %d: err %v, want %v", i, jobs[i].err, want)
				}
			}
			if got := len(jobs[0].events) + len(jobs[2].events); got != 2 {
				t.Errorf("committed jobs carry %d events, want 2", got)
			}
			kinds := map[string]bool{}
			evs, err := s.Events(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				kinds[e.Kind] = true
			}
			for k, want := range map[string]bool{".a": true, ".b": false, ".c": true, ".gone": false, ".withdrawn": false} {
				if kinds[tc.name+k] != want {
					t.Errorf("event %s%s stored: %v, want %v", tc.name, k, kinds[tc.name+k], want)
				}
			}
			all, dur := s.Commits()
			if all != allBefore+1 {
				t.Errorf("%d commits, want one for the batch", all-allBefore)
			}
			if wantDur := boolInt(tc.durable); dur-durableBefore != int64(wantDur) {
				t.Errorf("%d durable commits, want %d", dur-durableBefore, wantDur)
			}
			if s.w.sync != tc.wantSync {
				t.Errorf("synchronous = %s, want %s", s.w.sync, tc.wantSync)
			}
		})
	}
}

// Concurrent writes through the queue all land, in fewer commits than
// writes when they queue up, and a closed store refuses writes.
func TestWriterConcurrentWritesAndClose(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = s.AppendEvent(ctx, ev("concurrent"))
			} else {
				err = s.AppendEventRelaxed(ctx, ev("concurrent"))
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	evs, err := s.ListEvents(ctx, EventFilter{Kinds: []string{"concurrent"}}, 500, 0)
	if err != nil || len(evs) != n {
		t.Fatalf("%d events, %v; want %d", len(evs), err, n)
	}
	all, durable := s.Commits()
	t.Logf("%d writes in %d commits (%d durable)", n, all, durable)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvent(ctx, ev("late")); !errors.Is(err, errClosed) {
		t.Fatalf("AppendEvent after Close: %v, want errClosed", err)
	}
}

// A write that panics fails its batch, not the process: the writer goes
// on with the next.
func TestWriterSurvivesAPanickingJob(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := context.Background()
	err := s.tx(ctx, "panic", func(tx *txn) error {
		if err := appendEvent(ctx, tx, ev("half.done")); err != nil {
			return err
		}
		panic("a bug")
	})
	if err == nil {
		t.Fatal("a panicking write succeeded")
	}
	if err := s.AppendEvent(ctx, ev("next")); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Kind != "next" {
		t.Fatalf("events %+v, %v; want only the next write's", evs, err)
	}
}
