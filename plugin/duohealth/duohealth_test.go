package duohealth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

var keyA, keyB = Key{1}, Key{2}

func ok(context.Context) contract.DuoHealth { return contract.DuoHealth{OK: true} }

// get is Get for callers that never give up.
func get(t *testing.T, c *Cache, key Key, check CheckFunc) contract.DuoHealth {
	t.Helper()
	h, err := c.Get(context.Background(), key, check)
	if err != nil {
		t.Errorf("Get without a deadline: %v", err)
	}
	return h
}

func TestFreshResultIsReused(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := New(Config{TTL: 30 * time.Second, Now: clk.Now})
	var calls atomic.Int32
	check := func(ctx context.Context) contract.DuoHealth { calls.Add(1); return ok(ctx) }
	if h := get(t, c, keyA, check); !h.OK || !h.Checked || !h.CheckedAt.Equal(clk.Now()) {
		t.Fatalf("first Get = %+v", h)
	}
	clk.Add(29 * time.Second)
	get(t, c, keyA, check)
	if calls.Load() != 1 {
		t.Fatalf("checks = %d within the TTL, want 1", calls.Load())
	}
	clk.Add(time.Second)
	get(t, c, keyA, check)
	get(t, c, keyB, check) // other settings: their own check
	if calls.Load() != 3 {
		t.Fatalf("checks = %d, want 3 (stale, then other settings)", calls.Load())
	}
}

// A failure is dated when the check finished: a check that took 10 s to
// fail is reused for FailedTTL after that, not already stale.
func TestFailureIsDatedWhenTheCheckFinished(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := New(Config{TTL: 30 * time.Second, FailedTTL: 5 * time.Second, Now: clk.Now})
	var calls atomic.Int32
	slowFail := func(context.Context) contract.DuoHealth {
		calls.Add(1)
		clk.Add(10 * time.Second)
		return contract.DuoHealth{Detail: "Duo did not answer in time", Failure: contract.DuoUnreachable}
	}
	start := clk.Now()
	h := get(t, c, keyA, slowFail)
	if h.OK || h.Failure != contract.DuoUnreachable || !h.CheckedAt.Equal(start.Add(10*time.Second)) {
		t.Fatalf("Get = %+v, want a failure dated at the end of the check", h)
	}
	clk.Add(4 * time.Second)
	get(t, c, keyA, slowFail)
	if calls.Load() != 1 {
		t.Fatalf("a 4 s old failure was not reused (checks = %d)", calls.Load())
	}
	clk.Add(time.Second)
	get(t, c, keyA, slowFail)
	if calls.Load() != 2 {
		t.Fatalf("a 5 s old failure was reused (checks = %d)", calls.Load())
	}
}

