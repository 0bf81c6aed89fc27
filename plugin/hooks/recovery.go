package hooks

import (
	"context"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The recovery calls, until they are built: every one refuses, so a host
// that calls them early fails closed.

func notYet(what string) error {
	return contract.Errorf(contract.ReasonInternal, "%s is not available in this plugin version", what)
}

// ConfirmBackupCodes implements contract.Recovery.
func (p *Plugin) ConfirmBackupCodes(context.Context, contract.ConfirmBackupCodesRequest) (contract.CompleteLoginResponse, error) {
	return contract.CompleteLoginResponse{}, notYet("confirming backup codes")
}

// RedeemCode implements contract.Recovery.
func (p *Plugin) RedeemCode(context.Context, contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error) {
	return contract.CompleteLoginResponse{}, notYet("signing in with a code")
}

// RegenerateBackupCodes implements contract.Recovery.
func (p *Plugin) RegenerateBackupCodes(context.Context, contract.RegenerateBackupCodesRequest) (contract.RegenerateBackupCodesResponse, error) {
	return contract.RegenerateBackupCodesResponse{}, notYet("regenerating backup codes")
}

// IssueBypassCode implements contract.Recovery.
func (p *Plugin) IssueBypassCode(context.Context, contract.IssueBypassCodeRequest) (contract.IssueBypassCodeResponse, error) {
	return contract.IssueBypassCodeResponse{}, notYet("issuing bypass codes")
}

// ListBypassCodes implements contract.Recovery.
func (p *Plugin) ListBypassCodes(context.Context, contract.ListBypassCodesRequest) (contract.ListBypassCodesResponse, error) {
	return contract.ListBypassCodesResponse{}, notYet("listing bypass codes")
}

// RevokeBypassCode implements contract.Recovery.
func (p *Plugin) RevokeBypassCode(context.Context, contract.RevokeBypassCodeRequest) (contract.RevokeBypassCodeResponse, error) {
	return contract.RevokeBypassCodeResponse{}, notYet("revoking bypass codes")
}

// CreateRecoveryLink implements contract.Recovery.
func (p *Plugin) CreateRecoveryLink(context.Context, contract.CreateRecoveryLinkRequest) (contract.CreateRecoveryLinkResponse, error) {
	return contract.CreateRecoveryLinkResponse{}, notYet("recovery links")
}

// RedeemRecoveryLink implements contract.Recovery.
func (p *Plugin) RedeemRecoveryLink(context.Context, contract.RedeemRecoveryLinkRequest) (contract.CompleteLoginResponse, error) {
	return contract.CompleteLoginResponse{}, notYet("recovery links")
}

// ListNotices implements contract.Recovery.
func (p *Plugin) ListNotices(context.Context, contract.ListNoticesRequest) (contract.ListNoticesResponse, error) {
	return contract.ListNoticesResponse{}, notYet("notices")
}
