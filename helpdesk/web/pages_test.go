package web_test

import (
	"bufio"
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The admin pages of the policy and the authentication log: the Operators
// page's enforcement and lockout, Unlock, the Log page and its downloads,
// the Plugins page's live status, and the sign-in of a locked operator.

// element is the HTML element with id in page, from its start tag to the
// first end tag of its name ("" when there is none).
func element(page, id string) string {
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(page[:i], "<")
	name := strings.Fields(page[start+1 : i])[0]
	end := strings.Index(page[i:], "</"+name+">")
	if end < 0 {
		return page[start:]
	}
	return page[start : i+end+len("</"+name+">")]
}

// text is the element's text, tags stripped and spaces collapsed.
func text(page, id string) string {
	return strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(element(page, id), " "))), " ")
}

var tags = regexp.MustCompile(`<[^>]*>`)

// statesBy answers GetOperatorStates with want[username] for each operator
// asked (ids first, then operators, as the contract says).
func statesBy(want map[string]contract.OperatorState) func(contract.GetOperatorStatesRequest) (contract.GetOperatorStatesResponse, error) {
	return func(req contract.GetOperatorStatesRequest) (contract.GetOperatorStatesResponse, error) {
		var out contract.GetOperatorStatesResponse
		for _, id := range req.OperatorIDs {
			out.States = append(out.States, contract.OperatorState{OperatorID: id})
		}
		for _, op := range req.Operators {
			st := want[op.Username]
			st.OperatorID = op.ID
			out.States = append(out.States, st)
		}
		return out, nil
	}
}

// The Operators page tells, per operator, why Duo is asked (enforced by
// the settings, with no toggle; exempt), who is locked since when, how many
// attempts failed, offers Unlock where the role allows, and links to each
// operator's events (admins). It asks with the operators as the helpdesk
// knows them: role and service account.
func TestOperatorsPagePolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	ctx := t.Context()
	bot, err := e.st.CreateOperator(ctx, store.NewOperator{Username: "zbot", Role: store.RoleAgent, PasswordHash: "x", ServiceAccount: true})
	if err != nil {
		t.Fatal(err)
	}
	lockedAt := time.Date(2026, 11, 28, 9, 30, 0, 0, time.Local)
	e.fake.set(func(f *fakePlugin) {
		f.states = statesBy(map[string]contract.OperatorState{
			"admin": {Enabled: true, Requirement: contract.RequirementEnforcedRole, Locked: true, LockedAt: lockedAt, FailedAttempts: 10},
			"alice": {Requirement: contract.RequirementEnforcedAll},
			"bob":   {Enabled: true, Requirement: contract.RequirementEnabled, Locked: true, LockedAt: lockedAt, LockedUntil: lockedAt.Add(time.Hour), FailedAttempts: 3},
			"helen": {Requirement: contract.RequirementOff, FailedAttempts: 1},
			"zbot":  {Requirement: contract.RequirementExempt},
		})
	})

	a := e.client()
	a.signedIn("admin")
	if resp := a.get("/admin/operators"); resp.StatusCode != http.StatusOK {
		t.Fatalf("operators page: %d", resp.StatusCode)
	}
	page := a.last
	for id, want := range map[string]string{
		"duo-state-alice":      "Enforced",
		"duo-why-alice":        "Required of every operator by the plugin's Settings. It cannot be turned off for one operator: change Settings instead.",
		"duo-state-admin":      "Enforced",
		"duo-why-admin":        "Required of every operator with the role admin by the plugin's Settings.",
		"duo-state-zbot":       "Exempt",
		"duo-state-bob":        "Enabled",
		"duo-state-helen":      "Disabled",
		"locked-bob":           "Locked",
		"locked-since-bob":     "since 2026-11-28 09:30:00",
		"locked-alice":         "not locked",
		"failed-bob":           "Failed attempts: 3",
		"failed-helen":         "Failed attempts: 1",
		"service-account-zbot": "service account",
	} {
		if got := text(page, id); !strings.HasPrefix(got, want) {
			t.Errorf("#%s = %q, want it to begin %q", id, got, want)
		}
	}
	if got := text(page, "locked-since-bob"); !strings.Contains(got, "until 2026-11-28 10:30:00") {
		t.Errorf("bob's lockout ends: %q", got)
	}
	if got := text(page, "locked-since-admin"); !strings.Contains(got, "until someone unlocks them") {
		t.Errorf("admin's lockout ends: %q", got)
	}
	// No toggle where the settings decide; the toggle where the operator's
	// switch does.
	for id, want := range map[string]bool{
		"enable-alice": false, "disable-alice": false, "disable-admin": false, "enable-zbot": false, "disable-zbot": false,
		"disable-bob": true, "enable-helen": true,
		"unlock-bob": true, "unlock-admin": true, "unlock-alice": false, "failed-alice": false,
		"service-account-alice": false,
	} {
		if got := strings.Contains(page, `id="`+id+`"`); got != want {
			t.Errorf("#%s on the page: %v, want %v", id, got, want)
		}
	}
	if !strings.Contains(page, `href="/admin/log?operator=`+operatorID(t, e, "bob")+`" id="log-bob"`) {
		t.Errorf("no link to bob's events:\n%s", element(page, "signin-bob"))
	}

	// What the plugin was told: each operator's role and service account.
	e.fake.mu.Lock()
	asked := e.fake.statesAsked[len(e.fake.statesAsked)-1]
	e.fake.mu.Unlock()
	want := map[string]contract.Operator{
		"admin": {Role: contract.RoleAdmin}, "alice": {Role: contract.RoleAgent}, "helen": {Role: contract.RoleHelpDesk},
		"zbot": {Role: contract.RoleAgent, ServiceAccount: true},
	}
	for _, op := range asked.Operators {
		if w, ok := want[op.Username]; ok && (op.Role != w.Role || op.ServiceAccount != w.ServiceAccount) {
			t.Errorf("GetOperatorStates told %s: role %q, service account %v; want %q, %v", op.Username, op.Role, op.ServiceAccount, w.Role, w.ServiceAccount)
		}
		if op.Username == "zbot" && op.ID != strconv.FormatInt(bot.ID, 10) {
			t.Errorf("zbot's id %q, want %d", op.ID, bot.ID)
		}
	}
	if len(asked.Operators) != 5 {
		t.Errorf("GetOperatorStates asked for %d operators, want 5", len(asked.Operators))
	}

	// The help desk: Unlock for agents only, no toggles, no log links (the
	// Log page is the admins').
	h := e.client()
	h.signedIn("helen")
	h.get("/admin/operators")
	for id, want := range map[string]bool{"unlock-bob": true, "unlock-admin": false, "log-bob": false, "disable-bob": false, "locked-bob": true} {
		if got := strings.Contains(h.last, `id="`+id+`"`); got != want {
			t.Errorf("help desk: #%s on the page: %v, want %v", id, got, want)
		}
	}
}