// Concurrent logins with a stale result wait on one check, not a queue of
// them, and a fresh result never waits behind a check.
func TestConcurrentChecksCollapse(t *testing.T) {
	t.Parallel()
	c := New(Config{TTL: time.Minute})
	release := make(chan struct{})
	var calls atomic.Int32
	slow := func(context.Context) contract.DuoHealth {
		calls.Add(1)
		<-release
		return contract.DuoHealth{OK: true}
	}
	var wg sync.WaitGroup
	results := make(chan contract.DuoHealth, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, _ := c.Get(context.Background(), keyA, slow)
			results <- h
		}()
	}
	// Let the goroutines reach the check, then let it answer.
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	close(results)
	for h := range results {
		if !h.OK {
			t.Fatalf("a waiter got %+v", h)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d checks for 50 concurrent logins, want 1", calls.Load())
	}

	// Fresh now: a reader does not wait even while a forced refresh hangs.
	hang := make(chan struct{})
	defer close(hang)
	go c.Refresh(context.Background(), keyA, func(context.Context) contract.DuoHealth { <-hang; return contract.DuoHealth{} })
	done := make(chan contract.DuoHealth, 1)
	go func() { h, _ := c.Get(context.Background(), keyA, slow); done <- h }()
	select {
	case h := <-done:
		if !h.OK {
			t.Fatalf("fresh read = %+v", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a reader of a fresh result waited behind a check in flight")
	}
}

// A caller whose deadline passes stops waiting (ErrGaveUp); the check goes
// on and its result serves the next caller.
func TestWaiterGivesUpAtItsDeadline(t *testing.T) {
	t.Parallel()
	c := New(Config{TTL: time.Minute, Timeout: 10 * time.Second})
	release := make(chan struct{})
	var sawCancel atomic.Bool
	slow := func(ctx context.Context) contract.DuoHealth {
		select {
		case <-release:
			return contract.DuoHealth{OK: true}
		case <-ctx.Done():
			sawCancel.Store(true)
			return contract.DuoHealth{Failure: contract.DuoUnreachable}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	h, err := c.Get(ctx, keyA, slow)
	if !errors.Is(err, ErrGaveUp) || h.Checked {
		t.Fatalf("Get past its deadline = %+v, %v; want ErrGaveUp", h, err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before its deadline", waited)
	}
	if _, stored := c.Last(keyA); stored {
		t.Fatal("one caller's give-up was stored as Duo's health")
	}
	close(release)
	h = get(t, c, keyA, slow)
	if !h.OK || sawCancel.Load() {
		t.Fatalf("after the check answered: %+v (check cancelled by the first caller: %t)", h, sawCancel.Load())
	}
}

func TestTimeoutBoundsTheCheck(t *testing.T) {
	t.Parallel()
	c := New(Config{Timeout: 30 * time.Millisecond})
	h := get(t, c, keyA, func(ctx context.Context) contract.DuoHealth {
		<-ctx.Done()
		return contract.DuoHealth{Detail: "Duo did not answer in time", Failure: contract.DuoUnreachable}
	})
	if h.OK || h.Failure != contract.DuoUnreachable {
		t.Fatalf("Get = %+v", h)
	}
}

func TestPutAndLast(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := New(Config{TTL: time.Minute, Now: clk.Now})
	if _, ok := c.Last(keyA); ok {
		t.Fatal("empty cache has a result")
	}
	c.Put(keyA, contract.DuoHealth{OK: true})
	if h, ok := c.Last(keyA); !ok || !h.OK || !h.Checked || !h.CheckedAt.Equal(clk.Now()) {
		t.Fatalf("Last = %+v, %t", h, ok)
	}
	if _, ok := c.Last(keyB); ok {
		t.Fatal("a result for other settings was returned")
	}
	var calls atomic.Int32
	get(t, c, keyA, func(ctx context.Context) contract.DuoHealth { calls.Add(1); return ok(ctx) })
	if calls.Load() != 0 {
		t.Fatal("a Put result was not reused")
	}
}

// Each check is timed, and failures are counted in a row until a success
// (or other settings) starts again.
func TestLatencyAndConsecutiveFailures(t *testing.T) {
	t.Parallel()
	c := New(Config{TTL: 0})
	ctx := context.Background()
	fail := func(context.Context) contract.DuoHealth {
		time.Sleep(20 * time.Millisecond)
		return contract.DuoHealth{Failure: contract.DuoUnreachable, Detail: "down"}
	}
	ok := func(context.Context) contract.DuoHealth { return contract.DuoHealth{OK: true} }
	steps := []struct {
		name  string
		key   Key
		check CheckFunc
		want  int32
	}{
		{"first failure", keyA, fail, 1},
		{"second failure", keyA, fail, 2},
		{"third failure", keyA, fail, 3},
		{"failure of other settings", keyB, fail, 1},
		{"success", keyB, ok, 0},
		{"failure after success", keyB, fail, 1},
	}
	for _, s := range steps {
		h, err := c.Refresh(ctx, s.key, s.check)
		if err != nil {
			t.Fatal(err)
		}
		if h.ConsecutiveFailures != s.want {
			t.Errorf("%s: ConsecutiveFailures = %d, want %d", s.name, h.ConsecutiveFailures, s.want)
		}
		if last, _ := c.Last(s.key); last.ConsecutiveFailures != s.want {
			t.Errorf("%s: Last says %d failures, want %d", s.name, last.ConsecutiveFailures, s.want)
		}
		if !h.OK && h.Latency < 20*time.Millisecond {
			t.Errorf("%s: Latency = %s, want at least the check's 20ms", s.name, h.Latency)
		}
	}
	if latest, ok := c.Latest(); !ok || latest.ConsecutiveFailures != 1 || latest.OK {
		t.Errorf("Latest = %+v, %v", latest, ok)
	}
}
