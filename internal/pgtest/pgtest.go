// Package pgtest gives tests a fresh database on a real PostgreSQL server.
//
// The server is named by DUO_TEST_POSTGRES_URL, a URL whose role may create
// databases (scripts/postgres-for-tests.sh starts one on loopback and prints
// the export; .ci/run does that). Without it a test skips and says why,
// loudly; under CI=true it fails instead: CI must never skip them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the server tests use.
const EnvURL = "DUO_TEST_POSTGRES_URL"

// timeout bounds each administrative statement (create, drop).
const timeout = 30 * time.Second

// ServerURL returns the server's URL, or skips the test (fails it under
// CI=true) when none is configured or it does not answer.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		unavailable(t, EnvURL+" is not set (run: eval \"$(scripts/postgres-for-tests.sh)\")")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		unavailable(t, "the server in "+EnvURL+" does not answer: "+err.Error())
	}
	_ = conn.Close(ctx)
	return u
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL test cannot run under CI=true: %s", why)
	}
	t.Skipf("SKIPPED: needs PostgreSQL: %s", why)
}

// Database creates an empty database on the server for this test and
// returns its URL; the database is dropped when the test ends, connections
// still open to it or not.
func Database(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "duotest_" + hex.EncodeToString(b[:])
	if err := admin(server, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop(t, server, name) })
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// drop removes the test's database, closing the connections still open
// to it. PostgreSQL may refuse while a process the role may not signal
// (an autovacuum worker, after a test that wrote much) is connected: it is
// tried again for a while, and a database left behind is reported, not a
// failure of the test (the next run's names are new).
func drop(t testing.TB, server, name string) {
	var err error
	for try := range 20 {
		if err = admin(server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err == nil {
			return
		}
		time.Sleep(time.Duration(try+1) * 50 * time.Millisecond)
	}
	t.Logf("test database %s left behind: %v", name, err)
}

// admin runs one statement on the server's own database.
func admin(server, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}