// Unlock posts with the CSRF token, as the operator with their role; the
// plugin's refusal is shown; an agent cannot reach it.
func TestUnlockOperator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	bob, admin := operatorID(t, e, "bob"), operatorID(t, e, "admin")

	a := e.client()
	a.signedIn("admin")
	a.get("/admin/operators")
	if resp := a.post("/admin/operators/"+bob+"/unlock", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unlock without a CSRF token: %d, want 403", resp.StatusCode)
	}
	resp := a.postForm("/admin/operators/"+bob+"/unlock", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/operators" {
		t.Fatalf("unlock: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	a.get("/admin/operators")
	if got := text(a.last, "flash"); got != "bob is unlocked: their failed attempts are reset and they can sign in again." {
		t.Fatalf("flash after unlock: %q", got)
	}
	e.fake.mu.Lock()
	got := e.fake.unlocks[0]
	e.fake.mu.Unlock()
	if got.Operator.ID != bob || got.Operator.Username != "bob" || got.Operator.Role != contract.RoleAgent ||
		got.Actor.Username != "admin" || got.Actor.Role != contract.RoleAdmin {
		t.Fatalf("UnlockOperator got %+v", got)
	}

	// The help desk may try; the plugin says no for an admin, and the page
	// says why.
	e.fake.set(func(f *fakePlugin) {
		f.unlock = func(req contract.UnlockOperatorRequest) (contract.UnlockOperatorResponse, error) {
			if req.Actor.Role == contract.RoleHelpDesk && req.Operator.Role != contract.RoleAgent {
				return contract.UnlockOperatorResponse{}, contract.Errorf(contract.ReasonPermission, "the help desk unlocks agents only")
			}
			return contract.UnlockOperatorResponse{}, nil
		}
	})
	h := e.client()
	h.signedIn("helen")
	h.get("/admin/operators")
	h.postForm("/admin/operators/"+admin+"/unlock", url.Values{})
	h.get("/admin/operators")
	if got := text(h.last, "flash"); got != "Could not unlock admin: the help desk unlocks agents only" {
		t.Fatalf("help desk unlocking an admin: %q", got)
	}

	c := e.client()
	c.signedIn("alice")
	c.get("/account")
	if resp := c.postForm("/admin/operators/"+bob+"/unlock", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an agent unlocking: %d, want 403", resp.StatusCode)
	}
	if n := e.fake.Calls("UnlockOperator"); n != 2 {
		t.Fatalf("UnlockOperator called %d times, want 2", n)
	}
	if resp := a.postForm("/admin/operators/999/unlock", url.Values{}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unlock an unknown operator: %d", resp.StatusCode)
	}
}

func events(n int, from int64) []contract.AuthEvent {
	out := make([]contract.AuthEvent, n)
	for i := range out {
		id := from - int64(i)
		out[i] = contract.AuthEvent{ID: id, At: time.Unix(1764320000+id, 0), Kind: "login.code", OperatorID: "2", ActorID: "", Actor: "",
			ClientIP: "192.0.2.7", UserAgent: "Mozilla/5.0 <test>", Outcome: "denied", Reason: "code_denied", Detail: "wrong code #" + string(rune('a'+i%26))}
	}
	return out
}

// The Log page: the filter goes to the plugin as typed (dates as whole
// local days, "to" included), each event is a row (the operator by name,
// the user agent on hover), and Older and Newer walk the plugin's keyset
// pages with its opaque tokens.
func TestLogPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	alice := operatorID(t, e, "alice")
	pages := map[string]contract.ListAuthEventsResponse{
		"":       {Events: events(50, 120), NextPageToken: "tok/2+"},
		"tok/2+": {Events: events(50, 70), NextPageToken: "tok=3"},
		"tok=3":  {Events: events(20, 20)},
	}
	e.fake.set(func(f *fakePlugin) {
		f.listEvents = func(req contract.ListAuthEventsRequest) (contract.ListAuthEventsResponse, error) {
			p, ok := pages[req.PageToken]
			if !ok {
				return contract.ListAuthEventsResponse{}, contract.Errorf(contract.ReasonInvalidArgument, "bad page token")
			}
			return p, nil
		}
	})
	a := e.client()
	a.signedIn("admin")
	if !strings.Contains(a.last, `id="nav-log"`) {
		t.Fatal("no Log link in the admin's navigation")
	}
	q := "?operator=" + alice + "&kind=login.code&outcome=denied&from=2026-11-01&to=2026-11-28"
	if resp := a.get("/admin/log" + q); resp.StatusCode != http.StatusOK {
		t.Fatalf("log page: %d\n%s", resp.StatusCode, a.last)
	}
	e.fake.mu.Lock()
	req := e.fake.listed[0]
	e.fake.mu.Unlock()
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.Local).Unix()
	to := time.Date(2026, 11, 29, 0, 0, 0, 0, time.Local).Unix()
	if f := req.Filter; f.OperatorID != alice || len(f.Kinds) != 1 || f.Kinds[0] != "login.code" || len(f.Outcomes) != 1 || f.Outcomes[0] != "denied" ||
		f.FromUnix != from || f.ToUnix != to || req.PageSize != 50 || req.PageToken != "" || req.Actor.Username != "admin" {
		t.Fatalf("ListAuthEvents got %+v", req)
	}
	if n := strings.Count(a.last, `class="log-event"`); n != 50 {
		t.Fatalf("%d rows, want 50", n)
	}
	row := element(a.last, "event-120")
	for _, want := range []string{"<code>login.code</code>", ">alice<", `title="Mozilla/5.0 &lt;test&gt;"`, "192.0.2.7", ">denied<", ">code_denied<", "wrong code #a"} {
		if !strings.Contains(row, want) {
			t.Errorf("event row lacks %q:\n%s", want, row)
		}
	}
	// The filter is kept in the form.
	for _, want := range []string{`value="login.code"`, `id="filter-from" name="from" value="2026-11-01"`, `id="filter-to" name="to" value="2026-11-28"`,
		`<option value="` + alice + `" selected>alice</option>`} {
		if !strings.Contains(a.last, want) {
			t.Errorf("the form lacks %q", want)
		}
	}
	if strings.Contains(a.last, `id="log-newer"`) {
		t.Error("a Newer link on the first page")
	}
	csv := html.UnescapeString(regexp.MustCompile(`href="([^"]*)" id="download-csv"`).FindStringSubmatch(a.last)[1])
	if u, _ := url.Parse(csv); u.Path != "/admin/log/export" || u.Query().Get("format") != "csv" || u.Query().Get("operator") != alice || u.Query().Get("outcome") != "denied" {
		t.Errorf("CSV link %q", csv)
	}

	link := func(id string) string {
		m := regexp.MustCompile(`href="([^"]*)" id="` + id + `"`).FindStringSubmatch(a.last)
		if m == nil {
			t.Fatalf("no #%s on the page", id)
		}
		return html.UnescapeString(m[1])
	}
	a.get(link("log-older"))
	if !strings.Contains(a.last, `id="event-70"`) || strings.Contains(a.last, `id="event-120"`) {
		t.Fatal("Older did not lead to the second page")
	}
	a.get(link("log-older"))
	if !strings.Contains(a.last, `id="event-20"`) || strings.Contains(a.last, `id="log-older"`) {
		t.Fatal("the last page: wrong events, or an Older link")
	}
	a.get(link("log-newer"))
	if !strings.Contains(a.last, `id="event-70"`) {
		t.Fatal("Newer from the last page did not lead back to the second")
	}
	a.get(link("log-newer"))
	if !strings.Contains(a.last, `id="event-120"`) || strings.Contains(a.last, `id="log-newer"`) {
		t.Fatal("Newer from the second page did not lead back to the first")
	}
	e.fake.mu.Lock()
	last := e.fake.listed[len(e.fake.listed)-1]
	e.fake.mu.Unlock()
	if last.Filter.OperatorID != alice || last.Filter.Outcomes[0] != "denied" {
		t.Fatalf("paging lost the filter: %+v", last.Filter)
	}

	// Admins only: the help desk and agents get no log, and no link.
	for _, who := range []string{"helen", "alice"} {
		c := e.client()
		c.signedIn(who)
		if strings.Contains(c.last, `id="nav-log"`) {
			t.Errorf("%s sees the Log link", who)
		}
		for _, path := range []string{"/admin/log", "/admin/log/export?format=csv"} {
			if resp := c.get(path); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s GET %s: %d, want 403", who, path, resp.StatusCode)
			}
		}
	}
}

