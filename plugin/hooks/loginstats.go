package hooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Status's login counts come from the audit log (store.CountLogins, by
// outcome over the login kinds), cached for loginCountTTL so a host that
// polls Status costs one query per TTL at most.
const (
	loginCountWindow  = 24 * time.Hour
	loginCountTTL     = 10 * time.Second
	loginCountTimeout = 2 * time.Second
)

type loginCountCache struct {
	mu sync.Mutex // held across the one query: concurrent callers wait for it
	a  *activeState
	at time.Time
	v  contract.LoginCounts
}

// loginCounts answers from the cache when it is young and of this
// activation; else it counts again. A failed count keeps the last one (or
// zero) and is logged.
func (p *Plugin) loginCounts(ctx context.Context, a *activeState) contract.LoginCounts {
	c := &p.logins
	c.mu.Lock()
	defer c.mu.Unlock()
	if age := time.Since(c.at); c.a == a && age >= 0 && age < loginCountTTL {
		return c.v
	}
	ctx, cancel := context.WithTimeout(ctx, loginCountTimeout)
	defer cancel()
	n, err := a.store.CountLogins(ctx, p.now().Add(-loginCountWindow))
	if err != nil {
		p.log.Warn("status: count logins", "error", err)
		if c.a == a {
			return c.v
		}
		return contract.LoginCounts{Window: loginCountWindow}
	}
	c.a, c.at = a, time.Now()
	c.v = contract.LoginCounts{
		Window:   loginCountWindow,
		Allowed:  n["allowed"],
		Denied:   n["denied"] + n["locked"],
		FailOpen: n["allowed_without_duo"],
		Exempt:   n["exempt"],
	}
	return c.v
}

// pageTokenKey derives the key of the auth log's page tokens from
// secrets.key, for that purpose only.
func pageTokenKey(secretsKey []byte) []byte {
	m := hmac.New(sha256.New, secretsKey)
	m.Write([]byte("duo-plugin: auth log page tokens v1"))
	return m.Sum(nil)
}

// hold returns the active state for work that outlives a hook's read
// lock (an export), and release, which the work must call when done:
// Deactivate cancels a.bg, then waits for every holder before the store
// closes.
func (p *Plugin) hold() (a *activeState, release func(), err error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.active == nil {
		return nil, nil, errInactive()
	}
	// Under the read lock while active: Deactivate's Wait comes after it
	// took the write lock and cleared p.active, so no Add can race it.
	p.active.wg.Add(1)
	return p.active, p.active.wg.Done, nil
}
