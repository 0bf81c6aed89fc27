package duosim

import (
	"context"
	"testing"
	"time"
)

// StartTest starts a simulator for a test or benchmark and closes it when
// the test ends, like httptest.NewTLSServer; it fails the test if the
// simulator cannot start.
func StartTest(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		tb.Fatalf("start Duo simulator: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
