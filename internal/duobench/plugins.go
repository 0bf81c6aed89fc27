package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

var admin = contract.Actor{ID: "bench-admin", Username: "bench-admin", Role: contract.RoleAdmin}

const callbackURL = "https://helpdesk.example.com/login/duo/callback"

// env is the harness's shared state: the builds, a scratch directory, the
// extra environment of the plugin processes.
type env struct {
	manifest string // the real plugin's bundle (sha256 in the manifest)
	bare     string // internal/bareplugin's binary
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

// bare is the floor: the do-nothing go-plugin server of the same contract,
// started with plain go-plugin (AutoMTLS, gRPC, go-plugin's own sha256
// check of the file it runs), with nothing around it.
type bare struct {
	c         *plugin.Client
	lifecycle duov1.LifecycleClient
	login     duov1.LoginClient
}

func (e *env) startBare(extraEnv ...string) (*bare, error) {
	raw, err := os.ReadFile(e.bare)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	cmd := exec.Command(e.bare)
	if len(extraEnv) > 0 {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  contract.Handshake,
		VersionedPlugins: contract.VersionedPlugins(nil, nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SecureConfig:     &plugin.SecureConfig{Checksum: sum[:], Hash: sha256.New()},
		Logger:           hclog.NewNullLogger(),
	})
	rpc, err := c.Client()
	if err != nil {
		c.Kill()
		return nil, err
	}
	gc, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		c.Kill()
		return nil, fmt.Errorf("go-plugin client is %T", rpc)
	}
	return &bare{c: c, lifecycle: duov1.NewLifecycleClient(gc.Conn), login: duov1.NewLoginClient(gc.Conn)}, nil
}

func (b *bare) pid() int { return b.c.ReattachConfig().Pid }

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
	return []string{"DUO_PLUGIN_PPROF_DIR=" + dir}, nil
}
