package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkDurableCommit: one small write transaction with
// synchronous=FULL (fsync of the WAL on every commit).
func BenchmarkDurableCommit(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	ev := Event{At: time.Now(), Kind: "bench", Actor: "bench"}
	for b.Loop() {
		if err := s.AppendEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsumePendingLogin: the single-use claim on the login hot path.
func BenchmarkConsumePendingLogin(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	now := time.Now()
	var i uint64
	for b.Loop() {
		b.StopTimer()
		i++
		h := stateHash(i)
		if err := s.CreatePendingLogin(ctx, PendingLogin{StateHash: h[:], OperatorID: "a", DuoUsername: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, ev("login.begin")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.ConsumePendingLogin(ctx, h[:], "a", now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotRequiredStore: what the store does for a login Duo is not
// required for, split: the toggle read (the read pool, a prepared
// statement) and the relaxed audit write (the writer's queue, a
// synchronous=NORMAL commit shared by the callers queued together), with
// 1 and 16 callers.
func BenchmarkNotRequiredStore(b *testing.B) {
	ctx := context.Background()
	for _, callers := range []int{1, 16} {
		for _, step := range []struct {
			name string
			fn   func(*SQLite) error
		}{
			{"toggle", func(s *SQLite) error { _, err := s.OperatorToggle(ctx, "a"); return err }},
			// As a hook call reads it: under the host's deadline, which
			// gRPC turns into a context with a timer.
			{"toggle-deadline", func(s *SQLite) error {
				dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				_, err := s.OperatorToggle(dctx, "a")
				return err
			}},
			{"relaxed-event", func(s *SQLite) error { return s.AppendEventRelaxed(ctx, ev("login.begin")) }},
			{"durable-event", func(s *SQLite) error { return s.AppendEvent(ctx, ev("login.begin")) }},
		} {
			b.Run(fmt.Sprintf("%s/callers=%d", step.name, callers), func(b *testing.B) {
				s, _ := openTemp(b)
				b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := step.fn(s); err != nil {
							b.Error(err)
						}
					}
				})
				all, durable := s.Commits()
				b.ReportMetric(float64(all)/float64(b.N), "commits/op")
				b.ReportMetric(float64(durable)/float64(b.N), "fsyncs/op")
			})
		}
	}
}

// stateHash is the i-th distinct state hash of a benchmark's logins.
func stateHash(i uint64) [32]byte {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], i)
	return sha256.Sum256(buf[:])
}
