package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// procKB reads a "kB" field (VmRSS, VmHWM…) of /proc/<pid>/status, in bytes.
func procKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func median[T int64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func fileMiB(b *testing.B, path string) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return float64(fi.Size()) / (1 << 20)
}

// BenchmarkColdStartVsBare alternates, in one loop, the real plugin's cold
// start through the SDK (exec of a private verified copy → handshake →
// Activate on a new data dir → Status) and the bare go-plugin server's
// under the same checksum policy (private hashed copy → exec → handshake →
// Status), so both are measured under the same load; and reads each
// process's resident set once it has answered. It does so for the default
// build and for a stripped one (pluginbuild.StrippedFlags), both servers
// built the same way. Metrics: p50 of each start and their ratio, the p50
// of Activate alone, the median VmRSS after start of each and their ratio
// (and the anonymous part of each), and the binaries' sizes.
func BenchmarkColdStartVsBare(b *testing.B) {
	for _, build := range []struct {
		name  string
		flags []string
	}{{"default", nil}, {"stripped", pluginbuild.StrippedFlags}} {
		b.Run("build="+build.name, func(b *testing.B) {
			manifest := pluginbuild.ForTestWithFlags(b, build.flags...)
			bareExe, err := pluginbuild.BinaryWithFlags(barePackage, build.flags...)
			if err != nil {
				b.Fatal(err)
			}
			sum := bareSum(b, bareExe)
			ctx := context.Background()
			var plugStart, bareStart, activate []time.Duration
			var plugRSS, bareRSS, plugAnon, bareAnon []int64
			for b.Loop() {
				dir := filepath.Join(b.TempDir(), "data")
				start := time.Now()
				p, err := host.Start(ctx, host.Options{ManifestPath: manifest, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				a := time.Now()
				if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: dir, Actor: admin}); err != nil {
					b.Fatal(err)
				}
				activate = append(activate, time.Since(a))
				if _, err := p.Status(ctx, contract.StatusRequest{}); err != nil {
					b.Fatal(err)
				}
				plugStart = append(plugStart, time.Since(start))
				if rss, err := procKB(p.State().PID, "VmRSS"); err == nil {
					plugRSS = append(plugRSS, rss)
				}
				if anon, err := procKB(p.State().PID, "RssAnon"); err == nil {
					plugAnon = append(plugAnon, anon)
				}
				_ = p.Close()

				start = time.Now()
				c, cl, pid := startBareExe(b, bareExe, sum)
				if _, err := cl.lifecycle.Status(ctx, &duov1.StatusRequest{}); err != nil {
					b.Fatal(err)
				}
				bareStart = append(bareStart, time.Since(start))
				if rss, err := procKB(pid, "VmRSS"); err == nil {
					bareRSS = append(bareRSS, rss)
				}
				if anon, err := procKB(pid, "RssAnon"); err == nil {
					bareAnon = append(bareAnon, anon)
				}
				c.Kill()
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			mib := func(n int64) float64 { return float64(n) / (1 << 20) }
			ps, bs := median(plugStart), median(bareStart)
			b.ReportMetric(ms(ps), "plugin-p50-ms")
			b.ReportMetric(ms(bs), "bare-p50-ms")
			b.ReportMetric(float64(ps)/float64(bs), "start-ratio")
			b.ReportMetric(ms(median(activate)), "activate-p50-ms")
			pr, br := median(plugRSS), median(bareRSS)
			b.ReportMetric(mib(pr), "plugin-rss-MiB")
			b.ReportMetric(mib(br), "bare-rss-MiB")
			b.ReportMetric(mib(median(plugAnon)), "plugin-anon-MiB")
			b.ReportMetric(mib(median(bareAnon)), "bare-anon-MiB")
			if br > 0 {
				b.ReportMetric(float64(pr)/float64(br), "rss-ratio")
			}
			b.ReportMetric(fileMiB(b, filepath.Join(filepath.Dir(manifest), "bin", pluginbuild.Target(), "duo-plugin")), "plugin-bin-MiB")
			b.ReportMetric(fileMiB(b, bareExe), "bare-bin-MiB")
		})
	}
}

// BenchmarkLoginRSS: the plugin's resident set after 300 warm-up logins
// and after b.N more (run it with -benchtime 2000x or more): what the
// plugin keeps grows only within bounded caches (one Duo client, one
// health result, SQLite's page cache), not with the number of logins.
func BenchmarkLoginRSS(b *testing.B) {
	login, p := loginBenchPlugin(b)
	pid := p.State().PID
	for range 300 {
		login()
	}
	before, err := procKB(pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		login()
	}
	after, err := procKB(pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	hwm, err := procKB(pid, "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	b.ReportMetric(mib(before), "rss-warm-MiB")
	b.ReportMetric(mib(after), "rss-after-MiB")
	b.ReportMetric(mib(hwm), "hwm-MiB")
	b.ReportMetric(mib(after-before)*1000/float64(b.N), "growth-MiB/1000-logins")
}
