package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
)

// withCollector is a plugin that offers its metrics as the SDK does.
type withCollector struct {
	idle
	c prometheus.Collector
}

func (p withCollector) Collector() prometheus.Collector { return p.c }

func newMetricsApp(t *testing.T, p plugins.Plugin, metricsAddr string) *app.App {
	t.Helper()
	bundle := t.TempDir()
	manifest := `{"id":"duo-security","name":"Duo Security","version":"0.1.0","protocol_version":1,"executables":{"linux-amd64":{"path":"bin/duo-plugin"}}}`
	if err := os.WriteFile(filepath.Join(bundle, plugins.ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), app.Config{
		Addr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"), PluginDir: bundle, MetricsAddr: metricsAddr,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Getenv: func(string) string { return "" },
		Start:  func(context.Context, string, plugins.Activation) (plugins.Plugin, error) { return p, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// /metrics serves the helpdesk process's own metrics and the plugin's,
// through the collector the SDK offers; a plugin without one leaves the
// helpdesk's.
func TestMetricsHandler(t *testing.T) {
	t.Parallel()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "duo_plugin_test_up", Help: "A metric of the plugin's."})
	g.Set(1)
	body := scrape(t, newMetricsApp(t, withCollector{c: g}, "").MetricsHandler())
	for _, want := range []string{"go_goroutines ", "process_cpu_seconds_total ", "duo_plugin_test_up 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	body = scrape(t, newMetricsApp(t, idle{}, "").MetricsHandler())
	if !strings.Contains(body, "go_goroutines ") || strings.Contains(body, "duo_plugin_") {
		t.Errorf("/metrics without a plugin collector:\n%.500s", body)
	}
}

// The metrics address is served apart from the pages, and only /metrics
// is there; an address Serve cannot listen on fails it at once.
func TestServeMetricsAddr(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	a := newMetricsApp(t, idle{}, taken.Addr().String())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Serve(t.Context(), ln) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "metrics") {
			t.Fatalf("Serve with a taken metrics address = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve with a taken metrics address did not fail")
	}

	// A free one: /metrics answers there; the pages do not.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	b := newMetricsApp(t, idle{}, addr)
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln2) }()
	defer func() { cancel(); <-done }()
	var resp *http.Response
	waitfor.Until(t, 10*time.Second, "the metrics address to answer", func() bool {
		resp, err = http.Get("http://" + addr + "/metrics")
		return err == nil
	})
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), "go_goroutines") {
		t.Fatalf("GET /metrics on the metrics address: %d %.200s", resp.StatusCode, got)
	}
	if resp, err := http.Get("http://" + addr + "/login"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the pages on the metrics address: %v %v", resp, err)
	}
}
