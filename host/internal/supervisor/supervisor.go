// Package supervisor keeps a plugin process alive: it watches the running
// instance (process exit and a periodic ping), marks it down the moment it
// fails, restarts it with exponential backoff, and gives up after too many
// crashes in a window. It knows nothing about go-plugin or the Duo contract:
// the host SDK hands it a Launch function and instances that can be pinged
// and killed.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Phase is where the supervised plugin is in its life.
type Phase int

// Phases. Calls are only forwarded to the plugin while it is Running.
const (
	// Starting: the first launch is under way.
	Starting Phase = iota
	// Running: the process is up, answered its last ping and, after a
	// restart, has been brought to the host's activation.
	Running
	// Down: the process exited or stopped answering; a restart follows.
	Down
	// Restarting: waiting out the backoff or launching a new process.
	Restarting
	// Failed: the supervisor gave up (too many crashes in the window, or an
	// error no restart can fix such as a checksum mismatch). Terminal.
	Failed
	// Closed: Close was called. Terminal.
	Closed
)

// String returns the phase in lower case, for logs.
func (p Phase) String() string {
	switch p {
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Down:
		return "down"
	case Restarting:
		return "restarting"
	case Failed:
		return "failed"
	case Closed:
		return "closed"
	default:
		return fmt.Sprintf("phase(%d)", int(p))
	}
}

// State is a snapshot of the supervised plugin.
type State struct {
	Phase Phase
	// PID of the running process; 0 unless Running.
	PID int
	// Restarts counts restart attempts since the first start, successful or
	// not.
	Restarts int
	// LastError describes the last failure (crash, failed ping, failed
	// restart); empty if there was none. It never contains secrets: it is
	// built from process and transport errors only.
	LastError string
	// Since is when the plugin entered this state.
	Since time.Time
}

// Instance is one running plugin process.
type Instance interface {
	// PID is the process id.
	PID() int
	// Exited reports whether the process has exited.
	Exited() bool
	// Ping checks that the process answers; it must honour ctx.
	Ping(ctx context.Context) error
	// Kill stops the process, forcibly if it has not exited within timeout,
	// and returns within roughly timeout.
	Kill(timeout time.Duration) error
}

// Config configures a Supervisor. It takes every value as given: the host
// SDK's Options own the defaults, and Start refuses a Config with a field
// missing or out of order.
type Config[I Instance] struct {
	// Launch starts a new instance and prepares it to serve (for the host
	// SDK: ask the host's activation, start the process, dispense the client,
	// activate it).
	// It must return promptly once ctx is done.
	Launch func(ctx context.Context) (I, error)
	// Permanent reports errors from Launch that no restart can fix; the
	// supervisor goes Failed at once instead of retrying. May be nil.
	Permanent func(error) bool

	PingInterval time.Duration // > 0
	PingTimeout  time.Duration // > 0
	// BackoffMin and BackoffMax bound the delay before a restart:
	// 0 < BackoffMin <= BackoffMax.
	BackoffMin, BackoffMax time.Duration
	// MaxRestarts is how many crashes within Window are restarted; one more
	// and the supervisor goes Failed. Zero or negative never restarts.
	MaxRestarts int
	Window      time.Duration // > 0
	KillTimeout time.Duration // > 0; bound on killing a crashed or hung instance

	Logger *slog.Logger // required
	// OnStateChange is called with every new state, in order, from a
	// goroutine of its own; it must not block for long.
	OnStateChange func(State)
}

// check reports the first field that is missing or out of order.
func (c *Config[I]) check() error {
	switch {
	case c.Launch == nil:
		return errors.New("supervisor: Launch is nil")
	case c.Logger == nil:
		return errors.New("supervisor: Logger is nil")
	case c.PingInterval <= 0, c.PingTimeout <= 0, c.Window <= 0, c.KillTimeout <= 0:
		return fmt.Errorf("supervisor: PingInterval %v, PingTimeout %v, Window %v and KillTimeout %v must all be positive",
			c.PingInterval, c.PingTimeout, c.Window, c.KillTimeout)
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("supervisor: want 0 < BackoffMin (%v) <= BackoffMax (%v)", c.BackoffMin, c.BackoffMax)
	}
	return nil
}

// Supervisor owns the current instance. All methods are safe for concurrent
// use.
type Supervisor[I Instance] struct {
	cfg Config[I]
	log *slog.Logger

	ctx    context.Context // cancelled by Close: aborts backoff waits and launches
	cancel context.CancelFunc
	kick   chan struct{}
	done   chan struct{} // closed when the watch loop has returned

	mu     sync.Mutex
	cur    I
	has    bool
	state  State
	closed bool

	notify *notifier

	closeOnce sync.Once
	closeErr  error
}

