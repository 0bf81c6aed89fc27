// Package upgrade tests a host and a plugin of different releases through
// real binaries and the SDK only: a plugin older than the host (it lacks
// services), a plugin that speaks only another major protocol, and a
// database written by an earlier release that the current plugin upgrades
// in place (testdata/, made by the plugin binaries of those releases).
//
// The "other" plugins are the current tree built with the contract's
// test-only build tags (proto/contract/served.go): duotest_older poses as a
// plugin of protocol 1.0 without the AuthLog and Metrics services, and
// duotest_protocol2 speaks only protocol 2.
//
// What goes wrong in an upgrade is the trust suite's: a failed migration is
// rolled back and the plugin refuses to run half-migrated (case 31), and a
// database of a newer release is refused, never downgraded (case 32).
package upgrade

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

const (
	tagOlder     = "duotest_older"
	tagProtocol2 = "duotest_protocol2"
)

func TestMain(m *testing.M) {
	// Build before any test runs, so that no test's deadline is spent
	// compiling.
	for _, tags := range []string{"", tagOlder, tagProtocol2} {
		if err := pluginbuild.PrepareTagged(tags); err != nil {
			pluginbuild.Cleanup()
			fmt.Fprintf(os.Stderr, "upgrade: cannot build the plugin (tags %q): %v\n", tags, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	pluginbuild.Cleanup()
	os.Exit(code)
}

var admin = contract.Actor{ID: "1", Username: "admin", IP: "192.0.2.1", Role: contract.RoleAdmin}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// options are the SDK's options for a bundle, with the plugin's logs
// discarded unless the test fails.
func options(manifest string) host.Options {
	return host.Options{
		ManifestPath: manifest,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Env:          []string{"DUO_PLUGIN_DUO_TIMEOUT=2s"},
		CallTimeout:  10 * time.Second,
		MaxRestarts:  -1,
	}
}

// start starts the plugin of manifest and closes it when the test ends.
func start(t *testing.T, manifest string) *host.Plugin {
	t.Helper()
	p, err := host.Start(ctxT(t), options(manifest))
	if err != nil {
		t.Fatalf("host.Start: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func activate(t *testing.T, p *host.Plugin, dir string) contract.StatusResponse {
	t.Helper()
	res, err := p.Activate(ctxT(t), contract.ActivateRequest{
		Host:        contract.HostInfo{Name: "test-helpdesk", Version: "1.0.0"},
		CallbackURL: "http://127.0.0.1:1/login/duo/callback", DataDir: dir, Actor: admin,
	})
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	return res.Status
}
