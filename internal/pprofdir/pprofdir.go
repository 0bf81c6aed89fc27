// Package pprofdir is the benchmarks' measurement hook, shared by the
// plugin and the benchmarks' floor (internal/bareplugin), which carries
// none of the plugin's code: profiles of a process's life written into the
// directory an environment variable names.
package pprofdir

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// Env names a directory where the process writes a CPU profile of
// its whole life, cpu-<pid>.pprof, and a heap profile of what is live at
// the end, heap-<pid>.pprof, when it exits after the host closed it (not
// when it is killed). Off when unset. It is a measurement hook for the
// benchmarks (internal/duobench -cpuprofile), not a setting: it is read
// directly, like DUO_PLUGIN_CONFIG, and never from a config file.
const Env = "DUO_PLUGIN_PPROF_DIR"

// Start starts the CPU profile Env asks for and returns
// the function that stops it and closes the file; without the variable it
// does nothing.
func Start() (stop func(), err error) {
	dir := os.Getenv(Env)
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", os.Getpid())))
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
		writeHeapProfile(dir)
	}, nil
}

// writeHeapProfile writes what is live on the heap now (after a GC) into
// dir, best effort: a measurement, never a reason to fail.
func writeHeapProfile(dir string) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", os.Getpid())))
	if err != nil {
		return
	}
	defer f.Close()
	runtime.GC()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}
