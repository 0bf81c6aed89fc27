package main

import (
	"os"
	"testing"
	"time"
)

// The harness itself runs only by hand (go run ./internal/duobench); these
// check the readers it relies on.

func TestParseStraceSummary(t *testing.T) {
	t.Parallel()
	const summary = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 92.31    0.120000         400       300           fdatasync
  7.69    0.010000         100       100         2 fsync
------ ----------- ----------- --------- --------- ----------------
100.00    0.130000         325       400         2 total
`
	n, err := parseStraceSummary(summary)
	if err != nil || n != 400 {
		t.Fatalf("parseStraceSummary = %d, %v; want 400", n, err)
	}
}

func TestProcReaders(t *testing.T) {
	t.Parallel()
	m, err := memory(os.Getpid())
	if err != nil || m.rss <= 0 || m.hwm < m.rss || m.anon <= 0 || m.anon > m.rss {
		t.Fatalf("memory = %+v, %v", m, err)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	r, err := drive(4, 0, 100, func(int) error { time.Sleep(time.Microsecond); return nil })
	if err != nil || r.ops != 100 || len(r.lat) != 100 {
		t.Fatalf("drive = %+v, %v", r.ops, err)
	}
}
