package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// seedEvents inserts n events in one statement (a recursive CTE): event i
// (1-based) is at base+i seconds, of operator op-(i%3), kind login.begin
// or login.complete (odd, even), outcome allowed or denied (i%4==0).
func seedEvents(t testing.TB, s *SQLite, n int, base time.Time) {
	t.Helper()
	_, err := s.execForTest(context.Background(), `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM seq WHERE i < ?)
		INSERT INTO audit_events (at, kind, operator_id, actor, client_ip, user_agent, outcome, reason, detail)
		SELECT ? + i, CASE WHEN i % 2 = 1 THEN 'login.begin' ELSE 'login.complete' END, 'op-' || (i % 3), '', '192.0.2.1', 'UA/' || i,
			CASE WHEN i % 4 = 0 THEN 'denied' ELSE 'allowed' END, '', 'seed ' || i FROM seq`, n, base.Unix())
	if err != nil {
		t.Fatalf("seed %d events: %v", n, err)
	}
}

func ids(rs []EventRecord) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestListEventsFilters(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		base := time.Unix(1_700_000_000, 0)
		seedEvents(t, s, 100, base)
		// want computes the expected ids, newest first, from the seed's rules.
		want := func(keep func(i int) bool) []int64 {
			var out []int64
			for i := 100; i >= 1; i-- {
				if keep(i) {
					out = append(out, int64(i))
				}
			}
			return out
		}
		tests := []struct {
			name string
			f    EventFilter
			keep func(i int) bool
		}{
			{"everything", EventFilter{}, func(int) bool { return true }},
			{"operator", EventFilter{OperatorID: "op-1"}, func(i int) bool { return i%3 == 1 }},
			{"kind", EventFilter{Kinds: []string{"login.complete"}}, func(i int) bool { return i%2 == 0 }},
			{"two kinds", EventFilter{Kinds: []string{"login.complete", "login.begin"}}, func(int) bool { return true }},
			{"outcome", EventFilter{Outcomes: []string{"denied"}}, func(i int) bool { return i%4 == 0 }},
			{"from", EventFilter{From: base.Add(90 * time.Second)}, func(i int) bool { return i >= 90 }},
			{"to (exclusive)", EventFilter{To: base.Add(10 * time.Second)}, func(i int) bool { return i < 10 }},
			{"range and operator and outcome", EventFilter{OperatorID: "op-2", Outcomes: []string{"allowed"}, From: base.Add(20 * time.Second), To: base.Add(50 * time.Second)},
				func(i int) bool { return i%3 == 2 && i%4 != 0 && i >= 20 && i < 50 }},
			{"empty range", EventFilter{From: base.Add(time.Hour)}, func(int) bool { return false }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				// Pages of 7, keyset on id: together exactly the expected ids.
				var got []int64
				before := int64(0)
				for range 100 {
					page, err := s.ListEvents(ctx, tc.f, 7, before)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, ids(page)...)
					if len(page) < 7 {
						break
					}
					before = page[len(page)-1].ID
				}
				if w := want(tc.keep); !slices.Equal(got, w) {
					t.Fatalf("ids = %v\nwant %v", got, w)
				}
			})
		}
	})
}

func TestListEventsReadsUserAgent(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		e := ev("login.begin")
		e.UserAgent, e.ClientIP, e.OperatorID = "Mozilla/5.0 (X11)", "198.51.100.7", "op"
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListEvents(ctx, EventFilter{}, 10, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("ListEvents = %v, %v", got, err)
		}
		if got[0].UserAgent != e.UserAgent || got[0].ClientIP != e.ClientIP {
			t.Fatalf("event = %+v", got[0])
		}
	})
}

