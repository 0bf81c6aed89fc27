// Command duobench is the login path's measuring instrument (issue 11,
// "Performance"): in one run it measures each figure beside its floor,
// the floor measured in the same run with the two alternating (A, B, A,
// B…) and the medians of the rounds reported, so that a shared, noisy
// machine moves both alike. It prints a table of figure, floor, ratio and
// the goal. It is a benchmark, not a test: nothing runs it under
// go test.
//
//	go run ./internal/duobench [-quick] [-rounds 3] [-cpuprofile DIR] [-phases 1,2,4,5,6] [-postgres URL]
//
// The phases (docs/BENCHMARKS.md has a run's table):
//
//  1. BeginLogin for an operator without Duo through the SDK against a
//     bare go-plugin server's unary call (internal/bareplugin), at 1, 4,
//     16 and 64 callers: p50, p99, calls/s; its fsyncs.
//  2. A whole Duo login (Begin, scripted approve at the simulator,
//     Complete) through the SDK against Duo's own Go client making the
//     same Duo calls, one simulator process for both, at 1, 16 and 32
//     callers: logins/s, p50, p99, CPU per login of each process; then
//     (3) fsyncs per login one at a time and 32 in flight (strace on the
//     real binary) and new TLS connections to Duo in steady state, once
//     the plugin's pool has warmed (the simulator's count), and (4) the
//     plugin's memory after many logins, and its growth over the last
//     10k (quick) or 100k.
//  4. Cold start through the SDK against the bare server's start with the
//     same checksum policy; idle RSS of each.
//  5. With many operators and audit events (internal/logseed): a page of
//     operators, pages of the log, a full streamed export.
//  6. The reference helpdesk's login POST → redirect to Duo, under load
//     from another process, against its own sign-in page.
//  7. Scale-out (issue 13): whole Duo logins at 32 callers through two
//     plugin processes on one PostgreSQL database (begun on one, completed
//     on the other) against one plugin on SQLite, and one on PostgreSQL.
//     Needs a server (-postgres URL or DUO_TEST_POSTGRES_URL); run it
//     with -phases 7, or add it to the list.
//
// -cpuprofile DIR has the processes measured write their CPU profiles
// (DUO_PLUGIN_PPROF_DIR) under it: phase1-plugin and phase1-bare (the
// plugin and the bare server of phase 1), phase2-plugin; read them with
// go tool pprof.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/barestart"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

type opts struct {
	quick       bool
	rounds      int
	window      time.Duration // one measurement of one side
	steady      time.Duration // the steady-state connection count
	starts      int           // cold starts per side per round
	fsyncLogins int
	rssLogins   int
	events      int
	operators   int
	cpuprofile  string
	phases      []string
	loadFor     time.Duration
	postgres    string // phase 7's server: a URL whose role may create databases
}

func main() {
	role := flag.String("role", "", "internal: sim (the simulator's process) or load (phase 6's load generator)")
	quick := flag.Bool("quick", false, "short windows and small data: about 2–3 minutes")
	rounds := flag.Int("rounds", 3, "rounds of alternating measurements; medians are reported")
	cpuprofile := flag.String("cpuprofile", "", "directory for the CPU profiles of phase 1's plugin and bare server and phase 2's plugin")
	phases := flag.String("phases", "1,2,4,5,6", "phases to run (3 runs within 1 and 2; 7 needs PostgreSQL)")
	postgres := flag.String("postgres", os.Getenv("DUO_TEST_POSTGRES_URL"), "phase 7: a PostgreSQL server whose role may create databases (default $DUO_TEST_POSTGRES_URL)")
	markdown := flag.String("markdown", "", "also write the table as Markdown to this file")
	loadURL := flag.String("url", "", "load role: helpdesk base URL")
	loadCallers := flag.Int("c", 16, "load role: concurrent clients")
	loadFor := flag.Duration("d", 5*time.Second, "load role: how long")
	loadUser := flag.String("user", "", "load role: username prefix")
	loadWant := flag.Int("want", 0, "load role: the sign-in POST's expected status")
	flag.Parse()
	var err error
	switch *role {
	case "sim":
		err = serveSim()
	case "load":
		err = serveLoad(*loadURL, *loadUser, *loadCallers, *loadFor, *loadWant)
	case "":
		o := opts{quick: *quick, rounds: *rounds, cpuprofile: *cpuprofile, phases: strings.Split(*phases, ","), postgres: *postgres}
		if o.quick {
			o.window, o.steady, o.starts, o.fsyncLogins, o.rssLogins, o.events, o.operators, o.loadFor = time.Second, 5*time.Second, 3, 100, 10_000, 100_000, 10_000, 2*time.Second
		} else {
			o.window, o.steady, o.starts, o.fsyncLogins, o.rssLogins, o.events, o.operators, o.loadFor = 3*time.Second, time.Minute, 10, 500, 100_000, 1_000_000, 100_000, 5*time.Second
		}
		err = bench(o, *markdown)
	default:
		err = fmt.Errorf("unknown -role %q", *role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "duobench: %v\n", err)
		os.Exit(1)
	}
}

