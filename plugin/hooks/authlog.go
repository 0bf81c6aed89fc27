package hooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The authentication log: ListAuthEvents pages through audit_events newest
// first (keyset on id, never OFFSET), ExportAuthEvents streams them oldest
// first as CSV or JSON lines. Admin or system only (roles.go).
//
// Filters: kinds are free text (at most maxFilterValues, each a short
// dotted name): a kind no event has simply matches nothing, so a host may
// filter on kinds a newer plugin writes. Outcomes must be one of
// store.Outcomes, which lists every outcome the plugin writes: a typo there
// would silently hide denials, so it is refused.

const (
	maxFilterValues  = 20
	maxKindLen       = 64
	exportChunkSize  = 48 << 10 // a chunk is sent once this much is buffered
	exportBatch      = 1000     // rows read from the store at a time
	pageTokenVersion = 1
)

// authFilter checks f and turns it into the store's, naming every problem
// at once.
func authFilter(f contract.AuthEventFilter) (store.EventFilter, error) {
	var problems []string
	if p := checkText("filter.operator_id", f.OperatorID, maxIDLen, false); p != "" {
		problems = append(problems, p)
	}
	if len(f.Kinds) > maxFilterValues {
		problems = append(problems, fmt.Sprintf("filter.kinds has %d values; at most %d are allowed", len(f.Kinds), maxFilterValues))
	}
	for _, k := range f.Kinds {
		if k == "" || len(k) > maxKindLen || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789._") != "" {
			problems = append(problems, fmt.Sprintf("filter.kinds: %q is not an event kind (lower-case letters, digits, '.' and '_', at most %d)", k, maxKindLen))
		}
	}
	if len(f.Outcomes) > maxFilterValues {
		problems = append(problems, fmt.Sprintf("filter.outcomes has %d values; at most %d are allowed", len(f.Outcomes), maxFilterValues))
	}
	for _, o := range f.Outcomes {
		if !store.IsOutcome(o) {
			problems = append(problems, fmt.Sprintf("filter.outcomes: unknown outcome %q (known: %s)", o, strings.Join(store.Outcomes, ", ")))
		}
	}
	if f.FromUnix < 0 {
		problems = append(problems, fmt.Sprintf("filter.from_unix is negative (%d)", f.FromUnix))
	}
	if f.ToUnix < 0 {
		problems = append(problems, fmt.Sprintf("filter.to_unix is negative (%d)", f.ToUnix))
	}
	if f.FromUnix > 0 && f.ToUnix > 0 && f.ToUnix < f.FromUnix {
		problems = append(problems, fmt.Sprintf("filter.to_unix (%d) is before filter.from_unix (%d)", f.ToUnix, f.FromUnix))
	}
	if len(problems) > 0 {
		return store.EventFilter{}, invalid("%s", strings.Join(problems, "; "))
	}
	out := store.EventFilter{OperatorID: f.OperatorID, Kinds: f.Kinds, Outcomes: f.Outcomes}
	if f.FromUnix > 0 {
		out.From = time.Unix(f.FromUnix, 0)
	}
	if f.ToUnix > 0 {
		out.To = time.Unix(f.ToUnix, 0)
	}
	return out, nil
}

// filterDigest identifies a filter for page tokens: the same events asked
// in any order of kinds or outcomes give the same digest.
func filterDigest(f contract.AuthEventFilter) [16]byte {
	h := sha256.New()
	field := func(s string) {
		_ = binary.Write(h, binary.BigEndian, uint32(len(s)))
		h.Write([]byte(s))
	}
	field(f.OperatorID)
	for _, list := range [][]string{f.Kinds, f.Outcomes} {
		sorted := slices.Clone(list)
		slices.Sort(sorted)
		sorted = slices.Compact(sorted)
		_ = binary.Write(h, binary.BigEndian, uint32(len(sorted)))
		for _, v := range sorted {
			field(v)
		}
	}
	_ = binary.Write(h, binary.BigEndian, [2]int64{f.FromUnix, f.ToUnix})
	var d [16]byte
	copy(d[:], h.Sum(nil))
	return d
}

