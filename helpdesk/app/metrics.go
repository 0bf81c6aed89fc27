package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/host"
)

// The helpdesk's Prometheus metrics, on a listen address of their own
// (Config.MetricsAddr, HELPDESK_METRICS_ADDR) so that they are never
// served to the helpdesk's users: the helpdesk process's own (Go runtime,
// process) and the Duo plugin's, through the collector the host SDK offers.

// CollectorSource is what offers the plugin's metrics as a Prometheus
// collector: the SDK's *host.Plugin does.
type CollectorSource interface {
	Collector() prometheus.Collector
}

var _ CollectorSource = (*host.Plugin)(nil)

// pluginCollector asks the running plugin at each scrape: the process may
// be restarted, or not there at all (then its metrics are simply absent,
// and the scrape still answers with the helpdesk's own).
type pluginCollector struct {
	plugins *plugins.Manager
}

// Describe sends nothing: the plugin's metrics are not known up front, so
// the registry treats this collector as unchecked.
func (pluginCollector) Describe(chan<- *prometheus.Desc) {}

func (c pluginCollector) Collect(ch chan<- prometheus.Metric) {
	p, err := c.plugins.Plugin()
	if err != nil {
		return
	}
	if src, ok := p.(CollectorSource); ok {
		src.Collector().Collect(ch)
	}
}

// MetricsHandler serves the helpdesk's metrics in Prometheus's formats.
func (a *App) MetricsHandler() http.Handler { return a.metrics }

func newMetricsHandler(m *plugins.Manager) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		pluginCollector{plugins: m},
	)
	mux := http.NewServeMux()
	// A scrape with a broken family still serves the others.
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

// serveMetrics serves /metrics on the metrics address until ctx ends.
func (a *App) serveMetrics(ctx context.Context, ln net.Listener) error {
	srv := NewHTTPServer(a.metrics, a.log)
	err := ServeHTTP(ctx, ln, srv, "", "")
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
