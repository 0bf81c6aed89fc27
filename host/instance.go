package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/helpdesk-duo/duo-plugin/host/internal/logbridge"
	"github.com/helpdesk-duo/duo-plugin/host/internal/supervisor"
	"github.com/helpdesk-duo/duo-plugin/internal/filehash"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// instance is one plugin process and the contract client dispensed from
// it.
type instance struct {
	client *plugin.Client     // nil for an in-process test connection
	rpc    *plugin.GRPCClient // go-plugin's connection: gRPC, the only protocol the SDK allows
	plugin contract.Plugin
	proc   *os.Process // nil for an in-process test connection
	// cleanup removes the private copy of the executable; nil for an
	// in-process test connection.
	cleanup func()
	// services is what the process serves, for Supports.
	services services
}

// PID is the process id, or 0 without a process.
func (in *instance) PID() int {
	if in.proc == nil {
		return 0
	}
	return in.proc.Pid
}

// Exited reports whether the process has exited (and been reaped).
func (in *instance) Exited() bool {
	return in.client != nil && in.client.Exited()
}

// Ping runs the same gRPC health check as go-plugin's ClientProtocol.Ping,
// but under ctx: Ping itself uses context.Background(), so a stopped or
// wedged process would hang it forever.
func (in *instance) Ping(ctx context.Context) error {
	resp, err := healthpb.NewHealthClient(in.rpc.Conn).Check(ctx, &healthpb.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health status %s", resp.GetStatus())
	}
	return nil
}

