package upgrade

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// A plugin of this tree reports the contract's minor version and serves
// every feature.
func TestCurrentPluginReportsItsMinorVersion(t *testing.T) {
	t.Parallel()
	p := start(t, pluginbuild.ForTestTagged(t, ""))
	ctx := ctxT(t)
	st, err := p.Status(ctx, contract.StatusRequest{})
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.ProtocolMinor != contract.ProtocolMinor {
		t.Errorf("Status.ProtocolMinor = %d, want %d", st.ProtocolMinor, contract.ProtocolMinor)
	}
	for _, f := range []host.Feature{host.FeatureAuthLog, host.FeatureMetrics} {
		if ok, err := p.Supports(ctx, f); err != nil || !ok {
			t.Errorf("Supports(%s) = %t, %v; want true", f, ok, err)
		}
	}
}

// A plugin older than the host lacks services: the SDK says so ahead
// (Supports), its calls fail with ErrUnsupported (not ErrUnavailable: the
// plugin is up, and nothing restarts it), and everything else still works,
// the login path included.
func TestOlderPluginLacksServicesAndTheSDKSaysSo(t *testing.T) {
	t.Parallel()
	p := start(t, pluginbuild.ForTestTagged(t, tagOlder))
	ctx := ctxT(t)
	st := activate(t, p, t.TempDir())
	if st.ProtocolMinor != 0 {
		t.Errorf("an older plugin's Status.ProtocolMinor = %d, want 0 (protocol 1.0 has no such field)", st.ProtocolMinor)
	}
	pid := p.State().PID

	for _, f := range []host.Feature{host.FeatureAuthLog, host.FeatureMetrics} {
		if ok, err := p.Supports(ctx, f); err != nil || ok {
			t.Errorf("Supports(%s) = %t, %v; want false, nil", f, ok, err)
		}
	}
	if ok, err := p.Supports(ctx, "helpdesk.duo.v1.Login"); err != nil || !ok {
		t.Errorf("Supports(Login) = %t, %v; want true", ok, err)
	}

	_, err := p.GetMetrics(ctx, contract.GetMetricsRequest{})
	wantUnsupported(t, "GetMetrics", err)
	_, err = p.ListAuthEvents(ctx, contract.ListAuthEventsRequest{Actor: admin})
	wantUnsupported(t, "ListAuthEvents", err)
	err = p.ExportAuthEvents(ctx, contract.ExportAuthEventsRequest{Actor: admin}, func(contract.ExportChunk) error {
		t.Error("an older plugin sent an export chunk")
		return nil
	})
	wantUnsupported(t, "ExportAuthEvents", err)

	// The host's metrics say the plugin is up, with no families of its own.
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.Collector())
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "duo_plugin_up" || mfs[0].GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("metrics of an older plugin = %v, %v; want only duo_plugin_up 1", mfs, err)
	}

	// The plugin is up and serves the rest of the contract.
	if _, err := p.Status(ctx, contract.StatusRequest{}); err != nil {
		t.Fatalf("Status after an unsupported call: %v", err)
	}
	res, err := p.BeginLogin(ctx, contract.BeginLoginRequest{
		Operator: contract.Operator{ID: "7", Username: "alice", Role: contract.RoleAgent},
		Client:   contract.ClientInfo{IP: "198.51.100.7"},
	})
	if err != nil || res.Decision != contract.DecisionNotRequired {
		t.Fatalf("BeginLogin for an operator without Duo = %+v, %v; want NOT_REQUIRED", res, err)
	}
	if st := p.State(); st.Phase != host.PhaseRunning || st.PID != pid || st.Restarts != 0 {
		t.Errorf("state after unsupported calls = %+v; want the same process running, no restart", st)
	}
}

func wantUnsupported(t *testing.T, call string, err error) {
	t.Helper()
	switch {
	case !errors.Is(err, host.ErrUnsupported):
		t.Errorf("%s: %v; want an error matching host.ErrUnsupported", call, err)
	case errors.Is(err, host.ErrUnavailable):
		t.Errorf("%s: %v also matches ErrUnavailable: an older plugin is not a down one", call, err)
	case contract.ReasonOf(err) != contract.ReasonUnimplemented:
		t.Errorf("%s: reason %s, want %s", call, contract.ReasonOf(err), contract.ReasonUnimplemented)
	}
}

// A plugin that speaks only protocol 2 is refused at start with a clear
// error, at once (no restarts: another try cannot fix it), and no plugin
// process is left running.
func TestPluginOfAnotherProtocolIsRefusedAtStart(t *testing.T) {
	t.Parallel()
	opts := options(pluginbuild.ForTestTagged(t, tagProtocol2))
	opts.MaxRestarts = 5
	began := time.Now()
	p, err := host.Start(ctxT(t), opts)
	if err == nil {
		_ = p.Close()
		t.Fatal("host.Start of a protocol-2 plugin succeeded")
	}
	if !errors.Is(err, host.ErrIncompatibleProtocol) {
		t.Fatalf("host.Start: %v; want an error matching host.ErrIncompatibleProtocol", err)
	}
	if took := time.Since(began); took > 20*time.Second {
		t.Errorf("the refusal took %s", took)
	}
	t.Logf("refused: %v", err)
}
