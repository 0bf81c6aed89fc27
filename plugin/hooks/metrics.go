package hooks

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/duohealth"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// metrics are the plugin's Prometheus metrics, in a registry of the
// plugin's own (never the global one: tests run several plugins in one
// process). Logins and code redemptions are counted from the audit events
// as the store commits them (store.Observable): every path that records a
// login step is counted, with the decision and reason it recorded, and no
// hook counts anything itself.
type metrics struct {
	reg         *prometheus.Registry
	logins      *prometheus.CounterVec
	redemptions *prometheus.CounterVec
	duoSeconds  *prometheus.HistogramVec
	// loginChildren caches logins' counters by [decision, reason]: a
	// login step is counted without hashing its labels each time. It
	// holds no series the vector does not.
	loginChildren sync.Map
	// retried is the active store's count of transactions run again, if
	// it keeps one (store.Retrier: PostgreSQL).
	retried atomic.Pointer[store.Retrier]
}

// Label values of duo_plugin_duo_request_duration_seconds.
const (
	duoCallHealthCheck   = "health_check"
	duoCallTokenExchange = "token_exchange"
)

func newMetrics(health *duohealth.Cache) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_plugin_logins_total",
			Help: "Login steps decided, by decision (the audit log's outcome: redirect, allowed, denied, not_required, allowed_without_duo, exempt, …) and reason.",
		}, []string{"decision", "reason"}),
		redemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_plugin_code_redemptions_total",
			Help: "Backup codes, bypass codes and recovery links tried at the login page, by kind (backup, bypass, recovery_link, unknown when no code matched) and outcome.",
		}, []string{"kind", "outcome"}),
		duoSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "duo_plugin_duo_request_duration_seconds",
			Help:    "How long calls to Duo took, by call (health_check, token_exchange), failed ones included.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"call"}),
	}
	healthy := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "duo_plugin_duo_healthy",
		Help: "1 if the last Duo health check succeeded, else 0 (also before any check).",
	}, func() float64 {
		if h, ok := health.Latest(); ok && h.OK {
			return 1
		}
		return 0
	})
	failures := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "duo_plugin_duo_consecutive_failures",
		Help: "Duo health checks that failed in a row (0 after a success).",
	}, func() float64 {
		h, _ := health.Latest()
		return float64(h.ConsecutiveFailures)
	})
	retries := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "duo_plugin_store_retries_total",
		Help: "Write transactions run again after PostgreSQL refused to serialize them or broke a deadlock (always 0 on SQLite); a steady rise means instances contend for the same rows.",
	}, func() float64 {
		if r := m.retried.Load(); r != nil {
			return float64((*r).Retries())
		}
		return 0
	})
	m.reg.MustRegister(m.logins, m.redemptions, m.duoSeconds, healthy, failures, retries)
	return m
}

// maxLabelLen bounds a label value taken from an event, so a future
// free-text reason cannot blow up the series count.
const maxLabelLen = 64

func label(v string) string {
	if len(v) > maxLabelLen {
		return "other"
	}
	return v
}

// observe counts a committed audit event: the one place logins and
// redemptions are counted. It runs on the writer's goroutine: cheap.
func (m *metrics) observe(ev store.Event) {
	if !store.IsLoginKind(ev.Kind) {
		return
	}
	decision := ev.Outcome
	if !store.IsOutcome(decision) {
		decision = "other"
	}
	m.loginCounter(decision, label(ev.Reason)).Inc()
	kind := ""
	switch {
	case ev.Kind == "recovery_link.redeem":
		kind = "recovery_link"
	case ev.Kind != "login.code":
		return
	case ev.Notice == contract.NoticeBypassCodeUsed:
		kind = "bypass"
	case ev.Notice == contract.NoticeBackupCodeUsed:
		kind = "backup"
	default:
		kind = "unknown" // refused before or without a match: its kind is not known
	}
	m.redemptions.WithLabelValues(kind, decision).Inc()
}

// loginCounter is logins' counter for decision and reason.
func (m *metrics) loginCounter(decision, reason string) prometheus.Counter {
	key := [2]string{decision, reason}
	if c, ok := m.loginChildren.Load(key); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.loginChildren.LoadOrStore(key, m.logins.WithLabelValues(decision, reason))
	return c.(prometheus.Counter)
}

// GetMetrics implements contract.Metrics, in every state.
func (p *Plugin) GetMetrics(context.Context, contract.GetMetricsRequest) (contract.GetMetricsResponse, error) {
	mfs, err := p.metrics.reg.Gather()
	if err != nil {
		return contract.GetMetricsResponse{}, internalError("get metrics: gather", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return contract.GetMetricsResponse{}, internalError("get metrics: encode", err)
		}
	}
	return contract.GetMetricsResponse{Families: buf.Bytes()}, nil
}

// timedDuo times the calls to Duo the plugin makes through a DuoProvider.
type timedDuo struct {
	DuoProvider
	seconds *prometheus.HistogramVec
}

func (t timedDuo) Check(ctx context.Context, d settings.Duo) error {
	defer observeSince(t.seconds, duoCallHealthCheck, time.Now())
	return t.DuoProvider.Check(ctx, d)
}

func (t timedDuo) Client(d settings.Duo, redirectURI string) (duo.Client, error) {
	c, err := t.DuoProvider.Client(d, redirectURI)
	if err != nil {
		return nil, err
	}
	return timedClient{Client: c, seconds: t.seconds}, nil
}

type timedClient struct {
	duo.Client
	seconds *prometheus.HistogramVec
}

func (c timedClient) HealthCheck(ctx context.Context) error {
	defer observeSince(c.seconds, duoCallHealthCheck, time.Now())
	return c.Client.HealthCheck(ctx)
}

func (c timedClient) Exchange(ctx context.Context, code, username string) (*duo.Result, error) {
	defer observeSince(c.seconds, duoCallTokenExchange, time.Now())
	return c.Client.Exchange(ctx, code, username)
}

func observeSince(h *prometheus.HistogramVec, call string, start time.Time) {
	h.WithLabelValues(call).Observe(time.Since(start).Seconds())
}
