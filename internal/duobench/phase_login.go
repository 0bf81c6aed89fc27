package main

import (
	"context"
	"fmt"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// phaseFullLogin: a whole Duo login (BeginLogin, the browser at the
// scripted simulator, CompleteLogin) through the SDK and the real plugin
// (A) against Duo's own Go client making the same Duo calls (B), both
// against one simulator in a process of its own; then the plugin's fsyncs
// per login (strace), new connections to Duo in steady state, and its
// memory after many logins.
func phaseFullLogin(ctx context.Context, e *env, o opts, rep *report) error {
	sim, err := startSim()
	if err != nil {
		return err
	}
	defer sim.close()
	extra, err := o.profileEnv("phase2-plugin")
	if err != nil {
		return err
	}
	p, err := e.startActive(ctx, "", extra...)
	if err != nil {
		return err
	}
	defer p.Close()
	pid := p.State().PID
	idle, _ := memory(pid)
	br := newBrowser(sim)
	callers := []int{1, 16, 32}
	maxC := callers[len(callers)-1]
	rig, err := newLoginRig(ctx, sim, br, []*host.Plugin{p}, maxC)
	if err != nil {
		return err
	}
	sdk := func(c int) error { return rig.allowed(ctx, c) }
	raw, err := duouniversal.NewClient(sim.info.ClientID, sim.info.ClientSecret, sim.info.APIHost, callbackURL, duouniversal.WithHTTPClient(sim.client()))
	if err != nil {
		return err
	}
	floor := func(c int) error {
		user := fmt.Sprintf("raw-user-%d", c)
		state, err := raw.GenerateState()
		if err != nil {
			return err
		}
		u, err := raw.CreateAuthURL(user, state)
		if err != nil {
			return err
		}
		q, err := br.approve(u)
		if err != nil {
			return err
		}
		tok, err := raw.ExchangeAuthorizationCodeFor2faResult(q.Get("duo_code"), user)
		if err == nil && tok.AuthResult.Result != "allow" {
			err = fmt.Errorf("raw client: %+v", tok.AuthResult)
		}
		return err
	}
	// Past the set-up, a login that fails (a call past the SDK's 5 s
	// deadline under load, say) is counted and reported, not fatal.
	var sdkFails, floorFails failures
	strictSDK := sdk
	sdk, floor = sdkFails.tolerate(sdk), floorFails.tolerate(floor)
	for _, f := range []func(int) error{sdk, floor} {
		if _, err := drive(maxC, 500*time.Millisecond, 0, f); err != nil {
			return err
		}
	}
	meter := cpuMeter{pids: map[string]int{"plugin": pid, "host": 0, "simulator": sim.pid()}}
	type cpuRun map[string]time.Duration // CPU per login by process
	measure := func(c int, f func(int) error) (run, cpuRun, error) {
		before := meter.read()
		r, err := drive(c, o.window, 0, f)
		per := cpuRun{}
		for k, v := range since(before, meter.read()) {
			if r.ops > 0 {
				per[k] = v / time.Duration(r.ops)
			}
		}
		return r, per, err
	}
	res := map[int]*pair{}
	cpuA, cpuB := map[string][]float64{}, map[string][]float64{}
	for _, c := range callers {
		res[c] = &pair{}
	}
	for round := range o.rounds {
		for _, c := range callers {
			a, ca, err := measure(c, sdk)
			if err != nil {
				return err
			}
			b, cb, err := measure(c, floor)
			if err != nil {
				return err
			}
			res[c].a, res[c].b = append(res[c].a, a), append(res[c].b, b)
			if c == maxC {
				for k, v := range ca {
					cpuA[k] = append(cpuA[k], float64(v))
				}
				for k, v := range cb {
					cpuB[k] = append(cpuB[k], float64(v))
				}
			}
			fmt.Printf("  round %d, %2d callers: SDK %s p50 %s, raw client %s p50 %s\n", round+1, c, perSec(a.perSec()), ms(a.p(0.5)), perSec(b.perSec()), ms(b.p(0.5)))
		}
	}
	for _, c := range callers {
		r := res[c]
		name := fmt.Sprintf("2. Full Duo login, %d caller(s)", c)
		at, bt := medianOf(r.a, tput), medianOf(r.b, tput)
		x := row{figure: name + ": logins/s", value: perSec(at), floor: perSec(bt), ratio: at / bt}
		if c == 32 {
			x.goal, x.pass = "≥ 0.8×", verdict(x.ratio >= 0.8)
		}
		rep.add(x)
		a50, b50 := medianOf(r.a, p50), medianOf(r.b, p50)
		rep.add(row{figure: name + ": p50", value: ms(durOf(a50)), floor: ms(durOf(b50)), ratio: a50 / b50})
		a99, b99 := medianOf(r.a, p99), medianOf(r.b, p99)
		x = row{figure: name + ": p99", value: ms(durOf(a99)), floor: ms(durOf(b99)), ratio: a99 / b99}
		if c == 32 {
			x.goal, x.pass = "≤ 2×", verdict(x.ratio <= 2)
		}
		rep.add(x)
	}
	var sumA, sumB float64
	for _, k := range []string{"plugin", "host", "simulator"} {
		a, b := median(cpuA[k]), median(cpuB[k])
		sumA, sumB = sumA+a, sumB+b
		x := row{figure: fmt.Sprintf("2. CPU per login at %d callers: %s process", maxC, k), value: ms(durOf(a))}
		switch k {
		case "plugin":
			x.floor = "(none: no plugin)"
		case "host":
			x.figure += " (SDK or raw client, and browsers)"
			x.floor, x.ratio = ms(durOf(b)), a/b
		default:
			x.floor, x.ratio = ms(durOf(b)), a/b
		}
		rep.add(x)
	}
	rep.add(row{figure: fmt.Sprintf("2. CPU per login at %d callers: all processes", maxC), value: ms(durOf(sumA)), floor: ms(durOf(sumB)), ratio: sumA / sumB})

	// New connections to Duo in steady state. The plugin's keep-alive pool
	// grows to the peak number of Duo calls in flight, which on a busy
	// machine exceeds the callers now and then (a connection is handed back
	// to the pool by a goroutine of its own, after the caller has its
	// answer). So the pool is first warmed at maxC callers, in slices, until
	// two in a row open none (at most 90 s); then a window at maxC counts what
	// steady logins open, less the browsers' own (the raw client is idle).
	warm, err := warmDuoPool(sim, br, maxC, sdk)
	if err != nil {
		return err
	}
	rep.add(row{figure: fmt.Sprintf("3. Plugin's new TLS connections to Duo while its pool warmed at %d callers (%s, until two 5 s slices in a row opened none)", maxC, warm.elapsed.Round(time.Second)),
		value: fmt.Sprint(warm.opened)})
	steadyNew, steady, browserNew, err := pluginConnections(sim, br, func() (run, error) { return drive(maxC, o.steady, 0, sdk) })
	if err != nil {
		return err
	}
	perMin := float64(steadyNew) / steady.elapsed.Minutes()
	rep.add(row{figure: fmt.Sprintf("3. Plugin's new TLS connections to Duo per minute, steady state (%d callers, %s, %d logins; browsers opened %d)", maxC, o.steady, steady.ops, browserNew),
		value: fmt.Sprintf("%.1f", perMin), goal: "0", pass: verdict(steadyNew == 0)})

	// fsyncs per login, on the real binary: one at a time (each login's
	// own durable commits, and its share of checkpoints), then with maxC in
	// flight, where the single writer's group commit shares them.
	fsynced := 0
	for _, callers := range []int{1, maxC} {
		logins := o.fsyncLogins * callers / min(callers, 4) // enough for the batches to settle
		count, err := countFsyncs(pid, func() error {
			_, err := drive(callers, 0, logins, strictSDK)
			return err
		})
		if err != nil {
			fmt.Printf("  fsync count: %v\n", err)
			break
		}
		per := float64(count) / float64(logins)
		figure := fmt.Sprintf("3. fsyncs per full login, one at a time (strace, %d logins)", logins)
		if callers > 1 {
			figure = fmt.Sprintf("3. fsyncs per full login, %d in flight (strace, %d logins)", callers, logins)
		}
		rep.add(row{figure: figure, value: fmt.Sprintf("%.2f", per), goal: "≤ 2", pass: verdict(per <= 2)})
		fsynced += logins
	}

	// Memory after many logins: once after the measurements above, and
	// again after rssLogins more, so that growth per login shows apart
	// from the caches and pools that filled up first.
	done := 0
	for c := range res {
		for _, r := range res[c].a {
			done += r.ops
		}
	}
	done += steady.ops + warm.logins + fsynced
	first, err := memory(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := drive(16, 0, o.rssLogins, sdk); err != nil {
		return err
	}
	fmt.Printf("  %d more logins in %s\n", o.rssLogins, time.Since(start).Round(time.Second))
	m, err := memory(pid)
	if err != nil {
		return err
	}
	rep.add(row{figure: "2. Failed logins in this phase: SDK", value: fmt.Sprint(sdkFails.n.Load()), floor: fmt.Sprint(floorFails.n.Load())})
	fmt.Printf("  failed SDK logins: %s; failed raw-client logins: %s\n", &sdkFails, &floorFails)
	total := done + o.rssLogins
	rep.add(row{figure: fmt.Sprintf("4. Plugin RSS after %d logins (floor: its RSS when active, before settings and logins)", total), value: mib(m.rss), floor: mib(idle.rss), ratio: float64(m.rss) / float64(idle.rss)})
	rep.add(row{figure: fmt.Sprintf("4. Plugin's own memory (RssAnon) after %d logins (floor: the same after the first %d)", total, done), value: mib(m.anon), floor: mib(first.anon), ratio: float64(m.anon) / float64(first.anon)})
	rep.add(row{figure: fmt.Sprintf("4. Plugin peak RSS (VmHWM) after %d logins", total), value: mib(m.hwm)})
	return nil
}

// loginRig signs operators in with Duo through one or more plugin
// processes: caller c begins on plugin c and completes on the next one, as
// a round-robin load balancer would send the callback to the next
// instance.
type loginRig struct {
	ps  []*host.Plugin
	ops []contract.Operator
	br  browser
}

// newLoginRig saves the simulator's settings through the first plugin
// (the others share its store, or there are none), enables n operators
// and signs each in once: the first sign-in sets up backup codes, which is
// not what is measured.
func newLoginRig(ctx context.Context, sim *simProc, br browser, ps []*host.Plugin, n int) (*loginRig, error) {
	if res, err := ps[0].UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"client_id": sim.info.ClientID,
		"client_secret": sim.info.ClientSecret, "api_hostname": sim.info.APIHost, "ca_file": sim.info.CAFile}, Actor: admin}); err != nil || !res.Saved {
		return nil, fmt.Errorf("settings: %+v %v", res, err)
	}
	r := &loginRig{ps: ps, ops: make([]contract.Operator, n), br: br}
	for c := range r.ops {
		r.ops[c] = contract.Operator{ID: fmt.Sprintf("duo-%d", c), Username: fmt.Sprintf("duo-user-%d", c)}
		if _, err := ps[0].SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: r.ops[c], Enabled: true, Actor: admin}); err != nil {
			return nil, err
		}
		first, err := r.login(ctx, c)
		if err != nil || first.Decision != contract.DecisionConfirmBackupCodes {
			return nil, fmt.Errorf("first login: %+v %v", first, err)
		}
		if res, err := r.plugin(c, 1).ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: r.ops[c], Ticket: first.BackupCodesTicket}); err != nil || res.Decision != contract.DecisionAllowed {
			return nil, fmt.Errorf("confirm: %+v %v", res, err)
		}
	}
	return r, nil
}

