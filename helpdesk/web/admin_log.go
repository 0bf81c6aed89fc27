package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The Log page: the plugin's authentication log, filtered, a page at a
// time (newest first, keyset pages through the plugin's opaque token), and
// downloaded whole as CSV or JSON lines, streamed from the plugin to the
// browser as it comes.

const logPath = "/admin/log"

// logPageSize is how many events a page shows.
const logPageSize = 50

// maxLogBack is how many older pages deep the Newer link can lead back
// from: the tokens of the pages before ride in the URL.
const maxLogBack = 40

// dateLayout is how the filter's dates are typed (an <input type="date">
// sends it so).
const dateLayout = "2006-01-02"

// logFilter is the filter as the admin typed it: the form shows it back
// as it was, even when it is wrong.
type logFilter struct {
	Operator string
	Kind     string
	Outcome  string
	From     string
	To       string
}

// query is the filter as URL parameters, without the empty ones.
func (f logFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"operator": f.Operator, "kind": f.Kind, "outcome": f.Outcome, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func logFilterFrom(r *http.Request) logFilter {
	q := r.URL.Query()
	get := func(k string) string {
		v := strings.TrimSpace(q.Get(k))
		if len(v) > 100 {
			v = v[:100]
		}
		return v
	}
	return logFilter{Operator: get("operator"), Kind: get("kind"), Outcome: get("outcome"), From: get("from"), To: get("to")}
}

// contract turns the filter into the plugin's, or says (as message ids)
// what is wrong with it. Dates are whole days in the helpdesk's time
// zone; "to" includes its day.
func (f logFilter) contract() (contract.AuthEventFilter, []string) {
	var out contract.AuthEventFilter
	var bad []string
	if f.Operator != "" {
		if _, err := strconv.ParseInt(f.Operator, 10, 64); err != nil {
			bad = append(bad, "authlog.bad_operator")
		}
		out.OperatorID = f.Operator
	}
	if f.Kind != "" {
		out.Kinds = []string{f.Kind}
	}
	if f.Outcome != "" {
		out.Outcomes = []string{f.Outcome}
	}
	var from, to time.Time
	var err error
	if f.From != "" {
		if from, err = time.ParseInLocation(dateLayout, f.From, time.Local); err != nil {
			bad = append(bad, "authlog.bad_from")
		} else {
			out.FromUnix = from.Unix()
		}
	}
	if f.To != "" {
		if to, err = time.ParseInLocation(dateLayout, f.To, time.Local); err != nil {
			bad = append(bad, "authlog.bad_to")
		} else {
			out.ToUnix = to.AddDate(0, 0, 1).Unix()
		}
	}
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		bad = append(bad, "authlog.from_after_to")
	}
	return out, bad
}

// badField is the form field each filter error is about.
var badField = map[string]string{
	"authlog.bad_operator": "operator", "authlog.bad_from": "from", "authlog.bad_to": "to", "authlog.from_after_to": "from",
}

// logRow is one event as the table shows it.
type logRow struct {
	contract.AuthEvent
	// Operator is the username of the event's operator, or its id when
	// the helpdesk does not know it.
	Operator string
}

type logData struct {
	Filter    logFilter
	Operators []store.Operator
	Outcomes  []string
	// Errors are what is wrong with the filter, in words to show; Bad
	// names the fields at fault (by the message ids' field), for
	// aria-invalid.
	Errors []string
	Bad    map[string]bool
	// Unavailable: the plugin is not active or did not answer.
	Unavailable string
	Rows        []logRow
	Searched    bool
	NewerURL    string
	OlderURL    string
	CSVURL      string
	JSONURL     string
}

// logOutcomes are the outcomes the plugin writes, offered in the form; the
// plugin refuses any other.
var logOutcomes = []string{"allowed", "denied", "locked", "unlocked", "redirect", "not_required", "allowed_without_duo",
	"exempt", "confirm_backup_codes", "ok", "invalid", "duo_rejected"}

