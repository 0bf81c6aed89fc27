package service

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

func TestDuoUsername(t *testing.T) {
	t.Parallel()
	op := store.Operator{ID: "1", Username: " Alice ", Email: "Alice.Smith@Example.com"}
	cases := []struct {
		name    string
		format  settings.UsernameFormat
		op      store.Operator
		alias   string
		want    string
		wantErr bool
	}{
		{"username, trimmed and lower-cased", settings.FormatUsername, op, "", "alice", false},
		{"email", settings.FormatEmail, op, "", "alice.smith@example.com", false},
		{"email local part", settings.FormatEmailLocal, op, "", "alice.smith", false},
		{"alias wins", settings.FormatEmail, op, "asmith", "asmith", false},
		{"no email for email format", settings.FormatEmail, store.Operator{ID: "1", Username: "bob"}, "", "", true},
		{"control character", settings.FormatUsername, store.Operator{ID: "1", Username: "bo\tb"}, "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DuoUsername(tc.format, tc.op, tc.alias)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("DuoUsername = %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }
func newClock() *clock               { return &clock{now: time.Now()} }

// TestExpiredStateIsDenied runs the service in-process on a real SQLite
// file and the simulator, with a clock it can move past the login's
// lifetime.
func TestExpiredStateIsDenied(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sim := duosim.StartTest(t, duosim.Config{Scripted: true})
	rt := settings.Runtime{AllowTestDuoHost: true, DuoTimeout: 2 * time.Second}
	clk := newClock()
	svc := New(Config{Runtime: rt, Duo: duo.NewFactory(rt), Now: clk.Now})
	callback := "http://127.0.0.1:9/cb"
	if _, err := svc.Activate(ctx, ActivateParams{DataDir: filepath.Join(t.TempDir(), "d"), CallbackURL: callback}); err != nil {
		t.Fatal(err)
	}
	defer svc.Deactivate(ctx, Actor{})
	app := sim.Apps()[0]
	res, err := svc.UpdateSettings(ctx, map[string]string{"client_id": app.ClientID, "client_secret": app.ClientSecret,
		"api_hostname": sim.APIHost(), "ca_file": sim.CAFile(), "login_timeout_seconds": "60"}, false, Actor{Username: "admin"})
	if err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	alice := store.Operator{ID: "1", Username: "alice"}
	if _, err := svc.SetOperatorEnabled(ctx, alice, true, Actor{Username: "admin"}); err != nil {
		t.Fatal(err)
	}
	b, err := svc.BeginLogin(ctx, alice, ClientInfo{})
	if err != nil || b.Decision != DecisionRedirect {
		t.Fatalf("BeginLogin = %+v, %v", b, err)
	}
	hc := sim.HTTPClient(5 * time.Second)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(b.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("duo_code")
	if code == "" {
		t.Fatalf("no code in %q", resp.Header.Get("Location"))
	}

	clk.Add(61 * time.Second)
	c, err := svc.CompleteLogin(ctx, CompleteParams{Operator: alice, SessionState: b.State, CallbackState: b.State, DuoCode: code})
	if err != nil || c.Decision != DecisionDenied || c.Reason != ReasonStateExpired {
		t.Fatalf("CompleteLogin after expiry = %+v, %v; want DENIED %s", c, err, ReasonStateExpired)
	}
}
