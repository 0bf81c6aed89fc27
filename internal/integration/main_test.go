// Package integration drives the real plugin binary through the host SDK:
// the boundary vendors depend on. Each test launches the plugin (built once
// per run, before any test starts) as a subprocess, with a real SQLite file
// and, for logins, the Duo simulator over TLS.
package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
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

// pluginLogName is the plugin's hclog name (plugin/process.NewLogger).
// go-plugin forwards the plugin's JSON log lines into the host's logger
// with it in the "@module" attribute; no line of the SDK's own has one.
const pluginLogName = "duo-plugin"

// logRecord is what the tests read of a line of the host's JSON log.
type logRecord struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Module string `json:"@module"` // set on the plugin's lines, forwarded by go-plugin
}

// logged reports whether the host's JSON log holds a line that matches.
func logged(logs string, match func(logRecord) bool) bool {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		var line logRecord
		if json.Unmarshal(sc.Bytes(), &line) == nil && match(line) {
			return true
		}
	}
	return false
}

// pluginLogged reports whether the host's JSON log holds a line that only
// the plugin process writes: msg from the plugin's own logger.
func pluginLogged(logs, msg string) bool {
	return logged(logs, func(l logRecord) bool { return l.Module == pluginLogName && l.Msg == msg })
}

// checkLogsHoldNoSecret fails if any secret appears in logs. It first
// requires a line the plugin itself logged on activation, forwarded by
// go-plugin: a log holding only the SDK's lines would let the check pass
// without having seen a word of the plugin's.
func checkLogsHoldNoSecret(t *testing.T, what, logs string, secrets ...string) {
	t.Helper()
	if !pluginLogged(logs, "plugin activated") {
		t.Fatalf("%s: no line from the plugin process (%s %q) in the host's log: the secrecy check would prove nothing", what, pluginLogName, "plugin activated")
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatalf("%s: an empty secret to look for", what)
		}
		if strings.Contains(logs, s) {
			t.Fatalf("%s: a secret reached the log", what)
		}
	}
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
