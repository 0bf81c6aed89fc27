package store

import (
	"context"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

// forEachBackend runs the contract test fn on each engine, in parallel
// subtests named after it: SQLite in a temporary file, PostgreSQL in a
// fresh database of the server pgtest names (skipped loudly without one,
// failed under CI=true).
func forEachBackend(t *testing.T, fn func(t *testing.T, s *DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s, _ := openTemp(t)
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, openPostgres(t, pgtest.Database(t)))
	})
}

// openPostgres opens a store on the database at url, closed when the test
// ends; two calls with one url are two instances of the plugin.
func openPostgres(t testing.TB, url string) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenPostgres(ctx, secret.Value(url), DefaultSchema)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
