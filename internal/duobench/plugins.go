package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/barestart"
	"github.com/helpdesk-duo/duo-plugin/internal/pprofdir"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

var admin = contract.Actor{ID: "bench-admin", Username: "bench-admin", Role: contract.RoleAdmin}

const callbackURL = "https://helpdesk.example.com/login/duo/callback"

// env is the harness's shared state: the builds, a scratch directory, the
// extra environment of the plugin processes.
type env struct {
	manifest string // the real plugin's bundle (sha256 in the manifest)
	bare     string // internal/bareplugin's binary
	bareSum  []byte // its sha256
	logseed  string // internal/logseed's binary
	scratch  string
	next     int
}

func (e *env) dir(name string) string {
	e.next++
	d := filepath.Join(e.scratch, fmt.Sprintf("%s-%d", name, e.next))
	_ = os.MkdirAll(d, 0o700)
	return d
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startPlugin starts the real plugin through the SDK, as a vendor does
// (checksum verified on a private copy), with extra environment.
func (e *env) startPlugin(ctx context.Context, extraEnv ...string) (*host.Plugin, error) {
	return host.Start(ctx, host.Options{ManifestPath: e.manifest, Logger: quiet(), ExecDir: e.dir("exec"),
		Env: append([]string{"DUO_PLUGIN_LOG_LEVEL=warn", "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true"}, extraEnv...)})
}

// startActive is startPlugin, then Activate on dataDir (a new one if "").
func (e *env) startActive(ctx context.Context, dataDir string, extraEnv ...string) (*host.Plugin, error) {
	p, err := e.startPlugin(ctx, extraEnv...)
	if err != nil {
		return nil, err
	}
	if dataDir == "" {
		dataDir = e.dir("data")
	}
	if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: dataDir, CallbackURL: callbackURL, Actor: admin}); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// startBare starts the floor: the do-nothing go-plugin server of the
// same contract, under the SDK's checksum policy (barestart), with
// nothing around it.
func (e *env) startBare(extraEnv ...string) (*barestart.Bare, error) {
	return barestart.Start(e.bare, e.bareSum, extraEnv...)
}

// profileEnv is the environment that has a process write its CPU profile
// into o.cpuprofile/sub (DUO_PLUGIN_PPROF_DIR, which the plugin and the
// bare plugin both honour), or nothing without -cpuprofile.
func (o opts) profileEnv(sub string) ([]string, error) {
	if o.cpuprofile == "" {
		return nil, nil
	}
	dir := filepath.Join(o.cpuprofile, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return []string{pprofdir.Env + "=" + dir}, nil
}
