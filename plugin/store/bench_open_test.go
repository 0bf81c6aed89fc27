package store

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkOpenNewDatabase: what Activate spends on a new data directory's
// database (create the file, set WAL, apply every migration), alternating
// in one loop the way a new database is made (built beside and linked in
// place, one sync) with migrating an empty file that already exists (each
// migration's commit synced, as every new database was before).
func BenchmarkOpenNewDatabase(b *testing.B) {
	ctx := context.Background()
	var fresh, inPlace []time.Duration
	open := func(path string) time.Duration {
		start := time.Now()
		s, err := OpenSQLite(ctx, path)
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
		return took
	}
	for b.Loop() {
		fresh = append(fresh, open(filepath.Join(b.TempDir(), DBFile)))
		path := filepath.Join(b.TempDir(), DBFile)
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			b.Fatal(err)
		}
		inPlace = append(inPlace, open(path))
	}
	p50 := func(v []time.Duration) float64 {
		slices.Sort(v)
		return float64(v[len(v)/2].Microseconds()) / 1000
	}
	b.ReportMetric(p50(fresh), "new-p50-ms")
	b.ReportMetric(p50(inPlace), "in-place-p50-ms")
}
