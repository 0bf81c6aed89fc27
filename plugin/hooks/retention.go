package hooks

import (
	"context"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/store"
)

// Retention: while the plugin is active, a goroutine deletes audit events
// (on a store shared by several instances, one instance at a time)
// older than the log_retention_days setting, shortly after activation and
// then every retentionEvery. It deletes retentionBatch rows per short
// transaction (started only when no other write is in flight) and pauses
// between batches at least as long as the batch took, so a login's write
// never waits for more than one batch.
const (
	retentionFirst = 10 * time.Second
	retentionEvery = 5 * time.Minute
	retentionBatch = 500
	retentionPause = 20 * time.Millisecond
)

// retentionTiming is when pruning runs; tests shorten it.
type retentionTiming struct {
	first, every, pause time.Duration
	batch               int
}

func defaultRetentionTiming() retentionTiming {
	return retentionTiming{first: retentionFirst, every: retentionEvery, pause: retentionPause, batch: retentionBatch}
}

// startBackground starts the work that runs while a is active; a.stop ends
// it and waits for it.
func (p *Plugin) startBackground(a *activeState) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		p.retain(a)
	}()
}

func (p *Plugin) retain(a *activeState) {
	timing := p.retention
	t := time.NewTimer(timing.first)
	defer t.Stop()
	for {
		select {
		case <-a.bg.Done():
			return
		case <-t.C:
		}
		// One instance at a time prunes a shared store; the others skip
		// this run without waiting (store.Store.Exclusive).
		if _, err := a.store.Exclusive(a.bg, "log retention", func(context.Context) error {
			p.prune(a, timing)
			return nil
		}); err != nil && a.bg.Err() == nil {
			p.log.Warn("auth log retention: not run; retrying at the next run", "error", err)
		}
		t.Reset(timing.every)
	}
}

// prune deletes, batch by batch, what is older than the retention now.
func (p *Plugin) prune(a *activeState, timing retentionTiming) {
	keep := a.duo.Load().LogRetention
	if keep <= 0 {
		return
	}
	cutoff := p.now().Add(-keep)
	start, total := time.Now(), int64(0)
	for {
		ctx, cancel := context.WithTimeout(a.bg, 10*time.Second)
		batchStart := time.Now()
		n, err := a.store.PruneEvents(ctx, cutoff, timing.batch)
		took := time.Since(batchStart)
		cancel()
		total += n
		if err != nil {
			if a.bg.Err() == nil {
				p.log.Warn("auth log retention: prune failed; retrying at the next run", "deleted", total, "error", err)
			}
			break
		}
		if n < int64(timing.batch) {
			break
		}
		select {
		case <-a.bg.Done():
			return
		case <-time.After(max(timing.pause, took)): // the write lock free at least half the time
		}
	}
	if total > 0 {
		p.log.Info("auth log retention: old events deleted", "deleted", total, "older_than", cutoff.UTC().Format(time.RFC3339), "took", time.Since(start).Round(time.Millisecond))
		// Written even when deactivation cut the prune short (the store
		// closes only after this goroutine ends), within its own deadline.
		actx, cancel := context.WithTimeout(context.WithoutCancel(a.bg), 5*time.Second)
		p.audit(actx, a, store.Event{Kind: "log.pruned", Outcome: "ok",
			Detail: fmt.Sprintf("%d events older than %s deleted (log retention %d days)", total, cutoff.UTC().Format(time.RFC3339), int(keep/(24*time.Hour)))})
		cancel()
	}
}
