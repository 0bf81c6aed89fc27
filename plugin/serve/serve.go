// Package serve runs the plugin process: it wires the service to the gRPC
// contract, hands it to go-plugin, and makes sure the process does not
// outlive its host.
package serve

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

	"github.com/helpdesk-duo/duo-plugin/plugin/grpcserver"
	"github.com/helpdesk-duo/duo-plugin/plugin/service"
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

// Run serves the plugin until the host tells it to stop or goes away.
// svcCfg.Logger and svcCfg.Runtime are filled in if empty.
func Run(rt settings.Runtime, log hclog.Logger, svcCfg service.Config) {
	svcCfg.Runtime = rt
	svcCfg.Logger = log
	// When the host dies, our stderr is a broken pipe; by default Go kills
	// the process on the first log write, before the store is closed.
	signal.Ignore(syscall.SIGPIPE)
	svc := service.New(svcCfg)
	go WatchParent(log, svc, 500*time.Millisecond)

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  contract.Handshake,
		VersionedPlugins: contract.VersionedPlugins(grpcserver.New(svc, log)),
		Logger:           log,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.ChainUnaryInterceptor(grpcserver.RecoverInterceptor(log)))
			return grpc.NewServer(opts...)
		},
	})
	shutdown(log, svc)
}

// WatchParent exits the process when the host that started it dies (the
// process is then re-parented), after closing the store, so that an orphan
// never holds the database. It checks every interval; the close is bounded
// so the exit comes within a few seconds.
func WatchParent(log hclog.Logger, svc *service.Service, interval time.Duration) {
	parent := os.Getppid()
	for {
		time.Sleep(interval)
		if os.Getppid() != parent {
			shutdown(log, svc)
			log.Warn("host process is gone; plugin exited", "old_parent", parent)
			os.Exit(0)
		}
	}
}

func shutdown(log hclog.Logger, svc *service.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Deactivate(ctx, service.Actor{Username: "plugin-shutdown"}) }()
	select {
	case err := <-done:
		if err != nil {
			log.Error("shutdown: close store", "error", err)
		}
	case <-ctx.Done():
		log.Error("shutdown: store did not close in time")
	}
}
