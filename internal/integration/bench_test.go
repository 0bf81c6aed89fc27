package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"
	"github.com/hashicorp/go-plugin"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/barestart"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// barePackage is the benchmarks' floor, built once per run
// (pluginbuild.Binary; TestMain builds it before any benchmark runs).
const barePackage = "./internal/bareplugin"

// bareClients are raw generated clients of the bare plugin: it serves the
// generated servers without the contract's adapter, so it cannot be
// dispensed as a contract.Plugin.
type bareClients struct {
	lifecycle duov1.LifecycleClient
	login     duov1.LoginClient
}

// startBare starts the default build of the bare plugin (startBareExe).
func startBare(b *testing.B) (*plugin.Client, bareClients) {
	b.Helper()
	exe, err := pluginbuild.Binary(barePackage)
	if err != nil {
		b.Fatal(err)
	}
	c, cl, _ := startBareExe(b, exe, bareSum(b, exe))
	return c, cl
}

// bareSum is the sha256 of exe, the bare plugin's "manifest" checksum.
func bareSum(b *testing.B, exe string) []byte {
	b.Helper()
	sum, err := barestart.Sum(exe)
	if err != nil {
		b.Fatal(err)
	}
	return sum
}

// startBareExe starts the bare plugin at exe under the SDK's checksum
// policy (barestart). It returns the client, the raw clients and the
// process id.
func startBareExe(b *testing.B, exe string, sum []byte) (*plugin.Client, bareClients, int) {
	b.Helper()
	bs, err := barestart.Start(exe, sum)
	if err != nil {
		b.Fatal(err)
	}
	return bs.Client, bareClients{lifecycle: bs.Lifecycle, login: bs.Login}, bs.PID
}

