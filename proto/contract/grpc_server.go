package contract

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// grpcServer serves a Plugin over gRPC: protobuf in, Go types to the
// plugin, protobuf out. Errors leave as gRPC statuses with a reason; a
// panic is recovered into ReasonInternal and never crosses the boundary.
type grpcServer struct {
	duov1.UnimplementedLifecycleServer
	duov1.UnimplementedSettingsServer
	duov1.UnimplementedOperatorsServer
	duov1.UnimplementedLoginServer
	duov1.UnimplementedRecoveryServer
	duov1.UnimplementedAuthLogServer
	duov1.UnimplementedMetricsServer

	impl Plugin
	log  hclog.Logger
}

func newGRPCServer(impl Plugin, log hclog.Logger) *grpcServer {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &grpcServer{impl: impl, log: log}
}

// internalMessage is all a host learns of a bug in the plugin; the details
// go to the plugin's log.
const internalMessage = "internal error in the Duo plugin; see its log"

// serve converts one request, calls the plugin and converts its answer.
func serve[PReq, Req, Resp, PResp any](ctx context.Context, s *grpcServer, method string, in PReq,
	from func(PReq) Req, call func(context.Context, Req) (Resp, error), to func(Resp) PResp,
) (out PResp, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in the plugin; answered INTERNAL", "method", method, "panic", fmt.Sprint(r))
			var zero PResp
			out, err = zero, statusError(ReasonInternal, internalMessage)
		}
	}()
	start := time.Now()
	resp, err := call(ctx, from(in))
	if s.log.IsDebug() {
		// The method, its time and its error's reason: never the request or
		// the answer, which carry codes, states and the client secret.
		s.log.Debug("call served", "method", method, "took", time.Since(start).String(), "reason", string(ReasonOf(err)))
	}
	if err != nil {
		var zero PResp
		return zero, s.toStatus(method, err)
	}
	return to(resp), nil
}

// toStatus turns the plugin's error into a gRPC status. Only Reason and
// Message cross; the cause is logged here when it matters.
func (s *grpcServer) toStatus(method string, err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, context.DeadlineExceeded):
		// The host's deadline passed: its own client says so.
		return status.Error(codes.DeadlineExceeded, "the call's deadline passed in the plugin")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	default:
		e = &Error{Reason: ReasonInternal, Message: internalMessage, Cause: err}
	}
	if e.Reason == ReasonInternal || e.Reason == ReasonStorage {
		s.log.Error("call failed", "method", method, "reason", string(e.Reason), "error", e.Error())
	}
	return statusErrorText(e.Reason, e.Message, e.Text)
}

// statusError builds a gRPC status error with reason's code, msg and the
// reason in a google.rpc.ErrorInfo.
func statusError(reason ErrorReason, msg string) error {
	return statusErrorText(reason, msg, Text{})
}

// statusErrorText is statusError with the message's Text in the
// ErrorInfo's metadata ("text_id", and "arg." + each argument's name).
func statusErrorText(reason ErrorReason, msg string, t Text) error {
	st := status.New(reason.code(), msg)
	if withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: string(reason), Domain: ErrorDomain, Metadata: textMetadata(t)}); err == nil {
		return withInfo.Err()
	}
	return st.Err()
}

func (s *grpcServer) Activate(ctx context.Context, r *duov1.ActivateRequest) (*duov1.ActivateResponse, error) {
	return serve(ctx, s, "Activate", r, fromprotoActivateRequest, s.impl.Activate, toprotoServedActivate)
}

func (s *grpcServer) Deactivate(ctx context.Context, r *duov1.DeactivateRequest) (*duov1.DeactivateResponse, error) {
	return serve(ctx, s, "Deactivate", r, fromprotoDeactivateRequest, s.impl.Deactivate, toprotoDeactivateResponse)
}

func (s *grpcServer) Uninstall(ctx context.Context, r *duov1.UninstallRequest) (*duov1.UninstallResponse, error) {
	return serve(ctx, s, "Uninstall", r, fromprotoUninstallRequest, s.impl.Uninstall, toprotoUninstallResponse)
}

