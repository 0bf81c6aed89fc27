package supervisor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
)

// fakeInstance is a process that exits or stops answering on command.
type fakeInstance struct {
	pid     int
	exited  atomic.Bool
	pingErr atomic.Pointer[error]
	kills   atomic.Int32
	killErr error
}

func (f *fakeInstance) PID() int     { return f.pid }
func (f *fakeInstance) Exited() bool { return f.exited.Load() }
func (f *fakeInstance) Ping(context.Context) error {
	if p := f.pingErr.Load(); p != nil {
		return *p
	}
	return nil
}
func (f *fakeInstance) Kill(time.Duration) error {
	f.kills.Add(1)
	f.exited.Store(true)
	return f.killErr
}

// launcher hands out scripted results, then healthy instances.
type launcher struct {
	mu      sync.Mutex
	script  []error // nil entries launch an instance
	calls   int
	nextPID int
	made    []*fakeInstance
}

func (l *launcher) launch(context.Context) (*fakeInstance, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if len(l.script) > 0 {
		err := l.script[0]
		l.script = l.script[1:]
		if err != nil {
			return nil, err
		}
	}
	l.nextPID++
	in := &fakeInstance{pid: 100 + l.nextPID}
	l.made = append(l.made, in)
	return in, nil
}

func (l *launcher) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

type phases struct {
	mu sync.Mutex
	ph []Phase
}

func (p *phases) add(s State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ph = append(p.ph, s.Phase)
}

func (p *phases) get() []Phase {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ph)
}

func config(l *launcher, rec *phases) Config[*fakeInstance] {
	return Config[*fakeInstance]{
		Launch:        l.launch,
		PingInterval:  time.Millisecond,
		PingTimeout:   time.Second,
		BackoffMin:    time.Millisecond,
		BackoffMax:    2 * time.Millisecond,
		MaxRestarts:   5,
		Window:        time.Minute,
		KillTimeout:   time.Second,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnStateChange: rec.add,
	}
}

// patience bounds every wait; it only stops a broken test hanging.
const patience = 30 * time.Second

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		min, max time.Duration
		n        int
		want     time.Duration
	}{
		{10 * time.Millisecond, 50 * time.Millisecond, 1, 10 * time.Millisecond},
		{10 * time.Millisecond, 50 * time.Millisecond, 2, 20 * time.Millisecond},
		{10 * time.Millisecond, 50 * time.Millisecond, 3, 40 * time.Millisecond},
		{10 * time.Millisecond, 50 * time.Millisecond, 4, 50 * time.Millisecond},
		{10 * time.Millisecond, 50 * time.Millisecond, 1000, 50 * time.Millisecond},
		{250 * time.Millisecond, 10 * time.Second, 6, 8 * time.Second},
	}
	for _, tc := range tests {
		if got := Backoff(tc.min, tc.max, tc.n); got != tc.want {
			t.Errorf("Backoff(%v, %v, %d) = %v, want %v", tc.min, tc.max, tc.n, got, tc.want)
		}
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	pingFailure := errors.New("no answer")
	tests := []struct {
		name      string
		fail      func(*fakeInstance)
		wantError string
	}{
		{name: "process exited", fail: func(in *fakeInstance) { in.exited.Store(true) }, wantError: "plugin process exited"},
		{name: "ping fails", fail: func(in *fakeInstance) { in.pingErr.Store(&pingFailure) }, wantError: "plugin did not answer its ping: no answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, rec := &launcher{}, &phases{}
			s, err := Start(context.Background(), config(l, rec))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(time.Second)
			first, ok := s.Current()
			if !ok || first.PID() != 101 {
				t.Fatalf("Current = %v, %v", first, ok)
			}
			tc.fail(first)
			waitfor.Until(t, patience, "a restart", func() bool { st := s.State(); return st.Phase == Running && st.PID == 102 })
			if first.kills.Load() != 1 {
				t.Fatalf("the failed instance was killed %d times, want 1", first.kills.Load())
			}
			st := s.State()
			if st.Restarts != 1 || st.LastError != tc.wantError {
				t.Fatalf("State = %+v, want 1 restart and LastError %q", st, tc.wantError)
			}
			waitfor.Until(t, patience, "the states to be reported", func() bool { return len(rec.get()) == 5 })
			if got, want := rec.get(), []Phase{Starting, Running, Down, Restarting, Running}; !slices.Equal(got, want) {
				t.Fatalf("phases %v, want %v", got, want)
			}
		})
	}
}

