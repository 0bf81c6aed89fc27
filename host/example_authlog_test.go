package host_test

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The plugin's metrics in the host's own registry, next to the host's:
// every scrape asks the plugin, and duo_plugin_up says whether it answered.
func ExamplePlugin_Collector() {
	var p *host.Plugin // from host.Start
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.Collector())
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// An admin page downloads the whole authentication log as CSV: the chunks
// go to the browser as they come, so neither process holds the file, and a
// browser that goes away stops the export.
func ExamplePlugin_ExportAuthEvents() {
	var p *host.Plugin // from host.Start
	http.HandleFunc("GET /admin/duo/auth-log.csv", func(w http.ResponseWriter, r *http.Request) {
		admin := contract.Actor{ID: "1", Username: "admin", IP: r.RemoteAddr, Role: contract.RoleAdmin} // the signed-in admin
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="duo-auth-log.csv"`)
		err := p.ExportAuthEvents(r.Context(), contract.ExportAuthEventsRequest{Format: contract.ExportCSV, Actor: admin},
			func(c contract.ExportChunk) error {
				_, err := w.Write(c.Data)
				return err
			})
		if err != nil {
			// Headers are gone once a chunk is written: log it; the browser
			// sees a cut download.
			slog.Error("auth log export", "error", err)
		}
	})
}

// A page of the log, newest first, and the token of the next one (empty
// on the last page). A token is only good for the filter it came with.
func ExamplePlugin_ListAuthEvents() {
	var p *host.Plugin // from host.Start
	admin := contract.Actor{ID: "1", Username: "admin", Role: contract.RoleAdmin}
	filter := contract.AuthEventFilter{OperatorID: "42", Outcomes: []string{"denied"}}
	token := ""
	for {
		res, err := p.ListAuthEvents(context.Background(), contract.ListAuthEventsRequest{Filter: filter, PageSize: 100, PageToken: token, Actor: admin})
		if err != nil {
			return // INVALID_ARGUMENT names what is wrong with the filter
		}
		for _, ev := range res.Events {
			slog.Info("denied", "at", ev.At, "kind", ev.Kind, "reason", ev.Reason, "ip", ev.ClientIP)
		}
		if res.NextPageToken == "" {
			return
		}
		token = res.NextPageToken
	}
}