// A filter that makes no sense is said on the page, beside the values as
// typed; the plugin's own refusal (an unknown outcome) is shown in its
// words. Nothing is listed then.
func TestLogPageBadFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	e.fake.set(func(f *fakePlugin) {
		f.listEvents = func(req contract.ListAuthEventsRequest) (contract.ListAuthEventsResponse, error) {
			for _, o := range req.Filter.Outcomes {
				if o != "denied" && o != "allowed" {
					return contract.ListAuthEventsResponse{}, contract.Errorf(contract.ReasonInvalidArgument, "unknown outcome %q", o)
				}
			}
			return contract.ListAuthEventsResponse{Events: events(1, 1)}, nil
		}
	})
	a := e.client()
	a.signedIn("admin")
	for _, tc := range []struct {
		name, query, want string
		kept              []string
		asked             bool
	}{
		{"an unparseable from", "from=28.11.2026", "The from date is not a date: use the form YYYY-MM-DD.", []string{`name="from" value="28.11.2026" aria-invalid="true"`}, false},
		{"an unparseable to", "to=yesterday&outcome=denied", "The to date is not a date: use the form YYYY-MM-DD.", []string{`name="to" value="yesterday" aria-invalid="true"`, `name="outcome" value="denied"`}, false},
		{"from after to", "from=2026-11-28&to=2026-11-01", "The from date is after the to date.", []string{`name="from" value="2026-11-28"`, `name="to" value="2026-11-01"`}, false},
		{"an operator not in the list", "operator=alice", "The operator must be one of the list.", []string{`<option value="alice" selected>alice</option>`}, false},
		{"an unknown outcome", "outcome=nope&kind=login.begin", `The plugin refused this filter: unknown outcome "nope"`, []string{`name="outcome" value="nope"`, `name="kind" value="login.begin"`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.fake.Calls("ListAuthEvents")
			resp := a.get("/admin/log?" + tc.query)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", resp.StatusCode)
			}
			if got := text(a.last, "log-error"); got != tc.want {
				t.Fatalf("error %q, want %q", got, tc.want)
			}
			for _, k := range tc.kept {
				if !strings.Contains(a.last, k) {
					t.Errorf("the form does not keep %s", k)
				}
			}
			if strings.Contains(a.last, `class="log-event"`) || strings.Contains(a.last, `id="download-csv"`) {
				t.Error("events or downloads shown for a refused filter")
			}
			if asked := e.fake.Calls("ListAuthEvents") > before; asked != tc.asked {
				t.Errorf("plugin asked: %v, want %v", asked, tc.asked)
			}
		})
	}
	t.Run("the plugin inactive", func(t *testing.T) {
		if err := e.mgr.Deactivate(t.Context(), contract.Actor{ID: "test"}); err != nil {
			t.Fatal(err)
		}
		defer e.activate()
		if resp := a.get("/admin/log"); resp.StatusCode != http.StatusOK || !strings.Contains(text(a.last, "log-unavailable"), "not active") {
			t.Fatalf("inactive: %d %q", resp.StatusCode, text(a.last, "log-unavailable"))
		}
	})
	t.Run("the plugin down", func(t *testing.T) {
		e.fake.set(func(f *fakePlugin) {
			f.listEvents = func(contract.ListAuthEventsRequest) (contract.ListAuthEventsResponse, error) {
				return contract.ListAuthEventsResponse{}, contract.Errorf(contract.ReasonInternal, "store is locked")
			}
		})
		if resp := a.get("/admin/log"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(text(a.last, "log-unavailable"), "store is locked") {
			t.Fatalf("plugin failing: %d %q", resp.StatusCode, text(a.last, "log-unavailable"))
		}
	})
}

