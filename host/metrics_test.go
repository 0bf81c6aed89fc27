package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// metricsSource answers GetMetrics from a registry, or fails.
type metricsSource struct {
	mu  sync.Mutex
	reg *prometheus.Registry
	err error
}

func (s *metricsSource) GetMetrics(context.Context, contract.GetMetricsRequest) (contract.GetMetricsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return contract.GetMetricsResponse{}, s.err
	}
	mfs, err := s.reg.Gather()
	if err != nil {
		return contract.GetMetricsResponse{}, err
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return contract.GetMetricsResponse{}, err
		}
	}
	return contract.GetMetricsResponse{Families: buf.Bytes()}, nil
}

func (s *metricsSource) fail(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

func TestCollectorRelaysFamiliesAndUp(t *testing.T) {
	t.Parallel()
	plugin := prometheus.NewRegistry()
	logins := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duo_plugin_logins_total", Help: "h"}, []string{"decision", "reason"})
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "duo_plugin_duo_request_duration_seconds", Help: "d", Buckets: []float64{.1, 1}}, []string{"call"})
	plugin.MustRegister(logins, hist)
	logins.WithLabelValues("allowed", "").Add(3)
	logins.WithLabelValues("denied", "code_wrong").Inc()
	hist.WithLabelValues("token_exchange").Observe(0.5)

	src := &metricsSource{reg: plugin}
	var logged []string
	c := &collector{source: src, timeout: time.Second, logf: func(msg string, _ ...any) { logged = append(logged, msg) }}
	host := prometheus.NewRegistry()
	host.MustRegister(c)

	want := `
# HELP duo_plugin_logins_total h
# TYPE duo_plugin_logins_total counter
duo_plugin_logins_total{decision="allowed",reason=""} 3
duo_plugin_logins_total{decision="denied",reason="code_wrong"} 1
# HELP duo_plugin_up 1 if the Duo plugin process answered this scrape's GetMetrics, else 0.
# TYPE duo_plugin_up gauge
duo_plugin_up 1
`
	if err := testutil.GatherAndCompare(host, strings.NewReader(want), "duo_plugin_logins_total", "duo_plugin_up"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(host, "duo_plugin_duo_request_duration_seconds"); err != nil || n != 1 {
		t.Fatalf("histogram series = %d, %v", n, err)
	}

	// The plugin down: up 0, nothing else, no scrape error, one log line
	// however many scrapes.
	src.fail(errors.New("plugin unavailable"))
	for range 3 {
		if err := testutil.GatherAndCompare(host, strings.NewReader(`
# HELP duo_plugin_up 1 if the Duo plugin process answered this scrape's GetMetrics, else 0.
# TYPE duo_plugin_up gauge
duo_plugin_up 0
`)); err != nil {
			t.Fatal(err)
		}
	}
	src.fail(nil)
	if n, err := testutil.GatherAndCount(host, "duo_plugin_logins_total"); err != nil || n != 2 {
		t.Fatalf("after recovery: %d series, %v", n, err)
	}
	if len(logged) != 2 {
		t.Fatalf("logged %q, want one line when it failed and one when it came back", logged)
	}
}

// A plugin older than the SDK, without the Metrics service: it is up, with
// no families, and that is logged once, not at every scrape.
func TestCollectorOfAPluginWithoutMetrics(t *testing.T) {
	t.Parallel()
	src := &metricsSource{reg: prometheus.NewRegistry()}
	src.fail(fmt.Errorf("get metrics: %w", &unsupportedError{err: contract.Errorf(contract.ReasonUnimplemented, "unknown service")}))
	var logged []string
	c := &collector{source: src, timeout: time.Second, logf: func(msg string, _ ...any) { logged = append(logged, msg) }}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	for range 3 {
		if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP duo_plugin_up 1 if the Duo plugin process answered this scrape's GetMetrics, else 0.
# TYPE duo_plugin_up gauge
duo_plugin_up 1
`)); err != nil {
			t.Fatal(err)
		}
	}
	if len(logged) != 1 {
		t.Fatalf("logged %q, want one line", logged)
	}
}
