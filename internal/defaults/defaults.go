// Package defaults fills in the zero fields of Options and Config structs:
// the project's one rule, "zero (or negative) means the default".
package defaults

import "cmp"

// Set replaces *v with def when *v is zero or negative.
func Set[T cmp.Ordered](v *T, def T) {
	var zero T
	if *v <= zero {
		*v = def
	}
}
