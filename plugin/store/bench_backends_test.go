package store

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
)

// BenchmarkLoginPathBackends: the store's part of the login path on each
// engine, one caller at a time: the reads every login makes (the settings
// revision, the toggle) and a Duo login's three writes (the pending login,
// its consume, the recorded success).
func BenchmarkLoginPathBackends(b *testing.B) {
	ctx := context.Background()
	for _, backend := range []string{"sqlite", "postgres"} {
		open := func(b *testing.B) *DB {
			if backend == "sqlite" {
				s, _ := openTemp(b)
				return s
			}
			return openPostgres(b, pgtest.Database(b))
		}
		b.Run(backend+"/revision+toggle", func(b *testing.B) {
			s := open(b)
			for b.Loop() {
				if _, err := s.SettingsRevision(ctx); err != nil {
					b.Fatal(err)
				}
				if _, err := s.OperatorToggle(ctx, "a"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(backend+"/create+consume+record", func(b *testing.B) {
			s := open(b)
			now := time.Now()
			var i uint64
			for b.Loop() {
				i++
				h := stateHash(i)
				if err := s.CreatePendingLogin(ctx, PendingLogin{StateHash: h[:], OperatorID: "a", DuoUsername: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, ev("login.begin")); err != nil {
					b.Fatal(err)
				}
				if _, err := s.ConsumePendingLogin(ctx, h[:], "a", now); err != nil {
					b.Fatal(err)
				}
				if err := s.RecordLogin(ctx, "a", now, ev("login.complete")); err != nil {
					b.Fatal(err)
				}
			}
		})
		// 32 operators signing in at once: on PostgreSQL, how often a
		// SERIALIZABLE transaction is run again (retries/op); a job that
		// still fails after its retries fails the benchmark.
		b.Run(backend+"/create+consume+record-32-operators", func(b *testing.B) {
			s := open(b)
			now := time.Now()
			var next atomic.Uint64
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				op := fmt.Sprintf("op-%d", next.Add(1))
				for pb.Next() {
					h := stateHash(next.Add(1) << 20)
					if err := s.CreatePendingLogin(ctx, PendingLogin{StateHash: h[:], OperatorID: op, DuoUsername: op, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, ev("login.begin")); err != nil {
						b.Error(err)
						return
					}
					if _, err := s.ConsumePendingLogin(ctx, h[:], op, now); err != nil {
						b.Error(err)
						return
					}
					if err := s.RecordLogin(ctx, op, now, ev("login.complete")); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(s.Retries())/float64(b.N), "retries/op")
		})
	}
}
