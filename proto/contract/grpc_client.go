package contract

import (
	"context"
	"errors"
	"io"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// grpcClient is a Plugin that calls the plugin process over gRPC. It checks
// every login answer against the contract, so that a broken answer can only
// deny.
type grpcClient struct {
	lifecycle duov1.LifecycleClient
	settings  duov1.SettingsClient
	operators duov1.OperatorsClient
	login     duov1.LoginClient
	recovery  duov1.RecoveryClient
	authLog   duov1.AuthLogClient
	metrics   duov1.MetricsClient
}

// NewGRPCClient returns a Plugin speaking to a plugin served on c. Its
// errors are *Error: the plugin's reason when it gave one, else
// ReasonPluginUnavailable, ReasonDeadline or ReasonCanceled for transport
// failures, ReasonUnimplemented for an RPC the plugin does not serve (it is
// older than this contract) and ReasonUnknown for anything else.
func NewGRPCClient(c grpc.ClientConnInterface) Plugin {
	return &grpcClient{
		lifecycle: duov1.NewLifecycleClient(c),
		settings:  duov1.NewSettingsClient(c),
		operators: duov1.NewOperatorsClient(c),
		login:     duov1.NewLoginClient(c),
		recovery:  duov1.NewRecoveryClient(c),
		authLog:   duov1.NewAuthLogClient(c),
		metrics:   duov1.NewMetricsClient(c),
	}
}

// invoke converts one request, calls the plugin and converts its answer.
func invoke[Req, PReq, PResp, Resp any](ctx context.Context, req Req,
	to func(Req) PReq, rpc func(context.Context, PReq, ...grpc.CallOption) (PResp, error), from func(PResp) Resp,
) (Resp, error) {
	resp, err := rpc(ctx, to(req))
	if err != nil {
		var zero Resp
		return zero, fromStatus(ctx, err)
	}
	return from(resp), nil
}

// fromStatus turns what a gRPC call returned into an *Error. A call
// cancelled while the caller's ctx is still live was cut by the transport
// (a closing connection), so it is the plugin that is unavailable.
func fromStatus(ctx context.Context, err error) *Error {
	e := fromStatusOnly(err)
	if e.Reason == ReasonCanceled && ctx.Err() == nil {
		e.Reason = ReasonPluginUnavailable
	}
	return e
}

func fromStatusOnly(err error) *Error {
	st, ok := status.FromError(err)
	if !ok {
		reason := ReasonPluginUnavailable
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			reason = ReasonDeadline
		case errors.Is(err, context.Canceled):
			reason = ReasonCanceled
		}
		return &Error{Reason: reason, Message: "no answer from the plugin", Cause: err}
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return &Error{Reason: ErrorReason(info.GetReason()), Message: st.Message(), Text: textFromMetadata(info.GetMetadata())}
		}
	}
	return &Error{Reason: reasonForCode(st.Code()), Message: st.Message(), Cause: err}
}

// contractViolation reports an answer that breaks the contract (for
// example a REDIRECT without a URL). It is an error so that it can only
// deny.
func contractViolation(format string, args ...any) *Error {
	e := Errorf(ReasonInternal, format, args...)
	e.Message = "contract violation: " + e.Message
	return e
}

func (c *grpcClient) Activate(ctx context.Context, req ActivateRequest) (ActivateResponse, error) {
	return invoke(ctx, req, toprotoActivateRequest, c.lifecycle.Activate, fromprotoActivateResponse)
}

func (c *grpcClient) Deactivate(ctx context.Context, req DeactivateRequest) (DeactivateResponse, error) {
	return invoke(ctx, req, toprotoDeactivateRequest, c.lifecycle.Deactivate, fromprotoDeactivateResponse)
}

func (c *grpcClient) Uninstall(ctx context.Context, req UninstallRequest) (UninstallResponse, error) {
	return invoke(ctx, req, toprotoUninstallRequest, c.lifecycle.Uninstall, fromprotoUninstallResponse)
}

func (c *grpcClient) Status(ctx context.Context, req StatusRequest) (StatusResponse, error) {
	return invoke(ctx, req, toprotoStatusRequest, c.lifecycle.Status, fromprotoStatusResponse)
}

func (c *grpcClient) GetSettings(ctx context.Context, req GetSettingsRequest) (GetSettingsResponse, error) {
	return invoke(ctx, req, toprotoGetSettingsRequest, c.settings.GetSettings, fromprotoGetSettingsResponse)
}

