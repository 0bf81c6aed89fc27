package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// phaseData: with many operators and audit events (internal/logseed, into
// the plugin's database while no plugin has it open), a page of enabled
// operators, pages of the log with and without a filter, and a full
// streamed export: events/s and the plugin's peak RSS.
func phaseData(ctx context.Context, e *env, o opts, rep *report) error {
	dir := e.dir("data")
	p, err := e.startActive(ctx, dir)
	if err != nil {
		return err
	}
	_ = p.Close()
	seed := exec.CommandContext(ctx, e.logseed, "-db", filepath.Join(dir, "duo.db"), "-n", fmt.Sprint(o.events),
		"-base", fmt.Sprint(time.Now().Add(-48*time.Hour).Unix()-int64(o.events)), "-operators", fmt.Sprint(o.operators))
	out, err := seed.CombinedOutput()
	if err != nil {
		return fmt.Errorf("logseed: %v: %s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		fmt.Printf("  %s", line)
	}
	p, err = e.startActive(ctx, dir)
	if err != nil {
		return err
	}
	defer p.Close()
	pid := p.State().PID
	const pageSize = 50
	const pages = 50
	timePages := func(name string, call func() error) error {
		var xs []float64
		for range o.rounds {
			r, err := drive(1, 0, pages, func(int) error { return call() })
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			xs = append(xs, float64(r.p(0.5)))
		}
		v := durOf(median(xs))
		rep.add(row{figure: name, value: ms(v), goal: "≤ 20 ms", pass: verdict(v <= 20*time.Millisecond)})
		return nil
	}
	var token string
	first, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: pageSize, Actor: admin})
	if err != nil {
		return err
	}
	if len(first.States) != pageSize {
		return fmt.Errorf("operators page: %d states, want %d", len(first.States), pageSize)
	}
	// A page deep inside: follow the tokens a few hundred operators in.
	token = first.NextPageToken
	for range 10 {
		next, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: pageSize, PageToken: token, Actor: admin})
		if err != nil {
			return err
		}
		token = next.NextPageToken
	}
	if err := timePages(fmt.Sprintf("5. Operators page (%d of %d enabled), first, p50", pageSize, o.operators), func() error {
		_, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: pageSize, Actor: admin})
		return err
	}); err != nil {
		return err
	}
	if err := timePages("5. Operators page, 11th (page token), p50", func() error {
		_, err := p.ListEnabledOperators(ctx, contract.ListEnabledOperatorsRequest{PageSize: pageSize, PageToken: token, Actor: admin})
		return err
	}); err != nil {
		return err
	}
	if err := timePages(fmt.Sprintf("5. Log page (%d of %d events), no filter, p50", pageSize, o.events), func() error {
		_, err := p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{PageSize: pageSize, Actor: admin})
		return err
	}); err != nil {
		return err
	}
	filter := contract.AuthEventFilter{OperatorID: "op-7", Outcomes: []string{"allowed"}}
	if err := timePages("5. Log page, filter operator + outcome, p50", func() error {
		res, err := p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Filter: filter, PageSize: pageSize, Actor: admin})
		if err == nil && len(res.Events) == 0 {
			err = fmt.Errorf("filtered page is empty")
		}
		return err
	}); err != nil {
		return err
	}
	rare := contract.AuthEventFilter{Outcomes: []string{"denied"}, Kinds: []string{"login.complete"}}
	if err := timePages("5. Log page, filter kind + outcome (10 % of events), p50", func() error {
		_, err := p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Filter: rare, PageSize: pageSize, Actor: admin})
		return err
	}); err != nil {
		return err
	}

	before, _ := memory(pid)
	var lines, size atomic.Int64
	start := time.Now()
	err = p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Format: contract.ExportCSV, Actor: admin}, func(c contract.ExportChunk) error {
		lines.Add(int64(bytes.Count(c.Data, []byte("\n"))))
		size.Add(int64(len(c.Data)))
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	after, _ := memory(pid)
	rate := float64(lines.Load()-1) / elapsed.Seconds()
	rep.add(row{figure: fmt.Sprintf("5. Export, CSV streamed through the SDK (%d events, %.0f MiB, %s)", lines.Load()-1, float64(size.Load())/(1<<20), elapsed.Round(time.Millisecond)),
		value: perSec(rate), goal: "≥ 200 k/s", pass: verdict(rate >= 200000)})
	rep.add(row{figure: "5. Plugin peak RSS (VmHWM) after the export", value: mib(after.hwm), floor: mib(before.hwm) + " before", ratio: float64(after.hwm) / float64(before.hwm)})
	return nil
}
