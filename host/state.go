package host

import (
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host/internal/supervisor"
)

// Phase is where the plugin process is in its life.
type Phase int

// Phases of a plugin process. Calls reach the plugin only while it is
// PhaseRunning; in every other phase they fail at once with an error
// matching ErrUnavailable.
const (
	// PhaseStarting: the first launch is under way.
	PhaseStarting Phase = iota
	// PhaseRunning: the process is up, answered its last ping and, after a
	// restart, was brought to the host's activation (Options.Activation).
	PhaseRunning
	// PhaseDown: the process exited or stopped answering; a restart follows.
	PhaseDown
	// PhaseRestarting: waiting out the backoff or launching a new process.
	PhaseRestarting
	// PhaseFailed: the SDK gave up (too many crashes in the window, or an
	// error no restart can fix such as a checksum mismatch). Terminal.
	PhaseFailed
	// PhaseClosed: Close was called. Terminal.
	PhaseClosed
)

// String returns the phase in lower case, for logs and pages: the
// supervisor's name for it.
func (p Phase) String() string {
	for sp, hp := range phases {
		if hp == p {
			return sp.String()
		}
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// State is a snapshot of the plugin process.
type State struct {
	Phase Phase
	// PID of the running process; 0 unless running.
	PID int
	// Restarts counts restart attempts since the first start.
	Restarts int
	// LastError describes the last failure (crash, failed ping, failed
	// restart), built from process and transport errors only; empty if none.
	LastError string
	// Since is when the plugin entered this phase.
	Since time.Time
}

// phases maps the supervisor's phases onto the SDK's; a test checks every
// one is mapped.
var phases = map[supervisor.Phase]Phase{
	supervisor.Starting:   PhaseStarting,
	supervisor.Running:    PhaseRunning,
	supervisor.Down:       PhaseDown,
	supervisor.Restarting: PhaseRestarting,
	supervisor.Failed:     PhaseFailed,
	supervisor.Closed:     PhaseClosed,
}

func stateOf(s supervisor.State) State {
	ph, ok := phases[s.Phase]
	if !ok {
		ph = PhaseFailed // an unknown phase serves no calls
	}
	return State{Phase: ph, PID: s.PID, Restarts: s.Restarts, LastError: s.LastError, Since: s.Since}
}
