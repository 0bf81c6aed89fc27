package hooks

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

func newLogEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, nil)
}

// seedDB inserts n events straight into the plugin's database file, at
// base+i seconds, of operator op-(i%3), kind login.begin, outcome allowed.
func seedDB(t testing.TB, dataDir string, n int, base time.Time) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, store.DBFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM seq WHERE i < ?)
		INSERT INTO audit_events (at, kind, operator_id, outcome, detail) SELECT ? + i, 'login.begin', 'op-' || (i % 3), 'allowed', 'seed' FROM seq`,
		n, base.Unix())
	if err != nil {
		t.Fatalf("seed %d events: %v", n, err)
	}
}

func (e *env) dataDir() string {
	var dir string
	_ = e.p.withActive(context.Background(), func(a *activeState) error { dir = a.dataDir; return nil })
	return dir
}

func TestAuthLogRefusesBadRequests(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	ctx := context.Background()
	tests := []struct {
		name string
		req  contract.ListAuthEventsRequest
		want string // in the message
	}{
		{"to before from", contract.ListAuthEventsRequest{Filter: contract.AuthEventFilter{FromUnix: 200, ToUnix: 100}}, "filter.to_unix (100) is before filter.from_unix (200)"},
		{"negative from", contract.ListAuthEventsRequest{Filter: contract.AuthEventFilter{FromUnix: -1}}, "filter.from_unix is negative"},
		{"negative to", contract.ListAuthEventsRequest{Filter: contract.AuthEventFilter{ToUnix: -5}}, "filter.to_unix is negative"},
		{"unknown outcome", contract.ListAuthEventsRequest{Filter: contract.AuthEventFilter{Outcomes: []string{"denied", "allow"}}}, `unknown outcome "allow" (known: ok, denied`},
		{"malformed kind", contract.ListAuthEventsRequest{Filter: contract.AuthEventFilter{Kinds: []string{"login begin"}}}, `"login begin" is not an event kind`},
		{"too many kinds", contract.ListAuthEventsRequest{Filter: contract.AuthEventFilter{Kinds: make([]string, 21)}}, "filter.kinds has 21 values"},
		{"operator id with control characters", contract.ListAuthEventsRequest{Filter: contract.AuthEventFilter{OperatorID: "a\x00"}}, "filter.operator_id contains control characters"},
		{"negative page size", contract.ListAuthEventsRequest{PageSize: -1}, "page_size -1"},
		{"page size over 500", contract.ListAuthEventsRequest{PageSize: 501}, "page_size 501"},
		{"token that does not decode", contract.ListAuthEventsRequest{PageToken: "!!!"}, "page_token is not a token this plugin made"},
		{"token of the right length, forged", contract.ListAuthEventsRequest{PageToken: strings.Repeat("A", 55)}, "page_token is not a token this plugin made"},
		{"every problem at once", contract.ListAuthEventsRequest{Filter: contract.AuthEventFilter{FromUnix: -1, ToUnix: -2, Outcomes: []string{"x"}}}, `filter.outcomes: unknown outcome "x" (known: ok, denied, invalid, duo_rejected, redirect, allowed, not_required, allowed_without_duo, confirm_backup_codes, exempt, locked, unlocked); filter.from_unix is negative (-1); filter.to_unix is negative (-2)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Actor = admin
			_, err := e.p.ListAuthEvents(ctx, tc.req)
			if contract.ReasonOf(err) != contract.ReasonInvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ListAuthEvents = %v, want INVALID_ARGUMENT containing %q", err, tc.want)
			}
			if tc.req.PageSize != 0 || tc.req.PageToken != "" {
				return
			}
			err = e.p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Filter: tc.req.Filter, Actor: admin}, func(contract.ExportChunk) error { return nil })
			if contract.ReasonOf(err) != contract.ReasonInvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ExportAuthEvents = %v, want INVALID_ARGUMENT containing %q", err, tc.want)
			}
		})
	}
	err := e.p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Format: 7, Actor: admin}, func(contract.ExportChunk) error { return nil })
	if contract.ReasonOf(err) != contract.ReasonInvalidArgument {
		t.Fatalf("export in format 7 = %v", err)
	}
}

