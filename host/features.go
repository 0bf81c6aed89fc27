package host

import (
	"context"
	"fmt"
	"sync"
	"time"

	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Feature is a part of the contract that a plugin older than this SDK may
// lack: a gRPC service of helpdesk.duo.v1. An RPC or field added to a
// service the plugin has is known by the minor version it reports
// (contract.StatusResponse.ProtocolMinor); such an RPC called regardless
// fails with ErrUnsupported.
type Feature string

// Features a host may ask about with Supports. A call of a feature the
// plugin lacks fails with an error matching ErrUnsupported.
const (
	// FeatureAuthLog: ListAuthEvents, ExportAuthEvents.
	FeatureAuthLog Feature = "helpdesk.duo.v1.AuthLog"
	// FeatureMetrics: GetMetrics (and so Collector).
	FeatureMetrics Feature = "helpdesk.duo.v1.Metrics"
)

// services caches the gRPC services one process serves: a process does not
// change what it serves, and a restart makes a new instance.
type services struct {
	mu  sync.Mutex
	set map[string]bool // nil until asked successfully
}

// Supports reports whether the running plugin process serves f, asking it
// (gRPC server reflection, which go-plugin serves) once per process. An
// error means it could not be asked (the plugin is down: ErrUnavailable);
// treat the feature as absent for now. A host that offers a feature's page
// only when it is supported never shows a plugin's Unimplemented answer to
// a person; calling it regardless is safe too (ErrUnsupported).
func (p *Plugin) Supports(ctx context.Context, f Feature) (bool, error) {
	in, err := p.current()
	if err != nil {
		return false, fmt.Errorf("supports %s: %w", f, err)
	}
	set, err := in.serviceSet(ctx, p.opts.CallTimeout)
	if err != nil {
		return false, fmt.Errorf("supports %s: %w", f, err)
	}
	return set[string(f)], nil
}

// serviceSet lists the process's services, once.
func (in *instance) serviceSet(ctx context.Context, timeout time.Duration) (map[string]bool, error) {
	in.services.mu.Lock()
	defer in.services.mu.Unlock()
	if in.services.set != nil {
		return in.services.set, nil
	}
	if in.rpc == nil {
		return nil, unavailable(contract.ReasonPluginUnavailable, "no connection to list the plugin's services", nil)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(in.rpc.Conn).ServerReflectionInfo(cctx)
	if err != nil {
		return nil, unavailable(contract.ReasonPluginUnavailable, "list the plugin's services", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		return nil, unavailable(contract.ReasonPluginUnavailable, "list the plugin's services", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, unavailable(contract.ReasonPluginUnavailable, "list the plugin's services", err)
	}
	_ = stream.CloseSend()
	set := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		set[s.GetName()] = true
	}
	in.services.set = set
	return set, nil
}
