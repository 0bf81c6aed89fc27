package hooks

import (
	"context"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// BenchmarkLoginInProcess: Begin + (browser at Duo) + Complete on the
// plugin's hooks themselves, without the process boundary, to split the
// SDK figure.
func BenchmarkLoginInProcess(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, duosim.StartTest(b, duosim.Config{Scripted: true}), settings.Runtime{DuoTimeout: 5 * time.Second, HealthCacheTTL: 30 * time.Second}, nil)
	op := contract.Operator{ID: "1", Username: "alice"}
	e.setUp(ctx, op) // the first sign-in, with its backup codes, is not what is measured
	for b.Loop() {
		begin := e.begin(ctx, op)
		if begin.Decision != contract.DecisionRedirect {
			b.Fatalf("%+v", begin)
		}
		res, err := e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: op, SessionState: begin.State, CallbackState: begin.State, DuoCode: e.duoCode(begin.RedirectURL)})
		if err != nil || res.Decision != contract.DecisionAllowed {
			b.Fatalf("%+v %v", res, err)
		}
	}
}

// BenchmarkBeginLoginNotRequiredInProcess: BeginLogin for an operator
// without Duo on the hooks themselves (the toggle read, the relaxed audit
// write), serial and with 16 callers, to split the SDK figure.
func BenchmarkBeginLoginNotRequiredInProcess(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, duosim.StartTest(b, duosim.Config{Scripted: true}), settings.Runtime{DuoTimeout: 5 * time.Second, HealthCacheTTL: 30 * time.Second}, nil)
	req := contract.BeginLoginRequest{Operator: contract.Operator{ID: "2", Username: "bob"}}
	call := func() {
		if res, err := e.p.BeginLogin(ctx, req); err != nil || res.Decision != contract.DecisionNotRequired {
			b.Errorf("%+v %v", res, err)
		}
	}
	b.Run("callers=1", func(b *testing.B) {
		for b.Loop() {
			call()
		}
	})
	b.Run("callers=16", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				call()
			}
		})
	})
}