// The log is for administrators (and the host itself): the help desk and
// agents are refused, even about themselves, and the refusal is audited.
func TestAuthLogRoles(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		actor contract.Actor
		ok    bool
	}{
		{admin, true},
		{actor("s", contract.RoleSystem), true},
		{actor("h", contract.RoleHelpDesk), false},
		{actor("g", contract.RoleAgent), false},
		{actor("u", contract.RoleUnspecified), false},
	} {
		for _, filter := range []contract.AuthEventFilter{{}, {OperatorID: tc.actor.ID}} {
			_, err := e.p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Filter: filter, Actor: tc.actor})
			xerr := e.p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Filter: filter, Actor: tc.actor}, func(contract.ExportChunk) error { return nil })
			for call, err := range map[string]error{"list": err, "export": xerr} {
				if tc.ok && err != nil {
					t.Errorf("%s as %s (filter %+v): %v", call, tc.actor.Role, filter, err)
				}
				if !tc.ok && contract.ReasonOf(err) != contract.ReasonPermission {
					t.Errorf("%s as %s (filter %+v) = %v, want PERMISSION_DENIED", call, tc.actor.Role, filter, err)
				}
			}
		}
	}
	if n := len(e.events("permission.denied")); n != 12 {
		t.Errorf("%d refusals audited, want 12", n)
	}
}

func TestAuthLogPagesAndTokens(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	ctx := context.Background()
	seedDB(t, e.dataDir(), 30, time.Unix(1_700_000_000, 0))
	f := contract.AuthEventFilter{OperatorID: "op-1", Kinds: []string{"login.begin"}}
	var got []int64
	token := ""
	for page := 0; ; page++ {
		res, err := e.p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Filter: f, PageSize: 4, PageToken: token, Actor: admin})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range res.Events {
			got = append(got, ev.ID)
		}
		if res.NextPageToken == "" {
			break
		}
		if page == 0 {
			// The same filter with kinds in another order is the same filter;
			// another filter is refused.
			same := contract.AuthEventFilter{OperatorID: "op-1", Kinds: []string{"login.begin", "login.begin"}}
			if _, err := e.p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Filter: same, PageToken: res.NextPageToken, Actor: admin}); err != nil {
				t.Errorf("token with an equivalent filter: %v", err)
			}
			other := contract.AuthEventFilter{OperatorID: "op-2", Kinds: []string{"login.begin"}}
			_, err := e.p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Filter: other, PageToken: res.NextPageToken, Actor: admin})
			if contract.ReasonOf(err) != contract.ReasonInvalidArgument || !strings.Contains(err.Error(), "another filter") {
				t.Errorf("token replayed with another filter = %v", err)
			}
			tampered := []byte(res.NextPageToken)
			tampered[3] ^= 1
			if _, err := e.p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Filter: f, PageToken: string(tampered), Actor: admin}); contract.ReasonOf(err) != contract.ReasonInvalidArgument {
				t.Errorf("tampered token = %v", err)
			}
		}
		token = res.NextPageToken
	}
	want := []int64{}
	for i := 30; i >= 1; i-- {
		if i%3 == 1 {
			want = append(want, int64(i)+2) // ids after the activation and settings events
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages = %v, want %v", got, want)
	}
}

// A login's events carry the browser's address and user agent.
func TestAuthLogKeepsUserAgent(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	client := contract.ClientInfo{IP: "198.51.100.9", UserAgent: "Mozilla/5.0 (test)"}
	if _, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: client}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: "nonsense!", Client: client}); err != nil {
		t.Fatal(err)
	}
	res, err := e.p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Filter: contract.AuthEventFilter{OperatorID: "1"}, Actor: admin})
	if err != nil || len(res.Events) != 2 {
		t.Fatalf("ListAuthEvents = %+v, %v", res, err)
	}
	for _, ev := range res.Events {
		if ev.UserAgent != client.UserAgent || ev.ClientIP != client.IP {
			t.Errorf("%s: client %q %q", ev.Kind, ev.ClientIP, ev.UserAgent)
		}
	}
}

