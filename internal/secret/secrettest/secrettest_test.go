package secrettest

import (
	"fmt"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

// recorder counts the failures NoLeakThroughFmt reports.
type recorder struct {
	testing.TB
	failures int
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failures++ }

// The sweep catches a plain string and a hex-encoded one, and passes a
// secret.Value.
func TestSweepCatchesLeaks(t *testing.T) {
	t.Parallel()
	const s = "hunter2-and-more"
	for _, tc := range []struct {
		name string
		v    any
		leak bool
	}{
		{"plain string", s, true},
		{"hex only", fmt.Sprintf("%x", s), true},
		{"secret.Value", secret.Value(s), false},
	} {
		r := &recorder{TB: t}
		NoLeakThroughFmt(r, s, []any{tc.v}, nil)
		if (r.failures > 0) != tc.leak {
			t.Errorf("%s: %d failures, want a leak reported: %v", tc.name, r.failures, tc.leak)
		}
	}
}
