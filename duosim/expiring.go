package duosim

import "container/heap"

// expiringMap is a size-bounded map whose entries vanish at their expiry
// time. It backs the replay cache, the authorization codes and the pending
// prompts. It is not safe for concurrent use; the Server guards each one
// with its own mutex.
//
// A min-heap ordered by expiry lets put drop expired entries in
// O(log n) each, so no background janitor goroutine is needed (and none
// can leak). Entries removed by take leave a stale heap item behind; it is
// recognised and discarded when it reaches the top, and the heap is rebuilt
// if stale items ever outnumber live ones by a wide margin.
type expiringMap[K comparable, V any] struct {
	max int
	m   map[K]expiringEntry[V]
	h   expiryHeap[K]
}

type expiringEntry[V any] struct {
	v   V
	exp int64 // Unix nanoseconds; the entry is gone once now >= exp.
}

type expiryItem[K comparable] struct {
	exp int64
	k   K
}

// lookup is the result of a take.
type lookup int

const (
	lookupFound lookup = iota
	lookupMissing
	lookupExpired
)

func newExpiringMap[K comparable, V any](maxEntries int) *expiringMap[K, V] {
	return &expiringMap[K, V]{max: maxEntries, m: make(map[K]expiringEntry[V])}
}

// sweep removes every entry that has expired at now.
func (e *expiringMap[K, V]) sweep(now int64) {
	for len(e.h) > 0 && e.h[0].exp <= now {
		it := heap.Pop(&e.h).(expiryItem[K])
		if cur, ok := e.m[it.k]; ok && cur.exp == it.exp {
			delete(e.m, it.k)
		}
	}
}

// put stores v under k until exp and reports how many live entries had to
// be evicted (soonest expiry first) to stay within the size bound.
func (e *expiringMap[K, V]) put(now int64, k K, v V, exp int64) (evicted int) {
	e.sweep(now)
	if len(e.h) > 2*len(e.m)+1024 {
		e.rebuild()
	}
	for len(e.m) >= e.max && len(e.h) > 0 {
		it := heap.Pop(&e.h).(expiryItem[K])
		if cur, ok := e.m[it.k]; ok && cur.exp == it.exp {
			delete(e.m, it.k)
			evicted++
		}
	}
	e.m[k] = expiringEntry[V]{v: v, exp: exp}
	heap.Push(&e.h, expiryItem[K]{exp: exp, k: k})
	return evicted
}

// get returns the live entry for k without removing it.
func (e *expiringMap[K, V]) get(now int64, k K) (V, bool) {
	cur, ok := e.m[k]
	if !ok || cur.exp <= now {
		var zero V
		return zero, false
	}
	return cur.v, true
}

// take removes k and returns its value if it had not expired. Removing an
// expired entry too keeps a late second attempt from telling "expired"
// apart from "already used".
func (e *expiringMap[K, V]) take(now int64, k K) (V, lookup) {
	var zero V
	cur, ok := e.m[k]
	if !ok {
		return zero, lookupMissing
	}
	delete(e.m, k)
	if cur.exp <= now {
		return zero, lookupExpired
	}
	return cur.v, lookupFound
}

func (e *expiringMap[K, V]) len() int { return len(e.m) }

func (e *expiringMap[K, V]) rebuild() {
	h := make(expiryHeap[K], 0, len(e.m))
	for k, cur := range e.m {
		h = append(h, expiryItem[K]{exp: cur.exp, k: k})
	}
	heap.Init(&h)
	e.h = h
}

type expiryHeap[K comparable] []expiryItem[K]

func (h expiryHeap[K]) Len() int           { return len(h) }
func (h expiryHeap[K]) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap[K]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap[K]) Push(x any)        { *h = append(*h, x.(expiryItem[K])) }
func (h *expiryHeap[K]) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	*h = old[:n-1]
	return it
}
