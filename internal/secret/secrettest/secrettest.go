// Package secrettest checks that values holding a secret never print it:
// one sweep of fmt's verbs, shared by the tests of every type that holds a
// secret.Value.
package secrettest

import (
	"fmt"
	"strings"
	"testing"
)

// verbs are the fmt verbs (and odd forms) a careless log line might use.
var verbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.4v", "%#x", "% x", "%!", "%[2]v", "no verb"}

// NoLeakThroughFmt formats each of values with every verb, and each of
// pointers with %p too, and fails t when the output holds secret, as is or
// hex-encoded. %p is tried only with pointers: with a non-pointer, fmt's
// bad-verb path prints the raw value without consulting any method (go vet
// reports that misuse).
func NoLeakThroughFmt(t testing.TB, secret string, values []any, pointers []any) {
	t.Helper()
	hexed := fmt.Sprintf("%x", secret)
	check := func(verb string, arg any) {
		t.Helper()
		got := fmt.Sprintf(verb, arg)
		if strings.Contains(got, secret) || strings.Contains(strings.ToLower(got), hexed) {
			t.Errorf("Sprintf(%q, %T) leaks the secret: %s", verb, arg, got)
		}
	}
	for _, verb := range verbs {
		for _, v := range values {
			check(verb, v)
		}
	}
	for _, p := range pointers {
		check("%p", p)
	}
}
