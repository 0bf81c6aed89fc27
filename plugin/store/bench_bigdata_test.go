package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// bigStore seeds a new store with 100,000 operators (every other one
// enabled) and 1,000,000 audit events (as internal/logseed writes them,
// spread over the operators, one a second from base; every 10th denied,
// every 10,000th "locked").
func bigStore(b *testing.B) (*SQLite, time.Time) {
	b.Helper()
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), DBFile))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	base := time.Unix(1_700_000_000, 0)
	for _, q := range []string{
		`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM seq WHERE i < 100000)
		INSERT INTO operators (id, username, enabled, changed_at) SELECT 'op-' || i, 'user' || i, i % 2, 0 FROM seq`,
		`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM seq WHERE i < 1000000)
		INSERT INTO audit_events (at, kind, operator_id, actor, client_ip, user_agent, outcome, reason, detail)
		SELECT 1700000000 + i, CASE WHEN i % 2 = 1 THEN 'login.begin' ELSE 'login.complete' END, 'op-' || (i % 100000), '',
			'198.51.100.' || (i % 250), 'Mozilla/5.0 (seed ' || i || ')',
			CASE WHEN i % 10000 = 0 THEN 'locked' WHEN i % 10 = 0 THEN 'denied' ELSE 'allowed' END,
			CASE WHEN i % 10 = 0 THEN 'duo_denied' ELSE '' END, 'seeded event ' || i FROM seq`,
		`ANALYZE`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	return s, base
}

// BenchmarkBigData: with 100,000 operators and 1,000,000 audit events, a
// page of operators (the states of 50 ids, as a host's operator page asks;
// and a page of enabled ones), a page of the log under each kind of filter
// (the goal: ≤ 20 ms), and the streamed export's rate (goal ≥ 200,000
// events/s).
func BenchmarkBigData(b *testing.B) {
	s, base := bigStore(b)
	ctx := context.Background()
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("op-%d", 50_000+i*7)
	}
	b.Run("operator_states_page", func(b *testing.B) {
		for b.Loop() {
			if m, err := s.OperatorStates(ctx, ids); err != nil || len(m) != len(ids) {
				b.Fatal(err)
			}
		}
	})
	b.Run("enabled_operators_page", func(b *testing.B) {
		for b.Loop() {
			if rows, err := s.ListEnabled(ctx, "op-5", 51); err != nil || len(rows) != 51 {
				b.Fatal(len(rows), err)
			}
		}
	})
	for _, tc := range []struct {
		name string
		f    EventFilter
	}{
		{"log_page/none", EventFilter{}},
		{"log_page/operator", EventFilter{OperatorID: "op-4242"}},
		{"log_page/kind", EventFilter{Kinds: []string{"login.complete"}}},
		{"log_page/outcome_denied", EventFilter{Outcomes: []string{"denied"}}},
		{"log_page/outcome_rare", EventFilter{Outcomes: []string{"locked"}}},
		{"log_page/day", EventFilter{From: base.Add(500_000 * time.Second), To: base.Add(500_000*time.Second + 24*time.Hour)}},
		{"log_page/day_denied", EventFilter{Outcomes: []string{"denied"}, From: base.Add(500_000 * time.Second), To: base.Add(500_000*time.Second + 24*time.Hour)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var samples []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := s.ListEvents(ctx, tc.f, 51, 0); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(start))
			}
			slices.Sort(samples)
			b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(samples[(len(samples)-1)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
	b.Run("export_all", func(b *testing.B) {
		var n int
		for b.Loop() {
			n = 0
			if err := s.EachEvent(ctx, EventFilter{}, 1000, func(EventRecord) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