// Start launches the first instance and, once it runs, starts watching it.
// ctx bounds the first launch only. If the first launch fails, Start returns
// its error and nothing is left running. A Config that Start refuses
// launches nothing.
func Start[I Instance](ctx context.Context, cfg Config[I]) (*Supervisor[I], error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Supervisor[I]{
		cfg:    cfg,
		log:    cfg.Logger,
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		notify: newNotifier(cfg.OnStateChange, cfg.Logger),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.transition(func(st *State) { st.Phase = Starting })

	in, err := cfg.Launch(ctx)
	if err != nil {
		s.transition(func(st *State) { st.Phase = Failed; st.LastError = err.Error() })
		s.cancel()
		close(s.done)
		s.notify.close()
		return nil, err
	}
	s.mu.Lock()
	s.cur, s.has = in, true
	s.mu.Unlock()
	s.transition(func(st *State) { st.Phase = Running; st.PID = in.PID() })
	go s.loop()
	return s, nil
}

// Current returns the running instance, or false unless the phase is
// Running.
func (s *Supervisor[I]) Current() (I, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.has || s.state.Phase != Running {
		var zero I
		return zero, false
	}
	return s.cur, true
}

// State returns a snapshot of the current state.
func (s *Supervisor[I]) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Kick asks the supervisor to check the instance now instead of at the next
// ping, for example after a call failed with a transport error. It never
// blocks.
func (s *Supervisor[I]) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// transition applies fn to the state, stamps Since and reports the new state.
// It does nothing once the supervisor is closed, so a watch loop that is
// still winding down cannot resurrect a closed plugin's state.
func (s *Supervisor[I]) transition(fn func(*State)) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	prev := s.state
	fn(&s.state)
	if s.state.Phase != Running {
		s.state.PID = 0
	}
	s.state.Since = time.Now()
	st := s.state
	s.mu.Unlock()
	if st.Phase != prev.Phase || st.PID != prev.PID || st.Restarts != prev.Restarts || st.LastError != prev.LastError || prev.Since.IsZero() {
		s.notify.push(st)
	}
	return true
}

func (s *Supervisor[I]) loop() {
	defer close(s.done)
	ticker := time.NewTicker(s.cfg.PingInterval)
	defer ticker.Stop()
	var crashes []time.Time
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-ticker.C:
		case <-s.kick:
		}
		in, ok := s.Current()
		if !ok {
			continue
		}
		err := s.check(in)
		if err == nil {
			continue
		}
		if s.ctx.Err() != nil {
			return
		}
		if !s.recover(in, err, &crashes) {
			return
		}
	}
}

// check returns why the instance is unhealthy, or nil.
func (s *Supervisor[I]) check(in I) error {
	if in.Exited() {
		return errors.New("plugin process exited")
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.PingTimeout)
	defer cancel()
	if err := in.Ping(ctx); err != nil {
		if in.Exited() {
			return errors.New("plugin process exited")
		}
		return fmt.Errorf("plugin did not answer its ping: %w", err)
	}
	return nil
}