func TestGiveUp(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	permanent := errors.New("checksum mismatch")
	tests := []struct {
		name         string
		maxRestarts  int
		script       []error
		permanent    error
		wantRestarts int
		wantError    string
	}{
		{
			name: "max restarts within the window", maxRestarts: 2,
			script:       []error{nil, boom, boom, boom},
			wantRestarts: 2, wantError: "gave up after 3 crashes within 1m0s: boom",
		},
		{
			name: "permanent launch error", maxRestarts: 5,
			script: []error{nil, permanent}, permanent: permanent,
			wantRestarts: 1, wantError: "checksum mismatch",
		},
		{
			name: "restarts disabled", maxRestarts: -1,
			script:       []error{nil},
			wantRestarts: 0, wantError: "gave up after 1 crash within 1m0s: plugin process exited",
		},
		{
			// Zero is taken as given, not as a default: the SDK's Options
			// turn their zero into DefaultMaxRestarts.
			name: "zero restarts", maxRestarts: 0,
			script:       []error{nil},
			wantRestarts: 0, wantError: "gave up after 1 crash within 1m0s: plugin process exited",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, rec := &launcher{script: tc.script}, &phases{}
			cfg := config(l, rec)
			cfg.MaxRestarts = tc.maxRestarts
			cfg.Permanent = func(err error) bool { return tc.permanent != nil && errors.Is(err, tc.permanent) }
			s, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(time.Second)
			first, _ := s.Current()
			first.exited.Store(true)
			waitfor.Until(t, patience, "the supervisor to give up", func() bool { return s.State().Phase == Failed })
			st := s.State()
			if st.Restarts != tc.wantRestarts || st.LastError != tc.wantError || st.PID != 0 {
				t.Fatalf("State = %+v, want %d restarts and LastError %q", st, tc.wantRestarts, tc.wantError)
			}
			if _, ok := s.Current(); ok {
				t.Fatal("Current returned an instance after giving up")
			}
			if n := l.count(); n != 1+tc.wantRestarts {
				t.Fatalf("%d launches, want %d", n, 1+tc.wantRestarts)
			}
		})
	}
}

// Crashes older than the window are forgotten: a plugin that crashes now
// and then is restarted for ever.
func TestWindowForgetsOldCrashes(t *testing.T) {
	t.Parallel()
	l, rec := &launcher{}, &phases{}
	cfg := config(l, rec)
	cfg.MaxRestarts = 1
	cfg.Window = time.Nanosecond
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(time.Second)
	for i := 1; i <= 3; i++ {
		in, ok := s.Current()
		if !ok {
			t.Fatalf("crash %d: not running: %+v", i, s.State())
		}
		in.exited.Store(true)
		waitfor.Until(t, patience, "a restart", func() bool { st := s.State(); return st.Phase == Running && st.PID == in.PID()+1 })
	}
	if st := s.State(); st.Restarts != 3 {
		t.Fatalf("State = %+v, want 3 restarts", st)
	}
}

// The supervisor takes its values as given (the SDK's Options own the
// defaults): a field left out or out of order is refused before anything
// is launched, never silently replaced.
func TestStartRefusesAnIncompleteConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*Config[*fakeInstance])
		wantErr string
	}{
		{"no Launch", func(c *Config[*fakeInstance]) { c.Launch = nil }, "supervisor: Launch is nil"},
		{"no Logger", func(c *Config[*fakeInstance]) { c.Logger = nil }, "supervisor: Logger is nil"},
		{"no PingInterval", func(c *Config[*fakeInstance]) { c.PingInterval = 0 },
			"supervisor: PingInterval 0s, PingTimeout 1s, Window 1m0s and KillTimeout 1s must all be positive"},
		{"no PingTimeout", func(c *Config[*fakeInstance]) { c.PingTimeout = 0 },
			"supervisor: PingInterval 1ms, PingTimeout 0s, Window 1m0s and KillTimeout 1s must all be positive"},
		{"no Window", func(c *Config[*fakeInstance]) { c.Window = 0 },
			"supervisor: PingInterval 1ms, PingTimeout 1s, Window 0s and KillTimeout 1s must all be positive"},
		{"no KillTimeout", func(c *Config[*fakeInstance]) { c.KillTimeout = -time.Second },
			"supervisor: PingInterval 1ms, PingTimeout 1s, Window 1m0s and KillTimeout -1s must all be positive"},
		{"no BackoffMin", func(c *Config[*fakeInstance]) { c.BackoffMin = 0 }, "supervisor: want 0 < BackoffMin (0s) <= BackoffMax (2ms)"},
		{"BackoffMax below BackoffMin", func(c *Config[*fakeInstance]) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond },
			"supervisor: want 0 < BackoffMin (1s) <= BackoffMax (1ms)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := &launcher{}
			cfg := config(l, &phases{})
			tc.mutate(&cfg)
			s, err := Start(context.Background(), cfg)
			if s != nil || err == nil || err.Error() != tc.wantErr {
				t.Fatalf("Start = %v, %v; want the error %q", s, err, tc.wantErr)
			}
			if n := l.count(); n != 0 {
				t.Fatalf("%d launches; a refused Config must launch nothing", n)
			}
		})
	}
}

