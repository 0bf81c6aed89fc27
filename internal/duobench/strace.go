package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// countFsyncs counts the fsync and fdatasync calls every thread of pid
// makes while work runs, with strace attached to the real binary: the
// truth, without changing the code. strace must be installed.
func countFsyncs(pid int, work func() error) (int, error) {
	path, err := exec.LookPath("strace")
	if err != nil {
		return 0, fmt.Errorf("strace not installed (apt-get install -y strace): %w", err)
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("duobench-strace-%d-%d.txt", pid, time.Now().UnixNano()))
	defer os.Remove(out)
	cmd := exec.Command(path, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", out, "-p", strconv.Itoa(pid))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// strace says when it has attached to the process's threads.
	attached := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "attached") {
				once = true
				close(attached)
			}
		}
		if !once {
			close(attached)
		}
	}()
	select {
	case <-attached:
	case <-time.After(5 * time.Second):
	}
	time.Sleep(200 * time.Millisecond) // every thread, not only the first
	werr := work()
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if werr != nil {
		return 0, werr
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	return parseStraceSummary(string(b))
}

// parseStraceSummary adds up the calls of fsync and fdatasync in strace
// -c's summary (columns: % time, seconds, usecs/call, calls, [errors,]
// syscall).
func parseStraceSummary(summary string) (int, error) {
	n := 0
	for line := range strings.Lines(summary) {
		f := strings.Fields(line)
		if len(f) < 5 || (f[len(f)-1] != "fsync" && f[len(f)-1] != "fdatasync") {
			continue
		}
		c, err := strconv.Atoi(f[3])
		if err != nil {
			return 0, fmt.Errorf("strace summary %q: %w", line, err)
		}
		n += c
	}
	return n, nil
}