func (c *grpcClient) UpdateSettings(ctx context.Context, req UpdateSettingsRequest) (UpdateSettingsResponse, error) {
	return invoke(ctx, req, toprotoUpdateSettingsRequest, c.settings.UpdateSettings, fromprotoUpdateSettingsResponse)
}

func (c *grpcClient) CheckDuo(ctx context.Context, req CheckDuoRequest) (CheckDuoResponse, error) {
	return invoke(ctx, req, toprotoCheckDuoRequest, c.settings.CheckDuo, fromprotoCheckDuoResponse)
}

func (c *grpcClient) SetOperatorEnabled(ctx context.Context, req SetOperatorEnabledRequest) (SetOperatorEnabledResponse, error) {
	return invoke(ctx, req, toprotoSetOperatorEnabledRequest, c.operators.SetOperatorEnabled, fromprotoSetOperatorEnabledResponse)
}

func (c *grpcClient) GetOperatorStates(ctx context.Context, req GetOperatorStatesRequest) (GetOperatorStatesResponse, error) {
	return invoke(ctx, req, toprotoGetOperatorStatesRequest, c.operators.GetOperatorStates, fromprotoGetOperatorStatesResponse)
}

func (c *grpcClient) ListEnabledOperators(ctx context.Context, req ListEnabledOperatorsRequest) (ListEnabledOperatorsResponse, error) {
	return invoke(ctx, req, toprotoListEnabledOperatorsRequest, c.operators.ListEnabledOperators, fromprotoListEnabledOperatorsResponse)
}

func (c *grpcClient) SetOperatorAlias(ctx context.Context, req SetOperatorAliasRequest) (SetOperatorAliasResponse, error) {
	return invoke(ctx, req, toprotoSetOperatorAliasRequest, c.operators.SetOperatorAlias, fromprotoSetOperatorAliasResponse)
}

// BeginLogin may only answer NOT_REQUIRED, REDIRECT (with a URL and a
// state) or DENIED. An unspecified or unknown decision passes through as
// DecisionUnspecified (deny); anything else that breaks the contract is an
// error (deny).
func (c *grpcClient) BeginLogin(ctx context.Context, req BeginLoginRequest) (BeginLoginResponse, error) {
	res, err := invoke(ctx, req, toprotoBeginLoginRequest, c.login.BeginLogin, fromprotoBeginLoginResponse)
	if err != nil {
		return res, err
	}
	switch res.Decision {
	case DecisionRedirect:
		if res.RedirectURL == "" || res.State == "" {
			return BeginLoginResponse{}, contractViolation("BeginLogin answered REDIRECT without a redirect URL or state")
		}
	case DecisionAllowed, DecisionConfirmBackupCodes:
		return BeginLoginResponse{}, contractViolation("BeginLogin answered %s; only the end of a login may", res.Decision)
	default:
		// Only a redirect carries a URL and a state; never hand out stray ones.
		res.RedirectURL, res.State = "", ""
	}
	return res, nil
}

// CompleteLogin may only answer ALLOWED, DENIED or CONFIRM_BACKUP_CODES
// (or an unspecified decision, which denies).
func (c *grpcClient) CompleteLogin(ctx context.Context, req CompleteLoginRequest) (CompleteLoginResponse, error) {
	return checkEndOfLogin("CompleteLogin", true)(invoke(ctx, req, toprotoCompleteLoginRequest, c.login.CompleteLogin, fromprotoCompleteLoginResponse))
}

// checkEndOfLogin holds an answer that ends a login to the contract: only
// ALLOWED, DENIED and (where it may) CONFIRM_BACKUP_CODES, which needs
// codes and a ticket; codes and tickets travel with nothing else.
func checkEndOfLogin(rpc string, mayConfirm bool) func(CompleteLoginResponse, error) (CompleteLoginResponse, error) {
	return func(res CompleteLoginResponse, err error) (CompleteLoginResponse, error) {
		if err != nil {
			return res, err
		}
		switch res.Decision {
		case DecisionNotRequired, DecisionRedirect:
			return CompleteLoginResponse{}, contractViolation("%s answered %s; only ALLOWED or DENIED are valid", rpc, res.Decision)
		case DecisionConfirmBackupCodes:
			if !mayConfirm {
				return CompleteLoginResponse{}, contractViolation("%s answered %s", rpc, res.Decision)
			}
			if len(res.BackupCodes) == 0 || res.BackupCodesTicket == "" {
				return CompleteLoginResponse{}, contractViolation("%s answered %s without codes or a ticket", rpc, res.Decision)
			}
			return res, nil
		}
		res.BackupCodes, res.BackupCodesTicket = nil, ""
		return res, nil
	}
}