func (s *grpcServer) Status(ctx context.Context, r *duov1.StatusRequest) (*duov1.StatusResponse, error) {
	return serve(ctx, s, "Status", r, fromprotoStatusRequest, s.impl.Status, toprotoServedStatus)
}

func (s *grpcServer) GetSettings(ctx context.Context, r *duov1.GetSettingsRequest) (*duov1.GetSettingsResponse, error) {
	return serve(ctx, s, "GetSettings", r, fromprotoGetSettingsRequest, s.impl.GetSettings, toprotoGetSettingsResponse)
}

func (s *grpcServer) UpdateSettings(ctx context.Context, r *duov1.UpdateSettingsRequest) (*duov1.UpdateSettingsResponse, error) {
	return serve(ctx, s, "UpdateSettings", r, fromprotoUpdateSettingsRequest, s.impl.UpdateSettings, toprotoUpdateSettingsResponse)
}

func (s *grpcServer) CheckDuo(ctx context.Context, r *duov1.CheckDuoRequest) (*duov1.CheckDuoResponse, error) {
	return serve(ctx, s, "CheckDuo", r, fromprotoCheckDuoRequest, s.impl.CheckDuo, toprotoCheckDuoResponse)
}

func (s *grpcServer) SetOperatorEnabled(ctx context.Context, r *duov1.SetOperatorEnabledRequest) (*duov1.SetOperatorEnabledResponse, error) {
	return serve(ctx, s, "SetOperatorEnabled", r, fromprotoSetOperatorEnabledRequest, s.impl.SetOperatorEnabled, toprotoSetOperatorEnabledResponse)
}

func (s *grpcServer) GetOperatorStates(ctx context.Context, r *duov1.GetOperatorStatesRequest) (*duov1.GetOperatorStatesResponse, error) {
	return serve(ctx, s, "GetOperatorStates", r, fromprotoGetOperatorStatesRequest, s.impl.GetOperatorStates, toprotoGetOperatorStatesResponse)
}

func (s *grpcServer) ListEnabledOperators(ctx context.Context, r *duov1.ListEnabledOperatorsRequest) (*duov1.ListEnabledOperatorsResponse, error) {
	return serve(ctx, s, "ListEnabledOperators", r, fromprotoListEnabledOperatorsRequest, s.impl.ListEnabledOperators, toprotoListEnabledOperatorsResponse)
}

func (s *grpcServer) SetOperatorAlias(ctx context.Context, r *duov1.SetOperatorAliasRequest) (*duov1.SetOperatorAliasResponse, error) {
	return serve(ctx, s, "SetOperatorAlias", r, fromprotoSetOperatorAliasRequest, s.impl.SetOperatorAlias, toprotoSetOperatorAliasResponse)
}

func (s *grpcServer) BeginLogin(ctx context.Context, r *duov1.BeginLoginRequest) (*duov1.BeginLoginResponse, error) {
	return serve(ctx, s, "BeginLogin", r, fromprotoBeginLoginRequest, s.impl.BeginLogin, toprotoBeginLoginResponse)
}

func (s *grpcServer) CompleteLogin(ctx context.Context, r *duov1.CompleteLoginRequest) (*duov1.CompleteLoginResponse, error) {
	return serve(ctx, s, "CompleteLogin", r, fromprotoCompleteLoginRequest, s.impl.CompleteLogin, toprotoCompleteLoginResponse)
}

func (s *grpcServer) ConfirmBackupCodes(ctx context.Context, r *duov1.ConfirmBackupCodesRequest) (*duov1.CompleteLoginResponse, error) {
	return serve(ctx, s, "ConfirmBackupCodes", r, fromprotoConfirmBackupCodesRequest, s.impl.ConfirmBackupCodes, toprotoCompleteLoginResponse)
}

func (s *grpcServer) RedeemCode(ctx context.Context, r *duov1.RedeemCodeRequest) (*duov1.CompleteLoginResponse, error) {
	return serve(ctx, s, "RedeemCode", r, fromprotoRedeemCodeRequest, s.impl.RedeemCode, toprotoCompleteLoginResponse)
}