func TestFirstLaunchFails(t *testing.T) {
	t.Parallel()
	l, rec := &launcher{script: []error{errors.New("exec format error")}}, &phases{}
	s, err := Start(context.Background(), config(l, rec))
	if err == nil || s != nil || err.Error() != "exec format error" {
		t.Fatalf("Start = %v, %v; want the launch error", s, err)
	}
	waitfor.Until(t, patience, "the states to be reported", func() bool { return len(rec.get()) == 2 })
	if got, want := rec.get(), []Phase{Starting, Failed}; !slices.Equal(got, want) {
		t.Fatalf("phases %v, want %v", got, want)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	t.Run("kills the instance, once", func(t *testing.T) {
		t.Parallel()
		l, rec := &launcher{}, &phases{}
		s, err := Start(context.Background(), config(l, rec))
		if err != nil {
			t.Fatal(err)
		}
		in, _ := s.Current()
		in.killErr = errors.New("hung")
		err = s.Close(time.Second)
		if err == nil || err.Error() != "stop plugin process 101: hung" {
			t.Fatalf("Close = %v", err)
		}
		if again := s.Close(time.Second); again != err {
			t.Fatalf("second Close = %v, want %v", again, err)
		}
		if in.kills.Load() != 1 || s.State().Phase != Closed {
			t.Fatalf("kills = %d, state %+v", in.kills.Load(), s.State())
		}
		if _, ok := s.Current(); ok {
			t.Fatal("Current returned an instance after Close")
		}
		if got := rec.get(); got[len(got)-1] != Closed {
			t.Fatalf("phases %v: the last must be closed (Close waits for delivery)", got)
		}
	})
	t.Run("interrupts the backoff", func(t *testing.T) {
		t.Parallel()
		l, rec := &launcher{}, &phases{}
		cfg := config(l, rec)
		cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
		s, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := s.Current()
		in.exited.Store(true)
		waitfor.Until(t, patience, "the restart to wait", func() bool { return s.State().Phase == Restarting })
		if err := s.Close(time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if st := s.State(); st.Phase != Closed || l.count() != 1 {
			t.Fatalf("State = %+v after %d launches; want closed, no relaunch", st, l.count())
		}
	})
	t.Run("kills an instance launched while closing", func(t *testing.T) {
		t.Parallel()
		rec := &phases{}
		late := &fakeInstance{pid: 7}
		var calls atomic.Int32
		started := make(chan struct{})
		cfg := config(&launcher{}, rec)
		cfg.Launch = func(ctx context.Context) (*fakeInstance, error) {
			if calls.Add(1) == 1 {
				return &fakeInstance{pid: 6}, nil
			}
			close(started)
			<-ctx.Done()
			return late, nil // a launch that ignores cancellation
		}
		s, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := s.Current()
		in.exited.Store(true)
		<-started
		if err := s.Close(time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if late.kills.Load() != 1 {
			t.Fatal("the instance launched during Close was not killed")
		}
		if st := s.State(); st.Phase != Closed {
			t.Fatalf("State = %+v, want closed", st)
		}
	})
}

func TestOnStateChangePanicIsContained(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	l := &launcher{}
	cfg := config(l, &phases{})
	cfg.OnStateChange = func(State) {
		n.Add(1)
		panic("host bug")
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("OnStateChange called %d times, want 3 (starting, running, closed)", got)
	}
}

func TestPhaseString(t *testing.T) {
	t.Parallel()
	var got []string
	for p := Starting; p <= Closed+1; p++ {
		got = append(got, p.String())
	}
	if want := "starting running down restarting failed closed phase(6)"; strings.Join(got, " ") != want {
		t.Fatalf("phases = %q, want %q", strings.Join(got, " "), want)
	}
}
