package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// *Plugin is a contract.Plugin: the same calls, with the host's part added.
var _ contract.Plugin = (*Plugin)(nil)

// call runs one RPC against the live process under the call deadline and
// maps its error. The deadline is the caller's or Options.CallTimeout from
// now, whichever comes first; it travels to the plugin, which fits its own
// calls to Duo inside it. Errors are prefixed with op.
func call[Req, Resp any](ctx context.Context, p *Plugin, op string, req Req,
	rpc func(contract.Plugin, context.Context, Req) (Resp, error),
) (Resp, error) {
	return callWithin(ctx, p, op, p.opts.CallTimeout, req, rpc)
}

// callWithin is call with another timeout than Options.CallTimeout.
func callWithin[Req, Resp any](ctx context.Context, p *Plugin, op string, timeout time.Duration, req Req,
	rpc func(contract.Plugin, context.Context, Req) (Resp, error),
) (Resp, error) {
	var zero Resp
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return zero, fmt.Errorf("%s: %w", op, unavailable(contract.ReasonDeadline, "the caller's deadline passed before the call", err))
	case err != nil:
		return zero, fmt.Errorf("%s: %w", op, &contract.Error{Reason: contract.ReasonCanceled, Message: "the caller cancelled the call", Cause: context.Cause(ctx)})
	}
	in, err := p.current()
	if err != nil {
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := rpc(in.plugin, cctx, req)
	if err != nil {
		err = fromCall(ctx, err)
		if errors.Is(err, ErrUnavailable) {
			// The process may have died: have the supervisor look now
			// rather than at the next ping.
			p.src.Kick()
		}
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	return resp, nil
}

// Activate implements contract.Lifecycle. It does not make the SDK remember
// anything: after a restart the plugin is activated as Options.Activation
// says.
func (p *Plugin) Activate(ctx context.Context, req contract.ActivateRequest) (contract.ActivateResponse, error) {
	return call(ctx, p, "activate", req, contract.Plugin.Activate)
}

// Deactivate implements contract.Lifecycle.
func (p *Plugin) Deactivate(ctx context.Context, req contract.DeactivateRequest) (contract.DeactivateResponse, error) {
	return call(ctx, p, "deactivate", req, contract.Plugin.Deactivate)
}

// Uninstall implements contract.Lifecycle.
func (p *Plugin) Uninstall(ctx context.Context, req contract.UninstallRequest) (contract.UninstallResponse, error) {
	return call(ctx, p, "uninstall", req, contract.Plugin.Uninstall)
}

// Status implements contract.Lifecycle.
func (p *Plugin) Status(ctx context.Context, req contract.StatusRequest) (contract.StatusResponse, error) {
	return call(ctx, p, "status", req, contract.Plugin.Status)
}

// GetSettings implements contract.Settings.
func (p *Plugin) GetSettings(ctx context.Context, req contract.GetSettingsRequest) (contract.GetSettingsResponse, error) {
	return call(ctx, p, "get settings", req, contract.Plugin.GetSettings)
}

// UpdateSettings implements contract.Settings. req.Values may hold secrets;
// the SDK never logs them.
func (p *Plugin) UpdateSettings(ctx context.Context, req contract.UpdateSettingsRequest) (contract.UpdateSettingsResponse, error) {
	return call(ctx, p, "update settings", req, contract.Plugin.UpdateSettings)
}

// CheckDuo implements contract.Settings.
func (p *Plugin) CheckDuo(ctx context.Context, req contract.CheckDuoRequest) (contract.CheckDuoResponse, error) {
	return call(ctx, p, "check duo", req, contract.Plugin.CheckDuo)
}

// SetOperatorEnabled implements contract.Operators.
func (p *Plugin) SetOperatorEnabled(ctx context.Context, req contract.SetOperatorEnabledRequest) (contract.SetOperatorEnabledResponse, error) {
	return call(ctx, p, "set operator enabled", req, contract.Plugin.SetOperatorEnabled)
}

// GetOperatorStates implements contract.Operators.
func (p *Plugin) GetOperatorStates(ctx context.Context, req contract.GetOperatorStatesRequest) (contract.GetOperatorStatesResponse, error) {
	return call(ctx, p, "get operator states", req, contract.Plugin.GetOperatorStates)
}

// ListEnabledOperators implements contract.Operators.
func (p *Plugin) ListEnabledOperators(ctx context.Context, req contract.ListEnabledOperatorsRequest) (contract.ListEnabledOperatorsResponse, error) {
	return call(ctx, p, "list enabled operators", req, contract.Plugin.ListEnabledOperators)
}

// SetOperatorAlias implements contract.Operators.
func (p *Plugin) SetOperatorAlias(ctx context.Context, req contract.SetOperatorAliasRequest) (contract.SetOperatorAliasResponse, error) {
	return call(ctx, p, "set operator alias", req, contract.Plugin.SetOperatorAlias)
}

// BeginLogin implements contract.Login; call it after the operator's
// password was checked, while the plugin is active.
//
// Fail closed: any error (ErrUnavailable while the plugin is down or
// restarting included) and any decision other than
// contract.DecisionNotRequired or contract.DecisionRedirect MUST be treated
// as deny.
func (p *Plugin) BeginLogin(ctx context.Context, req contract.BeginLoginRequest) (contract.BeginLoginResponse, error) {
	return call(ctx, p, "begin login", req, contract.Plugin.BeginLogin)
}

// CompleteLogin implements contract.Login; call it from the host's Duo
// callback with the state kept in the operator's pre-auth session and the
// state and duo_code from the callback URL.
//
// Fail closed: sign the operator in only on a nil error and
// contract.DecisionAllowed.
func (p *Plugin) CompleteLogin(ctx context.Context, req contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
	return call(ctx, p, "complete login", req, contract.Plugin.CompleteLogin)
}

// ConfirmBackupCodes implements contract.Recovery: sign the operator in only
// on a nil error and contract.DecisionAllowed.
func (p *Plugin) ConfirmBackupCodes(ctx context.Context, req contract.ConfirmBackupCodesRequest) (contract.CompleteLoginResponse, error) {
	return call(ctx, p, "confirm backup codes", req, contract.Plugin.ConfirmBackupCodes)
}

// RedeemCode implements contract.Recovery; call it only after a correct
// password. Sign the operator in only on a nil error and
// contract.DecisionAllowed (or after confirming codes, for
// contract.DecisionConfirmBackupCodes).
func (p *Plugin) RedeemCode(ctx context.Context, req contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error) {
	return call(ctx, p, "redeem code", req, contract.Plugin.RedeemCode)
}

// RegenerateBackupCodes implements contract.Recovery.
func (p *Plugin) RegenerateBackupCodes(ctx context.Context, req contract.RegenerateBackupCodesRequest) (contract.RegenerateBackupCodesResponse, error) {
	return call(ctx, p, "regenerate backup codes", req, contract.Plugin.RegenerateBackupCodes)
}

// IssueBypassCode implements contract.Recovery.
func (p *Plugin) IssueBypassCode(ctx context.Context, req contract.IssueBypassCodeRequest) (contract.IssueBypassCodeResponse, error) {
	return call(ctx, p, "issue bypass code", req, contract.Plugin.IssueBypassCode)
}

// ListBypassCodes implements contract.Recovery.
func (p *Plugin) ListBypassCodes(ctx context.Context, req contract.ListBypassCodesRequest) (contract.ListBypassCodesResponse, error) {
	return call(ctx, p, "list bypass codes", req, contract.Plugin.ListBypassCodes)
}

// RevokeBypassCode implements contract.Recovery.
func (p *Plugin) RevokeBypassCode(ctx context.Context, req contract.RevokeBypassCodeRequest) (contract.RevokeBypassCodeResponse, error) {
	return call(ctx, p, "revoke bypass code", req, contract.Plugin.RevokeBypassCode)
}

// CreateRecoveryLink implements contract.Recovery.
func (p *Plugin) CreateRecoveryLink(ctx context.Context, req contract.CreateRecoveryLinkRequest) (contract.CreateRecoveryLinkResponse, error) {
	return call(ctx, p, "create recovery link", req, contract.Plugin.CreateRecoveryLink)
}

// RedeemRecoveryLink implements contract.Recovery; call it only after the
// operator's password was checked.
func (p *Plugin) RedeemRecoveryLink(ctx context.Context, req contract.RedeemRecoveryLinkRequest) (contract.CompleteLoginResponse, error) {
	return call(ctx, p, "redeem recovery link", req, contract.Plugin.RedeemRecoveryLink)
}

// ListNotices implements contract.Recovery.
func (p *Plugin) ListNotices(ctx context.Context, req contract.ListNoticesRequest) (contract.ListNoticesResponse, error) {
	return call(ctx, p, "list notices", req, contract.Plugin.ListNotices)
}

// UnlockOperator implements contract.Operators.
func (p *Plugin) UnlockOperator(ctx context.Context, req contract.UnlockOperatorRequest) (contract.UnlockOperatorResponse, error) {
	return call(ctx, p, "unlock operator", req, contract.Plugin.UnlockOperator)
}

// ListAuthEvents implements contract.AuthLog.
func (p *Plugin) ListAuthEvents(ctx context.Context, req contract.ListAuthEventsRequest) (contract.ListAuthEventsResponse, error) {
	return call(ctx, p, "list auth events", req, contract.Plugin.ListAuthEvents)
}

// ExportAuthEvents implements contract.AuthLog, within
// Options.ExportTimeout. send gets each chunk in order; its error ends the
// export.
func (p *Plugin) ExportAuthEvents(ctx context.Context, req contract.ExportAuthEventsRequest, send func(contract.ExportChunk) error) error {
	_, err := callWithin(ctx, p, "export auth events", p.opts.ExportTimeout, req,
		func(pl contract.Plugin, ctx context.Context, req contract.ExportAuthEventsRequest) (struct{}, error) {
			return struct{}{}, pl.ExportAuthEvents(ctx, req, send)
		})
	return err
}

// GetMetrics implements contract.Metrics.
func (p *Plugin) GetMetrics(ctx context.Context, req contract.GetMetricsRequest) (contract.GetMetricsResponse, error) {
	return call(ctx, p, "get metrics", req, contract.Plugin.GetMetrics)
}
