// Package duohealth remembers Duo's health for the plugin's saved settings,
// so that every login does not call Duo, and collapses concurrent checks
// into one: a login storm while Duo is slow waits on a single health check,
// not a queue of them.
//
// A fresh result is read without waiting on anything (an atomic load). A
// stale one is refreshed by exactly one check in flight per settings
// fingerprint (golang.org/x/sync/singleflight); every caller waits for it
// only as long as its own context allows (then ErrGaveUp). A result is dated when its check finished, so a check that took
// the whole timeout to fail is not already stale when it is stored.
package duohealth

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Key identifies the settings a result belongs to (duo.Fingerprint).
type Key [32]byte

// CheckFunc runs Duo's health check. It must honour ctx and fill in OK,
// Detail and Failure; the cache sets Checked, CheckedAt and
// ConsecutiveFailures, and Latency when the check leaves it zero.
type CheckFunc func(ctx context.Context) contract.DuoHealth

// Config configures a Cache. Zero durations take the defaults noted.
type Config struct {
	// TTL is how long a successful result is reused; 0 checks every time
	// (concurrent checks are still collapsed into one).
	TTL time.Duration
	// FailedTTL bounds how long a failure is reused, so that recovery shows
	// quickly; the smaller of TTL and FailedTTL applies. Default 5s.
	FailedTTL time.Duration
	// Timeout bounds one check, whoever waits for it. Default 10s.
	Timeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Cache holds the last result. Safe for concurrent use; the zero value is
// not usable: use New.
type Cache struct {
	cfg   Config
	last  atomic.Pointer[entry]
	group singleflight.Group
}

type entry struct {
	key Key
	h   contract.DuoHealth
}

// New returns an empty cache.
func New(cfg Config) *Cache {
	defaults.Set(&cfg.FailedTTL, 5*time.Second)
	defaults.Set(&cfg.Timeout, 10*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{cfg: cfg}
}

// Last returns the last result stored for key.
func (c *Cache) Last(key Key) (contract.DuoHealth, bool) {
	if e := c.last.Load(); e != nil && e.key == key {
		return e.h, true
	}
	return contract.DuoHealth{}, false
}

// Latest returns the last result stored, whatever settings it was for
// (the metrics' view: what the plugin last saw of Duo).
func (c *Cache) Latest() (contract.DuoHealth, bool) {
	if e := c.last.Load(); e != nil {
		return e.h, true
	}
	return contract.DuoHealth{}, false
}

// Put stores a result obtained elsewhere (a check of settings that were then
// saved), dated now.
func (c *Cache) Put(key Key, h contract.DuoHealth) {
	h.Checked, h.CheckedAt = true, c.cfg.Now()
	c.store(key, h)
}

// store keeps h as the last result for key, counting failures in a row:
// a failure after a failure of the same settings adds one; a success, or
// other settings, starts again. Checks of one key are serialised by the
// singleflight group; a Put racing a check may count one short, which a
// gauge can live with.
func (c *Cache) store(key Key, h contract.DuoHealth) contract.DuoHealth {
	h.ConsecutiveFailures = 0
	if !h.OK {
		h.ConsecutiveFailures = 1
		if prev := c.last.Load(); prev != nil && prev.key == key && !prev.h.OK {
			h.ConsecutiveFailures = prev.h.ConsecutiveFailures + 1
		}
	}
	c.last.Store(&entry{key: key, h: h})
	return h
}

// ErrGaveUp means the caller's ctx ended before the check answered; the
// check goes on for the others. Whether that is Duo's fault depends on how
// long the caller could wait, which only the caller knows.
var ErrGaveUp = errors.New("stopped waiting for Duo's health check")

// Get returns a fresh result for key at once, or waits for the one check in
// flight (starting it if none), at most until ctx ends (ErrGaveUp).
func (c *Cache) Get(ctx context.Context, key Key, check CheckFunc) (contract.DuoHealth, error) {
	if h, ok := c.fresh(key); ok {
		return h, nil
	}
	return c.Refresh(ctx, key, check)
}

// Refresh checks now (joining a check in flight for key) and stores the
// result; a caller whose ctx ends first gets ErrGaveUp while the check goes
// on for the others.
func (c *Cache) Refresh(ctx context.Context, key Key, check CheckFunc) (contract.DuoHealth, error) {
	ch := c.group.DoChan(string(key[:]), func() (any, error) {
		// The check serves every waiter, so no one caller's cancellation
		// may cut it short; its own timeout bounds it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		start := time.Now()
		h := check(cctx)
		if h.Latency == 0 {
			h.Latency = time.Since(start)
		}
		h.Checked, h.CheckedAt = true, c.cfg.Now()
		if h.OK {
			h.Detail, h.Failure = "", ""
		}
		return c.store(key, h), nil
	})
	select {
	case r := <-ch:
		return r.Val.(contract.DuoHealth), nil
	case <-ctx.Done():
		return contract.DuoHealth{}, ErrGaveUp
	}
}

// fresh returns the stored result for key if it is young enough.
func (c *Cache) fresh(key Key) (contract.DuoHealth, bool) {
	e := c.last.Load()
	if e == nil || e.key != key {
		return contract.DuoHealth{}, false
	}
	limit := c.cfg.TTL
	if !e.h.OK {
		limit = min(limit, c.cfg.FailedTTL)
	}
	age := c.cfg.Now().Sub(e.h.CheckedAt)
	return e.h, age >= 0 && age < limit
}
