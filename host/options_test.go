package host

import (
	"log/slog"
	"testing"
	"time"
)

// withDefaults is the one place the SDK's defaults are decided: the
// supervisor takes what it is given, and so do the Activation retries.
func TestOptionsWithDefaults(t *testing.T) {
	t.Parallel()
	got := Options{}.withDefaults()
	want := Options{
		CallTimeout:       DefaultCallTimeout,
		StartTimeout:      DefaultStartTimeout,
		PingInterval:      DefaultPingInterval,
		RestartBackoffMin: DefaultRestartBackoffMin,
		RestartBackoffMax: DefaultRestartBackoffMax,
		MaxRestarts:       DefaultMaxRestarts,
		RestartWindow:     DefaultRestartWindow,
		ShutdownTimeout:   DefaultShutdownTimeout,
		Logger:            slog.Default(),
	}
	if got.CallTimeout != want.CallTimeout || got.StartTimeout != want.StartTimeout || got.PingInterval != want.PingInterval ||
		got.RestartBackoffMin != want.RestartBackoffMin || got.RestartBackoffMax != want.RestartBackoffMax ||
		got.MaxRestarts != want.MaxRestarts || got.RestartWindow != want.RestartWindow ||
		got.ShutdownTimeout != want.ShutdownTimeout || got.Logger != want.Logger {
		t.Fatalf("Options{}.withDefaults() = %+v, want %+v", got, want)
	}

	tests := []struct {
		name             string
		min, max         time.Duration
		wantMin, wantMax time.Duration
	}{
		{"both set, in order", 10 * time.Millisecond, 50 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond},
		{"max below min is raised to min", time.Second, 10 * time.Millisecond, time.Second, time.Second},
		{"min above the default max", time.Minute, 0, time.Minute, time.Minute},
		{"max below the default min", 0, time.Millisecond, DefaultRestartBackoffMin, DefaultRestartBackoffMin},
	}
	for _, tc := range tests {
		o := Options{RestartBackoffMin: tc.min, RestartBackoffMax: tc.max}.withDefaults()
		if o.RestartBackoffMin != tc.wantMin || o.RestartBackoffMax != tc.wantMax {
			t.Errorf("%s: backoff %v..%v, want %v..%v", tc.name, o.RestartBackoffMin, o.RestartBackoffMax, tc.wantMin, tc.wantMax)
		}
	}
	if o := (Options{MaxRestarts: -1}).withDefaults(); o.MaxRestarts != -1 {
		t.Errorf("MaxRestarts -1 became %d; negative means never restart", o.MaxRestarts)
	}
}
