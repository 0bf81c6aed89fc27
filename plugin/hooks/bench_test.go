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