func (s *Server) handleLog(w http.ResponseWriter, r *http.Request) {
	f := logFilterFrom(r)
	ops, err := s.st.ListOperators(r.Context())
	if err != nil {
		s.internalError(w, r, "list operators", err)
		return
	}
	d := logData{Filter: f, Operators: ops, Outcomes: logOutcomes}
	names := make(map[string]string, len(ops))
	for _, op := range ops {
		names[strconv.FormatInt(op.ID, 10)] = op.Username
	}
	filter, bad := f.contract()
	d.Bad = map[string]bool{}
	for _, id := range bad {
		d.Errors = append(d.Errors, s.tr(r, id))
		d.Bad[badField[id]] = true
	}
	status := http.StatusOK
	if len(d.Errors) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, "log", s.tr(r, "authlog.title"), "log", d)
		return
	}

	q := r.URL.Query()
	token := q.Get("page")
	back := q["back"]
	if len(back) > maxLogBack {
		back = back[len(back)-maxLogBack:]
	}
	var res contract.ListAuthEventsResponse
	err = s.activePluginCall(r, func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Filter: filter, PageSize: logPageSize, PageToken: token, Actor: s.actor(r)})
		return err
	})
	switch {
	case errors.Is(err, errPluginInactive):
		d.Unavailable = s.tr(r, "authlog.inactive")
	case errors.Is(err, host.ErrUnsupported):
		// A plugin older than the SDK, without the AuthLog service: not
		// an outage, so a page that says what to do rather than a 503.
		d.Unavailable = s.tr(r, "authlog.unsupported")
	case contract.ReasonOf(err) == contract.ReasonInvalidArgument:
		// The plugin's own words: what it refused in the filter (an
		// unknown outcome, a range it cannot take, a stale page token).
		d.Errors = append(d.Errors, s.tr(r, "authlog.refused", "Message", s.pluginMessage(r, err)))
		status = http.StatusUnprocessableEntity
	case err != nil:
		s.log.Warn("list auth events", "reason", string(contract.ReasonOf(err)), "error", err)
		d.Unavailable = s.tr(r, "authlog.no_answer", "Message", s.pluginMessage(r, err))
		status = http.StatusServiceUnavailable
	default:
		d.Searched = true
		for _, ev := range res.Events {
			row := logRow{AuthEvent: ev, Operator: names[ev.OperatorID]}
			if row.Operator == "" {
				row.Operator = ev.OperatorID
			}
			d.Rows = append(d.Rows, row)
		}
		base := f.query()
		if token != "" {
			newer := copyValues(base)
			if n := len(back); n > 0 {
				if prev := back[n-1]; prev != "" {
					newer.Set("page", prev)
				}
				for _, b := range back[:n-1] {
					newer.Add("back", b)
				}
			}
			d.NewerURL = logPath + "?" + newer.Encode()
		}
		if res.NextPageToken != "" {
			older := copyValues(base)
			older.Set("page", res.NextPageToken)
			for _, b := range back {
				older.Add("back", b)
			}
			// The current page's token, "" for the first page, so that
			// Newer comes back here.
			older.Add("back", token)
			d.OlderURL = logPath + "?" + older.Encode()
		}
		csv, jsonl := copyValues(base), copyValues(base)
		csv.Set("format", "csv")
		jsonl.Set("format", "jsonl")
		d.CSVURL = logPath + "/export?" + csv.Encode()
		d.JSONURL = logPath + "/export?" + jsonl.Encode()
	}
	s.render(w, r, status, "log", s.tr(r, "authlog.title"), "log", d)
}

func copyValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// errPluginInactive: the helpdesk's record says the plugin is not active.
var errPluginInactive = errors.New("the Duo Security plugin is not active")

// activePluginCall is callPlugin for a page that shows its own error: the
// plugin must be active in the helpdesk's record (else errPluginInactive)
// and its process there.
func (s *Server) activePluginCall(r *http.Request, call func(ctx context.Context, p plugins.Plugin) error) error {
	active, err := s.plugins.Active(r.Context())
	if err != nil {
		return err
	}
	if !active {
		return errPluginInactive
	}
	return s.callPlugin(r, call)
}

