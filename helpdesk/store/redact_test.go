package store

import (
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
)

// A PostgreSQL store whose database is gone fails its calls with errors
// that name neither the URL nor what a connection error adds from it (the
// user, the host, the password); the server's own message (which may name
// the database) stays.
func TestPostgresErrorsNameNoURL(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	s, err := OpenPostgres(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	conn, err := pgx.Connect(t.Context(), pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	_, err1 := s.OperatorByUsername(t.Context(), "alice")
	err2 := s.RecordFailure(t.Context(), ScopeIP, "192.0.2.1", s.now())
	_, err3 := s.ListOperators(t.Context())
	for _, err := range []error{err1, err2, err3, s.Ping(t.Context())} {
		if err == nil {
			t.Fatal("a call on a dropped database succeeded")
		}
		pw, _ := u.User.Password()
		if msg := err.Error(); strings.Contains(msg, dbURL) || strings.Contains(msg, u.Host) || strings.Contains(msg, "user=") ||
			(pw != "" && strings.Contains(msg, pw)) {
			t.Errorf("the error names the database URL's parts: %s", msg)
		}
	}
}