// The downloads stream the plugin's chunks as they come, as an attachment
// of the right type; the export's context is the request's, so a browser
// that goes away cancels it; a refusal before the first chunk returns to
// the Log page with the plugin's words.
func TestLogExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	alice := operatorID(t, e, "alice")
	chunks := []string{"id,at,kind,operator_id\n", "3,2026-11-28T10:00:00Z,login.code,2\n", "2,2026-11-28T09:00:00Z,login.code,2\n"}
	var got contract.ExportAuthEventsRequest
	e.fake.set(func(f *fakePlugin) {
		f.export = func(_ context.Context, req contract.ExportAuthEventsRequest, send func(contract.ExportChunk) error) error {
			got = req
			for _, c := range chunks {
				if err := send(contract.ExportChunk{Data: []byte(c)}); err != nil {
					return err
				}
			}
			return nil
		}
	})
	a := e.client()
	a.signedIn("admin")
	for _, tc := range []struct{ format, contentType, ext string }{
		{"csv", "text/csv; charset=utf-8", ".csv"},
		{"jsonl", "application/x-ndjson; charset=utf-8", ".jsonl"},
	} {
		resp := a.get("/admin/log/export?format=" + tc.format + "&operator=" + alice + "&outcome=denied&to=2026-11-28")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.contentType {
			t.Fatalf("%s: %d %q", tc.format, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		cd := resp.Header.Get("Content-Disposition")
		if !strings.HasPrefix(cd, `attachment; filename="auth-log-`) || !strings.HasSuffix(cd, tc.ext+`"`) {
			t.Fatalf("%s: Content-Disposition %q", tc.format, cd)
		}
		if a.last != strings.Join(chunks, "") {
			t.Fatalf("%s: body %q", tc.format, a.last)
		}
		want := map[string]contract.ExportFormat{"csv": contract.ExportCSV, "jsonl": contract.ExportJSONLines}[tc.format]
		if got.Format != want || got.Filter.OperatorID != alice || got.Filter.Outcomes[0] != "denied" ||
			got.Filter.ToUnix != time.Date(2026, 11, 29, 0, 0, 0, 0, time.Local).Unix() || got.Actor.Role != contract.RoleAdmin {
			t.Fatalf("%s: ExportAuthEvents got %+v", tc.format, got)
		}
	}

	// No such format; a bad filter; the plugin refusing: back to the page.
	for _, tc := range []struct{ name, query, flash string }{
		{"no format", "format=xlsx", "Choose CSV or JSON lines to download."},
		{"a bad date", "format=csv&from=soon", ""},
	} {
		resp := a.get("/admin/log/export?" + tc.query)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/log?") {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, loc)
		}
		a.get(resp.Header.Get("Location"))
		if tc.flash != "" && text(a.last, "flash") != tc.flash {
			t.Fatalf("%s: flash %q", tc.name, text(a.last, "flash"))
		}
	}
	// The plugin inactive: back to the Log page, saying so.
	if err := e.mgr.Deactivate(t.Context(), contract.Actor{ID: "test"}); err != nil {
		t.Fatal(err)
	}
	if resp := a.get("/admin/log/export?format=csv"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("an export while inactive: %d", resp.StatusCode)
	} else {
		a.get(resp.Header.Get("Location"))
		if got := text(a.last, "flash"); !strings.Contains(got, "not active") {
			t.Fatalf("an export while inactive: flash %q", got)
		}
	}
	e.activate()
	a.get("/admin/log?format=csv&from=soon")
	if !strings.Contains(text(a.last, "log-error"), "The from date is not a date") || !strings.Contains(a.last, `value="soon"`) {
		t.Fatalf("an export with a bad date does not come back to the page's error:\n%s", element(a.last, "log-filter"))
	}
	e.fake.set(func(f *fakePlugin) {
		f.export = func(context.Context, contract.ExportAuthEventsRequest, func(contract.ExportChunk) error) error {
			return contract.Errorf(contract.ReasonInvalidArgument, `unknown outcome "nope"`)
		}
	})
	resp := a.get("/admin/log/export?format=csv&outcome=nope")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a refused export: %d", resp.StatusCode)
	}
	a.get(resp.Header.Get("Location"))
	if got := text(a.last, "flash"); got != `The plugin refused this filter: unknown outcome "nope"` {
		t.Fatalf("a refused export: flash %q", got)
	}
}

