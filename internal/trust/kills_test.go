package trust

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// killsEnv is how many times case 30 kills the plugin: TRUST_KILLS, else
// a number that keeps the normal run short. The issue's 1,000:
//
//	TRUST_KILLS=1000 GOTOOLCHAIN=go1.27.3 go test -run Case30 -timeout 30m ./internal/trust/
const killsEnv = "TRUST_KILLS"

func killCount(t *testing.T) int {
	t.Helper()
	s := os.Getenv(killsEnv)
	if s == "" {
		return 40
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number of kills", killsEnv, s)
	}
	return n
}

// codeLedger is what the host learned of one single-use code.
type codeLedger struct {
	allowed int  // ALLOWED answers: more than one is what case 30 hunts
	lost    bool // a redemption of it died with a process: its outcome unknown
	done    bool // refused after it was allowed, or after a lost try (spent, its answer lost)
}

// codes lists the codes of the ledger with allowed ALLOWED answers, not
// done.
func codesWith(ledger map[string]*codeLedger, allowed int) []string {
	var out []string
	for c, l := range ledger {
		if l.allowed == allowed && !l.done {
			out = append(out, c)
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Case 30: the plugin process SIGKILLed at a random point while it
// redeems codes and writes audit events, again and again (40 times in a
// normal run, TRUST_KILLS times on demand). Each round starts the real
// plugin through the SDK on the same database, unlocks the operator (an
// audited write), then fires at once: redemptions of fresh single-use
// codes (backup codes, then bypass codes), redemptions again of codes
// already allowed, a wrong code (an audited failure), and bypass codes
// issued (audited writes that feed the next rounds); and SIGKILLs the
// process a random 0–40 ms in. After every kill, from outside:
// PRAGMA integrity_check is ok. Throughout: no code is ever answered
// ALLOWED twice, a code never tried is never refused, and every allowed
// code is refused when tried again in a later process.
func TestCase30KilledWritersLoseNothingAndAcceptNoCodeTwice(t *testing.T) {
	t.Parallel()
	kills := killCount(t)
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, values: map[string]string{"lockout_threshold": "100"}}, alice)
	ledger := map[string]*codeLedger{}
	for _, c := range e.setUpCodes(alice) {
		ledger[c] = &codeLedger{}
	}
	desk := contract.Actor{ID: "7", Username: "desk", Role: contract.RoleHelpDesk}
	issue := func(ctx context.Context, p *host.Plugin) (string, error) {
		res, err := p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: alice, OperatorRole: contract.RoleAgent, Actor: desk})
		return res.Code, err
	}
	for range 6 {
		c, err := issue(ctxT(t), e.p)
		if err != nil {
			t.Fatal(err)
		}
		ledger[c] = &codeLedger{}
	}
	if err := e.p.Close(); err != nil {
		t.Fatal(err)
	}
	db := e.openPluginDB()
	req := activateRequest(e.dataDir)
	const wrong = "0000-0000-00"

	began := time.Now()
	var answered, lostCalls, allowedTotal, issuedTotal int
	for round := range kills {
		p, _ := startPlugin(t, &req, func(o *host.Options) {
			// The round closes the SDK after the kill: no restart meanwhile.
			o.RestartBackoffMin, o.RestartBackoffMax = time.Hour, time.Hour
		})
		if _, err := p.UnlockOperator(ctxT(t), contract.UnlockOperatorRequest{Operator: alice, Actor: admin}); err != nil {
			t.Fatalf("round %d: unlock: %v", round, err)
		}
		pid := p.State().PID

		// Top the fresh codes up when the kills took most issuances with
		// them.
		for len(codesWith(ledger, 0)) < 4 {
			c, err := issue(ctxT(t), p)
			if err != nil {
				t.Fatalf("round %d: issue: %v", round, err)
			}
			ledger[c] = &codeLedger{}
			issuedTotal++
		}
		fresh := codesWith(ledger, 0)
		tries := append(fresh[:min(len(fresh), 4)], codesWith(ledger, 1)...)
		tries = append(tries, wrong)
		answers := make([]contract.CompleteLoginResponse, len(tries))
		errs := make([]error, len(tries))
		issued := make([]string, 3)
		issueErrs := make([]error, len(issued))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, c := range tries {
			wg.Go(func() {
				<-start
				time.Sleep(time.Duration(rand.IntN(15_000)) * time.Microsecond)
				answers[i], errs[i] = p.RedeemCode(context.Background(), contract.RedeemCodeRequest{Operator: alice, Code: c, Client: client})
			})
		}
		for i := range issued {
			wg.Go(func() {
				<-start
				time.Sleep(time.Duration(rand.IntN(15_000)) * time.Microsecond)
				issued[i], issueErrs[i] = issue(context.Background(), p)
			})
		}
		close(start)
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		wg.Wait()
		if err := p.Close(); err != nil {
			t.Logf("round %d: close: %v", round, err)
		}
		wantIntegrityOK(t, db)

		for i, c := range tries {
			res := answers[i]
			if c == wrong {
				if errs[i] == nil && res.Decision != contract.DecisionDenied {
					t.Fatalf("round %d: a wrong code = %+v", round, res)
				}
				continue
			}
			l := ledger[c]
			switch {
			case errs[i] != nil:
				lostCalls++
				l.lost = true
			case res.Decision == contract.DecisionAllowed:
				answered++
				allowedTotal++
				l.allowed++
				if l.allowed > 1 {
					t.Fatalf("round %d: a code was answered ALLOWED a second time", round)
				}
			case res.Decision != contract.DecisionDenied:
				t.Fatalf("round %d: RedeemCode = %+v", round, res)
			case res.Reason == contract.LoginReasonLocked:
				t.Fatalf("round %d: the operator was locked although unlocked this round and the threshold is 100", round)
			case l.allowed == 1 || l.lost:
				// Refused after its ALLOWED, or spent by a process that
				// died before it could answer: done either way.
				answered++
				l.done = true
			default:
				t.Fatalf("round %d: a code never tried before was refused %s", round, res.Reason)
			}
		}
		for i, c := range issued {
			if issueErrs[i] == nil && c != "" {
				ledger[c] = &codeLedger{}
				issuedTotal++
			}
		}
	}
	took := time.Since(began)
	t.Logf("%d kills in %v (%v a round): %d redemptions answered, %d lost with the process, %d codes allowed, %d bypass codes issued",
		kills, took.Round(time.Millisecond), (took / time.Duration(kills)).Round(time.Millisecond), answered, lostCalls, allowedTotal, issuedTotal)

	// A last process: every code allowed but not yet tried again is
	// refused.
	p, _ := startPlugin(t, &req, nil)
	for _, c := range codesWith(ledger, 1) {
		res, err := p.RedeemCode(ctxT(t), contract.RedeemCodeRequest{Operator: alice, Code: c, Client: client})
		if err != nil || res.Decision != contract.DecisionDenied {
			t.Fatalf("a code allowed before a kill, tried again: %+v, %v; want DENIED", res, err)
		}
	}
	if allowedTotal < kills/4 {
		t.Fatalf("only %d codes allowed in %d rounds: the kills came too early to test redemptions", allowedTotal, kills)
	}
}
