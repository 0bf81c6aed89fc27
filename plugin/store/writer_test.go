package store

import (
	"context"
	"database/sql"
)

// execForTest runs one statement through the writer (the read pool is
// query_only), durably.
func (s *SQLite) execForTest(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.tx(ctx, "test", func(tx *txn) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}