// Each chunk reaches the browser before the plugin sends the next (nothing
// is gathered in memory), and a browser that goes away ends the export in
// the plugin: its context is cancelled, or its send fails.
func TestLogExportStreamsAndStopsWhenTheClientGoes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	read := make(chan struct{})
	ended := make(chan error, 1)
	e.fake.set(func(f *fakePlugin) {
		f.export = func(ctx context.Context, _ contract.ExportAuthEventsRequest, send func(contract.ExportChunk) error) error {
			if err := send(contract.ExportChunk{Data: []byte("id,kind\n")}); err != nil {
				ended <- err
				return err
			}
			// The next chunk only once the browser has read the first.
			select {
			case <-read:
			case <-time.After(10 * time.Second):
				ended <- errors.New("the first chunk never reached the browser")
				return nil
			}
			for i := 0; ; i++ {
				if err := ctx.Err(); err != nil {
					ended <- err
					return err
				}
				if err := send(contract.ExportChunk{Data: []byte(strings.Repeat("1,login.code\n", 512))}); err != nil {
					ended <- err
					return err
				}
				if i > 100000 {
					ended <- errors.New("the export went on after the browser left")
					return nil
				}
			}
		}
	})
	a := e.client()
	a.signedIn("admin")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/admin/log/export?format=csv", nil)
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "id,kind\n" {
		t.Fatalf("first chunk %q, %v", line, err)
	}
	close(read)
	// The browser goes away.
	resp.Body.Close()
	a.hc.CloseIdleConnections()
	select {
	case err := <-ended:
		if err == nil || strings.Contains(err.Error(), "went on") || strings.Contains(err.Error(), "never reached") {
			t.Fatalf("export ended with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the export did not end after the browser left")
	}
	_, _ = io.Copy(io.Discard, resp.Body)
}