// pluginMessage is the plugin's message for the admin, in the reader's
// language when the plugin sent its text, without the reason code around
// it.
func (s *Server) pluginMessage(r *http.Request, err error) string {
	var ce *contract.Error
	if errors.As(err, &ce) && (ce.Message != "" || ce.Text.ID != "") {
		return s.pluginText(r, ce.Text, ce.Message)
	}
	return err.Error()
}

// exportFormats are the downloads: the plugin's format, the Content-Type
// and the file name's extension.
var exportFormats = map[string]struct {
	format      contract.ExportFormat
	contentType string
	ext         string
}{
	"csv":   {contract.ExportCSV, "text/csv; charset=utf-8", "csv"},
	"jsonl": {contract.ExportJSONLines, "application/x-ndjson; charset=utf-8", "jsonl"},
}

// handleLogExport streams the events the filter selects straight from the
// plugin to the browser, each chunk written (and flushed) as it comes, so
// memory stays flat at any size. The request's context is the export's:
// a browser that goes away cancels it in the plugin. A problem before the
// first chunk shows on the Log page; one after it cuts the download off
// (an incomplete file must not look complete).
func (s *Server) handleLogExport(w http.ResponseWriter, r *http.Request) {
	f := logFilterFrom(r)
	back := logPath + "?" + f.query().Encode()
	ft, ok := exportFormats[r.URL.Query().Get("format")]
	if !ok {
		s.flash(r, flashError, s.tr(r, "authlog.bad_format"))
		redirect(w, r, back)
		return
	}
	filter, bad := f.contract()
	if len(bad) > 0 {
		// The Log page says what is wrong, with the values typed.
		redirect(w, r, back)
		return
	}
	p, err := s.exportPlugin(r)
	if err != nil {
		s.flashPluginError(r, m("authlog.export_what"), err)
		redirect(w, r, back)
		return
	}
	rc := http.NewResponseController(w)
	started := false
	start := func() {
		started = true
		h := w.Header()
		h.Set("Content-Type", ft.contentType)
		h.Set("Content-Disposition", `attachment; filename="auth-log-`+s.cfg.Now().UTC().Format("20060102-150405")+"."+ft.ext+`"`)
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
	}
	var bytes int64
	err = p.ExportAuthEvents(r.Context(), contract.ExportAuthEventsRequest{Filter: filter, Format: ft.format, Actor: s.actor(r)},
		func(c contract.ExportChunk) error {
			if !started {
				start()
			}
			// A long export outlives the server's write timeout: each
			// chunk gets a minute of its own.
			_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := w.Write(c.Data); err != nil {
				return err
			}
			bytes += int64(len(c.Data))
			return rc.Flush()
		})
	op := currentOperator(r)
	switch {
	case err == nil && !started:
		// Nothing at all (not even a header row): an empty file.
		start()
	case err == nil:
		s.log.Info("auth log exported", "operator_id", op.ID, "format", ft.ext, "bytes", bytes)
	case !started:
		switch {
		case errors.Is(err, host.ErrUnsupported):
			s.flash(r, flashError, s.tr(r, "authlog.unsupported"))
		case contract.ReasonOf(err) == contract.ReasonInvalidArgument:
			s.flash(r, flashError, s.tr(r, "authlog.refused", "Message", s.pluginMessage(r, err)))
		default:
			s.flashPluginError(r, m("authlog.export_what"), err)
		}
		redirect(w, r, back)
	default:
		s.log.Warn("auth log export cut off", "operator_id", op.ID, "bytes", bytes,
			"client_gone", r.Context().Err() != nil, "reason", string(contract.ReasonOf(err)), "error", err)
		// The status line is gone: abort the response, so that the
		// browser sees a failed download rather than a short file.
		panic(http.ErrAbortHandler)
	}
}

// exportPlugin is the running plugin, when the helpdesk's record says it
// is active.
func (s *Server) exportPlugin(r *http.Request) (plugins.Plugin, error) {
	active, err := s.plugins.Active(r.Context())
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, errPluginInactive
	}
	return s.plugins.Ready(r.Context())
}
