// Package grpcserver adapts the plugin's service to the gRPC contract:
// protobuf in, Go types to the service, protobuf out. Errors leave as gRPC
// status codes with a machine-readable reason; a panic in a handler is
// recovered into an Internal error and never crosses the boundary.
package grpcserver

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/helpdesk-duo/duo-plugin/plugin/service"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// Server implements contract.Server on a *service.Service.
type Server struct {
	duov1.UnimplementedLifecycleServer
	duov1.UnimplementedSettingsServer
	duov1.UnimplementedOperatorsServer
	duov1.UnimplementedLoginServer

	svc *service.Service
	log hclog.Logger
}

var _ contract.Server = (*Server)(nil)

// New returns the adapter.
func New(svc *service.Service, log hclog.Logger) *Server {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Server{svc: svc, log: log}
}

// RecoverInterceptor turns a panic in a handler into an Internal error so
// it never takes the plugin process (and the host's logins) down.
func RecoverInterceptor(log hclog.Logger) grpc.UnaryServerInterceptor {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in handler", "method", info.FullMethod, "panic", r)
				resp, err = nil, contract.Status(codes.Internal, contract.ReasonInternal, "internal error in the Duo plugin; see its log")
			}
		}()
		return handler(ctx, req)
	}
}

// toStatus converts a service error into a gRPC status error.
func (s *Server) toStatus(method string, err error) error {
	if err == nil {
		return nil
	}
	reason := service.ReasonOf(err)
	code := codes.Internal
	switch reason {
	case contract.ReasonInactive, contract.ReasonActive, contract.ReasonSchemaTooNew,
		contract.ReasonDataDirMismatch:
		code = codes.FailedPrecondition
	case contract.ReasonConfirmation, contract.ReasonInvalidArgument:
		code = codes.InvalidArgument
	case contract.ReasonStorage:
		code = codes.Internal
	}
	msg := "internal error in the Duo plugin; see its log"
	if se, ok := err.(*service.Error); ok {
		msg = se.Msg
	}
	if reason == contract.ReasonStorage || reason == contract.ReasonInternal {
		s.log.Error("call failed", "method", method, "error", err)
	}
	return contract.Status(code, reason, msg)
}

func actor(a *duov1.Actor) service.Actor {
	return service.Actor{ID: a.GetId(), Username: a.GetUsername(), IP: a.GetIp()}
}

