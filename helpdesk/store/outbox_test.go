package store

import (
	"errors"
	"testing"
	"time"
)

func TestOutbox(t *testing.T) {
	t.Parallel()
	s, path := open(t)
	ctx := t.Context()
	if got, err := s.ListOutbox(ctx, 10); err != nil || got != nil {
		t.Fatalf("empty outbox: %v, %v", got, err)
	}
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return t0 }
	if err := s.AppendOutbox(ctx,
		OutboxMail{To: "a@example.com", Subject: "one", Text: "first\nlines", SentVia: "outbox", ID: 99, At: time.Unix(1, 0)},
		OutboxMail{To: "b@example.com", Subject: "two", Text: "second", SentVia: "outbox"},
	); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return t0.Add(time.Minute) }
	if err := s.AppendOutbox(ctx, OutboxMail{To: "c@example.com", Subject: "Zugangsdaten für Sie", Text: "https://helpdesk.example/recover?t=secret", SentVia: "outbox"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendOutbox(ctx); err != nil {
		t.Fatalf("nothing to append: %v", err)
	}

	want := []OutboxMail{
		{ID: 3, At: t0.Add(time.Minute), To: "c@example.com", Subject: "Zugangsdaten für Sie", Text: "https://helpdesk.example/recover?t=secret", SentVia: "outbox"},
		{ID: 2, At: t0, To: "b@example.com", Subject: "two", Text: "second", SentVia: "outbox"},
		{ID: 1, At: t0, To: "a@example.com", Subject: "one", Text: "first\nlines", SentVia: "outbox"},
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
	again, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got, err := again.ListOutbox(ctx, 1); err != nil || len(got) != 1 || got[0] != want[0] {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
}

func TestNoticeCursor(t *testing.T) {
	t.Parallel()
	s, path := open(t)
	ctx := t.Context()
	if c, err := s.NoticeCursor(ctx); err != nil || c != 0 {
		t.Fatalf("before the first poll: %d, %v", c, err)
	}
	for _, tc := range []struct {
		name string
		set  int64
		err  error
		want int64
	}{
		{"forward", 42, nil, 42},
		{"further", 1 << 40, nil, 1 << 40},
		{"back, after a reinstall", 3, nil, 3},
		{"negative refused", -1, ErrNegativeCursor, 3},
		{"back to the start", 0, nil, 0},
		{"again", 7, nil, 7},
	} {
		if err := s.SetNoticeCursor(ctx, tc.set); !errors.Is(err, tc.err) {
			t.Fatalf("%s: SetNoticeCursor(%d) = %v, want %v", tc.name, tc.set, err, tc.err)
		}
		if c, err := s.NoticeCursor(ctx); err != nil || c != tc.want {
			t.Fatalf("%s: NoticeCursor = %d, %v; want %d", tc.name, c, err, tc.want)
		}
	}
	again, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if c, err := again.NoticeCursor(ctx); err != nil || c != 7 {
		t.Fatalf("after reopening: %d, %v", c, err)
	}
	var rows int
	if err := again.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notice_cursor`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("cursor rows: %d, %v", rows, err)
	}
}
