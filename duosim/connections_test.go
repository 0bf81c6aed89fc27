package duosim_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
)

// A keep-alive client opens one connection however many requests it makes;
// a client without keep-alive opens one per request.
func TestStatsCountAcceptedConnections(t *testing.T) {
	t.Parallel()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	get := func(hc *http.Client) {
		t.Helper()
		resp, err := hc.Get("https://" + sim.APIHost() + "/nowhere")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	keep := sim.HTTPClient(5 * time.Second)
	for range 3 {
		get(keep)
	}
	if got := sim.Stats().Connections; got != 1 {
		t.Fatalf("Connections after 3 keep-alive requests = %d, want 1", got)
	}
	tr := keep.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	fresh := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for range 2 {
		get(fresh)
	}
	if got := sim.Stats().Connections; got != 3 {
		t.Fatalf("Connections after 2 more without keep-alive = %d, want 3", got)
	}
}