// percentiles reports p50 and p99 of the samples as benchmark metrics.
func percentiles(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	at := func(q float64) float64 {
		return float64(samples[int(q*float64(len(samples)-1))].Microseconds())
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// BenchmarkColdStart: exec → handshake → Activate (open a new SQLite file,
// run migrations, create the key) → first call answered.
func BenchmarkColdStart(b *testing.B) {
	manifest := pluginbuild.ForTest(b)
	ctx := context.Background()
	var samples []time.Duration
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(b.TempDir(), "data")
		start := time.Now()
		p, err := host.Start(ctx, host.Options{ManifestPath: manifest, Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: dir, Actor: admin}); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Status(ctx, contract.StatusRequest{}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		b.StopTimer()
		_ = p.Close()
		b.StartTimer()
	}
	percentiles(b, samples)
}

// BenchmarkBareGoPluginStart is the baseline: exec → handshake → one call
// on a do-nothing go-plugin server.
func BenchmarkBareGoPluginStart(b *testing.B) {
	ctx := context.Background()
	var samples []time.Duration
	for b.Loop() {
		start := time.Now()
		c, cl := startBare(b)
		if _, err := cl.lifecycle.Status(ctx, &duov1.StatusRequest{}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		b.StopTimer()
		c.Kill()
		b.StartTimer()
	}
	percentiles(b, samples)
}

// BenchmarkSDKStatusRoundTrip: a cheap call through the SDK to the real
// plugin, active and inactive.
func BenchmarkSDKStatusRoundTrip(b *testing.B) {
	for _, active := range []bool{true, false} {
		b.Run(fmt.Sprintf("active=%v", active), func(b *testing.B) {
			ctx := context.Background()
			p, err := host.Start(ctx, host.Options{ManifestPath: pluginbuild.ForTest(b), Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			if active {
				if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: filepath.Join(b.TempDir(), "d"), Actor: admin}); err != nil {
					b.Fatal(err)
				}
			}
			samples := make([]time.Duration, 0, 10000)
			for b.Loop() {
				start := time.Now()
				if _, err := p.Status(ctx, contract.StatusRequest{}); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(start))
			}
			percentiles(b, samples)
		})
	}
}

// BenchmarkBareGoPluginRoundTrip is the baseline for the round trip.
func BenchmarkBareGoPluginRoundTrip(b *testing.B) {
	c, cl := startBare(b)
	defer c.Kill()
	ctx := context.Background()
	samples := make([]time.Duration, 0, 10000)
	for b.Loop() {
		start := time.Now()
		if _, err := cl.lifecycle.Status(ctx, &duov1.StatusRequest{}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	percentiles(b, samples)
}

// BenchmarkSDKBeginLoginNotRequired: the login hook for an operator
// without Duo, through the SDK to the real plugin (a toggle read and an
// audit row written). BenchmarkBareGoPluginBeginLogin is its floor.
func BenchmarkSDKBeginLoginNotRequired(b *testing.B) {
	ctx := context.Background()
	p, req := notRequiredPlugin(b)
	samples := make([]time.Duration, 0, 10000)
	for b.Loop() {
		start := time.Now()
		res, err := p.BeginLogin(ctx, req)
		if err != nil || res.Decision != contract.DecisionNotRequired {
			b.Fatalf("%+v %v", res, err)
		}
		samples = append(samples, time.Since(start))
	}
	percentiles(b, samples)
}

// BenchmarkBareGoPluginBeginLogin is the floor of the login hook: the bare
// server's BeginLogin over raw gRPC.
func BenchmarkBareGoPluginBeginLogin(b *testing.B) {
	c, cl := startBare(b)
	defer c.Kill()
	ctx := context.Background()
	req := &duov1.BeginLoginRequest{Operator: &duov1.Operator{Id: "1", Username: "alice"}, Client: &duov1.ClientInfo{Ip: "203.0.113.7"}}
	samples := make([]time.Duration, 0, 10000)
	for b.Loop() {
		start := time.Now()
		res, err := cl.login.BeginLogin(ctx, req)
		if err != nil || res.GetDecision() != duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED {
			b.Fatalf("%v %v", res, err)
		}
		samples = append(samples, time.Since(start))
	}
	percentiles(b, samples)
}

// duoBrowser follows an authorize URL on the scripted simulator and returns
// the callback's query.
func duoBrowser(b *testing.B, hc *http.Client, authURL string) url.Values {
	resp, err := hc.Get(authURL)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		b.Fatalf("authorize: %d %v", resp.StatusCode, err)
	}
	return loc.Query()
}

func benchSim(b *testing.B) (*duosim.Server, *http.Client) {
	sim := duosim.StartTest(b, duosim.Config{Scripted: true})
	hc := sim.HTTPClient(10 * time.Second)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return sim, hc
}

// loginBench starts the simulator and the real plugin, configured, with
// alice enabled, and returns a function that runs one whole login.
func loginBench(b *testing.B) func() {
	login, _ := loginBenchPlugin(b)
	return login
}

// loginBenchPlugin is loginBench, also returning the plugin.
func loginBenchPlugin(b *testing.B) (func(), *host.Plugin) {
	sim, hc := benchSim(b)
	ctx := context.Background()
	p := startActive(b)
	app := sim.Apps()[0]
	if res, err := p.UpdateSettings(ctx, contract.UpdateSettingsRequest{Values: map[string]string{"client_id": app.ClientID,
		"client_secret": app.ClientSecret.Reveal(), "api_hostname": sim.APIHost(), "ca_file": sim.CAFile()}, Actor: admin}); err != nil || !res.Saved {
		b.Fatalf("%+v %v", res, err)
	}
	op := contract.Operator{ID: "1", Username: "alice"}
	if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: op, Enabled: true, Actor: admin}); err != nil {
		b.Fatal(err)
	}
	login := func() contract.CompleteLoginResponse {
		begin, err := p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: op})
		if err != nil || begin.Decision != contract.DecisionRedirect {
			b.Fatalf("%+v %v", begin, err)
		}
		q := duoBrowser(b, hc, begin.RedirectURL)
		res, err := p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: op, SessionState: begin.State,
			CallbackState: q.Get("state"), DuoCode: q.Get("duo_code")})
		if err != nil {
			b.Fatalf("%+v %v", res, err)
		}
		return res
	}
	// The first sign-in sets up backup codes; it is not what is measured.
	first := login()
	if first.Decision != contract.DecisionConfirmBackupCodes {
		b.Fatalf("first login = %+v, want CONFIRM_BACKUP_CODES", first)
	}
	if res, err := p.ConfirmBackupCodes(ctx, contract.ConfirmBackupCodesRequest{Operator: op, Ticket: first.BackupCodesTicket}); err != nil || res.Decision != contract.DecisionAllowed {
		b.Fatalf("confirm = %+v %v", res, err)
	}
	return func() {
		if res := login(); res.Decision != contract.DecisionAllowed {
			b.Fatalf("%+v", res)
		}
	}, p
}

