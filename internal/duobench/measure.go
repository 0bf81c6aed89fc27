package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// run is one measurement: every caller's latencies, and how many operations
// ended in how long.
type run struct {
	lat     []time.Duration
	ops     int
	elapsed time.Duration
}

func (r run) p(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[int(q*float64(len(r.lat)-1))]
}

func (r run) perSec() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// drive runs op from callers goroutines in a closed loop until d has
// passed (or, with limit > 0, until limit operations were started). The
// first error stops every caller and is returned.
func drive(callers int, d time.Duration, limit int, op func(caller int) error) (run, error) {
	var (
		mu      sync.Mutex
		all     []time.Duration
		firstEr error
		started int
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	next := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if firstEr != nil || (limit > 0 && started >= limit) || (limit == 0 && time.Now().After(deadline)) {
			return false
		}
		started++
		return true
	}
	for c := range callers {
		wg.Go(func() {
			var lat []time.Duration
			for next() {
				t := time.Now()
				err := op(c)
				lat = append(lat, time.Since(t))
				if err != nil {
					mu.Lock()
					if firstEr == nil {
						firstEr = err
					}
					mu.Unlock()
					break
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	return run{lat: all, ops: len(all), elapsed: elapsed}, firstEr
}

// failures counts the calls that failed where one failure must not end
// the run (a call past the SDK's deadline under load is a figure, not a
// broken harness), and keeps the first error to show.
type failures struct {
	n     atomic.Int64
	mu    sync.Mutex
	first error
}

// tolerate wraps op: its errors are counted in f, not returned.
func (f *failures) tolerate(op func(int) error) func(int) error {
	return func(c int) error {
		if err := op(c); err != nil {
			if f.n.Add(1) == 1 {
				f.mu.Lock()
				f.first = err
				f.mu.Unlock()
			}
		}
		return nil
	}
}

func (f *failures) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		return "none"
	}
	return fmt.Sprintf("%d, the first: %v", f.n.Load(), f.first)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat's times.
const clockTick = 100

// procCPU is the user+system CPU time the process pid has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing parenthesis (field 3, the state, comes first).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// selfCPU is this process's user+system CPU time (the host side: SDK,
// browsers, Duo's raw client).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procMem is a process's memory, in KiB, from /proc/<pid>/status.
type procMem struct {
	rss  int64 // VmRSS: resident, including the executable's pages shared with the page cache
	hwm  int64 // VmHWM: peak VmRSS
	anon int64 // RssAnon: resident memory of its own (heap, stacks)
}

// memory reads pid's procMem.
func memory(pid int) (m procMem, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n
		case "VmHWM":
			m.hwm = n
		case "RssAnon":
			m.anon = n
		}
	}
	return m, sc.Err()
}

// cpuMeter reads the CPU time of the processes of one measurement.
type cpuMeter struct {
	pids map[string]int // name → pid; "host" is this process
}

func (m cpuMeter) read() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range m.pids {
		if name == "host" {
			out[name] = selfCPU()
			continue
		}
		if d, err := procCPU(pid); err == nil {
			out[name] = d
		}
	}
	return out
}

func since(before, after map[string]time.Duration) map[string]time.Duration {
	out := map[string]time.Duration{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

// commandCPU is the CPU time used so far by every process whose command
// name is comm (PostgreSQL's server runs one process per connection). A
// process that exits meanwhile takes its share with it: connections here
// live as long as the pools, so that is rare.
func commandCPU(comm string) time.Duration {
	dirs, _ := os.ReadDir("/proc")
	var sum time.Duration
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(b)) != comm {
			continue
		}
		if c, err := procCPU(pid); err == nil {
			sum += c
		}
	}
	return sum
}