// Kill asks the process to exit and kills it outright after timeout.
// go-plugin's Client.Kill is not enough on its own: its graceful step sends a
// Shutdown RPC with no deadline, so a stopped or wedged plugin hangs it
// before its own two-second force-kill is reached.
func (in *instance) Kill(timeout time.Duration) error {
	if in.client == nil {
		return nil
	}
	if in.cleanup != nil {
		defer in.cleanup()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		in.client.Kill()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	// os.Process.Kill is safe against PID reuse: it does nothing once the
	// process has been waited for.
	if in.proc != nil {
		_ = in.proc.Kill()
	}
	t2 := time.NewTimer(time.Second)
	defer t2.Stop()
	select {
	case <-done:
		return fmt.Errorf("plugin did not exit within %s; killed it", timeout.Round(time.Millisecond))
	case <-t2.C:
		return fmt.Errorf("plugin did not exit within %s, nor after SIGKILL", timeout.Round(time.Millisecond))
	}
}

// verifiedCopy copies the executable at path into a directory of its own
// that only this user can write, hashing what it copies, and returns the
// copy's path and a func that removes it. It fails with
// ErrChecksumMismatch when the bytes copied do not match the manifest's
// sha256 (nil only with AllowUnverified). Hashing the file at path and then
// executing path, as go-plugin's SecureConfig does, leaves a window in which
// the file can be swapped; the copy is both the file hashed and the file
// run. The directory is under Options.ExecDir, which must allow executing
// (not a noexec mount).
func (p *Plugin) verifiedCopy(path string) (exe string, cleanup func(), err error) {
	src, err := os.Open(path)
	if err != nil {
		return "", nil, sentinelError(ErrNoExecutable, "open plugin executable: %v", err)
	}
	defer src.Close()
	dir, err := os.MkdirTemp(p.opts.ExecDir, "duo-plugin-")
	if err != nil {
		return "", nil, fmt.Errorf("private copy of the plugin executable: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	exe = filepath.Join(dir, filepath.Base(path))
	sum, err := filehash.CopyExecutable(src, exe)
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("private copy of the plugin executable %s: %w", path, err)
	}
	if p.checksum != nil && !bytes.Equal(sum, p.checksum) {
		cleanup()
		return "", nil, sentinelError(ErrChecksumMismatch, "plugin executable %s does not match the sha256 in the manifest; refusing to run it", path)
	}
	return exe, cleanup, nil
}

// launch asks the host whether the plugin should be active, starts a new
// plugin process, verified against the manifest's sha256, dispenses the
// contract's client and brings it to the host's answer. path is the
// executable Start has just resolved, or "" to resolve it again. It
// returns promptly when ctx is done.
func (p *Plugin) launch(ctx context.Context, path string) (*instance, error) {
	// Asked first, so that a host whose record cannot be read right now
	// costs retries of a question, not processes started and killed, nor
	// crashes counted toward giving up.
	want, err := p.askActivation(ctx)
	if err != nil {
		return nil, err
	}
	// Looked up again on every restart so that a binary removed since the
	// last launch fails clearly (and for good) instead of with an exec error.
	if path == "" {
		if path, _, err = p.manifest.Executable(runtime.GOOS, runtime.GOARCH); err != nil {
			return nil, err
		}
	}

	// The file executed is a private copy, hashed as it is written: a binary
	// swapped in the bundle after the check can never be the one that runs.
	exe, cleanup, err := p.verifiedCopy(path)
	if err != nil {
		return nil, err
	}
	// exec.Command, not CommandContext: the process must outlive ctx, which
	// only bounds the start.
	cmd := exec.Command(exe)
	// go-plugin appends the host environment after Cmd.Env, where it would
	// override Options.Env on duplicate keys; build the environment here, with
	// SkipHostEnv, so that Options.Env wins.
	cmd.Env = append(os.Environ(), p.opts.Env...)

	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  contract.Handshake,
		VersionedPlugins: contract.VersionedPlugins(nil, nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     p.opts.StartTimeout,
		Logger:           logbridge.New(p.log, "go-plugin"),
		SyncStdout:       &logbridge.LineWriter{Log: func(l string) { p.log.Debug("plugin stdout", "line", l) }},
		SyncStderr:       &logbridge.LineWriter{Log: func(l string) { p.log.Debug("plugin stderr", "line", l) }},
		SkipHostEnv:      true,
		Managed:          false,
	})

	type started struct {
		rpc plugin.ClientProtocol
		err error
	}
	ch := make(chan started, 1)
	go func() {
		rpc, err := client.Client()
		ch <- started{rpc, err}
	}()
	var s started
	select {
	case s = <-ch:
	case <-ctx.Done():
		// Client.Start holds the client's lock until the handshake ends or
		// StartTimeout passes, so the kill has to wait for it.
		go func() {
			<-ch
			client.Kill()
			cleanup()
		}()
		return nil, fmt.Errorf("start plugin %s: %w", path, context.Cause(ctx))
	}
	// cmd.Process was set by the goroutine above, before it sent on ch.
	in := &instance{client: client, proc: cmd.Process, cleanup: cleanup}
	if runtime.GOOS != "windows" {
		// The running process keeps its image; Windows refuses to remove
		// it until the process exits, so there Kill removes it.
		cleanup()
	}
	if s.err != nil {
		_ = in.Kill(p.opts.ShutdownTimeout)
		if incompatibleProtocol(s.err) {
			return nil, fmt.Errorf("start plugin %s: %w: this host offers protocol %d (%v)",
				path, ErrIncompatibleProtocol, contract.ProtocolVersion, s.err)
		}
		return nil, fmt.Errorf("start plugin %s: %w", path, s.err)
	}
	// AllowedProtocols holds gRPC only, so go-plugin hands out its gRPC client.
	rpc, ok := s.rpc.(*plugin.GRPCClient)
	if !ok {
		_ = in.Kill(p.opts.ShutdownTimeout)
		return nil, fmt.Errorf("start plugin %s: go-plugin returned a %T, want its gRPC client", path, s.rpc)
	}
	in.rpc = rpc

	raw, err := rpc.Dispense(contract.PluginName)
	if err != nil {
		_ = in.Kill(p.opts.ShutdownTimeout)
		return nil, fmt.Errorf("start plugin %s: dispense %q: %w", path, contract.PluginName, err)
	}
	cp, ok := raw.(contract.Plugin)
	if !ok {
		_ = in.Kill(p.opts.ShutdownTimeout)
		return nil, fmt.Errorf("start plugin %s: dispense %q: got %T, want contract.Plugin", path, contract.PluginName, raw)
	}
	in.plugin = cp

	if err := p.applyActivation(ctx, in, want); err != nil {
		_ = in.Kill(p.opts.ShutdownTimeout)
		return nil, err
	}
	return in, nil
}

// activation is the host's answer to "should the plugin be active?".
type activation struct {
	req    contract.ActivateRequest
	active bool
}

// askActivation asks Options.Activation, each try bounded by CallTimeout,
// until it answers or ctx ends, backing off between tries as the
// supervisor does between restarts. Meanwhile no process runs, so every
// call fails closed.
func (p *Plugin) askActivation(ctx context.Context) (activation, error) {
	if p.opts.Activation == nil {
		return activation{}, nil
	}
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout)
		req, active, err := p.opts.Activation(cctx)
		cancel()
		if err == nil {
			return activation{req: req, active: active}, nil
		}
		delay := supervisor.Backoff(p.opts.RestartBackoffMin, p.opts.RestartBackoffMax, attempt)
		p.log.Error("cannot ask the host whether the plugin is active; trying again (calls fail closed meanwhile)",
			"attempt", attempt, "retry_in", delay.String(), "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return activation{}, fmt.Errorf("ask the host whether the plugin is active: %w (gave up: %v)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// applyActivation activates the new process if the host wants it active:
// the plugin keeps "active" only in memory, and the host's record is the
// truth. Activate (which may run migrations) has StartTimeout. A transport
// failure fails the launch (the supervisor retries); a refusal by the
// plugin leaves it running but inactive, which refuses logins with
// ReasonInactive: still closed, and visible to the administrator.
func (p *Plugin) applyActivation(ctx context.Context, in *instance, want activation) error {
	if !want.active {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, p.opts.StartTimeout)
	defer cancel()
	if _, err := in.plugin.Activate(cctx, want.req); err != nil {
		err = fromCall(ctx, err)
		if errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return fmt.Errorf("activate the new plugin process: %w", err)
		}
		p.log.Error("the host wants the plugin active, but activating the new process failed: it stays inactive and refuses logins until an administrator activates it",
			"reason", string(contract.ReasonOf(err)), "error", err)
		return nil
	}
	p.log.Info("plugin process started and activated, as the host's record says")
	return nil
}

// incompatibleProtocol reports whether go-plugin's handshake failed because
// the plugin answered with a protocol version the host does not offer.
// go-plugin has no error type for it, only this message; a test through a
// binary that speaks only protocol 2 keeps the match honest.
func incompatibleProtocol(err error) bool {
	return strings.Contains(strings.ToLower(err.Error()), "incompatible api version with plugin")
}
