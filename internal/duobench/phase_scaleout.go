package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/helpdesk-duo/duo-plugin/host"
)

// phaseScaleOut (issue 13): whole Duo logins at 32 callers through two
// plugin processes sharing one PostgreSQL database (each login begun on
// one and completed on the other, as behind a round-robin load balancer)
// against one plugin process on SQLite, and one on PostgreSQL, in
// alternating rounds against one simulator. It needs a PostgreSQL server
// whose role may create databases (-postgres, or DUO_TEST_POSTGRES_URL:
// scripts/postgres-for-tests.sh); without one it says so and measures
// nothing.
func phaseScaleOut(ctx context.Context, e *env, o opts, rep *report) error {
	if o.postgres == "" {
		fmt.Println("  skipped: no PostgreSQL server (-postgres URL or DUO_TEST_POSTGRES_URL)")
		return nil
	}
	dbURL, drop, err := scratchDatabase(ctx, o.postgres)
	if err != nil {
		return err
	}
	defer drop()
	var key [32]byte
	_, _ = rand.Read(key[:])
	pgEnv := []string{"DUO_PLUGIN_DATABASE_URL=" + dbURL, "DUO_PLUGIN_SECRETS_KEY=" + base64.StdEncoding.EncodeToString(key[:])}

	sim, err := startSim()
	if err != nil {
		return err
	}
	defer sim.close()
	br := newBrowser(sim)
	const callers = 32
	start := func(n int, env ...string) ([]*host.Plugin, error) {
		var ps []*host.Plugin
		for range n {
			p, err := e.startActive(ctx, "", env...)
			if err != nil {
				return ps, err
			}
			ps = append(ps, p)
		}
		return ps, nil
	}
	var sides []*scaleSide
	for _, s := range []struct {
		name string
		n    int
		env  []string
	}{
		{"two plugins on one PostgreSQL", 2, append(pgEnv[:2:2], "DUO_PLUGIN_DATABASE_SCHEMA=duo_two")},
		{"one plugin on SQLite", 1, nil},
		{"one plugin on PostgreSQL", 1, append(pgEnv[:2:2], "DUO_PLUGIN_DATABASE_SCHEMA=duo_one")},
	} {
		ps, err := start(s.n, s.env...)
		for _, p := range ps {
			defer p.Close()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		rig, err := newLoginRig(ctx, sim, br, ps, callers)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		sides = append(sides, &scaleSide{name: s.name, rig: rig, cpu: map[string][]float64{}})
	}
	fails := map[*scaleSide]*failures{}
	for _, sd := range sides {
		fails[sd] = &failures{}
	}
	for _, sd := range sides {
		if _, err := drive(callers, 500*time.Millisecond, 0, fails[sd].tolerate(func(c int) error { return sd.rig.allowed(ctx, c) })); err != nil {
			return err
		}
	}
	for round := range o.rounds {
		line := fmt.Sprintf("  round %d, %d callers:", round+1, callers)
		for _, sd := range sides {
			before := sd.cpuNow(sim)
			r, err := drive(callers, o.window, 0, fails[sd].tolerate(func(c int) error { return sd.rig.allowed(ctx, c) }))
			if err != nil {
				return err
			}
			sd.runs = append(sd.runs, r)
			for k, v := range since(before, sd.cpuNow(sim)) {
				sd.cpu[k] = append(sd.cpu[k], float64(v)/float64(max(r.ops, 1)))
			}
			line += fmt.Sprintf(" %s %s p99 %s;", sd.name, perSec(r.perSec()), ms(r.p(0.99)))
		}
		fmt.Println(line)
	}
	floor := sides[1]
	ft, f99 := medianOf(floor.runs, tput), medianOf(floor.runs, p99)
	for _, sd := range sides {
		name := fmt.Sprintf("7. Full Duo login, %d callers, %s", callers, sd.name)
		t, q := medianOf(sd.runs, tput), medianOf(sd.runs, p99)
		x := row{figure: name + ": logins/s", value: perSec(t)}
		y := row{figure: name + ": p99", value: ms(durOf(q))}
		if sd != floor {
			x.floor, x.ratio = perSec(ft), t/ft
			y.floor, y.ratio = ms(durOf(f99)), q/f99
		}
		rep.add(x)
		rep.add(y)
		logins := 0
		for _, r := range sd.runs {
			logins += r.ops
		}
		if retries, err := storeRetries(sd.rig.ps); err != nil {
			fmt.Printf("  %s: store retries: %v\n", sd.name, err)
		} else if sd != floor {
			rep.add(row{figure: fmt.Sprintf("%s: write transactions run again per login (%d logins)", name, logins), value: fmt.Sprintf("%.4f", retries/float64(max(logins, 1)))})
		}
		for _, k := range []string{"plugins", "postgres", "simulator", "host"} {
			if c := median(sd.cpu[k]); c > 0 || k == "postgres" {
				rep.add(row{figure: fmt.Sprintf("%s: CPU per login, %s", name, k), value: ms(durOf(c))})
			}
		}
	}
	for _, sd := range sides {
		rep.add(row{figure: "7. Failed logins: " + sd.name, value: fmt.Sprint(fails[sd].n.Load())})
		fmt.Printf("  failed logins, %s: %s\n", sd.name, fails[sd])
	}
	return nil
}

// scratchDatabase creates a database of its own on the server at admin
// and returns its URL and the function that drops it.
func scratchDatabase(ctx context.Context, admin string) (string, func(), error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "duobench_" + hex.EncodeToString(b[:])
	exec := func(stmt string) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return fmt.Errorf("postgresql: %w", err)
		}
		defer func() { _ = conn.Close(ctx) }()
		_, err = conn.Exec(ctx, stmt)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		return "", nil, fmt.Errorf("create the benchmark's database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() { _ = exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") }, nil
}

// scaleSide is one deployment measured in phase 7.
type scaleSide struct {
	name string
	rig  *loginRig
	runs []run
	cpu  map[string][]float64 // CPU per login by process, one per round
}

// cpuNow is the CPU time used so far by the side's plugins, the
// PostgreSQL server (all of it: the other sides are idle meanwhile), the
// simulator and this process (the SDK and the browsers).
func (sd *scaleSide) cpuNow(sim *simProc) map[string]time.Duration {
	out := map[string]time.Duration{"postgres": commandCPU("postgres"), "host": selfCPU()}
	for _, p := range sd.rig.ps {
		c, _ := procCPU(p.State().PID)
		out["plugins"] += c
	}
	out["simulator"], _ = procCPU(sim.pid())
	return out
}

// storeRetries sums duo_plugin_store_retries_total over the plugins (their
// whole lives: the warm-up and set-up included).
func storeRetries(ps []*host.Plugin) (float64, error) {
	var sum float64
	for _, p := range ps {
		reg := prometheus.NewRegistry()
		if err := reg.Register(p.Collector()); err != nil {
			return 0, err
		}
		families, err := reg.Gather()
		if err != nil {
			return 0, err
		}
		for _, f := range families {
			if f.GetName() == "duo_plugin_store_retries_total" {
				for _, m := range f.GetMetric() {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum, nil
}
