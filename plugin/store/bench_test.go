package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
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
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], i)
		h := sha256.Sum256(buf[:])
		if err := s.CreatePendingLogin(ctx, PendingLogin{StateHash: h[:], OperatorID: "a", DuoUsername: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, ev("login.begin")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.ConsumePendingLogin(ctx, h[:], "a", now); err != nil {
			b.Fatal(err)
		}
	}
}
