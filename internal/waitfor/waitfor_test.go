package waitfor

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// recordingTB records the failure instead of failing the real test, and
// stops its goroutine as t.Fatalf does.
type recordingTB struct {
	testing.TB
	failed string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls Until on a recordingTB in a goroutine of its own, so that its
// Fatalf can end that goroutine, and returns the failure, if any.
func run(timeout time.Duration, what string, cond func() bool) string {
	r := &recordingTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Until(r, timeout, what, cond)
	}()
	<-done
	return r.failed
}

func TestUntilReturnsOnceCondHolds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	if failed := run(time.Minute, "the third call", func() bool { return calls.Add(1) == 3 }); failed != "" {
		t.Fatalf("Until failed: %s", failed)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("cond called %d times, want 3: Until must stop as soon as it holds", n)
	}
}

func TestUntilFailsNamingWhatItAwaited(t *testing.T) {
	t.Parallel()
	start := time.Now()
	failed := run(20*time.Millisecond, "a miracle", func() bool { return false })
	if want := "gave up after 20ms waiting for a miracle"; failed != want {
		t.Fatalf("failure %q, want %q", failed, want)
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Fatalf("gave up after %v, before its timeout", waited)
	}
}
