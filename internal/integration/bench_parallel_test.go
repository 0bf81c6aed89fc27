package integration

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// The write path's benchmarks (issue 11): the same calls as their serial
// twins, with a given number of callers in flight, each reporting its
// throughput (calls/s) and its callers' p50 and p99.

// parallelBench runs call from callers goroutines (rounded to a multiple
// of GOMAXPROCS) and reports calls/s and the latencies' percentiles.
func parallelBench(b *testing.B, callers int, call func()) {
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			start := time.Now()
			call()
			local = append(local, time.Since(start))
		}
		mu.Lock()
		all = append(all, local...)
		mu.Unlock()
	})
	b.StopTimer()
	percentiles(b, all)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkSDKBeginLoginNotRequiredParallel: BenchmarkSDKBeginLoginNotRequired
// with 16 callers.
func BenchmarkSDKBeginLoginNotRequiredParallel(b *testing.B) {
	ctx := context.Background()
	p, req := notRequiredPlugin(b)
	parallelBench(b, 16, func() {
		res, err := p.BeginLogin(ctx, req)
		if err != nil || res.Decision != contract.DecisionNotRequired {
			b.Errorf("%+v %v", res, err)
		}
	})
}

// BenchmarkBareGoPluginBeginLoginParallel is its floor: the bare server's
// BeginLogin with 16 callers.
func BenchmarkBareGoPluginBeginLoginParallel(b *testing.B) {
	c, cl := startBare(b)
	defer c.Kill()
	ctx := context.Background()
	req := &duov1.BeginLoginRequest{Operator: &duov1.Operator{Id: "1", Username: "alice"}, Client: &duov1.ClientInfo{Ip: "203.0.113.7"}}
	parallelBench(b, 16, func() {
		res, err := cl.login.BeginLogin(ctx, req)
		if err != nil || res.GetDecision() != duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED {
			b.Errorf("%v %v", res, err)
		}
	})
}

// BenchmarkLoginThroughSDK32: a whole Duo login (BenchmarkLoginThroughSDK)
// with 32 callers.
func BenchmarkLoginThroughSDK32(b *testing.B) {
	login := loginBench(b)
	parallelBench(b, 32, login)
}

// BenchmarkLoginRawDuoClient32 is its floor: Duo's Go client alone
// (BenchmarkLoginRawDuoClient) with 32 callers.
func BenchmarkLoginRawDuoClient32(b *testing.B) {
	sim, hc := benchSim(b)
	app := sim.Apps()[0]
	c, err := duouniversal.NewClient(app.ClientID, app.ClientSecret.Reveal(), sim.APIHost(), callbackURL, duouniversal.WithHTTPClient(sim.HTTPClient(10*time.Second)))
	if err != nil {
		b.Fatal(err)
	}
	parallelBench(b, 32, func() {
		state, err := c.GenerateState()
		if err != nil {
			b.Error(err)
			return
		}
		u, err := c.CreateAuthURL("alice", state)
		if err != nil {
			b.Error(err)
			return
		}
		q := duoBrowser(b, hc, u)
		tok, err := c.ExchangeAuthorizationCodeFor2faResult(q.Get("duo_code"), "alice")
		if err != nil || tok.AuthResult.Result != "allow" {
			b.Errorf("%+v %v", tok, err)
		}
	})
}
