package auth

import (
	"net/url"
	"strings"
	"testing"
)

// unhex reports the value of a hexadecimal digit.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// browserDecode decodes every valid %XX and leaves anything else as it is,
// as a browser or proxy does (it never fails).
func browserDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// browserViews returns next as a browser or a proxy in front of the
// helpdesk might read it: as written, and percent-decoded once, twice… until
// it no longer changes; each with ASCII tabs and newlines removed and
// backslashes read as slashes (WHATWG URL parsing does both for http(s)).
func browserViews(next string) []string {
	var views []string
	seen := map[string]bool{}
	for v := next; !seen[v] && len(views) < 16; v = browserDecode(v) {
		seen[v] = true
		w := strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(v)
		views = append(views, w)
	}
	return views
}

// FuzzSafeNext: whatever comes in, SafeNext returns "" (the caller then
// uses its default) or a local path: it starts with a single "/" (not "//"
// or "/\"), has no control character, and under any decoding a browser
// might apply (percent-decoding, repeatedly; tabs and newlines stripped;
// backslashes as slashes) it still starts with a single "/", is ASCII (no
// lookalike slash) and has neither scheme nor host. A path it keeps is returned unchanged, and keeping is
// stable.
func FuzzSafeNext(f *testing.F) {
	for _, seed := range []string{
		"/", "/tickets/42?tab=notes#top", "//evil.example", `/\evil.example`,
		"/%2F/evil.example", "/%5Cevil.example", "/%09/evil.example", "/%0a/evil.example",
		"/%252F/evil.example", "https://evil.example/", "/\t/evil.example",
		"javascript:alert(1)", "/a/../..//evil.example", "/%2e%2e/%2fevil", "",
		"/tickets?next=//evil.example", "/é", "/\u2215evil.example", "/%EF%BC%8Fevil.example",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, next string) {
		out := SafeNext(next)
		if out == "" {
			return
		}
		if out != next {
			t.Fatalf("SafeNext(%q) = %q: a kept path must be unchanged", next, out)
		}
		if SafeNext(out) != out {
			t.Fatalf("SafeNext(%q) = %q, but SafeNext of that is %q", next, out, SafeNext(out))
		}
		if out[0] != '/' || strings.HasPrefix(out, "//") || strings.HasPrefix(out, `/\`) {
			t.Fatalf("SafeNext(%q) = %q does not start with a single /", next, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("SafeNext(%q) = %q holds control character %U", next, out, r)
			}
		}
		for _, v := range browserViews(out) {
			if strings.ContainsFunc(v, func(r rune) bool { return r >= 0x80 }) {
				t.Fatalf("SafeNext(%q) = %q, which a browser may read as %q: not ASCII (lookalike slashes)", next, out, v)
			}
			if v == "" || v[0] != '/' || (len(v) > 1 && v[1] == '/') {
				t.Fatalf("SafeNext(%q) = %q, which a browser may read as %q: not a single leading /", next, out, v)
			}
			if u, err := url.Parse(v); err == nil && (u.Scheme != "" || u.Host != "" || u.User != nil) {
				t.Fatalf("SafeNext(%q) = %q, which a browser may read as %q: scheme %q, host %q", next, out, v, u.Scheme, u.Host)
			}
		}
	})
}