// The Plugins page's live status: Duo's last check with its latency,
// failures in a row and kind, and the sign-ins of the last 24 hours.
func TestPluginsLiveStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	e.fake.set(func(f *fakePlugin) {
		f.health = contract.DuoHealth{Checked: true, OK: false, CheckedAt: time.Now().Add(-time.Minute), Detail: "connection refused",
			Failure: contract.DuoUnreachable, Latency: 1234 * time.Millisecond, ConsecutiveFailures: 3}
		f.logins = contract.LoginCounts{Window: 24 * time.Hour, Allowed: 17, Denied: 4, FailOpen: 2, Exempt: 5}
	})
	a := e.client()
	a.signedIn("admin")
	a.get("/admin/plugins")
	for id, want := range map[string]string{
		"live-latency": "1234 ms", "live-failures": "3", "live-failure-kind": string(contract.DuoUnreachable),
		"logins-allowed": "17", "logins-denied": "4", "logins-fail-open": "2", "logins-exempt": "5",
	} {
		if got := text(a.last, id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	if got := text(a.last, "live-checked"); !strings.HasPrefix(got, "failed") || !strings.Contains(got, "1 minute ago") {
		t.Errorf("#live-checked = %q", got)
	}
	e.fake.set(func(f *fakePlugin) {
		f.health = contract.DuoHealth{Checked: true, OK: true, CheckedAt: time.Now(), Latency: 3200 * time.Microsecond}
	})
	a.get("/admin/plugins")
	if got := text(a.last, "live-latency"); got != "3.2 ms" {
		t.Errorf("a fast check's latency: %q", got)
	}
	if strings.Contains(a.last, `id="live-failure-kind"`) {
		t.Error("a failure kind shown after a good check")
	}
	// Inactive: no live status.
	if err := e.mgr.Deactivate(t.Context(), contract.Actor{ID: "test"}); err != nil {
		t.Fatal(err)
	}
	a.get("/admin/plugins")
	if strings.Contains(a.last, `id="live-status"`) {
		t.Error("live status shown while inactive")
	}
}

// A locked operator's sign-in shows the plugin's message (who unlocks
// them) and offers no code; the wrong code that locks them ends the
// sign-in the same way. Duo's own lockout shows its message, with a code
// still offered.
func TestLockedSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	const locked = "Too many failed attempts: your account is locked. Ask the IT help desk on extension 4242 to unlock it."
	e.fake.set(func(f *fakePlugin) {
		f.begin = func(op contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonLocked, Message: locked}, nil
		}
	})
	c := e.client()
	if resp := c.login("alice", password, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a locked operator's sign-in: %d", resp.StatusCode)
	}
	if got := text(c.last, "refusal-message"); got != locked || strings.Contains(c.last, `id="use-code"`) {
		t.Fatalf("locked: message %q, code offered %v", got, strings.Contains(c.last, `id="use-code"`))
	}

	// Duo locked them out: its message, and a code may stand in for Duo.
	e.fake.set(func(f *fakePlugin) {
		f.begin = func(op contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonDuoLockedOut, Message: "Duo has locked your account."}, nil
		}
		f.redeem = func(req contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error) {
			return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonLocked, Message: locked}, nil
		}
	})
	c = e.client()
	c.login("alice", password, "")
	if got := text(c.last, "refusal-message"); got != "Duo has locked your account." || !strings.Contains(c.last, `id="use-code"`) {
		t.Fatalf("Duo lockout: message %q, code offered %v", got, strings.Contains(c.last, `id="use-code"`))
	}
	c.get("/login/code")
	if resp := c.postForm("/login/code", url.Values{"code": {"abcde-fghij"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the code that locks: %d", resp.StatusCode)
	}
	if got := text(c.last, "refusal-message"); got != locked {
		t.Fatalf("the code that locks: %q", got)
	}
	// The sign-in is over: no second try on this pending session.
	if resp := c.get("/login/code"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the code form after the lock: %d, want a redirect to sign in", resp.StatusCode)
	}
}

// While Duo is enforced for the operator, the account page does not offer
// to turn it off.
func TestAccountEnforcedDuo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	c := e.client()
	c.signedIn("alice")
	e.fake.set(func(f *fakePlugin) {
		f.states = statesBy(map[string]contract.OperatorState{"alice": {Enabled: true, Requirement: contract.RequirementEnabled}})
	})
	c.get("/account")
	if !strings.Contains(c.last, `id="self-disable"`) || strings.Contains(c.last, `id="duo-enforced"`) {
		t.Fatal("enabled, not enforced: no self-disable offered")
	}
	e.fake.set(func(f *fakePlugin) {
		f.states = statesBy(map[string]contract.OperatorState{"alice": {Requirement: contract.RequirementEnforcedRole}})
	})
	c.get("/account")
	if strings.Contains(c.last, `id="self-disable"`) || !strings.Contains(c.last, `id="duo-enforced"`) || !strings.Contains(c.last, `id="account-duo"`) {
		t.Fatalf("enforced: self-disable offered, or no note:\n%s", element(c.last, "account-duo"))
	}
}