func (s *grpcServer) RegenerateBackupCodes(ctx context.Context, r *duov1.RegenerateBackupCodesRequest) (*duov1.RegenerateBackupCodesResponse, error) {
	return serve(ctx, s, "RegenerateBackupCodes", r, fromprotoRegenerateBackupCodesRequest, s.impl.RegenerateBackupCodes, toprotoRegenerateBackupCodesResponse)
}

func (s *grpcServer) IssueBypassCode(ctx context.Context, r *duov1.IssueBypassCodeRequest) (*duov1.IssueBypassCodeResponse, error) {
	return serve(ctx, s, "IssueBypassCode", r, fromprotoIssueBypassCodeRequest, s.impl.IssueBypassCode, toprotoIssueBypassCodeResponse)
}

func (s *grpcServer) ListBypassCodes(ctx context.Context, r *duov1.ListBypassCodesRequest) (*duov1.ListBypassCodesResponse, error) {
	return serve(ctx, s, "ListBypassCodes", r, fromprotoListBypassCodesRequest, s.impl.ListBypassCodes, toprotoListBypassCodesResponse)
}

func (s *grpcServer) RevokeBypassCode(ctx context.Context, r *duov1.RevokeBypassCodeRequest) (*duov1.RevokeBypassCodeResponse, error) {
	return serve(ctx, s, "RevokeBypassCode", r, fromprotoRevokeBypassCodeRequest, s.impl.RevokeBypassCode, toprotoRevokeBypassCodeResponse)
}

func (s *grpcServer) CreateRecoveryLink(ctx context.Context, r *duov1.CreateRecoveryLinkRequest) (*duov1.CreateRecoveryLinkResponse, error) {
	return serve(ctx, s, "CreateRecoveryLink", r, fromprotoCreateRecoveryLinkRequest, s.impl.CreateRecoveryLink, toprotoCreateRecoveryLinkResponse)
}

func (s *grpcServer) RedeemRecoveryLink(ctx context.Context, r *duov1.RedeemRecoveryLinkRequest) (*duov1.CompleteLoginResponse, error) {
	return serve(ctx, s, "RedeemRecoveryLink", r, fromprotoRedeemRecoveryLinkRequest, s.impl.RedeemRecoveryLink, toprotoCompleteLoginResponse)
}

func (s *grpcServer) ListNotices(ctx context.Context, r *duov1.ListNoticesRequest) (*duov1.ListNoticesResponse, error) {
	return serve(ctx, s, "ListNotices", r, fromprotoListNoticesRequest, s.impl.ListNotices, toprotoListNoticesResponse)
}

func (s *grpcServer) UnlockOperator(ctx context.Context, r *duov1.UnlockOperatorRequest) (*duov1.UnlockOperatorResponse, error) {
	return serve(ctx, s, "UnlockOperator", r, fromprotoUnlockOperatorRequest, s.impl.UnlockOperator, toprotoUnlockOperatorResponse)
}

func (s *grpcServer) ListAuthEvents(ctx context.Context, r *duov1.ListAuthEventsRequest) (*duov1.ListAuthEventsResponse, error) {
	return serve(ctx, s, "ListAuthEvents", r, fromprotoListAuthEventsRequest, s.impl.ListAuthEvents, toprotoListAuthEventsResponse)
}

// ExportAuthEvents streams the plugin's chunks as they come; a client that
// goes away makes Send fail, which ends the plugin's export.
func (s *grpcServer) ExportAuthEvents(r *duov1.ExportAuthEventsRequest, stream duov1.AuthLog_ExportAuthEventsServer) error {
	_, err := serve(stream.Context(), s, "ExportAuthEvents", r, fromprotoExportAuthEventsRequest,
		func(ctx context.Context, req ExportAuthEventsRequest) (struct{}, error) {
			return struct{}{}, s.impl.ExportAuthEvents(ctx, req, func(c ExportChunk) error { return stream.Send(toprotoExportChunk(c)) })
		}, func(struct{}) struct{} { return struct{}{} })
	return err
}

func (s *grpcServer) GetMetrics(ctx context.Context, r *duov1.GetMetricsRequest) (*duov1.GetMetricsResponse, error) {
	return serve(ctx, s, "GetMetrics", r, fromprotoGetMetricsRequest, s.impl.GetMetrics, toprotoGetMetricsResponse)
}
