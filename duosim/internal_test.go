package duosim

import (
	"testing"
)

func TestExpiringMap(t *testing.T) {
	t.Parallel()
	type step struct {
		op   string // put, get, take, len
		now  int64
		key  string
		exp  int64
		want any // evictions for put, presence for get, lookup for take, size for len
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{name: "get before and at expiry", max: 4, steps: []step{
			{op: "put", now: 0, key: "a", exp: 10, want: 0},
			{op: "get", now: 9, key: "a", want: true},
			{op: "get", now: 10, key: "a", want: false},
		}},
		{name: "take is single use", max: 4, steps: []step{
			{op: "put", now: 0, key: "a", exp: 10, want: 0},
			{op: "take", now: 1, key: "a", want: lookupFound},
			{op: "take", now: 1, key: "a", want: lookupMissing},
		}},
		{name: "take after expiry", max: 4, steps: []step{
			{op: "put", now: 0, key: "a", exp: 10, want: 0},
			{op: "take", now: 10, key: "a", want: lookupExpired},
			{op: "take", now: 11, key: "a", want: lookupMissing},
		}},
		{name: "put sweeps expired entries", max: 4, steps: []step{
			{op: "put", now: 0, key: "a", exp: 5, want: 0},
			{op: "put", now: 0, key: "b", exp: 50, want: 0},
			{op: "put", now: 6, key: "c", exp: 50, want: 0},
			{op: "len", want: 2},
		}},
		{name: "bound evicts the soonest expiry first", max: 2, steps: []step{
			{op: "put", now: 0, key: "late", exp: 100, want: 0},
			{op: "put", now: 0, key: "soon", exp: 20, want: 0},
			{op: "put", now: 0, key: "new", exp: 50, want: 1},
			{op: "get", now: 1, key: "soon", want: false},
			{op: "get", now: 1, key: "late", want: true},
			{op: "len", want: 2},
		}},
		{name: "stale heap items after take are ignored", max: 2, steps: []step{
			{op: "put", now: 0, key: "a", exp: 10, want: 0},
			{op: "take", now: 1, key: "a", want: lookupFound},
			{op: "put", now: 1, key: "b", exp: 30, want: 0},
			{op: "put", now: 1, key: "c", exp: 40, want: 0},
			{op: "len", want: 2},
			{op: "put", now: 1, key: "d", exp: 50, want: 1},
			{op: "get", now: 1, key: "b", want: false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newExpiringMap[string, int](tc.max)
			for i, s := range tc.steps {
				var got any
				switch s.op {
				case "put":
					got = m.put(s.now, s.key, i, s.exp)
				case "get":
					_, got = m.get(s.now, s.key)
				case "take":
					_, got = m.take(s.now, s.key)
				case "len":
					got = m.len()
				}
				if got != s.want {
					t.Fatalf("step %d (%s %s): got %v, want %v", i, s.op, s.key, got, s.want)
				}
			}
		})
	}
}

func TestExpiringMapHeapStaysBounded(t *testing.T) {
	t.Parallel()
	m := newExpiringMap[int, struct{}](1 << 20)
	for i := range 100000 {
		m.put(0, i, struct{}{}, 1000)
		m.take(0, i)
	}
	if len(m.h) > 2*m.len()+1025 || m.len() != 0 {
		t.Errorf("heap %d items for %d entries", len(m.h), m.len())
	}
}

func TestCheckRedirectURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		uri     string
		wantErr string
	}{
		{"https://app.example/cb", ""},
		{"https://app.example/cb?x=1", ""},
		{"http://127.0.0.1:8080/cb", ""},
		{"http://localhost/cb", ""},
		{"http://[::1]:9/cb", ""},
		{"", "redirect_uri: missing"},
		{"http://app.example/cb", "redirect_uri: http is allowed only for 127.0.0.1, ::1 and localhost"},
		{"ftp://app.example/cb", "redirect_uri: scheme must be https"},
		{"/relative", "redirect_uri: must be an absolute URL"},
		{"https://app.example/cb#frag", "redirect_uri: must not contain a fragment"},
		{"https://user:pw@app.example/cb", "redirect_uri: must not contain user info"},
		{"https://app.example/" + string(make([]byte, 300)), "redirect_uri: longer than 256 characters"},
	}
	for _, tc := range tests {
		err := checkRedirectURI(tc.uri)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.wantErr {
			t.Errorf("checkRedirectURI(%.40q) = %q, want %q", tc.uri, got, tc.wantErr)
		}
	}
}

func TestDeviceFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, remote, ua string
		want             device
	}{
		{"chrome on linux", "127.0.0.1:5555", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			device{ip: "127.0.0.1", browser: "Chrome", browserVersion: "126.0.0.0", os: "Linux"}},
		{"firefox on windows", "[::1]:5555", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
			device{ip: "::1", browser: "Firefox", browserVersion: "127.0", os: "Windows"}},
		{"go client", "10.0.0.1:1", "Go-http-client/1.1", device{ip: "10.0.0.1", browser: "Unknown", os: "Unknown"}},
	}
	for _, tc := range tests {
		if got := deviceFrom(tc.remote, tc.ua); got != tc.want {
			t.Errorf("%s: deviceFrom = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestVerdictsCoverEveryOutcome(t *testing.T) {
	t.Parallel()
	for _, o := range allOutcomes {
		v := verdictFor(o)
		if (v.result != "allow" && v.result != "deny") || v.status == "" || v.statusMsg == "" || v.reason == "" || v.factor == "" {
			t.Errorf("verdictFor(%s) = %+v", o, v)
		}
	}
}
