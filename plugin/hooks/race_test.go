//go:build race

package hooks

// raceEnabled: the race detector slows SQLite about tenfold, so timing
// tests scale down.
const raceEnabled = true