func operator(o *duov1.Operator) store.Operator {
	return store.Operator{ID: o.GetId(), Username: o.GetUsername(), Email: o.GetEmail()}
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func health(h service.DuoHealth) *duov1.DuoHealth {
	return &duov1.DuoHealth{Checked: h.Checked, Ok: h.OK, CheckedAtUnix: unix(h.CheckedAt), Detail: h.Detail}
}

func statusResponse(st service.Status) *duov1.StatusResponse {
	return &duov1.StatusResponse{Active: st.Active, SchemaVersion: st.SchemaVersion, Configured: st.Configured,
		PluginVersion: st.PluginVersion, Duo: health(st.Duo)}
}

func operatorState(st store.OperatorState) *duov1.OperatorState {
	return &duov1.OperatorState{
		OperatorId: st.ID, Enabled: st.Enabled, Username: st.Username, Email: st.Email, DuoAlias: st.DuoAlias,
		EnrolledAtUnix: unix(st.EnrolledAt), ChangedBy: st.ChangedBy, ChangedAtUnix: unix(st.ChangedAt), LastLoginUnix: unix(st.LastLogin),
	}
}

// Activate implements duov1.LifecycleServer.
func (s *Server) Activate(ctx context.Context, r *duov1.ActivateRequest) (*duov1.ActivateResponse, error) {
	st, err := s.svc.Activate(ctx, service.ActivateParams{
		Host:        service.HostInfo{Name: r.GetHost().GetName(), Version: r.GetHost().GetVersion()},
		CallbackURL: r.GetCallbackUrl(), DataDir: r.GetDataDir(), Actor: actor(r.GetActor()),
	})
	if err != nil {
		return nil, s.toStatus("Activate", err)
	}
	return &duov1.ActivateResponse{Status: statusResponse(st)}, nil
}

// Deactivate implements duov1.LifecycleServer.
func (s *Server) Deactivate(ctx context.Context, r *duov1.DeactivateRequest) (*duov1.DeactivateResponse, error) {
	if err := s.svc.Deactivate(ctx, actor(r.GetActor())); err != nil {
		return nil, s.toStatus("Deactivate", err)
	}
	return &duov1.DeactivateResponse{}, nil
}

// Uninstall implements duov1.LifecycleServer.
func (s *Server) Uninstall(ctx context.Context, r *duov1.UninstallRequest) (*duov1.UninstallResponse, error) {
	removed, err := s.svc.Uninstall(ctx, r.GetConfirm(), r.GetDataDir(), actor(r.GetActor()))
	if err != nil {
		return nil, s.toStatus("Uninstall", err)
	}
	return &duov1.UninstallResponse{Removed: removed}, nil
}

// Status implements duov1.LifecycleServer.
func (s *Server) Status(ctx context.Context, _ *duov1.StatusRequest) (*duov1.StatusResponse, error) {
	st, err := s.svc.Status(ctx)
	if err != nil {
		return nil, s.toStatus("Status", err)
	}
	return statusResponse(st), nil
}

// GetSettings implements duov1.SettingsServer. The secret never leaves.
func (s *Server) GetSettings(ctx context.Context, _ *duov1.GetSettingsRequest) (*duov1.GetSettingsResponse, error) {
	d, err := s.svc.GetSettings(ctx)
	if err != nil {
		return nil, s.toStatus("GetSettings", err)
	}
	return &duov1.GetSettingsResponse{Values: d.Values(), SecretSet: d.SecretSet()}, nil
}

// UpdateSettings implements duov1.SettingsServer.
func (s *Server) UpdateSettings(ctx context.Context, r *duov1.UpdateSettingsRequest) (*duov1.UpdateSettingsResponse, error) {
	res, err := s.svc.UpdateSettings(ctx, r.GetValues(), r.GetSkipDuoCheck(), actor(r.GetActor()))
	if err != nil {
		return nil, s.toStatus("UpdateSettings", err)
	}
	out := &duov1.UpdateSettingsResponse{Saved: res.Saved, Duo: health(res.Duo)}
	for _, fe := range res.Errors {
		out.Errors = append(out.Errors, fieldError(fe))
	}
	return out, nil
}

func fieldError(fe settings.FieldError) *duov1.FieldError {
	return &duov1.FieldError{Field: fe.Field, Reason: fe.Reason, Message: fe.Message}
}

// CheckDuo implements duov1.SettingsServer.
func (s *Server) CheckDuo(ctx context.Context, _ *duov1.CheckDuoRequest) (*duov1.CheckDuoResponse, error) {
	h, err := s.svc.CheckDuo(ctx)
	if err != nil {
		return nil, s.toStatus("CheckDuo", err)
	}
	return &duov1.CheckDuoResponse{Duo: health(h)}, nil
}

// SetOperatorEnabled implements duov1.OperatorsServer.
func (s *Server) SetOperatorEnabled(ctx context.Context, r *duov1.SetOperatorEnabledRequest) (*duov1.SetOperatorEnabledResponse, error) {
	st, err := s.svc.SetOperatorEnabled(ctx, operator(r.GetOperator()), r.GetEnabled(), actor(r.GetActor()))
	if err != nil {
		return nil, s.toStatus("SetOperatorEnabled", err)
	}
	return &duov1.SetOperatorEnabledResponse{State: operatorState(st)}, nil
}

// GetOperatorStates implements duov1.OperatorsServer; states come back in
// the order of the ids asked.
func (s *Server) GetOperatorStates(ctx context.Context, r *duov1.GetOperatorStatesRequest) (*duov1.GetOperatorStatesResponse, error) {
	m, err := s.svc.GetOperatorStates(ctx, r.GetOperatorIds())
	if err != nil {
		return nil, s.toStatus("GetOperatorStates", err)
	}
	out := &duov1.GetOperatorStatesResponse{}
	for _, id := range r.GetOperatorIds() {
		out.States = append(out.States, operatorState(m[id]))
	}
	return out, nil
}

// ListEnabledOperators implements duov1.OperatorsServer.
func (s *Server) ListEnabledOperators(ctx context.Context, r *duov1.ListEnabledOperatorsRequest) (*duov1.ListEnabledOperatorsResponse, error) {
	page, next, err := s.svc.ListEnabledOperators(ctx, int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, s.toStatus("ListEnabledOperators", err)
	}
	out := &duov1.ListEnabledOperatorsResponse{NextPageToken: next}
	for _, st := range page {
		out.States = append(out.States, operatorState(st))
	}
	return out, nil
}

// SetOperatorAlias implements duov1.OperatorsServer.
func (s *Server) SetOperatorAlias(ctx context.Context, r *duov1.SetOperatorAliasRequest) (*duov1.SetOperatorAliasResponse, error) {
	st, err := s.svc.SetOperatorAlias(ctx, operator(r.GetOperator()), r.GetDuoAlias(), actor(r.GetActor()))
	if err != nil {
		return nil, s.toStatus("SetOperatorAlias", err)
	}
	return &duov1.SetOperatorAliasResponse{State: operatorState(st)}, nil
}

func clientInfo(c *duov1.ClientInfo) service.ClientInfo {
	return service.ClientInfo{IP: c.GetIp(), UserAgent: c.GetUserAgent()}
}

func decision(d service.Decision) duov1.LoginDecision {
	switch d {
	case service.DecisionNotRequired:
		return duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED
	case service.DecisionRedirect:
		return duov1.LoginDecision_LOGIN_DECISION_REDIRECT
	case service.DecisionAllowed:
		return duov1.LoginDecision_LOGIN_DECISION_ALLOWED
	case service.DecisionDenied:
		return duov1.LoginDecision_LOGIN_DECISION_DENIED
	}
	return duov1.LoginDecision_LOGIN_DECISION_UNSPECIFIED
}

// BeginLogin implements duov1.LoginServer.
func (s *Server) BeginLogin(ctx context.Context, r *duov1.BeginLoginRequest) (*duov1.BeginLoginResponse, error) {
	res, err := s.svc.BeginLogin(ctx, operator(r.GetOperator()), clientInfo(r.GetClient()))
	if err != nil {
		return nil, s.toStatus("BeginLogin", err)
	}
	return &duov1.BeginLoginResponse{Decision: decision(res.Decision), RedirectUrl: res.RedirectURL, State: res.State,
		Reason: res.Reason, Message: res.Message}, nil
}

// CompleteLogin implements duov1.LoginServer.
func (s *Server) CompleteLogin(ctx context.Context, r *duov1.CompleteLoginRequest) (*duov1.CompleteLoginResponse, error) {
	res, err := s.svc.CompleteLogin(ctx, service.CompleteParams{
		Operator: operator(r.GetOperator()), SessionState: r.GetSessionState(), CallbackState: r.GetCallbackState(),
		DuoCode: r.GetDuoCode(), Client: clientInfo(r.GetClient()),
	})
	if err != nil {
		return nil, s.toStatus("CompleteLogin", err)
	}
	return &duov1.CompleteLoginResponse{Decision: decision(res.Decision), Reason: res.Reason, Message: res.Message}, nil
}
