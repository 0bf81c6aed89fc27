// Package process runs the plugin as a go-plugin subprocess: it serves the
// plugin's hooks through the contract's gRPC adapter, and makes sure the
// process does not outlive its host.
package process

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/helpdesk-duo/duo-plugin/plugin/hooks"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// NewLogger returns the plugin's logger: hclog on stderr, JSON by default,
// which go-plugin on the host side parses into the host's log.
func NewLogger(rt settings.Runtime, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "duo-plugin",
		Level:      hclog.LevelFromString(rt.LogLevel),
		JSONFormat: rt.LogFormat != "text",
		Output:     w,
	})
}

// Serve serves p until the host tells the process to stop or goes away,
// then deactivates it so that its store is closed.
func Serve(p *hooks.Plugin, log hclog.Logger) {
	// When the host dies, our stderr is a broken pipe; by default Go kills
	// the process on the first log write, before the store is closed.
	signal.Ignore(syscall.SIGPIPE)
	go WatchParent(log, p, 500*time.Millisecond)

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  contract.Handshake,
		VersionedPlugins: contract.VersionedPlugins(p, log),
		Logger:           log,
		GRPCServer:       grpcServer,
	})
	shutdown(log, p)
}

// streamWorkers is how many goroutines serve calls, kept from one call to
// the next (grpc.NumStreamWorkers); a call that finds them all busy gets
// a goroutine of its own, as without workers. A hook call runs SQLite's
// interpreter (modernc), whose frames are large: on a new goroutine per
// call its stack grew, by copying, on every call; a worker's stack has
// grown once (gRPC renews it every 65536 calls).
const streamWorkers = 32

// grpcServer is go-plugin's default server with stream workers.
func grpcServer(opts []grpc.ServerOption) *grpc.Server {
	return plugin.DefaultGRPCServer(append(opts, grpc.NumStreamWorkers(streamWorkers)))
}

// WatchParent exits the process when the host that started it dies (the
// process is then re-parented), after closing the store, so that an orphan
// never holds the database. It checks every interval; the close is bounded
// so the exit comes within a few seconds.
func WatchParent(log hclog.Logger, p *hooks.Plugin, interval time.Duration) {
	parent := os.Getppid()
	for {
		time.Sleep(interval)
		if os.Getppid() != parent {
			shutdown(log, p)
			log.Warn("host process is gone; plugin exited", "old_parent", parent)
			os.Exit(0)
		}
	}
}

func shutdown(log hclog.Logger, p *hooks.Plugin) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// The plugin closing itself is the system acting, not a person.
		_, err := p.Deactivate(ctx, contract.DeactivateRequest{Actor: contract.Actor{ID: "plugin-shutdown", Username: "plugin-shutdown", Role: contract.RoleSystem}})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			log.Error("shutdown: close store", "error", err)
		}
	case <-ctx.Done():
		log.Error("shutdown: store did not close in time")
	}
}