// The filters that matter use their index, and nothing pages by OFFSET.
func TestListEventsQueryPlans(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := context.Background()
	seedEvents(t, s, 2000, time.Unix(1_700_000_000, 0))
	if _, err := s.execForTest(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	plan := func(q string, args ...any) string {
		rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		return strings.Join(lines, "; ")
	}
	opFilter := EventFilter{OperatorID: "op-1"}
	opWhere, opArgs := opFilter.where(1, maxID)
	if p := plan(`SELECT `+eventColumns+` FROM `+opFilter.from(sqlite)+` WHERE `+opWhere+` ORDER BY id DESC LIMIT 50`, opArgs...); !strings.Contains(p, "audit_events_operator") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("operator filter plan = %q, want audit_events_operator and no sort", p)
	}
	if p := plan(`SELECT MIN(id), MAX(id) FROM audit_events INDEXED BY audit_events_at WHERE at >= ? AND at < ?`, 1, 2); !strings.Contains(p, "COVERING INDEX audit_events_at") {
		t.Errorf("time range plan = %q, want the covering index audit_events_at", p)
	}
	if p := plan(`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events INDEXED BY audit_events_at WHERE at < ? LIMIT ?)`, 1, 500); !strings.Contains(p, "audit_events_at") {
		t.Errorf("prune plan = %q, want audit_events_at", p)
	}
	allWhere, allArgs := EventFilter{}.where(1, 500)
	if p := plan(`SELECT `+eventColumns+` FROM audit_events WHERE `+allWhere+` ORDER BY id DESC LIMIT 50`, allArgs...); !strings.Contains(p, "INTEGER PRIMARY KEY") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("unfiltered plan = %q, want a primary-key range and no sort", p)
	}
	for _, f := range []EventFilter{{Outcomes: []string{"denied", "locked"}}, {Kinds: []string{"login.begin", "plugin.activated"}, From: time.Unix(1, 0)}} {
		q, args := f.listQuery(sqlite, 1, 500, 50)
		p := plan(q, args...)
		want := "audit_events_outcome"
		if len(f.Outcomes) == 0 {
			want = "audit_events_kind"
		}
		// The merge sorts at most a page per value; no value's rows are sorted.
		if strings.Count(p, want) != 2 || strings.Contains(p, "id<?); USE TEMP B-TREE") {
			t.Errorf("%+v plan = %q, want each value read through %s in id order", f, p, want)
		}
	}
	countArgs := []any{1}
	for _, k := range LoginKinds {
		countArgs = append(countArgs, k)
	}
	if p := plan(countLoginsQuery(sqlite), countArgs...); !strings.Contains(p, "audit_events_at") {
		t.Errorf("count plan = %q, want audit_events_at", p)
	}
}