// One operator's page: service account, why Duo is asked, the lockout
// with Unlock (back to this page), failed attempts and the log link.
func TestOperatorPagePolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	bob := operatorID(t, e, "bob")
	id, _ := strconv.ParseInt(bob, 10, 64)
	if err := e.st.SetServiceAccount(t.Context(), id, true); err != nil {
		t.Fatal(err)
	}
	e.fake.set(func(f *fakePlugin) {
		f.states = statesBy(map[string]contract.OperatorState{"bob": {Requirement: contract.RequirementExempt, Locked: true,
			LockedAt: time.Date(2026, 11, 28, 9, 0, 0, 0, time.Local), FailedAttempts: 4}})
	})
	a := e.client()
	a.signedIn("admin")
	a.get("/admin/operators/" + bob)
	for id, want := range map[string]string{
		"service-account": "yes", "duo-state": "Exempt", "locked": "Locked", "failed-attempts": "Failed attempts: 4", "operator-log": "Sign-in events",
	} {
		if got := text(a.last, id); !strings.HasPrefix(got, want) {
			t.Errorf("#%s = %q, want it to begin %q", id, got, want)
		}
	}
	resp := a.postForm("/admin/operators/"+bob+"/unlock", url.Values{"back": {"operator"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/admin/operators/"+bob {
		t.Fatalf("unlock from the operator's page: %d %s", resp.StatusCode, loc)
	}
	// The help desk sees no Unlock for an admin, nor the log link.
	h := e.client()
	h.signedIn("helen")
	e.fake.set(func(f *fakePlugin) {
		f.states = statesBy(map[string]contract.OperatorState{"admin": {Locked: true, LockedAt: time.Now()}})
	})
	h.get("/admin/operators/" + operatorID(t, e, "admin"))
	if !strings.Contains(h.last, `id="locked"`) || strings.Contains(h.last, `id="unlock"`) || strings.Contains(h.last, `id="operator-log"`) {
		t.Fatalf("help desk on an admin's page:\n%s", element(h.last, "lockout"))
	}
}

// The new pages speak German to a German browser: the Log page, its
// errors, the Operators page's lockout and the live status.
func TestNewPagesInGerman(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	e.fake.set(func(f *fakePlugin) {
		f.states = statesBy(map[string]contract.OperatorState{"bob": {Locked: true, LockedAt: time.Now(), FailedAttempts: 3},
			"alice": {Requirement: contract.RequirementEnforcedAll}})
		f.health = contract.DuoHealth{Checked: true, OK: true, CheckedAt: time.Now(), Latency: 20 * time.Millisecond}
	})
	a := e.client()
	a.lang = "de-DE,de;q=0.9"
	a.signedIn("admin")
	a.get("/admin/log?from=gestern")
	if got := text(a.last, "log-error"); got != "Das Von-Datum ist kein Datum: Verwenden Sie die Form JJJJ-MM-TT." {
		t.Errorf("German log error: %q", got)
	}
	if !strings.Contains(a.last, "Authentifizierungsprotokoll") || text(a.last, "nav-log") != "Protokoll" {
		t.Error("the Log page is not in German")
	}
	a.get("/admin/operators")
	for id, want := range map[string]string{"locked-bob": "Gesperrt", "failed-bob": "Fehlversuche: 3", "duo-state-alice": "Erzwungen", "unlock-bob": "Entsperren"} {
		if got := text(a.last, id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	a.get("/admin/plugins")
	if got := text(a.last, "live-latency"); got != "20 ms" || !strings.Contains(a.last, "Live-Status") {
		t.Errorf("German live status: latency %q", got)
	}
}
