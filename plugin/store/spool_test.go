package store

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// A relaxed event is in the log for every reader after the call returns,
// and lands there once, even across a close and reopen.
func TestSpooledEventsReadBackOnce(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := context.Background()
	for range 3 {
		if err := s.AppendEventRelaxed(ctx, ev("login.begin")); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.Events(ctx, 0, 100)
	if err != nil || len(evs) != 3 {
		t.Fatalf("Events right after = %d, %v; want 3", len(evs), err)
	}
	if err := s.AppendEventRelaxed(ctx, ev("login.begin")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path)
	if evs, err := s2.Events(ctx, 0, 100); err != nil || len(evs) != 4 {
		t.Fatalf("after reopen: %d events, %v; want 4", len(evs), err)
	}
	if left, _ := filepath.Glob(path + spoolSuffix + "*"); len(left) != 1 {
		t.Fatalf("spool files after reopen: %v, want the one being written", left)
	}
}

// What a killed process left spooled is imported at the next open,
// exactly once: a generation imported before the kill (its file not yet
// deleted) is not imported again, a later one is, and a torn last line is
// skipped.
func TestSpoolLeftByACrashImportedOnce(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := context.Background()
	if err := s.AppendEventRelaxed(ctx, ev("before.crash")); err != nil {
		t.Fatal(err)
	}
	if err := s.flushSpool(ctx); err != nil { // generation 1 imported
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	line := func(kind string) string {
		b, err := json.Marshal(Event{At: time.Unix(1_700_000_000, 0), Kind: kind, Outcome: "not_required"})
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	var imported int64
	s3, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&imported); err != nil {
		t.Fatal(err)
	}
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
	write := func(gen int64, body string) {
		if err := os.WriteFile(path+spoolSuffix+strconv.FormatInt(gen, 10), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(imported, line("already.imported"))                            // the kill came between the commit and the delete
	write(imported+1, line("spooled.1")+line("spooled.2")+`{"Kind":"to`) // torn by a power cut
	write(imported+2, line("spooled.3"))

	s2 := openAt(t, path)
	evs, err := s2.Events(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	want := []string{"before.crash", "spooled.1", "spooled.2", "spooled.3"}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
}

// An import the writer cannot write leaves its generation waiting, in its
// file and in memory, and the next import writes it, once, before what
// was spooled after it.
func TestSpoolImportFailureRetried(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := context.Background()
	if _, err := s.execForTest(ctx, `CREATE TRIGGER refuse BEFORE INSERT ON audit_events WHEN NEW.kind = 'refused'
		BEGIN SELECT RAISE(ABORT, 'refused for the test'); END`); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEventRelaxed(ctx, ev("refused")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events(ctx, 0, 100); err == nil {
		t.Fatal("Events imported an event the database refuses")
	}
	if err := s.AppendEventRelaxed(ctx, ev("after")); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(path + spoolSuffix + "*"); len(left) < 2 {
		t.Fatalf("spool files %v: the refused generation's file is gone", left)
	}
	if _, err := s.execForTest(ctx, `DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 2 || kinds[0] != "refused" || kinds[1] != "after" {
		t.Fatalf("events %v, want [refused after]", kinds)
	}
}

// An import of many events stores each event whole, every field in its
// column, in the order spooled.
func TestSpoolImportManyEventsInOrder(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := context.Background()
	n := 69
	var want []Event
	for i := range n {
		e := Event{At: time.Unix(1_700_000_000+int64(i), 0).UTC(), Kind: "login.begin", OperatorID: "op-" + strconv.Itoa(i),
			Actor: "actor " + strconv.Itoa(i), ActorID: "aid-" + strconv.Itoa(i), ActorRole: "role-" + strconv.Itoa(i),
			ClientIP: "203.0.113." + strconv.Itoa(i%250), UserAgent: "agent \"" + strconv.Itoa(i) + "\"\nline",
			Outcome: "not_required", Reason: "reason-" + strconv.Itoa(i), Detail: "detail " + strconv.Itoa(i), Notice: contract.NoticeKind("notice-" + contractNotice(i))}
		want = append(want, e)
		if err := s.AppendEventRelaxed(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Events(ctx, 0, 1000)
	if err != nil || len(got) != n {
		t.Fatalf("Events = %d, %v; want %d", len(got), err, n)
	}
	for i, r := range got {
		if i > 0 && r.ID <= got[i-1].ID {
			t.Fatalf("ids out of order at %d: %d after %d", i, r.ID, got[i-1].ID)
		}
		if r.Event != want[i] {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, r.Event, want[i])
		}
	}
}

func contractNotice(i int) string { return strconv.Itoa(i % 3) }