func TestEachEventOldestFirstInBatches(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		base := time.Unix(1_700_000_000, 0)
		seedEvents(t, s, 2500, base)
		var got []int64
		err := s.EachEvent(ctx, EventFilter{From: base.Add(1001 * time.Second)}, 300, func(r EventRecord) error {
			got = append(got, r.ID)
			if len(got) == 1 {
				// Written during the export: after its end, so not in it.
				if err := s.AppendEvent(ctx, Event{At: base.Add(5000 * time.Second), Kind: "login.begin"}); err != nil {
					t.Errorf("write during export: %v", err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1500 || got[0] != 1001 || got[len(got)-1] != 2500 || !slices.IsSorted(got) {
			t.Fatalf("exported %d ids from %d to %d (sorted %v)", len(got), got[0], got[len(got)-1], slices.IsSorted(got))
		}
	})
}

// A reader that goes away stops the export at once, and leaves nothing
// that keeps a login's write waiting.
func TestEachEventStopsAndReleases(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	seedEvents(t, s, 5000, time.Unix(1_700_000_000, 0))
	ctx, cancel := context.WithCancel(context.Background())
	gone := errors.New("client went away")
	n := 0
	err := s.EachEvent(ctx, EventFilter{}, 1000, func(EventRecord) error {
		n++
		if n == 1500 {
			cancel()
			return gone
		}
		return nil
	})
	if !errors.Is(err, gone) || n != 1500 {
		t.Fatalf("EachEvent = %v after %d events, want %v after 1500", err, n, gone)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer wcancel()
	start := time.Now()
	if err := s.CreatePendingLogin(wctx, PendingLogin{StateHash: []byte("h"), OperatorID: "op", DuoUsername: "op", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}, ev("login.begin")); err != nil {
		t.Fatalf("a login write after the export stopped: %v (after %s)", err, time.Since(start))
	}
	// And a checkpoint can run to completion: no reader holds the WAL.
	var busy, logFrames, done int
	if err := s.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil || busy != 0 {
		t.Fatalf("wal_checkpoint = busy %d, %v", busy, err)
	}
}

func TestPruneEventsInBatches(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		base := time.Unix(1_700_000_000, 0)
		seedEvents(t, s, 1200, base)
		cut := base.Add(1001 * time.Second) // events 1..1000 are older
		var total int64
		for i := 0; ; i++ {
			n, err := s.PruneEvents(ctx, cut, 300)
			if err != nil {
				t.Fatal(err)
			}
			if n > 300 {
				t.Fatalf("batch %d deleted %d rows, more than 300", i, n)
			}
			total += n
			if n == 0 {
				break
			}
		}
		left, err := s.ListEvents(ctx, EventFilter{}, 500, 0)
		if err != nil {
			t.Fatal(err)
		}
		if total != 1000 || len(left) != 200 || left[len(left)-1].ID != 1001 {
			t.Fatalf("pruned %d, %d left from id %d", total, len(left), left[len(left)-1].ID)
		}
	})
}

func TestCountLogins(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		now := time.Unix(1_700_000_000, 0)
		for i, e := range []Event{
			{At: now, Kind: "login.complete", Outcome: "allowed"},
			{At: now, Kind: "login.code", Outcome: "allowed"},
			{At: now, Kind: "login.begin", Outcome: "denied"},
			{At: now, Kind: "login.begin", Outcome: "allowed_without_duo"},
			{At: now, Kind: "login.begin", Outcome: "redirect"},
			{At: now, Kind: "settings.updated", Outcome: "ok"},
			{At: now, Kind: "permission.denied", Outcome: "denied"},                // not a login
			{At: now.Add(-25 * time.Hour), Kind: "login.begin", Outcome: "denied"}, // too old
		} {
			if err := s.AppendEvent(ctx, e); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		got, err := s.CountLogins(ctx, now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"allowed": 2, "denied": 1, "allowed_without_duo": 1, "redirect": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("CountLogins = %v, want %v", got, want)
		}
	})
}

// The observer sees each event once it is committed, from AppendEvent and
// from a transaction alike, and never one rolled back.
func TestObserverSeesCommittedEvents(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		for _, id := range []string{"a", "b"} {
			if _, err := s.SetOperatorEnabled(ctx, contract.Operator{ID: id, Username: id}, true, ev("operator.enabled")); err != nil {
				t.Fatal(err)
			}
		}
		var seen []string
		s.ObserveEvents(func(e Event) { seen = append(seen, e.Kind+"/"+e.Outcome) })
		if err := s.AppendEvent(ctx, Event{At: time.Now(), Kind: "login.begin", Outcome: "not_required"}); err != nil {
			t.Fatal(err)
		}
		p := PendingLogin{StateHash: []byte("s1"), OperatorID: "a", DuoUsername: "shared", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
		if err := s.CreatePendingLogin(ctx, p, Event{At: time.Now(), Kind: "login.begin", Outcome: "redirect"}); err != nil {
			t.Fatal(err)
		}
		// Another operator claiming the same Duo username rolls back: unseen.
		p.StateHash, p.OperatorID = []byte("s2"), "b"
		if err := s.CreatePendingLogin(ctx, p, Event{At: time.Now(), Kind: "login.begin", Outcome: "rolled_back"}); err == nil {
			t.Fatal("a taken Duo username was claimed")
		}
		want := []string{"login.begin/not_required", "login.begin/redirect"}
		if !slices.Equal(seen, want) {
			t.Fatalf("observed %v, want %v", seen, want)
		}
	})
}

// Pruning starts no batch while another write of the store is in flight
// (logins first), and gives up waiting after maxYield.
func TestPruneYieldsToWrites(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	seedEvents(t, s, 10, time.Unix(1_700_000_000, 0))
	done := s.writing()
	time.AfterFunc(150*time.Millisecond, done)
	start := time.Now()
	n, err := s.PruneEvents(context.Background(), time.Unix(1_800_000_000, 0), 5)
	if err != nil || n != 5 {
		t.Fatalf("PruneEvents = %d, %v", n, err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("the prune started after %s, while a write was in flight", took)
	}
	stuck := s.writing() // a write that never ends
	defer stuck()
	start = time.Now()
	if _, err := s.PruneEvents(context.Background(), time.Unix(1_800_000_000, 0), 5); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < maxYield || took > maxYield+2*time.Second {
		t.Fatalf("behind a write that never ends, the prune waited %s, want about %s", took, maxYield)
	}
}
