package store

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkOpenNewDatabase: what Activate spends on a new data directory's
// database: create the file, set WAL, apply every migration.
func BenchmarkOpenNewDatabase(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), DBFile))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = s.Close()
		b.StartTimer()
	}
}
