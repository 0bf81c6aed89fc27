// Package integration drives the real plugin binary through the host SDK:
// the boundary vendors depend on. Each test launches the plugin (built once
// per run, before any test starts) as a subprocess, with a real SQLite file
// and, for logins, the Duo simulator over TLS.
package integration

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func TestMain(m *testing.M) {
	// Build before any test runs: on a cold machine the build takes what it
	// takes, and no test's own deadline may be spent waiting for it.
	if err := pluginbuild.Prepare(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: cannot build the plugin bundle, so no test can run: %v\n", err)
		os.Exit(1)
	}
	// The authentication log's tests seed their database with this.
	if _, err := pluginbuild.Binary(seedPackage); err != nil {
		pluginbuild.Cleanup()
		fmt.Fprintf(os.Stderr, "integration: cannot build %s: %v\n", seedPackage, err)
		os.Exit(1)
	}
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		if _, err := pluginbuild.Binary(barePackage); err != nil {
			pluginbuild.Cleanup()
			fmt.Fprintf(os.Stderr, "integration: cannot build the bare plugin the benchmarks compare with: %v\n", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	pluginbuild.Cleanup()
	os.Exit(code)
}

type started struct {
	p        *host.Plugin
	logs     *testlog.Buffer
	manifest string
}

// startPlugin launches the real plugin from a fresh bundle (or the given
// manifest) and closes it when the test ends.
func startPlugin(t *testing.T, manifest string, tweak func(*host.Options)) started {
	t.Helper()
	if manifest == "" {
		manifest = pluginbuild.ForTest(t)
	}
	logs := &testlog.Buffer{}
	opts := host.Options{
		ManifestPath: manifest,
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Env:          []string{"DUO_PLUGIN_LOG_LEVEL=debug", "DUO_PLUGIN_DUO_TIMEOUT=2s"},
		CallTimeout:  10 * time.Second,
	}
	if tweak != nil {
		tweak(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := host.Start(ctx, opts)
	if err != nil {
		t.Fatalf("host.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Logf("close plugin: %v", err)
		}
	})
	return started{p: p, logs: logs, manifest: manifest}
}

// hostRecord is the host's own record of whether the plugin is active,
// which the SDK asks before every start and restart of the process
// (Options.Activation).
type hostRecord struct {
	mu     sync.Mutex
	req    contract.ActivateRequest
	active bool
	asked  int
}

func (r *hostRecord) activation(context.Context) (contract.ActivateRequest, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked++
	return r.req, r.active, nil
}

// set records what the host did: activated with req, or deactivated.
func (r *hostRecord) set(req contract.ActivateRequest, active bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.req, r.active = req, active
}

// timesAsked is how often the SDK asked the record.
func (r *hostRecord) timesAsked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asked
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
