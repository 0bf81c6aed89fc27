package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// listAll pages through the log with the filter and returns every event.
func listAll(t *testing.T, p *host.Plugin, f contract.AuthEventFilter, pageSize int32) []contract.AuthEvent {
	t.Helper()
	var out []contract.AuthEvent
	token := ""
	for {
		res, err := p.ListAuthEvents(ctxT(t), contract.ListAuthEventsRequest{Filter: f, PageSize: pageSize, PageToken: token, Actor: admin})
		if err != nil {
			t.Fatalf("ListAuthEvents(%+v): %v", f, err)
		}
		out = append(out, res.Events...)
		if res.NextPageToken == "" {
			return out
		}
		token = res.NextPageToken
	}
}

func kinds(evs []contract.AuthEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Kind+"/"+e.Outcome)
	}
	return strings.Join(s, " ")
}

// Real logins through the real binary land in the log, filtered as asked
// and counted in the metrics the SDK's collector relays.
func TestAuthLogFiltersAndMetrics(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed", alice)
	start := time.Now().Unix()
	if res := e.loginAs(alice); res.Decision != contract.DecisionAllowed {
		t.Fatalf("first login: %+v", res)
	}
	e.sim.SetOutcome("alice", duosim.OutcomeDeny)
	wantDenied(t, "denied login", e.loginAs(alice), contract.LoginReasonDuoDenied)
	if res := e.begin(bob); res.Decision != contract.DecisionNotRequired {
		t.Fatalf("bob: %+v", res)
	}

	tests := []struct {
		name string
		f    contract.AuthEventFilter
		want string // kinds/outcomes, newest first
	}{
		{"alice's login steps", contract.AuthEventFilter{OperatorID: alice.ID, Kinds: []string{"login.begin", "login.complete", "backup_codes.confirm"}},
			"login.complete/denied login.begin/redirect backup_codes.confirm/allowed login.complete/confirm_backup_codes login.begin/redirect"},
		{"bob", contract.AuthEventFilter{OperatorID: bob.ID}, "login.begin/not_required"},
		{"denials", contract.AuthEventFilter{Outcomes: []string{"denied"}}, "login.complete/denied"},
		{"a kind", contract.AuthEventFilter{Kinds: []string{"plugin.activated"}}, "plugin.activated/ok"},
		{"a kind no event has", contract.AuthEventFilter{Kinds: []string{"no.such"}}, ""},
		{"the future", contract.AuthEventFilter{FromUnix: start + 3600}, ""},
		{"before the test", contract.AuthEventFilter{ToUnix: start - 3600}, ""},
		{"the test's time", contract.AuthEventFilter{OperatorID: bob.ID, FromUnix: start - 1, ToUnix: time.Now().Unix() + 1}, "login.begin/not_required"},
	}
	for _, tc := range tests {
		if got := kinds(listAll(t, e.p, tc.f, 2)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	begins := listAll(t, e.p, contract.AuthEventFilter{OperatorID: alice.ID, Kinds: []string{"login.begin"}}, 0)
	if len(begins) != 2 || begins[0].UserAgent != "test" || begins[0].ClientIP != "203.0.113.7" {
		t.Errorf("login.begin events = %+v, want the browser's address and user agent", begins)
	}

	// Refusals cross the boundary with their reason.
	helpDesk := contract.Actor{ID: "7", Username: "hd", Role: contract.RoleHelpDesk}
	_, err := e.p.ListAuthEvents(ctxT(t), contract.ListAuthEventsRequest{Actor: helpDesk})
	wantReason(t, "the help desk lists the log", err, contract.ReasonPermission)
	err = e.p.ExportAuthEvents(ctxT(t), contract.ExportAuthEventsRequest{Actor: helpDesk}, func(contract.ExportChunk) error { return nil })
	wantReason(t, "the help desk exports the log", err, contract.ReasonPermission)
	for _, bad := range []contract.ListAuthEventsRequest{
		{Filter: contract.AuthEventFilter{FromUnix: 10, ToUnix: 5}},
		{Filter: contract.AuthEventFilter{Outcomes: []string{"approved"}}},
		{Filter: contract.AuthEventFilter{FromUnix: -1}},
		{PageSize: 501},
		{PageToken: "garbage"},
	} {
		bad.Actor = admin
		_, err := e.p.ListAuthEvents(ctxT(t), bad)
		wantReason(t, fmt.Sprintf("ListAuthEvents(%+v)", bad), err, contract.ReasonInvalidArgument)
	}

	// The SDK's collector in a registry of the host's own.
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.p.Collector())
	want := `
# HELP duo_plugin_up 1 if the Duo plugin process answered this scrape's GetMetrics, else 0.
# TYPE duo_plugin_up gauge
duo_plugin_up 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "duo_plugin_up"); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	logins := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "duo_plugin_logins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var decision string
			for _, l := range m.GetLabel() {
				if l.GetName() == "decision" {
					decision = l.GetValue()
				}
			}
			logins[decision] += m.GetCounter().GetValue()
		}
	}
	if fmt.Sprint(logins) != fmt.Sprint(map[string]float64{"allowed": 1, "confirm_backup_codes": 1, "denied": 1, "not_required": 1, "redirect": 2}) {
		t.Errorf("duo_plugin_logins_total by decision = %v", logins)
	}
	if n, err := testutil.GatherAndCount(reg, "duo_plugin_duo_request_duration_seconds"); err != nil || n == 0 {
		t.Errorf("Duo request durations: %d series, %v", n, err)
	}
	st, err := e.p.Status(ctxT(t), contract.StatusRequest{})
	if err != nil || st.Duo.Latency <= 0 || !st.Duo.OK || st.Duo.ConsecutiveFailures != 0 {
		t.Errorf("Status.Duo = %+v, %v; want a latency, OK, no failures", st.Duo, err)
	}

	// The plugin gone: duo_plugin_up 0, no scrape error.
	if err := e.p.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(strings.Replace(want, "\nduo_plugin_up 1\n", "\nduo_plugin_up 0\n", 1))); err != nil {
		t.Fatal(err)
	}
}

// Pages neither overlap nor skip while new events are written between
// them: keyset paging on id.
func TestAuthLogPagingWhileWriting(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, duosim.Config{Scripted: true}, "closed")
	for i := range 60 {
		e.begin(contract.Operator{ID: "w" + strconv.Itoa(i%4), Username: "w"})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.p.BeginLogin(context.Background(), contract.BeginLoginRequest{Operator: contract.Operator{ID: "w" + strconv.Itoa(i%4), Username: "w"}}); err != nil {
				t.Errorf("write during paging: %v", err)
				return
			}
			written.Add(1)
		}
	})
	f := contract.AuthEventFilter{Kinds: []string{"login.begin"}}
	var paged []int64
	token := ""
	for {
		res, err := e.p.ListAuthEvents(ctxT(t), contract.ListAuthEventsRequest{Filter: f, PageSize: 7, PageToken: token, Actor: admin})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range res.Events {
			paged = append(paged, ev.ID)
		}
		if res.NextPageToken == "" {
			break
		}
		token = res.NextPageToken
		time.Sleep(5 * time.Millisecond) // let writes land between pages
	}
	close(stop)
	wg.Wait()
	if written.Load() == 0 {
		t.Fatal("no event was written while paging")
	}
	// Every event up to the first page's newest, exactly once, in order.
	var want []int64
	for _, ev := range listAll(t, e.p, f, 500) {
		if ev.ID <= paged[0] {
			want = append(want, ev.ID)
		}
	}
	if fmt.Sprint(paged) != fmt.Sprint(want) {
		t.Fatalf("paged %d ids %v\nwant %d ids %v", len(paged), paged, len(want), want)
	}
	t.Logf("%d events paged while %d were written", len(paged), written.Load())
}

// seedPackage writes events into a plugin database (internal/logseed),
// built once per run in TestMain: a process of its own, so SQLite does not
// run under this binary's race detector.
const seedPackage = "./internal/logseed"

// seedPluginDB writes n login events straight into the plugin's database
// (deactivated), in one transaction: event i is i seconds after base.
func seedPluginDB(t *testing.T, dataDir string, n int, base time.Time) {
	t.Helper()
	exe, err := pluginbuild.Binary(seedPackage)
	if err != nil {
		t.Fatalf("build %s: %v", seedPackage, err)
	}
	out, err := exec.Command(exe, "-db", filepath.Join(dataDir, "duo.db"), "-n", strconv.Itoa(n), "-base", strconv.FormatInt(base.Unix(), 10)).CombinedOutput()
	if err != nil {
		t.Fatalf("seed %d events: %v: %s", n, err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}

// seededPlugin starts the real plugin on a data dir holding n seeded
// events (inside the default retention) and returns it active.
func seededPlugin(t *testing.T, n int) (started, string) {
	t.Helper()
	s := startPlugin(t, "", nil)
	dir := filepath.Join(t.TempDir(), "plugin-data")
	activate(t, s.p, dir)
	if _, err := s.p.Deactivate(ctxT(t), contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	seedPluginDB(t, dir, n, time.Now().Add(-30*24*time.Hour))
	activate(t, s.p, dir)
	return s, dir
}

// vmHWM is a process's peak resident set, from /proc.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the plugin's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// lineCounter counts the lines and bytes written to it, keeping none.
type lineCounter struct{ lines, bytes int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	c.bytes += int64(len(p))
	return len(p), nil
}

// A million events stream as CSV through the SDK with flat memory on both
// sides of the boundary.
func TestExportMillionEventsFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million events")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	const n = 1_000_000
	s, _ := seededPlugin(t, n)
	pid := s.p.State().PID
	if pid == 0 {
		t.Fatal("no plugin pid")
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	hostBase := ms.HeapInuse
	pluginBase := vmHWM(t, pid)

	var hostPeak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > hostPeak.Load() {
				hostPeak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	var out lineCounter
	chunks := 0
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	err := s.p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Format: contract.ExportCSV, Actor: admin}, func(c contract.ExportChunk) error {
		chunks++
		_, err := out.Write(c.Data)
		return err
	})
	took := time.Since(start)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	// The seeded events, the activations' and deactivation's, the export's
	// own, and the header.
	if want := int64(n + 4 + 1); out.lines != want {
		t.Fatalf("exported %d lines, want %d (%d events + header)", out.lines, want, n+4)
	}
	pluginPeak := vmHWM(t, pid)
	grew := pluginPeak - pluginBase
	hostGrew := int64(hostPeak.Load()) - int64(hostBase)
	t.Logf("exported %d events (%.1f MiB, %d chunks) in %s: %.0f events/s; plugin peak RSS %.1f MiB (grew %.1f MiB); host heap in use grew at most %.1f MiB",
		n, float64(out.bytes)/(1<<20), chunks, took.Round(time.Millisecond), float64(n)/took.Seconds(),
		float64(pluginPeak)/(1<<20), float64(grew)/(1<<20), float64(hostGrew)/(1<<20))
	if grew > 64<<20 {
		t.Errorf("the plugin's peak RSS grew by %.1f MiB during the export, want < 64 MiB", float64(grew)/(1<<20))
	}
	if hostGrew > 32<<20 {
		t.Errorf("the host's heap grew by %.1f MiB during the export, want < 32 MiB", float64(hostGrew)/(1<<20))
	}
}

// A reader that goes away midway stops the export, and the next login's
// write is not kept waiting.
func TestExportCancelledMidwayReleasesTheLog(t *testing.T) {
	t.Parallel()
	s, _ := seededPlugin(t, 200_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chunks := 0
	err := s.p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Format: contract.ExportCSV, Actor: admin}, func(contract.ExportChunk) error {
		chunks++
		if chunks == 5 {
			cancel()
			return errors.New("the reader went away")
		}
		return nil
	})
	if err == nil || chunks != 5 {
		t.Fatalf("export = %v after %d chunks, want an error after 5", err, chunks)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), time.Second)
	defer lcancel()
	start := time.Now()
	if _, err := s.p.SetOperatorEnabled(lctx, contract.SetOperatorEnabledRequest{Operator: alice, Enabled: true, Actor: admin}); err != nil {
		t.Fatalf("a write right after the cancelled export: %v", err)
	}
	res, err := s.p.BeginLogin(lctx, contract.BeginLoginRequest{Operator: bob})
	if err != nil || res.Decision != contract.DecisionNotRequired {
		t.Fatalf("BeginLogin right after the cancelled export = %+v, %v", res, err)
	}
	t.Logf("write and login after the cancelled export took %s", time.Since(start).Round(time.Millisecond))
}

// The JSON-lines export parses back line by line, oldest first, with
// every field.
func TestExportJSONLines(t *testing.T) {
	t.Parallel()
	s, _ := seededPlugin(t, 10_000)
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := s.p.ExportAuthEvents(ctxT(t), contract.ExportAuthEventsRequest{Format: contract.ExportJSONLines, Actor: admin,
			Filter: contract.AuthEventFilter{Kinds: []string{"login.begin", "login.complete"}}},
			func(c contract.ExportChunk) error { _, err := pw.Write(c.Data); return err })
		pw.CloseWithError(err)
		errc <- err
	}()
	sc := bufio.NewScanner(pr)
	var n, last int64
	for sc.Scan() {
		var ev struct {
			ID                                                   int64
			Time, Kind, OperatorID, UserAgent, Outcome, ClientIP string
		}
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil || len(raw) != 12 {
			t.Fatalf("line %d: %v (%d fields)", n+1, err, len(raw))
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if _, err := time.Parse(time.RFC3339, raw["time"].(string)); err != nil || ev.ID <= last || !strings.HasPrefix(raw["user_agent"].(string), "Mozilla/5.0 (seed ") {
			t.Fatalf("line %d = %s", n+1, sc.Text())
		}
		last = int64(raw["id"].(float64))
		n++
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n != 10_000 {
		t.Fatalf("%d lines, want 10000", n)
	}
	// And CSV of the same parses as RFC 4180.
	var buf bytes.Buffer
	if err := s.p.ExportAuthEvents(ctxT(t), contract.ExportAuthEventsRequest{Actor: admin, Filter: contract.AuthEventFilter{Outcomes: []string{"denied"}}},
		func(c contract.ExportChunk) error { buf.Write(c.Data); return nil }); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 1+1000 || rows[1][9] != "denied" || rows[1][10] != "duo_denied" {
		t.Fatalf("CSV of denials: %d rows, %v; first %q", len(rows), err, rows[1])
	}
}
