package store

import (
	"path/filepath"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
)

// eachBackend runs f as a subtest on a fresh SQLite file and on a fresh
// PostgreSQL database (skipped, loudly, without one; failed under CI=true):
// the store's contract is one for both. reopen opens the same database
// again, as a second Store (a restart, or another instance).
func eachBackend(t *testing.T, f func(t *testing.T, s *Store, reopen func(*testing.T) *Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "helpdesk.db")
		open := func(t *testing.T) *Store {
			t.Helper()
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		f(t, open(t), open)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.Database(t)
		open := func(t *testing.T) *Store {
			t.Helper()
			s, err := OpenPostgres(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		f(t, open(t), open)
	})
}
