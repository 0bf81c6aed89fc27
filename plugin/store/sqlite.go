package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
	"github.com/helpdesk-duo/duo-plugin/migrations"
)

var dbOptions = sqlitedb.Options{
	Synchronous:     "FULL", // a consumed login or a toggle survives power loss
	Migrations:      migrations.FS,
	MigrationsTable: MigrationsTable,
	Owner:           "plugin",
}

// DBFile is the plugin's SQLite database inside its data directory.
const DBFile = "duo.db"

// SQLiteBackend keeps the store in DBFile in the data directory.
type SQLiteBackend struct{}

var _ Backend = SQLiteBackend{}

// Open implements Backend.
func (SQLiteBackend) Open(ctx context.Context, dataDir string) (Store, error) {
	return OpenSQLite(ctx, filepath.Join(dataDir, DBFile))
}

// Remove implements Backend: the database and the files SQLite keeps beside
// it (write-ahead log, shared memory, rollback journal).
func (SQLiteBackend) Remove(dataDir string) ([]string, error) {
	var removed []string
	spooled, err := spoolGens(filepath.Join(dataDir, DBFile))
	if err != nil {
		return nil, err
	}
	names := []string{DBFile, DBFile + "-wal", DBFile + "-shm", DBFile + "-journal"}
	for _, g := range spooled {
		names = append(names, DBFile+spoolSuffix+strconv.FormatUint(uint64(g), 10))
	}
	for _, name := range names {
		path := filepath.Join(dataDir, name)
		switch err := os.Remove(path); {
		case err == nil:
			removed = append(removed, path)
		case errors.Is(err, os.ErrNotExist):
		default:
			return removed, fmt.Errorf("remove %s: %w", path, err)
		}
	}
	return removed, nil
}

// OpenSQLite opens (or creates) the database at path (WAL, busy timeout,
// foreign keys, synchronous=FULL, BEGIN IMMEDIATE) and applies the embedded
// migrations, each in its own transaction. A database migrated by a newer
// plugin is refused with ErrSchemaTooNew and left untouched.
//
// It keeps one write connection, which one goroutine owns (writer.go), and
// a pool of read connections.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	wdb, err := sqlitedb.Open(ctx, path, dbOptions)
	if err != nil {
		return nil, err
	}
	// One write connection: the store's writes queue in Go, in order,
	// never in SQLite's busy handler.
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	db, err := sqlitedb.OpenReader(ctx, path, dbOptions)
	if err != nil {
		_ = wdb.Close()
		return nil, err
	}
	// Enough idle readers that concurrent logins do not open and close
	// connections (each open runs the DSN's pragmas).
	db.SetMaxIdleConns(readers)
	db.SetMaxOpenConns(readers)
	s := &SQLite{dialect: sqlite, db: db, wdb: wdb}
	fail := func(err error) (*SQLite, error) {
		_ = db.Close()
		_ = wdb.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		return fail(err)
	}
	if s.w, err = newWriter(ctx, wdb); err != nil {
		_ = s.toggle.Close()
		return fail(err)
	}
	if err := s.openSpool(ctx, path); err != nil {
		_ = s.w.close()
		_ = s.toggle.Close()
		return fail(err)
	}
	return s, nil
}

// readers bounds the read pool.
const readers = 8

// LatestSchemaVersion is the version the embedded migrations lead to.
func LatestSchemaVersion() (int64, error) { return sqlitedb.LatestVersion(dbOptions) }

// Commits says how many transactions the writer committed, and how many
// of them were durable (synchronous=FULL: one fsync of the WAL each,
// checkpoints aside). For benchmarks and tests; zero on PostgreSQL.
func (s *DB) Commits() (all, durable int64) {
	if s.w == nil {
		return 0, 0
	}
	return s.w.commits.Load(), s.w.fsyncs.Load()
}