// recover marks the plugin down, disposes of the old instance and restarts
// until a launch succeeds (true) or the supervisor gives up or is closed
// (false).
func (s *Supervisor[I]) recover(old I, cause error, crashes *[]time.Time) bool {
	s.mu.Lock()
	var zero I
	s.cur, s.has = zero, false
	s.mu.Unlock()
	s.transition(func(st *State) { st.Phase = Down; st.LastError = cause.Error() })
	s.log.Error("plugin down; failing closed until it is back", "pid", old.PID(), "error", cause)

	// Reap the old process (and force-kill it if it hung rather than died).
	if err := old.Kill(s.cfg.KillTimeout); err != nil {
		s.log.Error("could not stop the failed plugin process", "pid", old.PID(), "error", err)
	}

	for {
		now := time.Now()
		*crashes = append(pruneBefore(*crashes, now.Add(-s.cfg.Window)), now)
		if s.cfg.MaxRestarts < 0 || len(*crashes) > s.cfg.MaxRestarts {
			noun := "crashes"
			if len(*crashes) == 1 {
				noun = "crash"
			}
			msg := fmt.Sprintf("gave up after %d %s within %s: %v", len(*crashes), noun, s.cfg.Window, cause)
			s.transition(func(st *State) { st.Phase = Failed; st.LastError = msg })
			s.log.Error("plugin failed; not restarting it again: every call fails closed", "crashes", len(*crashes), "window", s.cfg.Window.String(), "error", cause)
			return false
		}
		delay := Backoff(s.cfg.BackoffMin, s.cfg.BackoffMax, len(*crashes))
		if !s.transition(func(st *State) { st.Phase = Restarting; st.Restarts++ }) {
			return false
		}
		s.log.Info("restarting plugin", "in", delay.String(), "attempt", len(*crashes))
		timer := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}

		in, err := s.cfg.Launch(s.ctx)
		if s.ctx.Err() != nil {
			if err == nil {
				_ = in.Kill(s.cfg.KillTimeout)
			}
			return false
		}
		if err != nil {
			if s.cfg.Permanent != nil && s.cfg.Permanent(err) {
				s.transition(func(st *State) { st.Phase = Failed; st.LastError = err.Error() })
				s.log.Error("plugin cannot be restarted; not trying again: every call fails closed", "error", err)
				return false
			}
			s.log.Error("plugin restart failed", "error", err)
			cause = err
			s.transition(func(st *State) { st.LastError = err.Error() })
			continue
		}

		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = in.Kill(s.cfg.KillTimeout)
			return false
		}
		s.cur, s.has = in, true
		s.mu.Unlock()
		s.transition(func(st *State) { st.Phase = Running; st.PID = in.PID() })
		s.log.Info("plugin restarted", "pid", in.PID())
		return true
	}
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	out := ts[:0]
	for _, t := range ts {
		if t.After(cutoff) {
			out = append(out, t)
		}
	}
	return out
}

// Backoff is the delay before the restart that follows the n-th crash in the
// window (n ≥ 1): min, doubling per crash, capped at max.
func Backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// Close stops watching and restarting, kills the current instance (forcibly
// once timeout has passed) and reports the Closed state. It returns within
// about timeout plus the instance's own kill bound, and only the first call
// does anything; later calls return the first result.
func (s *Supervisor[I]) Close(timeout time.Duration) error {
	s.closeOnce.Do(func() {
		deadline := time.Now().Add(timeout)
		s.cancel()
		timer := time.NewTimer(timeout)
		select {
		case <-s.done:
		case <-timer.C:
			s.log.Warn("plugin supervisor did not stop in time; closing anyway")
		}
		timer.Stop()

		// Closed is set before the kill: calls fail at once from here on, and
		// a watch loop that is still winding down can no longer change the
		// state or install a new instance.
		s.mu.Lock()
		in, has := s.cur, s.has
		var zero I
		s.cur, s.has = zero, false
		s.state = State{Phase: Closed, Restarts: s.state.Restarts, LastError: s.state.LastError, Since: time.Now()}
		s.closed = true
		st := s.state
		s.mu.Unlock()
		s.notify.push(st)

		if has {
			remaining := time.Until(deadline)
			if remaining < 100*time.Millisecond {
				remaining = 100 * time.Millisecond
			}
			if err := in.Kill(remaining); err != nil {
				s.closeErr = fmt.Errorf("stop plugin process %d: %w", in.PID(), err)
			}
		}
		s.notify.close()
		s.notify.wait(time.Until(deadline))
	})
	return s.closeErr
}

// notifier delivers states to the callback in order, from its own
// goroutine, so a slow callback never stalls the supervisor.
type notifier struct {
	fn   func(State)
	log  *slog.Logger
	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex
	queue  []State
	closed bool
}

func newNotifier(fn func(State), log *slog.Logger) *notifier {
	if fn == nil {
		return nil
	}
	n := &notifier{fn: fn, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go n.run()
	return n
}

func (n *notifier) push(st State) {
	if n == nil {
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.queue = append(n.queue, st)
	n.mu.Unlock()
	n.signal()
}

func (n *notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) close() {
	if n == nil {
		return
	}
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.signal()
}

// wait waits for the queue to drain, at most d.
func (n *notifier) wait(d time.Duration) {
	if n == nil {
		return
	}
	if d < 100*time.Millisecond {
		d = 100 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.done:
	case <-t.C:
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		n.mu.Lock()
		q, closed := n.queue, n.closed
		n.queue = nil
		n.mu.Unlock()
		if len(q) == 0 {
			if closed {
				return
			}
			<-n.wake
			continue
		}
		for _, st := range q {
			n.call(st)
		}
	}
}

func (n *notifier) call(st State) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("OnStateChange panicked", "panic", fmt.Sprint(r))
		}
	}()
	n.fn(st)
}