func TestExportCSVAndJSONLines(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	ctx := context.Background()
	evil := []string{"=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain, \"quoted\"\nline"}
	err := e.p.withActive(context.Background(), func(a *activeState) error {
		for i, v := range evil {
			if err := a.store.AppendEvent(ctx, store.Event{At: time.Unix(1_700_000_000+int64(i), 0), Kind: "test.evil", OperatorID: "x",
				Actor: v, UserAgent: v, Outcome: "ok", Detail: v}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	export := func(format contract.ExportFormat) []byte {
		var buf bytes.Buffer
		err := e.p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Filter: contract.AuthEventFilter{Kinds: []string{"test.evil"}}, Format: format, Actor: admin},
			func(c contract.ExportChunk) error { buf.Write(c.Data); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	rows, err := csv.NewReader(bytes.NewReader(export(contract.ExportCSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "id,time,kind,operator_id,actor,actor_id,actor_role,client_ip,user_agent,outcome,reason,detail" {
		t.Fatalf("header = %s", got)
	}
	if len(rows) != 1+len(evil) {
		t.Fatalf("%d rows", len(rows))
	}
	for i, v := range evil {
		r := rows[1+i]
		want := v
		if strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			want = "'" + v
		}
		want = strings.ReplaceAll(want, "\r", "") // the RFC 4180 writer ends lines with CRLF and drops a lone CR
		if r[4] != want || r[8] != want || r[11] != want || r[2] != "test.evil" || r[1] != time.Unix(1_700_000_000+int64(i), 0).UTC().Format(time.RFC3339) {
			t.Errorf("row %d = %q, want cells %q", i, r, want)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(export(contract.ExportJSONLines)))
	n := 0
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		if line["actor"] != evil[n] || line["kind"] != "test.evil" || len(line) != 12 {
			t.Errorf("line %d = %v", n, line)
		}
		n++
	}
	if n != len(evil) {
		t.Fatalf("%d JSON lines, want %d", n, len(evil))
	}
	exports := e.events("auth_log.export")
	if len(exports) != 2 || exports[0].Detail != "CSV of kinds test.evil" || exports[1].Detail != "JSON lines of kinds test.evil" || exports[0].ActorID != admin.ID {
		t.Errorf("exports audited as %+v", exports)
	}
}

// A reader that goes away stops the export at once; a write right after
// is not kept waiting.
func TestExportStopsWhenTheReaderGoes(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	seedDB(t, e.dataDir(), 10_000, time.Unix(1_700_000_000, 0))
	chunks := 0
	start := time.Now()
	err := e.p.ExportAuthEvents(context.Background(), contract.ExportAuthEventsRequest{Actor: admin}, func(c contract.ExportChunk) error {
		chunks++
		if len(c.Data) > 64<<10 {
			t.Errorf("chunk of %d bytes", len(c.Data))
		}
		if chunks == 3 {
			return errors.New("connection reset")
		}
		return nil
	})
	if contract.ReasonOf(err) != contract.ReasonCanceled || chunks != 3 {
		t.Fatalf("export = %v after %d chunks, want CANCELED after 3", err, chunks)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := e.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: contract.Operator{ID: "w", Username: "w"}, Enabled: true, Actor: admin}); err != nil {
		t.Fatalf("a write after the stopped export: %v (%s after the export began)", err, time.Since(start))
	}
}

// Deactivation does not wait for a slow reader: it ends the export.
func TestDeactivateEndsExport(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	seedDB(t, e.dataDir(), 20_000, time.Unix(1_700_000_000, 0))
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		once := false
		done <- e.p.ExportAuthEvents(context.Background(), contract.ExportAuthEventsRequest{Actor: admin}, func(contract.ExportChunk) error {
			if !once {
				once = true
				close(first)
			}
			time.Sleep(50 * time.Millisecond) // a slow reader
			return nil
		})
	}()
	<-first
	start := time.Now()
	if _, err := e.p.Deactivate(context.Background(), contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Deactivate took %s behind a slow export", took)
	}
	if err := <-done; contract.ReasonOf(err) != contract.ReasonInactive {
		t.Fatalf("export = %v, want PLUGIN_INACTIVE", err)
	}
}

// With 200,000 events past retention and the prune running, logins take
// their usual time; every old event goes and no new one does.
func TestRetentionPrunesWithoutHoldingLogins(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds 200,000 events")
	}
	e := newLogEnv(t)
	ctx := context.Background()
	dir := e.dataDir()
	if _, err := e.p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	old := 200_000
	if raceEnabled {
		old = 20_000
	}
	seedDB(t, dir, old, time.Now().Add(-400*24*time.Hour))
	e.p.retention = retentionTiming{first: 0, every: time.Hour, pause: 5 * time.Millisecond, batch: 500}
	if _, err := e.p.Activate(ctx, contract.ActivateRequest{DataDir: dir, CallbackURL: "http://127.0.0.1:9/cb", Actor: admin}); err != nil {
		t.Fatal(err)
	}
	pruneStart := time.Now()
	alice := contract.Operator{ID: "1", Username: "alice"}
	e.enable(alice)
	countOld := func() int {
		var n int
		err := e.p.withActive(context.Background(), func(a *activeState) error {
			recs, err := a.store.ListEvents(ctx, store.EventFilter{To: time.Now().Add(-300 * 24 * time.Hour)}, 1, 0)
			n = len(recs)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var slowest time.Duration
	logins := 0
	deadline := time.Now().Add(60 * time.Second)
	for countOld() > 0 || logins < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("old events still there after 60s (%d logins)", logins)
		}
		// The SDK's default call deadline is 10 s; a login must not come near it.
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		res, err := e.p.BeginLogin(lctx, contract.BeginLoginRequest{Operator: alice})
		took := time.Since(start)
		cancel()
		if err != nil || res.Decision != contract.DecisionRedirect {
			t.Fatalf("BeginLogin during the prune = %+v, %v (after %s)", res, err, took)
		}
		slowest = max(slowest, took)
		logins++
	}
	pruneTook := time.Since(pruneStart)
	var slowestAfter time.Duration
	for range 20 {
		start := time.Now()
		e.begin(ctx, alice)
		slowestAfter = max(slowestAfter, time.Since(start))
	}
	logins += 20
	t.Logf("pruned %d events in about %s; %d logins meanwhile, slowest BeginLogin %s (slowest of 20 after: %s)",
		old, pruneTook.Round(time.Millisecond), logins-20, slowest, slowestAfter)
	if slowest > time.Second {
		t.Errorf("slowest BeginLogin during the prune took %s", slowest)
	}
	if n := len(e.events("login.begin")); n != logins {
		t.Errorf("%d login.begin events kept, want the %d new ones", n, logins)
	}
	waitfor.Until(t, 10*time.Second, "the prune's own audit event", func() bool { return len(e.events("log.pruned")) > 0 })
	pruned := e.events("log.pruned")
	if len(pruned) == 0 || !strings.Contains(pruned[len(pruned)-1].Detail, "deleted") {
		t.Errorf("log.pruned events: %+v", pruned)
	}
}

// Logins and redemptions are counted from the events the store commits.
func TestMetricsCountFromEvents(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	bob := contract.Operator{ID: "2", Username: "bob"}
	codes := e.setUp(ctx, alice) // redirect, confirm_backup_codes, allowed
	if r := e.redeem(alice, codes[0]); r.Decision != contract.DecisionAllowed {
		t.Fatalf("redeem = %+v", r)
	}
	if r := e.redeem(alice, codes[0]); r.Decision != contract.DecisionDenied {
		t.Fatalf("second redeem = %+v", r)
	}
	e.begin(ctx, bob) // not_required
	families := gatherPlugin(t, e.p)
	want := map[string]float64{
		`duo_plugin_logins_total{decision="redirect",reason=""}`:               1,
		`duo_plugin_logins_total{decision="confirm_backup_codes",reason=""}`:   1,
		`duo_plugin_logins_total{decision="allowed",reason=""}`:                2,
		`duo_plugin_logins_total{decision="denied",reason="code_used"}`:        1,
		`duo_plugin_logins_total{decision="not_required",reason=""}`:           1,
		`duo_plugin_code_redemptions_total{kind="backup",outcome="allowed"}`:   1,
		`duo_plugin_code_redemptions_total{kind="unknown",outcome="denied"}`:   1,
		`duo_plugin_duo_request_duration_seconds_count{call="token_exchange"}`: 1,
		`duo_plugin_duo_healthy{}`:                                             1,
		`duo_plugin_duo_consecutive_failures{}`:                                0,
		`duo_plugin_store_retries_total{}`:                                     0, // SQLite's one writer never retries
	}
	for k, v := range want {
		if got, ok := families[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if t.Failed() {
		t.Logf("gathered: %v", families)
	}
}

// gatherPlugin decodes GetMetrics into "name{label="v",…}" → value
// (counters, gauges, histogram counts).
func gatherPlugin(t *testing.T, p *Plugin) map[string]float64 {
	t.Helper()
	res, err := p.GetMetrics(context.Background(), contract.GetMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	dec := expfmt.NewDecoder(bytes.NewReader(res.Families), expfmt.NewFormat(expfmt.TypeProtoDelim))
	out := map[string]float64{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			break
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[mf.GetName()+key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[mf.GetName()+key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[mf.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestStatusCountsLogins(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	ctx := context.Background()
	alice := contract.Operator{ID: "1", Username: "alice"}
	e.setUp(ctx, alice)
	e.login(ctx, alice)
	if _, err := e.p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: "AAAA-BBBB"}); err != nil {
		t.Fatal(err)
	}
	// Activation's Status counted (none) moments ago: let that count expire.
	e.p.logins.mu.Lock()
	e.p.logins.at = time.Time{}
	e.p.logins.mu.Unlock()
	st, err := e.p.Status(ctx, contract.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if l := st.Logins; l.Window != 24*time.Hour || l.Allowed != 2 || l.Denied != 1 || l.FailOpen != 0 || l.Exempt != 0 {
		t.Fatalf("Logins = %+v, want 2 allowed, 1 denied over 24h", l)
	}
	// Cached: a login now shows within the TTL only after it.
	e.login(ctx, alice)
	if st, _ := e.p.Status(ctx, contract.StatusRequest{}); st.Logins.Allowed != 2 {
		t.Fatalf("Logins.Allowed = %d right after, want the cached 2", st.Logins.Allowed)
	}
}

func TestSettingsEventsNameChangedFields(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	ctx := context.Background()
	res, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{
		settings.KeyFailMode: "open", settings.KeyEnforceAll: "true", settings.KeyLockoutThreshold: "7", settings.KeyLockoutContact: "secret-ish contact"},
		SkipDuoCheck: true, Actor: admin})
	if err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	upd := e.events("settings.updated")
	last := upd[len(upd)-1].Detail
	if !strings.HasPrefix(last, "changed: enforce_all, fail_mode, lockout_contact, lockout_threshold;") || strings.Contains(last, "secret-ish") || strings.Contains(last, "7") {
		t.Errorf("settings.updated detail = %q", last)
	}
	pol := e.events("policy.changed")
	if len(pol) != 1 || pol[0].Detail != "changed: enforce_all, lockout_contact, lockout_threshold" || pol[0].ActorID != admin.ID {
		t.Errorf("policy.changed = %+v", pol)
	}
	// A save that changes only the secret names it, not its value.
	if _, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{settings.KeyClientSecret: strings.Repeat("s", 40)}, SkipDuoCheck: true, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	upd = e.events("settings.updated")
	if d := upd[len(upd)-1].Detail; !strings.HasPrefix(d, "changed: client_secret;") {
		t.Errorf("secret change detail = %q", d)
	}
	if len(e.events("policy.changed")) != 1 {
		t.Error("a change of no policy setting was audited as policy.changed")
	}
}

// Every outcome the plugin's code writes is one the filter accepts.
func TestOutcomesListed(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile("Outcome[^\"\n`]*?[=:]\\s*\"([a-z_]+)\"")
	seen := 0
	for _, dir := range []string{".", "../store"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				seen++
				if !store.IsOutcome(m[1]) {
					t.Errorf("%s writes outcome %q, missing from store.Outcomes", f, m[1])
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("found only %d outcomes written: the pattern no longer matches the code", seen)
	}
}

// A check made on saving settings (outside the cache) is timed as well as
// one through the cache.
func TestStatusShowsDuoLatency(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	ctx := context.Background()
	app := e.sim.Apps()[0]
	res, err := e.p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"client_id": app.ClientID}, Actor: admin})
	if err != nil || !res.Saved || !res.Duo.OK {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	st, _ := e.p.Status(ctx, contract.StatusRequest{})
	if !st.Duo.OK || st.Duo.Latency <= 0 || st.Duo.ConsecutiveFailures != 0 {
		t.Fatalf("Status.Duo after a checked save = %+v", st.Duo)
	}
	if _, err := e.p.CheckDuo(ctx, contract.CheckDuoRequest{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.p.Status(ctx, contract.StatusRequest{}); st.Duo.Latency <= 0 {
		t.Fatalf("Status.Duo after CheckDuo = %+v", st.Duo)
	}
}

// A slow export holds no lock: an Activate (which takes the write lock)
// and the logins behind it go on while it runs.
func TestSlowExportHoldsNoLock(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	seedDB(t, e.dataDir(), 10_000, time.Unix(1_700_000_000, 0))
	first := make(chan struct{})
	finish := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		once := false
		done <- e.p.ExportAuthEvents(context.Background(), contract.ExportAuthEventsRequest{Actor: admin}, func(contract.ExportChunk) error {
			if !once {
				once = true
				close(first)
				<-finish // a reader that has gone quiet
			}
			return nil
		})
	}()
	<-first
	dir := e.dataDir()
	calls := make(chan error, 1)
	go func() {
		ctx := context.Background()
		if _, err := e.p.Activate(ctx, contract.ActivateRequest{DataDir: dir, CallbackURL: "http://127.0.0.1:9/cb2", Actor: admin}); err != nil {
			calls <- fmt.Errorf("Activate: %w", err)
			return
		}
		res, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: contract.Operator{ID: "5", Username: "eve"}})
		if err == nil && res.Decision != contract.DecisionNotRequired {
			err = fmt.Errorf("decision %s", res.Decision)
		}
		calls <- err
	}()
	select {
	case err := <-calls:
		if err != nil {
			t.Fatalf("during an export: %v", err)
		}
	case <-time.After(2 * time.Second):
		close(finish)
		t.Fatal("Activate and BeginLogin waited for the export to end")
	}
	close(finish)
	if err := <-done; err != nil {
		t.Fatalf("export: %v", err)
	}
}
