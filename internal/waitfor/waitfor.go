// Package waitfor is for tests that wait on something another goroutine or
// process does: a supervisor restarting a plugin, a log line arriving, a
// simulator noticing a client left. Tests only: product code never polls.
package waitfor

import (
	"testing"
	"time"
)

// poll is how often Until checks: short beside every wait it serves, long
// enough not to spin.
const poll = 5 * time.Millisecond

// Until returns as soon as cond holds; if it still does not once timeout
// has passed, it fails the test naming what it waited for. The timeout only
// stops a broken test hanging; it never times the thing awaited. cond is
// called from the test's goroutine, first at once.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		time.Sleep(poll)
	}
}
