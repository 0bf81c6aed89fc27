package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

const (
	loadPassword = "duobench-password-1"
	loadUsers    = 64
	// bcrypt's minimum cost: at the helpdesk's default (12) the password
	// hash alone takes a quarter of a second and hides everything else.
	loadBcryptCost = 4
)

// loadResult is what the load generator's process reports: the sign-in
// POSTs' latencies and rate.
type loadResult struct {
	Ops     int           `json:"ops"`
	Elapsed time.Duration `json:"elapsed"`
	P50     time.Duration `json:"p50"`
	P99     time.Duration `json:"p99"`
}

// phaseHelpdesk: the reference helpdesk (helpdesk/app, the real plugin
// through the SDK, the simulator in its own process) answering sign-in
// POSTs of Duo-enabled operators (the Duo step page with its redirect URL)
// under load from another process (A), against the same helpdesk with the
// plugin deactivated, its own password sign-in alone (B).
func phaseHelpdesk(ctx context.Context, e *env, o opts, rep *report) error {
	sim, err := startSim()
	if err != nil {
		return err
	}
	defer sim.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	a, err := app.New(ctx, app.Config{DataDir: e.dir("helpdesk"), PluginDir: filepath.Dir(e.manifest), BaseURL: base,
		PluginEnv: []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_LOG_LEVEL=warn"}, Logger: quiet()})
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer a.Close()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = a.Serve(sctx, ln) }()
	for i := range loadUsers {
		if _, err := app.SeedOperator(ctx, a.Store(), store.NewOperator{Username: fmt.Sprintf("load-%d", i), Email: fmt.Sprintf("load-%d@example.com", i),
			DisplayName: "Load", Role: "agent"}, loadPassword, loadBcryptCost); err != nil {
			return err
		}
	}
	if _, err := a.Plugins().Activate(ctx, admin); err != nil {
		return err
	}
	p, err := a.Plugins().Plugin()
	if err != nil {
		return err
	}
	if res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"client_id": sim.info.ClientID,
		"client_secret": sim.info.ClientSecret, "api_hostname": sim.info.APIHost, "ca_file": sim.info.CAFile, "enforce_all": "true"}, Actor: admin}); err != nil || !res.Saved {
		return fmt.Errorf("settings: %+v %v", res, err)
	}
	const callers = 16
	load := func(want int) (loadResult, error) {
		self, err := os.Executable()
		if err != nil {
			return loadResult{}, err
		}
		out, err := exec.CommandContext(ctx, self, "-role", "load", "-url", base, "-user", "load-", "-c", fmt.Sprint(callers), "-d", o.loadFor.String(), "-want", fmt.Sprint(want)).Output()
		if err != nil {
			return loadResult{}, fmt.Errorf("load generator: %w", err)
		}
		var r loadResult
		return r, json.Unmarshal(out, &r)
	}
	var aT, bT, a50, b50, a99, b99 []float64
	for round := range o.rounds {
		ra, err := load(http.StatusOK) // the Duo step page
		if err != nil {
			return err
		}
		if err := a.Plugins().Deactivate(ctx, admin); err != nil {
			return err
		}
		rb, err := load(http.StatusSeeOther) // signed in
		if err != nil {
			return err
		}
		if _, err := a.Plugins().Activate(ctx, admin); err != nil {
			return err
		}
		fmt.Printf("  round %d: with Duo %.0f /s p50 %s, without the plugin %.0f /s p50 %s\n", round+1,
			float64(ra.Ops)/ra.Elapsed.Seconds(), ms(ra.P50), float64(rb.Ops)/rb.Elapsed.Seconds(), ms(rb.P50))
		aT, bT = append(aT, float64(ra.Ops)/ra.Elapsed.Seconds()), append(bT, float64(rb.Ops)/rb.Elapsed.Seconds())
		a50, b50 = append(a50, float64(ra.P50)), append(b50, float64(rb.P50))
		a99, b99 = append(a99, float64(ra.P99)), append(b99, float64(rb.P99))
	}
	name := fmt.Sprintf("6. Helpdesk sign-in (GET form + POST → Duo step), %d clients", callers)
	x, y := median(aT), median(bT)
	rep.add(row{figure: name + ": sign-ins/s", value: perSec(x), floor: perSec(y), ratio: x / y})
	x, y = median(a50), median(b50)
	rep.add(row{figure: name + ": p50", value: ms(durOf(x)), floor: ms(durOf(y)), ratio: x / y})
	x, y = median(a99), median(b99)
	rep.add(row{figure: name + ": p99", value: ms(durOf(x)), floor: ms(durOf(y)), ratio: x / y})
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// serveLoad is the load generator's process (-role load): callers clients,
// each with its own cookies, sign in as user<i> over and over for d (a new
// anonymous session and its CSRF token from GET /login, then the timed
// POST /login, the two timed together), and print a loadResult.
func serveLoad(base, user string, callers int, d time.Duration, want int) error {
	if base == "" {
		return errors.New("load: need -url")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: callers * 2}
	r, err := drive(callers, d, 0, func(c int) error {
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := hc.Get(base + "/login")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfField.FindSubmatch(body)
		if m == nil {
			return fmt.Errorf("GET /login: %d, no CSRF token", resp.StatusCode)
		}
		form := url.Values{"username": {fmt.Sprintf("%s%d", user, c%loadUsers)}, "password": {loadPassword}, "csrf_token": {string(m[1])}}
		resp, err = hc.Post(base+"/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("POST /login: %d, want %d", resp.StatusCode, want)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(loadResult{Ops: r.ops, Elapsed: r.elapsed, P50: r.p(0.5), P99: r.p(0.99)})
}
