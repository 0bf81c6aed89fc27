package main

import (
	"context"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// pair holds the medians over the rounds of one A/B measurement.
type pair struct{ a, b []run }

func medianOf(rs []run, f func(run) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return median(xs)
}

func p50(r run) float64  { return float64(r.p(0.50)) }
func p99(r run) float64  { return float64(r.p(0.99)) }
func tput(r run) float64 { return r.perSec() }

// phaseNotRequired: BeginLogin for operators without Duo through the SDK
// (A) against the bare go-plugin server's BeginLogin (B), at each number
// of callers, A and B alternating within every round.
func phaseNotRequired(ctx context.Context, e *env, o opts, rep *report) error {
	pluginEnv, err := o.profileEnv("phase1-plugin")
	if err != nil {
		return err
	}
	bareEnv, err := o.profileEnv("phase1-bare")
	if err != nil {
		return err
	}
	p, err := e.startActive(ctx, "", pluginEnv...)
	if err != nil {
		return err
	}
	defer p.Close()
	b, err := e.startBare(bareEnv...)
	if err != nil {
		return err
	}
	defer b.Client.Kill()
	sdk := func(c int) error {
		res, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: contract.Operator{ID: fmt.Sprintf("nd-%d", c), Username: fmt.Sprintf("nd-user-%d", c)},
			Client: contract.ClientInfo{IP: "203.0.113.7", UserAgent: "duobench"}})
		if err == nil && res.Decision != contract.DecisionNotRequired {
			err = fmt.Errorf("BeginLogin: decision %v", res.Decision)
		}
		return err
	}
	floor := func(c int) error {
		res, err := b.Login.BeginLogin(ctx, &duov1.BeginLoginRequest{Operator: &duov1.Operator{Id: fmt.Sprintf("nd-%d", c), Username: fmt.Sprintf("nd-user-%d", c)},
			Client: &duov1.ClientInfo{Ip: "203.0.113.7", UserAgent: "duobench"}})
		if err == nil && res.GetDecision() != duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED {
			err = fmt.Errorf("bare BeginLogin: %v", res.GetDecision())
		}
		return err
	}
	// A call that fails under load (past the SDK's deadline, say) is
	// counted and reported, not fatal.
	var sdkFails, floorFails failures
	sdk, floor = sdkFails.tolerate(sdk), floorFails.tolerate(floor)
	// Warm both: connections, the plugin's statements and caches.
	if _, err := drive(4, 300*time.Millisecond, 0, sdk); err != nil {
		return err
	}
	if _, err := drive(4, 300*time.Millisecond, 0, floor); err != nil {
		return err
	}
	callers := []int{1, 4, 16, 64}
	res := map[int]*pair{}
	for _, c := range callers {
		res[c] = &pair{}
	}
	for round := range o.rounds {
		for _, c := range callers {
			a, err := drive(c, o.window, 0, sdk)
			if err != nil {
				return err
			}
			bb, err := drive(c, o.window, 0, floor)
			if err != nil {
				return err
			}
			res[c].a, res[c].b = append(res[c].a, a), append(res[c].b, bb)
			fmt.Printf("  round %d, %2d callers: SDK p50 %s %s, bare p50 %s %s\n", round+1, c, ms(a.p(0.5)), perSec(a.perSec()), ms(bb.p(0.5)), perSec(bb.perSec()))
		}
	}
	for _, c := range callers {
		r := res[c]
		name := fmt.Sprintf("1. BeginLogin, Duo not required, %d caller(s)", c)
		if c == 1 {
			name = "1. BeginLogin, Duo not required, sequential"
		}
		a50, b50 := medianOf(r.a, p50), medianOf(r.b, p50)
		x := row{figure: name + ": p50", value: ms(durOf(a50)), floor: ms(durOf(b50)), ratio: a50 / b50}
		if c == 1 || c == 16 {
			x.goal, x.pass = "≤ 1.2×", verdict(x.ratio <= 1.2)
		}
		rep.add(x)
		a99, b99 := medianOf(r.a, p99), medianOf(r.b, p99)
		rep.add(row{figure: name + ": p99", value: ms(durOf(a99)), floor: ms(durOf(b99)), ratio: a99 / b99})
		at, bt := medianOf(r.a, tput), medianOf(r.b, tput)
		x = row{figure: name + ": calls/s", value: perSec(at), floor: perSec(bt), ratio: at / bt}
		if c == 16 {
			x.goal, x.pass = "≥ 0.8×", verdict(x.ratio >= 0.8)
		}
		rep.add(x)
	}
	if sdkFails.n.Load()+floorFails.n.Load() > 0 {
		rep.add(row{figure: "1. Failed calls in this phase: SDK", value: fmt.Sprint(sdkFails.n.Load()), floor: fmt.Sprint(floorFails.n.Load())})
		fmt.Printf("  failed SDK calls: %s; failed bare calls: %s\n", &sdkFails, &floorFails)
	}
	// fsyncs of a BeginLogin that needs no Duo, on the real binary.
	n := 200
	count, err := countFsyncs(p.State().PID, func() error {
		_, err := drive(1, 0, n, sdk)
		return err
	})
	if err != nil {
		fmt.Printf("  fsync count: %v\n", err)
		return nil
	}
	rep.add(row{figure: "3. fsyncs per BeginLogin, Duo not required (strace)", value: fmt.Sprintf("%.2f", float64(count)/float64(n)),
		goal: "—"})
	return nil
}
