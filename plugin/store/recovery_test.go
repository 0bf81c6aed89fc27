package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
	"github.com/helpdesk-duo/duo-plugin/internal/sqlitedb"
	"github.com/helpdesk-duo/duo-plugin/migrations"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// h stands in for a keyed hash: the store never sees anything else.
func h(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func hashes(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = h(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

var t0 = time.Unix(1_700_000_000, 0).UTC()

// enabledOperator creates an operator with Duo on.
func enabledOperator(t *testing.T, s *SQLite, id string) contract.Operator {
	t.Helper()
	op := contract.Operator{ID: id, Username: "user-" + id}
	if _, err := s.SetOperatorEnabled(context.Background(), op, true, Event{At: t0, Kind: "operator.enabled", Notice: contract.NoticeDuoEnabled}); err != nil {
		t.Fatal(err)
	}
	return op
}

// withCodes gives the operator a confirmed set of backup codes.
func withCodes(t *testing.T, s *SQLite, id, prefix string, n int) [][]byte {
	t.Helper()
	ctx := context.Background()
	codes := hashes(prefix, n)
	ticket := h("ticket-" + prefix)
	if err := s.CreateBackupCodeTicket(ctx, BackupCodeTicket{TicketHash: ticket, OperatorID: id, CodeHashes: codes, CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)},
		Event{At: t0, Kind: "login.complete"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmBackupCodes(ctx, ticket, id, t0, Event{At: t0, Kind: "backup_codes.confirmed", Notice: contract.NoticeBackupCodesIssued}); err != nil {
		t.Fatal(err)
	}
	return codes
}

// spendBackup redeems a code that can only be a backup code.
func spendBackup(s *SQLite, op string, hash []byte, at time.Time, ev Event) error {
	r, err := s.RedeemCode(context.Background(), op, hash, nil, at, func(Redemption) Event { return ev })
	if err == nil && r.Kind != BackupCode {
		return fmt.Errorf("a backup code redeemed as kind %d", r.Kind)
	}
	return err
}

// spendBypass redeems a code that can only be a bypass code.
func spendBypass(s *SQLite, op string, hash []byte, at time.Time, ev func(contract.BypassCode) Event) (contract.BypassCode, error) {
	r, err := s.RedeemCode(context.Background(), op, nil, hash, at, func(r Redemption) Event { return ev(r.Bypass) })
	if err == nil && r.Kind != BypassCode {
		return r.Bypass, fmt.Errorf("a bypass code redeemed as kind %d", r.Kind)
	}
	return r.Bypass, err
}

// secondFactorAt is when the store says the operator last proved their
// second factor; the zero time if never.
func secondFactorAt(t *testing.T, s *SQLite, id string) time.Time {
	t.Helper()
	var at sql.NullInt64
	if err := s.rd.QueryRowContext(context.Background(), `SELECT second_factor_at FROM operators WHERE id = ?`, id).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return unixOrZero(at)
}

// events returns every audit event.
func events(t *testing.T, s *SQLite) []EventRecord {
	t.Helper()
	evs, err := s.Events(context.Background(), 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// notices returns every notice.
func notices(t *testing.T, s *SQLite) []contract.Notice {
	t.Helper()
	ns, err := s.Notices(context.Background(), 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func state(t *testing.T, s *SQLite, id string) contract.OperatorState {
	t.Helper()
	m, err := s.OperatorStates(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return m[id]
}

func TestBackupCodeTicketConfirmsOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		enabledOperator(t, s, "a")
		enabledOperator(t, s, "b")
		codes := hashes("set1", 10)
		ticket := BackupCodeTicket{TicketHash: h("t1"), OperatorID: "a", CodeHashes: codes, CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}
		if err := s.CreateBackupCodeTicket(ctx, ticket, Event{At: t0, Kind: "login.complete"}); err != nil {
			t.Fatal(err)
		}
		// Shown, not confirmed: no code works, none is counted, Duo's allow is
		// recorded (enrolment, second factor).
		if err := spendBackup(s, "a", codes[0], t0, Event{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unconfirmed code: %v, want ErrNotFound", err)
		}
		st := state(t, s, "a")
		if st.BackupCodesLeft != 0 || !st.BackupCodesIssuedAt.IsZero() || !st.EnrolledAt.Equal(t0) || !st.LastLogin.IsZero() {
			t.Fatalf("state before confirming = %+v", st)
		}
		if at := secondFactorAt(t, s, "a"); !at.Equal(t0) {
			t.Fatalf("second factor at %v, want %v", at, t0)
		}

		for _, tc := range []struct {
			name   string
			ticket []byte
			op     string
			now    time.Time
		}{
			{"another operator", h("t1"), "b", t0},
			{"expired", h("t1"), "a", t0.Add(15 * time.Minute)},
			{"unknown", h("t2"), "a", t0},
		} {
			if err := s.ConfirmBackupCodes(ctx, tc.ticket, tc.op, tc.now, Event{}); !errors.Is(err, ErrConsumed) {
				t.Fatalf("%s: %v, want ErrConsumed", tc.name, err)
			}
		}
		later := t0.Add(time.Minute)
		if err := s.ConfirmBackupCodes(ctx, h("t1"), "a", later, Event{At: later, Kind: "backup_codes.confirmed"}); err != nil {
			t.Fatal(err)
		}
		if err := s.ConfirmBackupCodes(ctx, h("t1"), "a", later, Event{}); !errors.Is(err, ErrConsumed) {
			t.Fatalf("confirm twice: %v, want ErrConsumed", err)
		}
		st = state(t, s, "a")
		if st.BackupCodesLeft != 10 || !st.BackupCodesIssuedAt.Equal(later) || !st.LastLogin.Equal(later) {
			t.Fatalf("state after confirming = %+v", st)
		}
		// A confirmed ticket leaves no copy of its hashes.
		var n int
		if err := s.rd.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_code_tickets`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d tickets left, %v", n, err)
		}
	})
}

// A newer set replaces an unconfirmed one, and a confirmed set replaces
// the older set: the old codes stop working.
func TestNewerSetsReplaceOlderOnes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		enabledOperator(t, s, "a")
		for _, name := range []string{"old", "new"} {
			if err := s.CreateBackupCodeTicket(ctx, BackupCodeTicket{TicketHash: h(name), OperatorID: "a", CodeHashes: hashes(name, 5), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, Event{At: t0, Kind: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.ConfirmBackupCodes(ctx, h("old"), "a", t0, Event{At: t0, Kind: "x"}); !errors.Is(err, ErrConsumed) {
			t.Fatalf("confirm the replaced set: %v", err)
		}
		if err := s.ConfirmBackupCodes(ctx, h("new"), "a", t0, Event{At: t0, Kind: "x"}); err != nil {
			t.Fatal(err)
		}
		st, err := s.ReplaceBackupCodes(ctx, "a", hashes("third", 7), t0, t0.Add(time.Hour), Event{At: t0, Kind: "backup_codes.regenerated"})
		if err != nil || st.BackupCodesLeft != 7 || !st.BackupCodesIssuedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("ReplaceBackupCodes = %+v, %v", st, err)
		}
		if err := spendBackup(s, "a", hashes("new", 5)[0], t0, Event{At: t0, Kind: "x"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a code of the replaced set: %v, want ErrNotFound", err)
		}
		if err := spendBackup(s, "a", hashes("third", 7)[6], t0, Event{At: t0, Kind: "x"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRedeemBackupCode(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		enabledOperator(t, s, "a")
		enabledOperator(t, s, "b")
		codes := withCodes(t, s, "a", "a", 10)
		withCodes(t, s, "b", "b", 10)
		at := t0.Add(time.Hour)
		ev := Event{At: at, Kind: "login.code", OperatorID: "a", Outcome: "allowed", Notice: contract.NoticeBackupCodeUsed}
		if err := spendBackup(s, "b", codes[0], at, ev); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another operator's code: %v", err)
		}
		if err := spendBackup(s, "a", h("nope"), at, ev); !errors.Is(err, ErrNotFound) {
			t.Fatalf("wrong code: %v", err)
		}
		if err := spendBackup(s, "a", codes[0], at, ev); err != nil {
			t.Fatal(err)
		}
		if err := spendBackup(s, "a", codes[0], at, ev); !errors.Is(err, ErrUsed) || !errors.Is(err, ErrConsumed) {
			t.Fatalf("reused code: %v, want ErrUsed", err)
		}
		st := state(t, s, "a")
		if st.BackupCodesLeft != 9 || !st.LastLogin.Equal(at) {
			t.Fatalf("state = %+v", st)
		}
		if got := secondFactorAt(t, s, "a"); !got.Equal(at) {
			t.Fatalf("second factor at %v, want %v", got, at)
		}
		if left := state(t, s, "b").BackupCodesLeft; left != 10 {
			t.Fatalf("b has %d codes left", left)
		}
		if used := countKind(notices(t, s), contract.NoticeBackupCodeUsed); used != 1 {
			t.Fatalf("%d backup_code_used notices, want 1 (failed attempts are not notices)", used)
		}
	})
}

func countKind(ns []contract.Notice, k contract.NoticeKind) int {
	n := 0
	for _, x := range ns {
		if x.Kind == k {
			n++
		}
	}
	return n
}

// Of 50 concurrent redemptions of one code, exactly one wins: for a backup
// code, a one-use bypass code, and a three-use bypass code (three win).
func TestConcurrentRedemptionsExactlyOnce(t *testing.T) {
	t.Parallel()
	const n = 50
	tests := []struct {
		name   string
		wins   int
		redeem func(s *SQLite, code []byte) error
		setup  func(t *testing.T, s *SQLite) []byte
	}{
		{"backup code", 1, func(s *SQLite, code []byte) error {
			return spendBackup(s, "a", code, t0, Event{At: t0, Kind: "login.code", Notice: contract.NoticeBackupCodeUsed})
		}, func(t *testing.T, s *SQLite) []byte { return withCodes(t, s, "a", "race", 10)[3] }},
		{"one-use bypass code", 1, redeemBypass, issueBypass(1)},
		{"three-use bypass code", 3, redeemBypass, issueBypass(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, s *DB) {
				enabledOperator(t, s, "a")
				code := tt.setup(t, s)
				var wg sync.WaitGroup
				errs := make([]error, n)
				start := make(chan struct{})
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						errs[i] = tt.redeem(s, code)
					}()
				}
				close(start)
				wg.Wait()
				wins := winners(t, errs, ErrUsed)
				if wins != tt.wins {
					t.Fatalf("%d of %d redemptions won, want %d", wins, n, tt.wins)
				}
				ns := notices(t, s)
				if used := countKind(ns, contract.NoticeBackupCodeUsed) + countKind(ns, contract.NoticeBypassCodeUsed); used != tt.wins {
					t.Fatalf("%d use notices for %d wins", used, tt.wins)
				}
			})
		})
	}
}

func redeemBypass(s *SQLite, code []byte) error {
	_, err := spendBypass(s, "a", code, t0, func(b contract.BypassCode) Event {
		return Event{At: t0, Kind: "login.code", Detail: "bypass code " + b.ID, Notice: contract.NoticeBypassCodeUsed}
	})
	return err
}

func issueBypass(uses int32) func(t *testing.T, s *SQLite) []byte {
	return func(t *testing.T, s *SQLite) []byte {
		t.Helper()
		code := h(fmt.Sprintf("bypass-%d", uses))
		b := contract.BypassCode{ID: "id-1", IssuedBy: "helpdesk", IssuedAt: t0, UsesLeft: uses, ExpiresAt: t0.Add(time.Hour)}
		if err := s.IssueBypassCode(context.Background(), contract.Operator{ID: "a", Username: "user-a"}, b, code, Event{At: t0, Kind: "bypass_code.issued"}); err != nil {
			t.Fatal(err)
		}
		return code
	}
}

func TestBypassCodes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		a := contract.Operator{ID: "a", Username: "alice"}
		issue := func(id string, at time.Time, uses int32, life time.Duration) []byte {
			t.Helper()
			code := h("code-" + id)
			b := contract.BypassCode{ID: id, IssuedBy: "helpdesk", IssuedAt: at, UsesLeft: uses, ExpiresAt: at.Add(life)}
			if err := s.IssueBypassCode(ctx, a, b, code, Event{At: at, Kind: "bypass_code.issued", OperatorID: "a", Notice: contract.NoticeBypassCodeIssued}); err != nil {
				t.Fatal(err)
			}
			return code
		}
		// Issuing for an operator the plugin has not seen creates their row
		// (Duo still off).
		one := issue("one", t0, 1, time.Hour)
		if st := state(t, s, "a"); st.Username != "alice" || st.Enabled {
			t.Fatalf("state = %+v", st)
		}
		two := issue("two", t0.Add(time.Minute), 2, time.Hour)
		three := issue("three", t0.Add(2*time.Minute), 1, time.Hour)
		issue("four", t0.Add(2*time.Minute), 1, time.Hour) // same second as three: newer by insertion
		if err := s.IssueBypassCode(ctx, a, contract.BypassCode{ID: "dup", IssuedAt: t0, UsesLeft: 1, ExpiresAt: t0.Add(time.Hour)}, one, Event{At: t0, Kind: "x"}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("the same code hash twice: %v, want ErrDuplicate", err)
		}

		list, err := s.ListBypassCodes(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, b := range list {
			ids = append(ids, b.ID)
		}
		want := []string{"four", "three", "two", "one"}
		if s.dialect == postgres {
			// No insertion order: a tie of one second goes by id
			// (dialect.bypassOrder).
			want = []string{"three", "four", "two", "one"}
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("listed %v, want newest first: %v", ids, want)
		}
		if list[2].UsesLeft != 2 || list[2].IssuedBy != "helpdesk" || !list[2].ExpiresAt.Equal(t0.Add(time.Minute+time.Hour)) || !list[2].RevokedAt.IsZero() {
			t.Fatalf("two = %+v", list[2])
		}
		if others, err := s.ListBypassCodes(ctx, "b"); err != nil || len(others) != 0 {
			t.Fatalf("b's codes = %v, %v", others, err)
		}

		at := t0.Add(5 * time.Minute)
		b, err := spendBypass(s, "a", two, at, func(b contract.BypassCode) Event { return Event{At: at, Kind: "login.code"} })
		if err != nil || b.ID != "two" || b.UsesLeft != 1 {
			t.Fatalf("first use of two = %+v, %v", b, err)
		}
		if _, err := spendBypass(s, "a", two, at, func(contract.BypassCode) Event { return Event{At: at, Kind: "login.code"} }); err != nil {
			t.Fatal(err)
		}
		if st := state(t, s, "a"); !st.LastLogin.Equal(at) {
			t.Fatalf("login not recorded: %+v", st)
		}
		revoked, err := s.RevokeBypassCode(ctx, "a", "three", at, Event{At: at, Kind: "bypass_code.revoked"})
		if err != nil || !revoked.RevokedAt.Equal(at) {
			t.Fatalf("revoke = %+v, %v", revoked, err)
		}
		again, err := s.RevokeBypassCode(ctx, "a", "three", at.Add(time.Minute), Event{At: at, Kind: "bypass_code.revoked"})
		if err != nil || !again.RevokedAt.Equal(at) {
			t.Fatalf("revoke again = %+v, %v; want the first revocation kept", again, err)
		}
		for _, tc := range []struct{ op, id string }{{"b", "one"}, {"a", "nope"}} {
			if _, err := s.RevokeBypassCode(ctx, tc.op, tc.id, at, Event{At: at, Kind: "x"}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("revoke %s of %s: %v, want ErrNotFound", tc.id, tc.op, err)
			}
		}
		revocations := 0
		for _, e := range events(t, s) {
			if e.Kind == "bypass_code.revoked" {
				revocations++
			}
		}
		if revocations != 1 {
			t.Fatalf("%d revocation events, want 1", revocations)
		}

		nop := func(contract.BypassCode) Event { return Event{At: at, Kind: "login.code"} }
		for _, tc := range []struct {
			name string
			op   string
			code []byte
			now  time.Time
			want error
		}{
			{"used up", "a", two, at, ErrUsed},
			{"revoked", "a", three, at, ErrRevoked},
			{"expired", "a", one, t0.Add(time.Hour), ErrExpired},
			{"unknown", "a", h("nope"), at, ErrNotFound},
			{"another operator's", "b", one, at, ErrNotFound},
		} {
			if _, err := spendBypass(s, tc.op, tc.code, tc.now, nop); !errors.Is(err, tc.want) {
				t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}

func TestRecoveryLinkResetsOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		a := enabledOperator(t, s, "a")
		b := enabledOperator(t, s, "b")
		codes := withCodes(t, s, "a", "a", 10)
		bCodes := withCodes(t, s, "b", "b", 10)
		if err := s.CreateBackupCodeTicket(ctx, BackupCodeTicket{TicketHash: h("pending"), OperatorID: "a", CodeHashes: hashes("p", 5), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, Event{At: t0, Kind: "x"}); err != nil {
			t.Fatal(err)
		}
		bypass := issueBypass(2)(t, s)
		link := func(name string, op contract.Operator, life time.Duration) {
			t.Helper()
			if err := s.CreateRecoveryLink(ctx, op, RecoveryLink{TokenHash: h(name), OperatorID: op.ID, CreatedBy: "admin", CreatedAt: t0, ExpiresAt: t0.Add(life)},
				Event{At: t0, Kind: "recovery_link.created", Notice: contract.NoticeRecoveryLinkCreated}); err != nil {
				t.Fatal(err)
			}
		}
		link("l1", a, 24*time.Hour)
		link("l2", a, 24*time.Hour)
		link("short", a, time.Minute)
		link("lb", b, 24*time.Hour)
		before := events(t, s)

		at := t0.Add(time.Hour)
		for _, tc := range []struct {
			name string
			hash []byte
			op   string
			now  time.Time
			want error
		}{
			{"unknown", h("nope"), "a", at, ErrNotFound},
			{"another operator's", h("lb"), "a", at, ErrNotFound},
			{"expired", h("short"), "a", at, ErrExpired},
		} {
			if err := s.RedeemRecoveryLink(ctx, tc.hash, tc.op, tc.now, Event{At: at, Kind: "x"}); !errors.Is(err, tc.want) {
				t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if after := events(t, s); len(after) != len(before) || state(t, s, "a").BackupCodesLeft != 10 {
			t.Fatal("a refused link changed something")
		}

		// Used twice at once: exactly one resets.
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.RedeemRecoveryLink(ctx, h("l1"), "a", at, Event{At: at, Kind: "second_factor.reset", OperatorID: "a", Notice: contract.NoticeSecondFactorReset})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else if !errors.Is(err, ErrUsed) {
				t.Fatalf("unexpected: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d of %d redemptions reset the second factor, want 1", wins, len(errs))
		}
		st := state(t, s, "a")
		if st.BackupCodesLeft != 0 || !st.BackupCodesIssuedAt.IsZero() || !st.EnrolledAt.IsZero() || !st.Enabled {
			t.Fatalf("after the reset: %+v; want Duo still on and everything else forgotten", st)
		}
		if got := secondFactorAt(t, s, "a"); !got.IsZero() {
			t.Fatalf("second factor at %v after the reset, want never", got)
		}
		if _, err := s.ReplaceBackupCodes(ctx, "a", hashes("after", 5), time.Time{}, at, Event{At: at, Kind: "x"}); !errors.Is(err, ErrFactorNotRecent) {
			t.Fatalf("new codes after the reset, before any second factor: %v, want ErrFactorNotRecent", err)
		}
		if err := spendBackup(s, "a", codes[1], at, Event{At: at, Kind: "x"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an old backup code after the reset: %v", err)
		}
		if err := s.ConfirmBackupCodes(ctx, h("pending"), "a", at.Add(-time.Minute), Event{At: at, Kind: "x"}); !errors.Is(err, ErrConsumed) {
			t.Fatalf("an unconfirmed set after the reset: %v", err)
		}
		if _, err := spendBypass(s, "a", bypass, at, func(contract.BypassCode) Event { return Event{At: at, Kind: "x"} }); !errors.Is(err, ErrRevoked) {
			t.Fatalf("a bypass code after the reset: %v", err)
		}
		if err := s.RedeemRecoveryLink(ctx, h("l2"), "a", at, Event{At: at, Kind: "x"}); !errors.Is(err, ErrUsed) {
			t.Fatalf("the operator's other link after the reset: %v, want ErrUsed", err)
		}
		// Nothing of b's changed.
		if st := state(t, s, "b"); st.BackupCodesLeft != 10 || st.EnrolledAt.IsZero() {
			t.Fatalf("b after a's reset: %+v", st)
		}
		if err := spendBackup(s, "b", bCodes[0], at, Event{At: at, Kind: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RedeemRecoveryLink(ctx, h("lb"), "b", at, Event{At: at, Kind: "x"}); err != nil {
			t.Fatalf("b's own link: %v", err)
		}
	})
}

func TestNotices(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		a := contract.Operator{ID: "a", Username: "alice"}
		admin := Event{At: t0, Actor: "root", ActorID: "9", ActorRole: "admin"}
		self := Event{At: t0, Actor: "alice", ActorID: "a", ActorRole: "agent"}
		with := func(e Event, kind string, n contract.NoticeKind) Event {
			e.Kind, e.OperatorID, e.Notice = kind, "a", n
			return e
		}
		if _, err := s.SetOperatorEnabled(ctx, a, true, with(admin, "operator.enabled", contract.NoticeDuoEnabled)); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvent(ctx, with(admin, "settings.updated", "")); err != nil { // not a notice
			t.Fatal(err)
		}
		if err := s.RecordLogin(ctx, "a", t0, Event{At: t0, Kind: "login.complete", OperatorID: "a", Outcome: "allowed"}); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(time.Minute)
		if err := s.RecordLogin(ctx, "a", later, Event{At: t0, Kind: "login.complete", OperatorID: "a", Outcome: "allowed"}); err != nil {
			t.Fatal(err) // enrolled once only
		}
		if st := state(t, s, "a"); !st.EnrolledAt.Equal(t0) || !st.LastLogin.Equal(later) || !secondFactorAt(t, s, "a").Equal(later) {
			t.Fatalf("after two Duo logins: %+v, second factor at %v; want enrolled at the first, signed in and second factor at the second", st, secondFactorAt(t, s, "a"))
		}
		if err := s.RecordLogin(ctx, "nobody", later, Event{At: t0, Kind: "login.complete", OperatorID: "nobody", Outcome: "allowed"}); err != nil {
			t.Fatal(err) // no row, no enrolment
		}
		if _, err := s.SetOperatorEnabled(ctx, a, false, with(self, "operator.disabled", contract.NoticeDuoDisabled)); err != nil {
			t.Fatal(err)
		}
		all, err := s.Notices(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range all {
			got = append(got, fmt.Sprintf("%s:%s:%s", n.Kind, n.OperatorID, n.Actor))
			if !n.At.Equal(t0) || n.ID == 0 {
				t.Fatalf("notice %+v", n)
			}
		}
		want := []string{"duo_enabled:a:root", "duo_enrolled:a:", "duo_disabled:a:"}
		if !slices.Equal(got, want) {
			t.Fatalf("notices %v, want %v", got, want)
		}
		page, err := s.Notices(ctx, all[0].ID, 1)
		if err != nil || len(page) != 1 || page[0].ID != all[1].ID {
			t.Fatalf("page after %d = %+v, %v", all[0].ID, page, err)
		}
		if rest, err := s.Notices(ctx, all[2].ID, 100); err != nil || len(rest) != 0 {
			t.Fatalf("after the last: %+v, %v", rest, err)
		}
	})
}

// A database the previous plugin version wrote (schema 2) is brought up
// to date: its operators keep everything, with no backup codes yet.
func TestUpgradeFromSchemaTwoKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "duo.db")
	old := fstest.MapFS{}
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "00001_") || strings.HasPrefix(e.Name(), "00002_") {
			data, err := fs.ReadFile(migrations.FS, e.Name())
			if err != nil {
				t.Fatal(err)
			}
			old[e.Name()] = &fstest.MapFile{Data: data}
		}
	}
	opts := dbOptions
	opts.Migrations = old
	db, err := sqlitedb.Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO operators (id, username, enabled, enrolled_at, changed_at) VALUES ('a', 'alice', 1, 5, 6)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO audit_events (at, kind, operator_id) VALUES (1, 'operator.enabled', 'a')`); err != nil {
		t.Fatal(err)
	}
	if len(old) != 2 {
		t.Fatalf("%d old migrations found, want 2", len(old))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path)
	latest, err := LatestSchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != latest || v < 3 {
		t.Fatalf("schema version %d (%v) after upgrade, want %d", v, err, latest)
	}
	st := state(t, s, "a")
	if !st.Enabled || st.EnrolledAt.Unix() != 5 || st.BackupCodesLeft != 0 || !st.BackupCodesIssuedAt.IsZero() {
		t.Fatalf("alice after the upgrade = %+v", st)
	}
	// Events from before are kept and are not notices.
	if ev := events(t, s); len(ev) != 1 || ev[0].Notice != "" {
		t.Fatalf("events after the upgrade = %+v", ev)
	}
	if n := notices(t, s); len(n) != 0 {
		t.Fatalf("notices after the upgrade = %+v", n)
	}
}

// Each new set shown takes away every unconfirmed set that expired,
// whoever's it was: the table needs no sweep of its own.
func TestExpiredSetsGoWithTheNextOne(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		for _, id := range []string{"a", "b", "c"} {
			enabledOperator(t, s, id)
		}
		create := func(op string, at time.Time, life time.Duration) {
			t.Helper()
			if err := s.CreateBackupCodeTicket(ctx, BackupCodeTicket{TicketHash: h(op + at.String()), OperatorID: op, CodeHashes: hashes(op, 5), CreatedAt: at, ExpiresAt: at.Add(life)}, Event{At: at, Kind: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		tickets := func() []string {
			t.Helper()
			ops, err := sqldb.Query(ctx, s.rd, func(sc sqldb.Scanner) (string, error) {
				var op string
				return op, sc.Scan(&op)
			}, `SELECT operator_id FROM backup_code_tickets ORDER BY operator_id`)
			if err != nil {
				t.Fatal(err)
			}
			return ops
		}
		create("a", t0, time.Minute)
		create("b", t0, time.Hour)
		if got := tickets(); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("tickets of %v, want a and b", got)
		}
		// c's set, ten minutes later: a's expired set goes, b's stays.
		create("c", t0.Add(10*time.Minute), time.Hour)
		if got := tickets(); !slices.Equal(got, []string{"b", "c"}) {
			t.Fatalf("tickets of %v after c's set, want b and c", got)
		}
		if err := s.ConfirmBackupCodes(ctx, h("b"+t0.String()), "b", t0.Add(10*time.Minute), Event{At: t0, Kind: "x"}); err != nil {
			t.Fatalf("the unexpired ticket: %v", err)
		}
		if err := s.CreateBackupCodeTicket(ctx, BackupCodeTicket{TicketHash: h("bad"), OperatorID: "a", CodeHashes: [][]byte{{1, 2}}, CreatedAt: t0, ExpiresAt: t0}, Event{At: t0, Kind: "x"}); err == nil {
			t.Fatal("a 2-byte code hash was stored")
		}
	})
}

// A code that may be either kind is tried as a backup code, then as a
// bypass code, in one call; a refusal names the kind it is about, a bypass
// code's winning, and changes nothing.
func TestRedeemCodeOfEitherKind(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		enabledOperator(t, s, "a")
		backup := withCodes(t, s, "a", "a", 3)
		issue := func(id string, uses int32) []byte {
			t.Helper()
			code := h("bypass-" + id)
			b := contract.BypassCode{ID: id, IssuedBy: "helpdesk", IssuedAt: t0, UsesLeft: uses, ExpiresAt: t0.Add(time.Hour)}
			if err := s.IssueBypassCode(ctx, contract.Operator{ID: "a", Username: "user-a"}, b, code, Event{At: t0, Kind: "bypass_code.issued"}); err != nil {
				t.Fatal(err)
			}
			return code
		}
		live, revoked := issue("live", 1), issue("revoked", 1)
		if _, err := s.RevokeBypassCode(ctx, "a", "revoked", t0, Event{At: t0, Kind: "bypass_code.revoked"}); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Minute)
		event := func(r Redemption) Event {
			return Event{At: at, Kind: "login.code", OperatorID: "a", Detail: fmt.Sprintf("kind %d bypass %q", r.Kind, r.Bypass.ID)}
		}
		for _, tc := range []struct {
			name           string
			backup, bypass []byte
			kind           CodeKind
			bypassID       string
			want           error
		}{
			{"a backup code", backup[0], h("no bypass code"), BackupCode, "", nil},
			{"a bypass code", h("no backup code"), live, BypassCode, "live", nil},
			{"neither", h("x"), h("y"), 0, "", ErrNotFound},
			{"a used backup code", backup[0], h("no bypass code"), BackupCode, "", ErrUsed},
			{"a used bypass code beats a used backup code", backup[0], live, BypassCode, "", ErrUsed},
			{"a revoked bypass code beats a used backup code", backup[0], revoked, BypassCode, "", ErrRevoked},
			{"only as a bypass code", nil, backup[1], 0, "", ErrNotFound},
			{"only as a backup code", live, nil, 0, "", ErrNotFound},
		} {
			before := len(events(t, s))
			r, err := s.RedeemCode(ctx, "a", tc.backup, tc.bypass, at, event)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) || r.Kind != tc.kind || r.Bypass.ID != tc.bypassID {
				t.Fatalf("%s: %+v, %v; want kind %d, bypass %q, %v", tc.name, r, err, tc.kind, tc.bypassID, tc.want)
			}
			evs := events(t, s)
			switch {
			case err == nil && (len(evs) != before+1 || evs[len(evs)-1].Detail != event(r).Detail):
				t.Fatalf("%s: events %+v, want the one built from the redemption", tc.name, evs[before:])
			case err != nil && len(evs) != before:
				t.Fatalf("%s: a refusal wrote %d events", tc.name, len(evs)-before)
			}
		}
		if st := state(t, s, "a"); st.BackupCodesLeft != 2 || !st.LastLogin.Equal(at) || !secondFactorAt(t, s, "a").Equal(at) {
			t.Fatalf("state = %+v", st)
		}
	})
}

// New backup codes need a recent second factor and a set to replace,
// checked in the transaction that replaces them.
func TestReplaceBackupCodesRefusals(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *DB) {
		ctx := context.Background()
		enabledOperator(t, s, "a")
		enabledOperator(t, s, "b")
		old := withCodes(t, s, "a", "a", 3) // second factor at t0
		// b proved their second factor (Duo's allow) but never confirmed a set.
		if err := s.CreateBackupCodeTicket(ctx, BackupCodeTicket{TicketHash: h("tb"), OperatorID: "b", CodeHashes: hashes("b", 3), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, Event{At: t0, Kind: "x"}); err != nil {
			t.Fatal(err)
		}
		before := len(events(t, s))
		for _, tc := range []struct {
			name  string
			op    string
			since time.Time
			want  error
		}{
			{"second factor too long ago", "a", t0.Add(time.Second), ErrFactorNotRecent},
			{"never seen", "nobody", time.Time{}, ErrFactorNotRecent},
			{"no set yet", "b", t0, ErrNoBackupCodes},
		} {
			if _, err := s.ReplaceBackupCodes(ctx, tc.op, hashes("new", 3), tc.since, t0.Add(time.Minute), Event{At: t0, Kind: "backup_codes.regenerated"}); !errors.Is(err, tc.want) {
				t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if len(events(t, s)) != before || state(t, s, "a").BackupCodesLeft != 3 {
			t.Fatal("a refused replacement changed something")
		}
		if err := s.ConfirmBackupCodes(ctx, h("tb"), "b", t0, Event{At: t0, Kind: "x"}); err != nil {
			t.Fatalf("b's unconfirmed set was dropped by a refused replacement: %v", err)
		}
		if err := spendBackup(s, "a", old[0], t0, Event{At: t0, Kind: "x"}); err != nil {
			t.Fatalf("a's codes after a refused replacement: %v", err)
		}
		if _, err := s.ReplaceBackupCodes(ctx, "a", hashes("new", 3), t0, t0.Add(time.Minute), Event{At: t0, Kind: "backup_codes.regenerated"}); err != nil {
			t.Fatalf("second factor exactly at the limit: %v", err)
		}
	})
}

// RedeemCode spends a code without the lockout (the login path uses
// PolicyStore.RedeemCodeCounted): the single-use rules of codes, tested
// apart from the counting.
func (s *SQLite) RedeemCode(ctx context.Context, operatorID string, backupHash, bypassHash []byte, now time.Time, ev func(Redemption) Event) (Redemption, error) {
	var out Redemption
	err := s.tx(ctx, "redeem code", func(tx *txn) error {
		var err error
		out, err = redeemCode(ctx, tx, operatorID, backupHash, bypassHash, now, ev)
		return err
	})
	return out, err
}
