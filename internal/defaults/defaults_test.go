package defaults

import (
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		in, want time.Duration
	}{
		{"zero takes the default", 0, 5 * time.Second},
		{"negative takes the default", -time.Second, 5 * time.Second},
		{"set is kept", time.Millisecond, time.Millisecond},
	}
	for _, tc := range cases {
		v := tc.in
		Set(&v, 5*time.Second)
		if v != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, v, tc.want)
		}
	}
	n := 0
	Set(&n, 7)
	if n != 7 {
		t.Errorf("int: got %d", n)
	}
}
