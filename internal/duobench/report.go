package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// row is one line of the table: a figure, its floor (measured in the same
// run, interleaved) and the goal of issue 11 when it has one.
type row struct {
	figure string
	value  string
	floor  string
	ratio  float64 // value ÷ floor; 0 without a floor
	goal   string
	pass   string // "pass", "miss" or ""
}

type report struct{ rows []row }

func (r *report) add(x row) {
	r.rows = append(r.rows, x)
	fmt.Printf("  %-58s %12s  floor %12s  %s %s\n", x.figure, x.value, x.floor, ratioText(x.ratio), x.pass)
}

func ratioText(x float64) string {
	if x == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", x)
}

// verdict is "pass" when ok, "miss" otherwise.
func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "miss"
}

func (r *report) markdown(w io.Writer) {
	fmt.Fprintln(w, "| figure | value | floor | ratio | goal | |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, x := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", x.figure, x.value, orDash(x.floor), orDash(ratioText(x.ratio)), orDash(x.goal), x.pass)
	}
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
}

func durOf(x float64) time.Duration { return time.Duration(x) }

func perSec(x float64) string {
	if x >= 10000 {
		return fmt.Sprintf("%.0f k/s", x/1000)
	}
	return fmt.Sprintf("%.0f /s", x)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