func bench(o opts, markdownPath string) error {
	began := time.Now()
	ctx := context.Background()
	if o.cpuprofile != "" {
		if err := os.MkdirAll(o.cpuprofile, 0o755); err != nil {
			return err
		}
	}
	scratch, err := os.MkdirTemp("", "duobench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	root, err := pluginbuild.RepoRoot()
	if err != nil {
		return err
	}
	// The plugin and its floor are built stripped, as releases are
	// (internal/release): what ships is what is measured.
	fmt.Println("building the plugin and the bare plugin (stripped, as releases are) and logseed…")
	e := &env{scratch: scratch}
	if e.manifest, err = pluginbuild.BundleWithFlags(ctx, root, e.dir("bundle"), pluginbuild.StrippedFlags...); err != nil {
		return err
	}
	defer pluginbuild.Cleanup()
	if e.bare, err = pluginbuild.BinaryWithFlags("./internal/bareplugin", pluginbuild.StrippedFlags...); err != nil {
		return err
	}
	if e.bareSum, err = barestart.Sum(e.bare); err != nil {
		return err
	}
	if e.logseed, err = pluginbuild.Binary("./internal/logseed"); err != nil {
		return err
	}
	if _, err := exec.LookPath("strace"); err != nil {
		fmt.Println("strace is not installed: no fsync counts (apt-get install -y strace)")
	}
	mode := "full"
	if o.quick {
		mode = "quick"
	}
	fmt.Printf("mode %s, %d rounds, %s per side per measurement\n", mode, o.rounds, o.window)
	rep := &report{}
	type phase struct {
		id, name string
		run      func(context.Context, *env, opts, *report) error
	}
	for _, ph := range []phase{
		{"1", "BeginLogin, Duo not required: SDK vs bare go-plugin", phaseNotRequired},
		{"2", "Full Duo login: SDK vs Duo's raw Go client", phaseFullLogin},
		{"4", "Cold start and idle memory", phaseColdStart},
		{"5", fmt.Sprintf("%d operators, %d audit events", o.operators, o.events), phaseData},
		{"6", "Reference helpdesk: login POST → redirect, under load", phaseHelpdesk},
		{"7", "Scale-out: two plugins on one PostgreSQL vs one on SQLite", phaseScaleOut},
	} {
		if !slices.Contains(o.phases, ph.id) {
			continue
		}
		t := time.Now()
		fmt.Printf("\nphase %s: %s\n", ph.id, ph.name)
		if err := ph.run(ctx, e, o, rep); err != nil {
			return fmt.Errorf("phase %s: %w", ph.id, err)
		}
		fmt.Printf("  (phase %s took %s)\n", ph.id, time.Since(t).Round(time.Second))
	}
	fmt.Printf("\n%s mode, %d rounds, took %s\n\n", mode, o.rounds, time.Since(began).Round(time.Second))
	rep.markdown(os.Stdout)
	if markdownPath != "" {
		f, err := os.Create(markdownPath)
		if err != nil {
			return err
		}
		rep.markdown(f)
		if err := f.Close(); err != nil {
			return err
		}
	}
	if o.cpuprofile != "" {
		fmt.Printf("\nCPU profiles: go tool pprof -top %s/<phase1-plugin|phase1-bare|phase2-plugin>/cpu-*.pprof\n", o.cpuprofile)
	}
	return nil
}