// plugin is the plugin caller c's step-th call of a login goes to.
func (r *loginRig) plugin(c, step int) *host.Plugin { return r.ps[(c+step)%len(r.ps)] }

// login is one whole Duo login of caller c's operator.
func (r *loginRig) login(ctx context.Context, c int) (contract.CompleteLoginResponse, error) {
	op, client := r.ops[c], contract.ClientInfo{IP: "203.0.113.7", UserAgent: "duobench"}
	begin, err := r.plugin(c, 0).BeginLogin(ctx, contract.BeginLoginRequest{Operator: op, Client: client})
	if err != nil || begin.Decision != contract.DecisionRedirect {
		return contract.CompleteLoginResponse{}, fmt.Errorf("BeginLogin: %+v %v", begin, err)
	}
	q, err := r.br.approve(begin.RedirectURL)
	if err != nil {
		return contract.CompleteLoginResponse{}, err
	}
	return r.plugin(c, 1).CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: op, SessionState: begin.State,
		CallbackState: q.Get("state"), DuoCode: q.Get("duo_code"), Client: client})
}

// allowed is login, failing unless Duo's answer let the operator in.
func (r *loginRig) allowed(ctx context.Context, c int) error {
	res, err := r.login(ctx, c)
	if err == nil && res.Decision != contract.DecisionAllowed {
		err = fmt.Errorf("CompleteLogin: %+v", res)
	}
	return err
}

