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
	admin(t, server, "CREATE DATABASE "+name)
	t.Cleanup(func() { admin(t, server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// admin runs one statement on the server's own database.
func admin(t testing.TB, server, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}