// A page token is version | id of the last event shown | filter digest,
// then an HMAC under a key derived from secrets.key: a host can neither
// forge one nor replay it with another filter, and it survives restarts.
const tokenPayloadLen = 1 + 8 + 16

func (a *activeState) pageToken(f contract.AuthEventFilter, lastID int64) string {
	payload := make([]byte, 0, tokenPayloadLen+sha256.Size)
	payload = append(payload, pageTokenVersion)
	payload = binary.BigEndian.AppendUint64(payload, uint64(lastID))
	d := filterDigest(f)
	payload = append(payload, d[:]...)
	return base64.RawURLEncoding.EncodeToString(append(payload, a.tokenMAC(payload)...))
}

func (a *activeState) tokenMAC(payload []byte) []byte {
	m := hmac.New(sha256.New, a.pageKey)
	m.Write(payload)
	return m.Sum(nil)[:16]
}

// readPageToken returns the id the next page starts below.
func (a *activeState) readPageToken(f contract.AuthEventFilter, token string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != tokenPayloadLen+16 || raw[0] != pageTokenVersion ||
		!hmac.Equal(raw[tokenPayloadLen:], a.tokenMAC(raw[:tokenPayloadLen])) {
		return 0, invalid("page_token is not a token this plugin made; start again from the first page")
	}
	d := filterDigest(f)
	if !bytes.Equal(raw[9:tokenPayloadLen], d[:]) {
		return 0, invalid("page_token was made for another filter; start again from the first page with this one")
	}
	id := int64(binary.BigEndian.Uint64(raw[1:9]))
	if id <= 0 {
		return 0, invalid("page_token is not a token this plugin made; start again from the first page")
	}
	return id, nil
}

// ListAuthEvents implements contract.AuthLog.
func (p *Plugin) ListAuthEvents(ctx context.Context, req contract.ListAuthEventsRequest) (contract.ListAuthEventsResponse, error) {
	var out contract.ListAuthEventsResponse
	err := p.withActive(ctx, func(a *activeState) error {
		if err := p.permit(ctx, a, authLogRequest(callListAuthEvents, req.Actor, req.Filter)); err != nil {
			return err
		}
		if req.PageSize < 0 || req.PageSize > maxPageSize {
			return invalid("page_size %d: between 0 (the default, %d) and %d", req.PageSize, defPageSize, maxPageSize)
		}
		f, err := authFilter(req.Filter)
		if err != nil {
			return err
		}
		var before int64
		if req.PageToken != "" {
			if before, err = a.readPageToken(req.Filter, req.PageToken); err != nil {
				return err
			}
		}
		size := pageSize(req.PageSize, defPageSize)
		// One more than the page tells whether another page follows.
		recs, err := a.store.ListEvents(ctx, f, size+1, before)
		if err != nil {
			return storageError("list auth events", err)
		}
		if len(recs) > size {
			recs = recs[:size]
			out.NextPageToken = a.pageToken(req.Filter, recs[size-1].ID)
		}
		out.Events = make([]contract.AuthEvent, len(recs))
		for i, r := range recs {
			out.Events[i] = authEvent(r)
		}
		return nil
	})
	return out, err
}

// authLogRequest is the rules' view of an auth log call: about the
// filter's operator, if any, for the audit of a refusal.
func authLogRequest(c call, actor contract.Actor, f contract.AuthEventFilter) request {
	r := request{call: c, actor: actor}
	if f.OperatorID != "" {
		r.targets = []string{f.OperatorID}
	}
	return r
}

func authEvent(r store.EventRecord) contract.AuthEvent {
	return contract.AuthEvent{ID: r.ID, At: r.At, Kind: r.Kind, OperatorID: r.OperatorID, ActorID: r.ActorID, Actor: r.Actor,
		ActorRole: r.ActorRole, ClientIP: r.ClientIP, UserAgent: r.UserAgent, Outcome: r.Outcome, Reason: r.Reason, Detail: r.Detail}
}

