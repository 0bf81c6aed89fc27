// Package integration drives the real plugin binary through the host SDK:
// the boundary vendors depend on. Each test builds (once per run) and
// launches the plugin as a subprocess, with a real SQLite file and, for
// logins, the Duo simulator over TLS.
package integration

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

func TestMain(m *testing.M) {
	if os.Getenv(hostHelperEnv) != "" {
		runHostHelper()
		return
	}
	code := m.Run()
	pluginbuild.Cleanup()
	if barePath != "" {
		_ = os.RemoveAll(filepath.Dir(barePath))
	}
	os.Exit(code)
}

// logBuffer collects everything the SDK and the plugin log, so tests can
// check that no secret reaches a log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type started struct {
	p        *host.Plugin
	logs     *logBuffer
	manifest string
}

// startPlugin launches the real plugin from a fresh bundle (or the given
// manifest) and closes it when the test ends.
func startPlugin(t *testing.T, manifest string, tweak func(*host.Options)) started {
	t.Helper()
	if manifest == "" {
		manifest = pluginbuild.ForTest(t)
	}
	logs := &logBuffer{}
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

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for: %s", within, what)
}
