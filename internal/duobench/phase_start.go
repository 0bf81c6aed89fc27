package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// phaseColdStart: the real plugin's start through the SDK (private copy
// hashed as it is written, exec, handshake, Activate on a new data dir,
// first call) against the bare server's start with go-plugin's own sha256
// check and one call, alternating; and each one's RSS when idle after it.
func phaseColdStart(ctx context.Context, e *env, o opts, rep *report) error {
	var a50, b50, aRSS, bRSS, aAnon, bAnon []float64
	for round := range o.rounds {
		var as, bs []time.Duration
		var ar, bro, aa, ba []float64
		for range o.starts {
			start := time.Now()
			p, err := e.startActive(ctx, "")
			if err != nil {
				return err
			}
			if _, err := p.Status(ctx, contract.StatusRequest{}); err != nil {
				_ = p.Close()
				return err
			}
			as = append(as, time.Since(start))
			time.Sleep(100 * time.Millisecond) // idle: let start-up's garbage go
			if m, err := memory(p.State().PID); err == nil {
				ar, aa = append(ar, float64(m.rss)), append(aa, float64(m.anon))
			}
			_ = p.Close()

			start = time.Now()
			b, err := e.startBare()
			if err != nil {
				return err
			}
			if _, err := b.Lifecycle.Status(ctx, &duov1.StatusRequest{}); err != nil {
				b.Client.Kill()
				return err
			}
			bs = append(bs, time.Since(start))
			time.Sleep(100 * time.Millisecond)
			if m, err := memory(b.PID); err == nil {
				bro, ba = append(bro, float64(m.rss)), append(ba, float64(m.anon))
			}
			b.Client.Kill()
		}
		slices.Sort(as)
		slices.Sort(bs)
		a50, b50 = append(a50, float64(as[len(as)/2])), append(b50, float64(bs[len(bs)/2]))
		aRSS, bRSS = append(aRSS, median(ar)), append(bRSS, median(bro))
		aAnon, bAnon = append(aAnon, median(aa)), append(bAnon, median(ba))
		fmt.Printf("  round %d: SDK start p50 %s, bare %s; idle RSS %s vs %s\n", round+1, ms(as[len(as)/2]), ms(bs[len(bs)/2]), mib(int64(median(ar))), mib(int64(median(bro))))
	}
	a, b := median(a50), median(b50)
	rep.add(row{figure: fmt.Sprintf("4. Cold start to first answer, p50 of %d per round", o.starts), value: ms(durOf(a)), floor: ms(durOf(b)), ratio: a / b,
		goal: "≤ 1.1×", pass: verdict(a/b <= 1.1)})
	a, b = median(aRSS), median(bRSS)
	rep.add(row{figure: "4. Idle RSS after start (active, no calls)", value: mib(int64(a)), floor: mib(int64(b)), ratio: a / b,
		goal: "≤ 1.3×", pass: verdict(a/b <= 1.3)})
	// VmRSS counts the executable's pages that the start touched (shared
	// with the page cache, and with every other process running the same
	// file); RssAnon is what the process holds of its own.
	a, b = median(aAnon), median(bAnon)
	rep.add(row{figure: "4. Idle memory of its own (RssAnon) after start", value: mib(int64(a)), floor: mib(int64(b)), ratio: a / b})
	return nil
}