// ExportAuthEvents implements contract.AuthLog. Memory stays flat: the
// store reads exportBatch rows at a time, each read over before the rows
// are sent, and at most one chunk is buffered. A reader that goes away
// (send fails, ctx ends) or a deactivation stops it at once.
func (p *Plugin) ExportAuthEvents(ctx context.Context, req contract.ExportAuthEventsRequest, send func(contract.ExportChunk) error) error {
	// Not withActive: an export may last minutes, and a read lock held
	// that long would queue every login behind the next Activate or
	// Uninstall waiting for the write lock. hold keeps the store open
	// instead, and Deactivate ends the export.
	a, release, err := p.hold()
	if err != nil {
		return err
	}
	defer release()
	return func() error {
		if err := p.permit(ctx, a, authLogRequest(callExportAuthEvents, req.Actor, req.Filter)); err != nil {
			return err
		}
		f, err := authFilter(req.Filter)
		if err != nil {
			return err
		}
		var enc exportEncoder
		switch req.Format {
		case contract.ExportUnspecified, contract.ExportCSV: // zero means the default, CSV
			enc = newCSVEncoder()
		case contract.ExportJSONLines:
			enc = newJSONLinesEncoder()
		default:
			return invalid("format %d: CSV (%d) or JSON lines (%d)", req.Format, contract.ExportCSV, contract.ExportJSONLines)
		}
		// Who took a copy of the log, and of what, is itself recorded (at
		// the start: a reader who stops short still has what they read).
		p.audit(ctx, a, by(store.Event{Kind: "auth_log.export", Outcome: "ok",
			Detail: fmt.Sprintf("%s of %s", formatName(req.Format), describeFilter(req.Filter))}, req.Actor))
		// Deactivation ends the export rather than wait for it.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(a.bg, cancel)()

		start, n := time.Now(), 0
		var sendErr error
		flush := func() error {
			if enc.Len() == 0 {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			// A fresh slice each time: the transport may still hold the last.
			sendErr = send(contract.ExportChunk{Data: enc.Take()})
			return sendErr
		}
		err = enc.Header()
		if err == nil {
			err = a.store.EachEvent(ctx, f, exportBatch, func(r store.EventRecord) error {
				n++
				if err := enc.Write(r); err != nil {
					return err
				}
				if enc.Len() >= exportChunkSize {
					return flush()
				}
				return nil
			})
		}
		if err == nil {
			err = flush()
		}
		if err != nil {
			p.log.Info("auth log export stopped", "events", n, "error", err)
			switch {
			case a.bg.Err() != nil:
				return errInactive()
			case errors.Is(err, context.DeadlineExceeded):
				return contract.Errorf(contract.ReasonDeadline, "export: the deadline passed after %d events", n)
			case sendErr != nil || ctx.Err() != nil:
				return contract.Errorf(contract.ReasonCanceled, "export: the reader went away after %d events", n)
			}
			return storageError("export auth events", err)
		}
		p.log.Info("auth log exported", "events", n, "format", req.Format, "took", time.Since(start).Round(time.Millisecond), "actor_id", req.Actor.ID)
		return nil
	}()
}

func formatName(f contract.ExportFormat) string {
	if f == contract.ExportJSONLines {
		return "JSON lines"
	}
	return "CSV"
}

// describeFilter says what a filter selects, for the audit log.
func describeFilter(f contract.AuthEventFilter) string {
	var parts []string
	if f.OperatorID != "" {
		parts = append(parts, "operator "+f.OperatorID)
	}
	if len(f.Kinds) > 0 {
		parts = append(parts, "kinds "+strings.Join(f.Kinds, "|"))
	}
	if len(f.Outcomes) > 0 {
		parts = append(parts, "outcomes "+strings.Join(f.Outcomes, "|"))
	}
	if f.FromUnix > 0 {
		parts = append(parts, "from "+time.Unix(f.FromUnix, 0).UTC().Format(time.RFC3339))
	}
	if f.ToUnix > 0 {
		parts = append(parts, "to "+time.Unix(f.ToUnix, 0).UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "every event"
	}
	return strings.Join(parts, ", ")
}

// exportEncoder writes events into a buffer the export sends in chunks.
type exportEncoder interface {
	Header() error
	Write(store.EventRecord) error
	Len() int
	// Take returns what is buffered, in a slice of its own, and empties
	// the buffer.
	Take() []byte
}

// exportColumns are the export's fields, in order: CSV's header and JSON's
// keys.
var exportColumns = []string{"id", "time", "kind", "operator_id", "actor", "actor_id", "actor_role", "client_ip", "user_agent", "outcome", "reason", "detail"}

type csvEncoder struct {
	buf bytes.Buffer
	w   *csv.Writer
	row []string
}

func newCSVEncoder() *csvEncoder {
	e := &csvEncoder{row: make([]string, len(exportColumns))}
	e.buf.Grow(exportChunkSize + 4<<10)
	e.w = csv.NewWriter(&e.buf)
	e.w.UseCRLF = true // RFC 4180
	return e
}

func (e *csvEncoder) Header() error { return e.put(exportColumns) }

func (e *csvEncoder) Write(r store.EventRecord) error {
	e.row[0], e.row[1] = strconv.FormatInt(r.ID, 10), r.At.UTC().Format(time.RFC3339)
	for i, v := range []string{r.Kind, r.OperatorID, r.Actor, r.ActorID, r.ActorRole, r.ClientIP, r.UserAgent, r.Outcome, r.Reason, r.Detail} {
		e.row[2+i] = defuseCell(v)
	}
	return e.put(e.row)
}

func (e *csvEncoder) put(row []string) error {
	if err := e.w.Write(row); err != nil {
		return err
	}
	e.w.Flush()
	return e.w.Error()
}

func (e *csvEncoder) Len() int { return e.buf.Len() }

func (e *csvEncoder) Take() []byte {
	out := bytes.Clone(e.buf.Bytes())
	e.buf.Reset()
	return out
}

// defuseCell keeps a spreadsheet from reading a cell as a formula (CSV
// injection, as OWASP describes it): a cell that starts with =, +, -, @,
// a tab or a carriage return gets a leading apostrophe. The values come
// from hosts and browsers (names, user agents), so none is trusted.
func defuseCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

type jsonLinesEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// exportEvent is one JSON line: the same fields as the CSV.
type exportEvent struct {
	ID         int64  `json:"id"`
	Time       string `json:"time"`
	Kind       string `json:"kind"`
	OperatorID string `json:"operator_id"`
	Actor      string `json:"actor"`
	ActorID    string `json:"actor_id"`
	ActorRole  string `json:"actor_role"`
	ClientIP   string `json:"client_ip"`
	UserAgent  string `json:"user_agent"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason"`
	Detail     string `json:"detail"`
}

func newJSONLinesEncoder() *jsonLinesEncoder {
	e := &jsonLinesEncoder{}
	e.buf.Grow(exportChunkSize + 4<<10)
	e.enc = json.NewEncoder(io.Writer(&e.buf))
	e.enc.SetEscapeHTML(false) // a file, not a page: user agents stay readable
	return e
}

func (e *jsonLinesEncoder) Header() error { return nil }

func (e *jsonLinesEncoder) Write(r store.EventRecord) error {
	return e.enc.Encode(exportEvent{ID: r.ID, Time: r.At.UTC().Format(time.RFC3339), Kind: r.Kind, OperatorID: r.OperatorID,
		Actor: r.Actor, ActorID: r.ActorID, ActorRole: r.ActorRole, ClientIP: r.ClientIP, UserAgent: r.UserAgent,
		Outcome: r.Outcome, Reason: r.Reason, Detail: r.Detail})
}

func (e *jsonLinesEncoder) Len() int { return e.buf.Len() }

func (e *jsonLinesEncoder) Take() []byte {
	out := bytes.Clone(e.buf.Bytes())
	e.buf.Reset()
	return out
}
