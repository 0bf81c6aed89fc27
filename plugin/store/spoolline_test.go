package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// checkSpoolLine: spoolLine's line is one line, valid JSON, and decodes
// to what json.Marshal's line decodes to.
func checkSpoolLine(t *testing.T, ev Event) {
	t.Helper()
	line, err := spoolLine(nil, ev)
	want, werr := json.Marshal(ev)
	if (err == nil) != (werr == nil) {
		t.Fatalf("spoolLine error %v, json.Marshal error %v", err, werr)
	}
	if err != nil {
		return
	}
	if len(line) == 0 || line[len(line)-1] != '\n' || bytes.IndexByte(line[:len(line)-1], '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
		t.Fatalf("not one line: %q", line)
	}
	var got, exp Event
	if err := json.Unmarshal(line[:len(line)-1], &got); err != nil {
		t.Fatalf("%q does not decode: %v", line, err)
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	if !got.At.Equal(exp.At) || got.At.Format(time.RFC3339Nano) != exp.At.Format(time.RFC3339Nano) {
		t.Fatalf("At %v, json.Marshal's %v", got.At, exp.At)
	}
	got.At, exp.At = time.Time{}, time.Time{}
	if got != exp {
		t.Fatalf("decoded\n %+v\nfrom json.Marshal's line\n %+v", got, exp)
	}
}

func TestSpoolLineDecodesAsMarshal(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 3, 4, 5, 123456789, time.FixedZone("x", 3600+1800))
	for _, s := range []string{"", "plain", `quote " backslash \ slash /`, "new\nline\r\n", "tab\t nul\x00 esc\x1b del\x7f",
		"bad utf-8 \xff\xfe end", "\xc3", "é ü 日本 🎉", "\u2028\u2029", "<script>&amp;</script>", "}\n{\"Kind\":\"forged\"}"} {
		checkSpoolLine(t, Event{At: at, Kind: "login.begin", OperatorID: s, Actor: s, ActorID: s, ActorRole: s, ClientIP: s,
			UserAgent: s, Outcome: s, Reason: s, Detail: s, Notice: contract.NoticeKind(s)})
	}
	checkSpoolLine(t, Event{})                                                         // the zero time
	checkSpoolLine(t, Event{At: time.Now(), Kind: "k"})                                // local, with a monotonic reading
	checkSpoolLine(t, Event{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})         // json.Marshal's error
	checkSpoolLine(t, Event{At: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), Kind: "k"}) // likewise
}

// TestSpoolLineWritesEveryField: a field added to Event is written by
// spoolLine too, or this fails (the line is written by hand).
func TestSpoolLineWritesEveryField(t *testing.T) {
	t.Parallel()
	ev := Event{At: time.Date(2026, 11, 29, 3, 4, 5, 0, time.UTC)}
	v := reflect.ValueOf(&ev).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		switch {
		case f.Name == "At":
		case f.Type.Kind() == reflect.String:
			v.Field(i).SetString("value of " + f.Name)
		default:
			t.Fatalf("Event.%s is a %s: teach spoolLine (and this test) to write it", f.Name, f.Type)
		}
	}
	checkSpoolLine(t, ev)
}

func FuzzSpoolLine(f *testing.F) {
	f.Add("login.begin", "agent\n\"x\"", "\xff", int64(1_700_000_000), int64(5))
	f.Fuzz(func(t *testing.T, kind, ua, detail string, sec, nsec int64) {
		checkSpoolLine(t, Event{At: time.Unix(sec%(300_000_000_000), nsec%1_000_000_000).UTC(), Kind: kind, UserAgent: ua, Detail: detail, ClientIP: ua + detail})
	})
}