// pluginConnections runs work and returns the TLS connections the plugin
// opened to the simulator meanwhile: all it accepted, less those the
// harness's browsers dialled.
func pluginConnections(sim *simProc, br browser, work func() (run, error)) (opened int64, r run, browserNew int64, err error) {
	before, err := sim.stats()
	if err != nil {
		return 0, r, 0, err
	}
	browserBefore := br.dials.Load()
	if r, err = work(); err != nil {
		return 0, r, 0, err
	}
	after, err := sim.stats()
	if err != nil {
		return 0, r, 0, err
	}
	browserNew = br.dials.Load() - browserBefore
	return after.Connections - before.Connections - browserNew, r, browserNew, nil
}

// poolWarmup is what warming the plugin's pool to Duo took.
type poolWarmup struct {
	opened  int64 // connections opened
	logins  int
	elapsed time.Duration
}

// warmDuoPool drives 5 s slices of logins at callers until two in a row
// open no connection to Duo, or 90 s have passed.
func warmDuoPool(sim *simProc, br browser, callers int, op func(int) error) (poolWarmup, error) {
	var w poolWarmup
	start := time.Now()
	for quiet := 0; quiet < 2 && time.Since(start) < 90*time.Second; {
		opened, r, _, err := pluginConnections(sim, br, func() (run, error) { return drive(callers, 5*time.Second, 0, op) })
		if err != nil {
			return w, err
		}
		w.opened += opened
		w.logins += r.ops
		quiet++
		if opened > 0 {
			quiet = 0
		}
	}
	w.elapsed = time.Since(start)
	return w, nil
}
