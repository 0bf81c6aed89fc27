package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host/internal/logbridge"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// These tests cross the process boundary: the SDK starts this test binary,
// which serves the fake plugin (see TestMain), through a real manifest with
// the binary's real sha256, and kills it to watch the supervisor.

var self struct {
	once      sync.Once
	path, sum string
	err       error
}

// selfBinary returns the test binary and its SHA-256. Computing the sum here
// is what a release pipeline does when it writes the manifest; the SDK itself
// only ever takes the sum from the manifest.
func selfBinary(t *testing.T) (string, string) {
	t.Helper()
	self.once.Do(func() {
		if self.path, self.err = os.Executable(); self.err != nil {
			return
		}
		f, err := os.Open(self.path)
		if err != nil {
			self.err = err
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			self.err = err
			return
		}
		self.sum = hex.EncodeToString(h.Sum(nil))
	})
	if self.err != nil {
		t.Fatalf("test binary: %v", self.err)
	}
	return self.path, self.sum
}

// syncBuffer collects logs from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recorder keeps every state OnStateChange reported.
type recorder struct {
	mu     sync.Mutex
	states []State
}

func (r *recorder) add(s State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

func (r *recorder) phases() []Phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Phase, len(r.states))
	for i, s := range r.states {
		out[i] = s.Phase
	}
	return out
}

// harness is one plugin bundle in a temp dir: plugin.json and the test
// binary (hard-linked or copied in).
type harness struct {
	t        *testing.T
	manifest string
	markers  string // the plugin writes one file per process started
	logs     *syncBuffer
	rec      *recorder
}

type bundle struct {
	sha            string // "" for none; "self" for the binary's real sum
	minHostVersion string
	protocol       int
	noBinary       bool
	symlinkOutside bool // the executable is a symlink to the test binary, outside the bundle
}

// placeBinary puts the test binary at dst, inside the bundle: a hard link,
// or a copy when dst is on another file system. Not a symlink: the SDK
// refuses an executable that resolves to outside its bundle.
func placeBinary(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Link(src, dst); err == nil {
		return
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	// The umask may have narrowed the mode.
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
}

func newHarness(t *testing.T, b bundle) *harness {
	t.Helper()
	bin, sum := selfBinary(t)
	dir := t.TempDir()
	h := &harness{t: t, markers: filepath.Join(dir, "markers"), logs: &syncBuffer{}, rec: &recorder{}}
	if err := os.Mkdir(h.markers, 0o755); err != nil {
		t.Fatal(err)
	}
	rel := filepath.ToSlash(filepath.Join("bin", runtime.GOOS+"-"+runtime.GOARCH, "duo-plugin"))
	if !b.noBinary {
		exe := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
			t.Fatal(err)
		}
		if b.symlinkOutside {
			symlink(t, bin, exe)
		} else {
			placeBinary(t, bin, exe)
		}
	}
	if b.sha == "self" {
		b.sha = sum
	}
	if b.protocol == 0 {
		b.protocol = contract.ProtocolVersion
	}
	m := map[string]any{
		"id": contract.PluginID, "name": "Duo Security (test)", "version": "0.1.0",
		"protocol_version": b.protocol,
		"executables": map[string]any{
			runtime.GOOS + "-" + runtime.GOARCH: map[string]any{"path": rel, "sha256": b.sha},
		},
	}
	if b.minHostVersion != "" {
		m["min_host_version"] = b.minHostVersion
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h.manifest = writeFile(t, dir, "plugin.json", data, 0o644)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", h.logs.String())
		}
	})
	return h
}

// options are fast settings for tests; mutate adjusts them.
func (h *harness) options(mutate func(*Options)) Options {
	opts := Options{
		ManifestPath:      h.manifest,
		Logger:            slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: logbridge.LevelTrace})),
		Env:               []string{envTestPlugin + "=1", envMarkerDir + "=" + h.markers},
		CallTimeout:       5 * time.Second,
		StartTimeout:      time.Minute, // a race-enabled binary can be slow to start on a busy machine
		PingInterval:      50 * time.Millisecond,
		RestartBackoffMin: 10 * time.Millisecond,
		RestartBackoffMax: 50 * time.Millisecond,
		ShutdownTimeout:   3 * time.Second,
		OnStateChange:     h.rec.add,
	}
	if mutate != nil {
		mutate(&opts)
	}
	return opts
}

func (h *harness) start(mutate func(*Options)) (*Plugin, error) {
	h.t.Helper()
	p, err := Start(context.Background(), h.options(mutate))
	if p != nil {
		h.t.Cleanup(func() { _ = p.Close() })
	}
	return p, err
}

func (h *harness) mustStart(mutate func(*Options)) *Plugin {
	h.t.Helper()
	p, err := h.start(mutate)
	if err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	return p
}

// started counts the plugin processes that got as far as main.
func (h *harness) started() int {
	h.t.Helper()
	entries, err := os.ReadDir(h.markers)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(entries)
}

// eventually waits for cond. The bound only keeps a broken test from
// hanging; nothing is asserted about how long it takes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