// startActive starts the real plugin through the SDK, quiet, activated on
// a new data dir.
func startActive(b *testing.B) *host.Plugin {
	ctx := context.Background()
	p, err := host.Start(ctx, host.Options{ManifestPath: pluginbuild.ForTest(b), Logger: quietLogger(),
		Env: []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true", "DUO_PLUGIN_LOG_LEVEL=warn"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: filepath.Join(b.TempDir(), "d"), CallbackURL: callbackURL, Actor: admin}); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkRedeemCodeThroughSDK: a login with a code instead of Duo,
// through the SDK and the real plugin. "bypass" spends a fresh bypass code
// (issued outside the timer): keyed hash, conditional UPDATE, audit event
// and notice in one durable transaction. "wrong" is what someone guessing
// costs: parse, two keyed lookups, an audited refusal.
func BenchmarkRedeemCodeThroughSDK(b *testing.B) {
	p := startActive(b)
	ctx := context.Background()
	op := contract.Operator{ID: "1", Username: "alice"}
	if _, err := p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: op, Enabled: true, Actor: admin}); err != nil {
		b.Fatal(err)
	}
	b.Run("bypass", func(b *testing.B) {
		var samples []time.Duration
		for b.Loop() {
			b.StopTimer()
			issued, err := p.IssueBypassCode(ctx, contract.IssueBypassCodeRequest{Operator: op, OperatorRole: contract.RoleAgent, Actor: admin})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			res, err := p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: op, Code: issued.Code})
			samples = append(samples, time.Since(start))
			if err != nil || res.Decision != contract.DecisionAllowed {
				b.Fatalf("%+v %v", res, err)
			}
		}
		percentiles(b, samples)
	})
	b.Run("wrong", func(b *testing.B) {
		var samples []time.Duration
		for b.Loop() {
			start := time.Now()
			res, err := p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: op, Code: "00000-00000"})
			samples = append(samples, time.Since(start))
			if err != nil || res.Decision != contract.DecisionDenied {
				b.Fatalf("%+v %v", res, err)
			}
		}
		percentiles(b, samples)
	})
}

// BenchmarkLoginThroughSDK: BeginLogin → (browser at Duo) → CompleteLogin,
// through the SDK and the real plugin, against the scripted simulator, one
// login at a time.
func BenchmarkLoginThroughSDK(b *testing.B) {
	login := loginBench(b)
	var samples []time.Duration
	for b.Loop() {
		start := time.Now()
		login()
		samples = append(samples, time.Since(start))
	}
	percentiles(b, samples)
}

// BenchmarkLoginThroughSDKParallel: the same with 8 logins in flight per
// core, for throughput (ns/op is then wall time per login).
func BenchmarkLoginThroughSDKParallel(b *testing.B) {
	login := loginBench(b)
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			login()
		}
	})
}

// BenchmarkLoginRawDuoClient is the same login with Duo's Go client alone:
// state, auth URL, (browser at Duo), code exchange.
func BenchmarkLoginRawDuoClient(b *testing.B) {
	sim, hc := benchSim(b)
	app := sim.Apps()[0]
	c, err := duouniversal.NewClient(app.ClientID, app.ClientSecret.Reveal(), sim.APIHost(), callbackURL, duouniversal.WithHTTPClient(sim.HTTPClient(10*time.Second)))
	if err != nil {
		b.Fatal(err)
	}
	var samples []time.Duration
	for b.Loop() {
		start := time.Now()
		state, err := c.GenerateState()
		if err != nil {
			b.Fatal(err)
		}
		u, err := c.CreateAuthURL("alice", state)
		if err != nil {
			b.Fatal(err)
		}
		q := duoBrowser(b, hc, u)
		tok, err := c.ExchangeAuthorizationCodeFor2faResult(q.Get("duo_code"), "alice")
		if err != nil || tok.AuthResult.Result != "allow" {
			b.Fatalf("%+v %v", tok, err)
		}
		samples = append(samples, time.Since(start))
	}
	percentiles(b, samples)
}

// notRequiredPlugin starts the real plugin through the SDK, activated on a
// new data directory, and the BeginLogin request of an operator without
// Duo; the plugin is closed when the benchmark ends.
func notRequiredPlugin(b *testing.B) (*host.Plugin, contract.BeginLoginRequest) {
	b.Helper()
	ctx := context.Background()
	p, err := host.Start(ctx, host.Options{ManifestPath: pluginbuild.ForTest(b), Logger: quietLogger(),
		Env: []string{"DUO_PLUGIN_LOG_LEVEL=warn"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: filepath.Join(b.TempDir(), "d"), CallbackURL: callbackURL, Actor: admin}); err != nil {
		b.Fatal(err)
	}
	return p, contract.BeginLoginRequest{Operator: contract.Operator{ID: "1", Username: "alice"}, Client: contract.ClientInfo{IP: "203.0.113.7"}}
}
