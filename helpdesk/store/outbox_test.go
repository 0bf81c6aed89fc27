package store

import (
	"errors"
	"testing"
	"time"
)

func TestOutbox(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s *Store, reopen func(*testing.T) *Store) {
		ctx := t.Context()
		if got, err := s.ListOutbox(ctx, 10); err != nil || got != nil {
			t.Fatalf("empty outbox: %v, %v", got, err)
		}
		t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		s.now = func() time.Time { return t0 }
		for _, m := range []OutboxMail{
			{To: "a@example.com", Subject: "one", Text: "first\nlines", ID: 99, At: time.Unix(1, 0)}, // ID and At are the store's
			{To: "b@example.com", Subject: "two", Text: "second"},
		} {
			if err := s.AppendOutbox(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		s.now = func() time.Time { return t0.Add(time.Minute) }
		if err := s.AppendOutbox(ctx, OutboxMail{To: "c@example.com", Subject: "Zugangsdaten für Sie", Text: "https://helpdesk.example/recover?t=secret"}); err != nil {
			t.Fatal(err)
		}

		want := []OutboxMail{
			{ID: 3, At: t0.Add(time.Minute), To: "c@example.com", Subject: "Zugangsdaten für Sie", Text: "https://helpdesk.example/recover?t=secret"},
			{ID: 2, At: t0, To: "b@example.com", Subject: "two", Text: "second"},
			{ID: 1, At: t0, To: "a@example.com", Subject: "one", Text: "first\nlines"},
		}
		for _, tc := range []struct {
			name  string
			limit int
			want  []OutboxMail
		}{
			{"newest first, limited", 2, want[:2]},
			{"more than there are", 10, want},
			{"zero means all", 0, want},
			{"negative means all", -1, want},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListOutbox(ctx, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("got %d mails, want %d: %+v", len(got), len(tc.want), got)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("mail %d = %+v, want %+v", i, got[i], tc.want[i])
					}
				}
			})
		}

		// The outbox survives a reopen (it is in the file, not in memory).
		again := reopen(t)
		if got, err := again.ListOutbox(ctx, 1); err != nil || len(got) != 1 || got[0] != want[0] {
			t.Fatalf("after reopening: %+v, %v", got, err)
		}
	})
}

func TestNoticeCursor(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s *Store, reopen func(*testing.T) *Store) {
		ctx := t.Context()
		if c, err := s.NoticeCursor(ctx); err != nil || c != 0 {
			t.Fatalf("before the first poll: %d, %v", c, err)
		}
		if err := s.MarkPluginInstalled(ctx, "duo-security", "/b", "/d", "1.0.0", "boot"); err != nil {
			t.Fatal(err)
		}
		advance := func(from, to int64) func() error {
			return func() error { return s.AdvanceNoticeCursor(ctx, from, to) }
		}
		for _, tc := range []struct {
			name    string
			do      func() error
			moved   bool // fails with ErrCursorMoved
			refused bool // fails otherwise
			want    int64
		}{
			{"forward", advance(0, 42), false, false, 42},
			{"further", advance(42, 1<<40), false, false, 1 << 40},
			{"from where it no longer is", advance(42, 50), true, false, 1 << 40},
			{"negative refused by the schema", advance(1<<40, -1), false, true, 1 << 40},
			{"unknown plugin's uninstall", func() error { return s.MarkPluginUninstalled(ctx, "other", "admin") }, false, true, 1 << 40},
			{"uninstall resets it", func() error { return s.MarkPluginUninstalled(ctx, "duo-security", "admin") }, false, false, 0},
			{"a poll from before the uninstall", advance(1<<40, 1<<40+1), true, false, 0},
			{"the reinstalled plugin's first", advance(0, 1), false, false, 1},
			{"again", advance(1, 7), false, false, 7},
		} {
			err := tc.do()
			if errors.Is(err, ErrCursorMoved) != tc.moved || (err != nil && !tc.moved) != tc.refused {
				t.Fatalf("%s: %v; want moved %t, refused %t", tc.name, err, tc.moved, tc.refused)
			}
			if c, err := s.NoticeCursor(ctx); err != nil || c != tc.want {
				t.Fatalf("%s: NoticeCursor = %d, %v; want %d", tc.name, c, err, tc.want)
			}
		}
		if r, err := s.Plugin(ctx, "duo-security"); err != nil || r.Installed {
			t.Fatalf("record after the uninstall: %+v, %v", r, err)
		}
		again := reopen(t)
		if c, err := again.NoticeCursor(ctx); err != nil || c != 7 {
			t.Fatalf("after reopening: %d, %v", c, err)
		}
		var rows int
		if err := again.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notice_cursor`).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("cursor rows: %d, %v", rows, err)
		}
	})
}
