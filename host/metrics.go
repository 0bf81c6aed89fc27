package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// DefaultMetricsTimeout bounds one scrape of the plugin's metrics (or
// Options.CallTimeout, if shorter): a scrape must not hang on a plugin
// that is down or restarting.
const DefaultMetricsTimeout = 2 * time.Second

// upDesc is the collector's own gauge: did the plugin answer this scrape?
var upDesc = prometheus.NewDesc("duo_plugin_up", "1 if the Duo plugin process answered this scrape's GetMetrics, else 0.", nil, nil)

// Collector returns a prometheus.Collector of the plugin process's
// metrics, for the host's own registry. Each Collect asks the plugin
// (GetMetrics) within DefaultMetricsTimeout, emits the families it answers
// as they are, and adds duo_plugin_up: 1, or 0 when the plugin could not
// answer (down, restarting, too slow), with none of its families and no
// error for the scrape. A plugin too old to serve metrics (ErrUnsupported)
// is up: duo_plugin_up 1 and nothing else. A failing plugin is logged when it starts failing
// and when it answers again, not at every scrape.
//
// The collector is unchecked: Describe sends nothing, as the families are
// the plugin's to choose. Register it once per Plugin.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(p.Collector())
func (p *Plugin) Collector() prometheus.Collector {
	timeout := DefaultMetricsTimeout
	if p.opts.CallTimeout > 0 {
		timeout = min(timeout, p.opts.CallTimeout)
	}
	return &collector{source: p, timeout: timeout, logf: func(msg string, args ...any) { p.log.Warn(msg, args...) }}
}

type collector struct {
	source  contract.Metrics
	timeout time.Duration
	logf    func(msg string, args ...any)
	down    atomic.Bool // the last scrape failed: log only changes
	// unsupported: the plugin answered Unimplemented (logged once).
	unsupported atomic.Bool
}

// Describe sends nothing: an unchecked collector.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	metrics, err := c.scrape(ctx)
	if errors.Is(err, ErrUnsupported) {
		// A plugin older than this SDK: it is up, and has no metrics to give.
		if !c.unsupported.Swap(true) {
			c.logf("duo plugin does not serve metrics (it is older than the host's SDK); reporting only duo_plugin_up", "error", err)
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
		return
	}
	if err != nil {
		if !c.down.Swap(true) {
			c.logf("duo plugin metrics unavailable; reporting duo_plugin_up 0 until it answers", "error", err)
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	if c.down.Swap(false) {
		c.logf("duo plugin metrics available again")
	}
	for _, m := range metrics {
		ch <- m
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
}

// scrape asks the plugin and decodes every family before emitting any, so
// a scrape is all of the plugin's families or none.
func (c *collector) scrape(ctx context.Context) ([]prometheus.Metric, error) {
	res, err := c.source.GetMetrics(ctx, contract.GetMetricsRequest{})
	if err != nil {
		return nil, err
	}
	dec := expfmt.NewDecoder(bytes.NewReader(res.Families), expfmt.NewFormat(expfmt.TypeProtoDelim))
	var out []prometheus.Metric
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode the plugin's metrics: %w", err)
		}
		if strings.HasPrefix(mf.GetName(), "duo_plugin_up") {
			continue // the collector's own
		}
		for _, m := range mf.GetMetric() {
			names := make([]string, len(m.GetLabel()))
			for i, l := range m.GetLabel() {
				names[i] = l.GetName()
			}
			desc := prometheus.NewDesc(mf.GetName(), mf.GetHelp(), names, nil)
			out = append(out, familyMetric{desc: desc, m: m})
		}
	}
}

// familyMetric is one metric as the plugin wrote it, re-emitted whole
// (labels, counter, gauge, histogram, summary, untyped alike).
type familyMetric struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

func (f familyMetric) Desc() *prometheus.Desc { return f.desc }

func (f familyMetric) Write(out *dto.Metric) error {
	proto.Merge(out, f.m)
	return nil
}