func (c *grpcClient) ConfirmBackupCodes(ctx context.Context, req ConfirmBackupCodesRequest) (CompleteLoginResponse, error) {
	return checkEndOfLogin("ConfirmBackupCodes", false)(invoke(ctx, req, toprotoConfirmBackupCodesRequest, c.recovery.ConfirmBackupCodes, fromprotoCompleteLoginResponse))
}

func (c *grpcClient) RedeemCode(ctx context.Context, req RedeemCodeRequest) (CompleteLoginResponse, error) {
	return checkEndOfLogin("RedeemCode", true)(invoke(ctx, req, toprotoRedeemCodeRequest, c.recovery.RedeemCode, fromprotoCompleteLoginResponse))
}

func (c *grpcClient) RegenerateBackupCodes(ctx context.Context, req RegenerateBackupCodesRequest) (RegenerateBackupCodesResponse, error) {
	return invoke(ctx, req, toprotoRegenerateBackupCodesRequest, c.recovery.RegenerateBackupCodes, fromprotoRegenerateBackupCodesResponse)
}

func (c *grpcClient) IssueBypassCode(ctx context.Context, req IssueBypassCodeRequest) (IssueBypassCodeResponse, error) {
	return invoke(ctx, req, toprotoIssueBypassCodeRequest, c.recovery.IssueBypassCode, fromprotoIssueBypassCodeResponse)
}

func (c *grpcClient) ListBypassCodes(ctx context.Context, req ListBypassCodesRequest) (ListBypassCodesResponse, error) {
	return invoke(ctx, req, toprotoListBypassCodesRequest, c.recovery.ListBypassCodes, fromprotoListBypassCodesResponse)
}

func (c *grpcClient) RevokeBypassCode(ctx context.Context, req RevokeBypassCodeRequest) (RevokeBypassCodeResponse, error) {
	return invoke(ctx, req, toprotoRevokeBypassCodeRequest, c.recovery.RevokeBypassCode, fromprotoRevokeBypassCodeResponse)
}

func (c *grpcClient) CreateRecoveryLink(ctx context.Context, req CreateRecoveryLinkRequest) (CreateRecoveryLinkResponse, error) {
	return invoke(ctx, req, toprotoCreateRecoveryLinkRequest, c.recovery.CreateRecoveryLink, fromprotoCreateRecoveryLinkResponse)
}

// RedeemRecoveryLink answers ALLOWED or DENIED; the next login sets the
// second factor up again.
func (c *grpcClient) RedeemRecoveryLink(ctx context.Context, req RedeemRecoveryLinkRequest) (CompleteLoginResponse, error) {
	return checkEndOfLogin("RedeemRecoveryLink", false)(invoke(ctx, req, toprotoRedeemRecoveryLinkRequest, c.recovery.RedeemRecoveryLink, fromprotoCompleteLoginResponse))
}

func (c *grpcClient) ListNotices(ctx context.Context, req ListNoticesRequest) (ListNoticesResponse, error) {
	return invoke(ctx, req, toprotoListNoticesRequest, c.recovery.ListNotices, fromprotoListNoticesResponse)
}

func (c *grpcClient) UnlockOperator(ctx context.Context, req UnlockOperatorRequest) (UnlockOperatorResponse, error) {
	return invoke(ctx, req, toprotoUnlockOperatorRequest, c.operators.UnlockOperator, fromprotoUnlockOperatorResponse)
}

func (c *grpcClient) ListAuthEvents(ctx context.Context, req ListAuthEventsRequest) (ListAuthEventsResponse, error) {
	return invoke(ctx, req, toprotoListAuthEventsRequest, c.authLog.ListAuthEvents, fromprotoListAuthEventsResponse)
}

// ExportAuthEvents hands each chunk to send as it arrives. An error from
// send cancels the stream, so the plugin stops reading its log.
func (c *grpcClient) ExportAuthEvents(ctx context.Context, req ExportAuthEventsRequest, send func(ExportChunk) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.authLog.ExportAuthEvents(ctx, toprotoExportAuthEventsRequest(req))
	if err != nil {
		return fromStatus(ctx, err)
	}
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fromStatus(ctx, err)
		}
		if err := send(fromprotoExportChunk(chunk)); err != nil {
			return err
		}
	}
}

func (c *grpcClient) GetMetrics(ctx context.Context, req GetMetricsRequest) (GetMetricsResponse, error) {
	return invoke(ctx, req, toprotoGetMetricsRequest, c.metrics.GetMetrics, fromprotoGetMetricsResponse)
}
