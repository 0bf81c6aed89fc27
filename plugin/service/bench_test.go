package service

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// BenchmarkLoginInProcess: Begin + (browser at Duo) + Complete on the
// service itself, without the process boundary, to split the SDK figure.
func BenchmarkLoginInProcess(b *testing.B) {
	ctx := context.Background()
	sim := duosim.StartTest(b, duosim.Config{Scripted: true})
	rt := settings.Runtime{AllowTestDuoHost: true, DuoTimeout: 5 * time.Second, HealthCacheTTL: 30 * time.Second}
	svc := New(Config{Runtime: rt, Duo: duo.NewFactory(rt)})
	if _, err := svc.Activate(ctx, ActivateParams{DataDir: filepath.Join(b.TempDir(), "d"), CallbackURL: "http://127.0.0.1:9/cb"}); err != nil {
		b.Fatal(err)
	}
	defer svc.Deactivate(ctx, Actor{})
	app := sim.Apps()[0]
	if res, err := svc.UpdateSettings(ctx, map[string]string{"client_id": app.ClientID, "client_secret": app.ClientSecret,
		"api_hostname": sim.APIHost(), "ca_file": sim.CAFile()}, true, Actor{}); err != nil || !res.Saved {
		b.Fatalf("%+v %v", res, err)
	}
	op := store.Operator{ID: "1", Username: "alice"}
	if _, err := svc.SetOperatorEnabled(ctx, op, true, Actor{}); err != nil {
		b.Fatal(err)
	}
	hc := sim.HTTPClient(5 * time.Second)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for b.Loop() {
		begin, err := svc.BeginLogin(ctx, op, ClientInfo{})
		if err != nil || begin.Decision != DecisionRedirect {
			b.Fatalf("%+v %v", begin, err)
		}
		resp, err := hc.Get(begin.RedirectURL)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		res, err := svc.CompleteLogin(ctx, CompleteParams{Operator: op, SessionState: begin.State, CallbackState: begin.State, DuoCode: loc.Query().Get("duo_code")})
		if err != nil || res.Decision != DecisionAllowed {
			b.Fatalf("%+v %v", res, err)
		}
	}
}
