package contract

import (
	"maps"
	"slices"
	"time"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// Go → protobuf, one function per message. With fromproto.go, the only
// place the contract's Go types meet protobuf; a test checks that every
// field survives the round trip both ways.

func unixOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func mapSlice[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func toprotoActor(a Actor) *duov1.Actor {
	return &duov1.Actor{Id: a.ID, Username: a.Username, Ip: a.IP, Role: duov1.Role(a.Role)}
}

func toprotoOperator(o Operator) *duov1.Operator {
	return &duov1.Operator{Id: o.ID, Username: o.Username, Email: o.Email, Role: duov1.Role(o.Role), ServiceAccount: o.ServiceAccount}
}

func toprotoText(t Text) *duov1.Text {
	return &duov1.Text{Id: string(t.ID), Args: maps.Clone(t.Args)}
}

func toprotoLoginCounts(c LoginCounts) *duov1.LoginCounts {
	return &duov1.LoginCounts{WindowSeconds: int64(c.Window / time.Second), Allowed: c.Allowed, Denied: c.Denied, FailOpen: c.FailOpen, Exempt: c.Exempt}
}

func toprotoHostInfo(h HostInfo) *duov1.HostInfo {
	return &duov1.HostInfo{Name: h.Name, Version: h.Version}
}

func toprotoClientInfo(c ClientInfo) *duov1.ClientInfo {
	return &duov1.ClientInfo{Ip: c.IP, UserAgent: c.UserAgent}
}

func toprotoActivateRequest(r ActivateRequest) *duov1.ActivateRequest {
	return &duov1.ActivateRequest{Host: toprotoHostInfo(r.Host), CallbackUrl: r.CallbackURL, DataDir: r.DataDir, Actor: toprotoActor(r.Actor)}
}

func toprotoActivateResponse(r ActivateResponse) *duov1.ActivateResponse {
	return &duov1.ActivateResponse{Status: toprotoStatusResponse(r.Status)}
}

func toprotoDeactivateRequest(r DeactivateRequest) *duov1.DeactivateRequest {
	return &duov1.DeactivateRequest{Actor: toprotoActor(r.Actor)}
}

func toprotoDeactivateResponse(DeactivateResponse) *duov1.DeactivateResponse {
	return &duov1.DeactivateResponse{}
}

func toprotoUninstallRequest(r UninstallRequest) *duov1.UninstallRequest {
	return &duov1.UninstallRequest{Confirm: r.Confirm, Actor: toprotoActor(r.Actor), DataDir: r.DataDir}
}

func toprotoUninstallResponse(r UninstallResponse) *duov1.UninstallResponse {
	return &duov1.UninstallResponse{Removed: slices.Clone(r.Removed)}
}

func toprotoStatusRequest(StatusRequest) *duov1.StatusRequest { return &duov1.StatusRequest{} }

func toprotoDuoHealth(h DuoHealth) *duov1.DuoHealth {
	return &duov1.DuoHealth{Checked: h.Checked, Ok: h.OK, CheckedAtUnix: unixOf(h.CheckedAt), Detail: h.Detail, Failure: string(h.Failure),
		LatencyMs: latencyMs(h.Latency), ConsecutiveFailures: h.ConsecutiveFailures}
}

// latencyMs is d in whole milliseconds, rounded up: a check that took
// under a millisecond (a nearby Duo or simulator, a warm connection) must
// not read as one that was never timed.
func latencyMs(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

func toprotoStatusResponse(s StatusResponse) *duov1.StatusResponse {
	return &duov1.StatusResponse{Active: s.Active, SchemaVersion: s.SchemaVersion, Configured: s.Configured,
		PluginVersion: s.PluginVersion, Duo: toprotoDuoHealth(s.Duo), Logins: toprotoLoginCounts(s.Logins),
		ProtocolMinor: s.ProtocolMinor}
}

// toprotoServedActivate is the server's: see toprotoServedStatus.
func toprotoServedActivate(r ActivateResponse) *duov1.ActivateResponse {
	return &duov1.ActivateResponse{Status: toprotoServedStatus(r.Status)}
}

// toprotoServedStatus is the server's: the minor version the plugin speaks
// is the contract's, whatever its implementation filled in.
func toprotoServedStatus(s StatusResponse) *duov1.StatusResponse {
	s.ProtocolMinor = servedMinor
	return toprotoStatusResponse(s)
}

func toprotoGetSettingsRequest(r GetSettingsRequest) *duov1.GetSettingsRequest {
	return &duov1.GetSettingsRequest{Actor: toprotoActor(r.Actor)}
}

func toprotoGetSettingsResponse(r GetSettingsResponse) *duov1.GetSettingsResponse {
	return &duov1.GetSettingsResponse{Values: maps.Clone(r.Values), SecretSet: maps.Clone(r.SecretSet)}
}

func toprotoUpdateSettingsRequest(r UpdateSettingsRequest) *duov1.UpdateSettingsRequest {
	return &duov1.UpdateSettingsRequest{Values: maps.Clone(r.Values), SkipDuoCheck: r.SkipDuoCheck, Actor: toprotoActor(r.Actor)}
}

func toprotoFieldError(e FieldError) *duov1.FieldError {
	return &duov1.FieldError{Field: e.Field, Reason: string(e.Reason), Message: e.Message, Text: toprotoText(e.Text)}
}

func toprotoUpdateSettingsResponse(r UpdateSettingsResponse) *duov1.UpdateSettingsResponse {
	return &duov1.UpdateSettingsResponse{Saved: r.Saved, Errors: mapSlice(r.Errors, toprotoFieldError), Duo: toprotoDuoHealth(r.Duo)}
}

func toprotoCheckDuoRequest(r CheckDuoRequest) *duov1.CheckDuoRequest {
	return &duov1.CheckDuoRequest{Actor: toprotoActor(r.Actor)}
}

func toprotoCheckDuoResponse(r CheckDuoResponse) *duov1.CheckDuoResponse {
	return &duov1.CheckDuoResponse{Duo: toprotoDuoHealth(r.Duo)}
}

func toprotoOperatorState(s OperatorState) *duov1.OperatorState {
	return &duov1.OperatorState{
		OperatorId: s.OperatorID, Enabled: s.Enabled, Username: s.Username, Email: s.Email, DuoAlias: s.DuoAlias,
		EnrolledAtUnix: unixOf(s.EnrolledAt), ChangedBy: s.ChangedBy, ChangedAtUnix: unixOf(s.ChangedAt), LastLoginUnix: unixOf(s.LastLogin),
		BackupCodesLeft: s.BackupCodesLeft, BackupCodesIssuedAtUnix: unixOf(s.BackupCodesIssuedAt), BackupCodesLow: s.BackupCodesLow,
		Requirement: duov1.Requirement(s.Requirement), Locked: s.Locked, LockedAtUnix: unixOf(s.LockedAt),
		LockedUntilUnix: unixOf(s.LockedUntil), FailedAttempts: s.FailedAttempts,
	}
}

func toprotoSetOperatorEnabledRequest(r SetOperatorEnabledRequest) *duov1.SetOperatorEnabledRequest {
	return &duov1.SetOperatorEnabledRequest{Operator: toprotoOperator(r.Operator), Enabled: r.Enabled, Actor: toprotoActor(r.Actor)}
}

func toprotoSetOperatorEnabledResponse(r SetOperatorEnabledResponse) *duov1.SetOperatorEnabledResponse {
	return &duov1.SetOperatorEnabledResponse{State: toprotoOperatorState(r.State)}
}

func toprotoGetOperatorStatesRequest(r GetOperatorStatesRequest) *duov1.GetOperatorStatesRequest {
	return &duov1.GetOperatorStatesRequest{OperatorIds: slices.Clone(r.OperatorIDs), Actor: toprotoActor(r.Actor),
		Operators: mapSlice(r.Operators, toprotoOperator)}
}

func toprotoGetOperatorStatesResponse(r GetOperatorStatesResponse) *duov1.GetOperatorStatesResponse {
	return &duov1.GetOperatorStatesResponse{States: mapSlice(r.States, toprotoOperatorState)}
}

func toprotoListEnabledOperatorsRequest(r ListEnabledOperatorsRequest) *duov1.ListEnabledOperatorsRequest {
	return &duov1.ListEnabledOperatorsRequest{PageSize: r.PageSize, PageToken: r.PageToken, Actor: toprotoActor(r.Actor)}
}

func toprotoListEnabledOperatorsResponse(r ListEnabledOperatorsResponse) *duov1.ListEnabledOperatorsResponse {
	return &duov1.ListEnabledOperatorsResponse{States: mapSlice(r.States, toprotoOperatorState), NextPageToken: r.NextPageToken}
}

func toprotoSetOperatorAliasRequest(r SetOperatorAliasRequest) *duov1.SetOperatorAliasRequest {
	return &duov1.SetOperatorAliasRequest{Operator: toprotoOperator(r.Operator), DuoAlias: r.DuoAlias, Actor: toprotoActor(r.Actor)}
}

func toprotoSetOperatorAliasResponse(r SetOperatorAliasResponse) *duov1.SetOperatorAliasResponse {
	return &duov1.SetOperatorAliasResponse{State: toprotoOperatorState(r.State)}
}

// toprotoLoginDecision sends a decision as its number, which is the wire's
// (TestEveryDecisionMapsBothWays); an unknown one goes as UNSPECIFIED.
func toprotoLoginDecision(d LoginDecision) duov1.LoginDecision {
	if !d.known() {
		return duov1.LoginDecision_LOGIN_DECISION_UNSPECIFIED
	}
	return duov1.LoginDecision(d)
}

func toprotoBeginLoginRequest(r BeginLoginRequest) *duov1.BeginLoginRequest {
	return &duov1.BeginLoginRequest{Operator: toprotoOperator(r.Operator), Client: toprotoClientInfo(r.Client)}
}

func toprotoBeginLoginResponse(r BeginLoginResponse) *duov1.BeginLoginResponse {
	return &duov1.BeginLoginResponse{Decision: toprotoLoginDecision(r.Decision), RedirectUrl: r.RedirectURL, State: r.State,
		Reason: string(r.Reason), Message: r.Message, Text: toprotoText(r.Text)}
}

func toprotoCompleteLoginRequest(r CompleteLoginRequest) *duov1.CompleteLoginRequest {
	return &duov1.CompleteLoginRequest{Operator: toprotoOperator(r.Operator), SessionState: r.SessionState,
		CallbackState: r.CallbackState, DuoCode: r.DuoCode, Client: toprotoClientInfo(r.Client)}
}

func toprotoCompleteLoginResponse(r CompleteLoginResponse) *duov1.CompleteLoginResponse {
	return &duov1.CompleteLoginResponse{Decision: toprotoLoginDecision(r.Decision), Reason: string(r.Reason), Message: r.Message,
		BackupCodes: slices.Clone(r.BackupCodes), BackupCodesTicket: r.BackupCodesTicket, Text: toprotoText(r.Text)}
}

func toprotoConfirmBackupCodesRequest(r ConfirmBackupCodesRequest) *duov1.ConfirmBackupCodesRequest {
	return &duov1.ConfirmBackupCodesRequest{Operator: toprotoOperator(r.Operator), Ticket: r.Ticket, Client: toprotoClientInfo(r.Client)}
}

func toprotoRedeemCodeRequest(r RedeemCodeRequest) *duov1.RedeemCodeRequest {
	return &duov1.RedeemCodeRequest{Operator: toprotoOperator(r.Operator), Code: r.Code, Client: toprotoClientInfo(r.Client)}
}

func toprotoRegenerateBackupCodesRequest(r RegenerateBackupCodesRequest) *duov1.RegenerateBackupCodesRequest {
	return &duov1.RegenerateBackupCodesRequest{Operator: toprotoOperator(r.Operator), Actor: toprotoActor(r.Actor)}
}

func toprotoRegenerateBackupCodesResponse(r RegenerateBackupCodesResponse) *duov1.RegenerateBackupCodesResponse {
	return &duov1.RegenerateBackupCodesResponse{BackupCodes: slices.Clone(r.BackupCodes), State: toprotoOperatorState(r.State)}
}

func toprotoBypassCode(c BypassCode) *duov1.BypassCode {
	return &duov1.BypassCode{Id: c.ID, OperatorId: c.OperatorID, IssuedBy: c.IssuedBy, IssuedAtUnix: unixOf(c.IssuedAt),
		UsesLeft: c.UsesLeft, ExpiresAtUnix: unixOf(c.ExpiresAt), RevokedAtUnix: unixOf(c.RevokedAt)}
}

func toprotoIssueBypassCodeRequest(r IssueBypassCodeRequest) *duov1.IssueBypassCodeRequest {
	return &duov1.IssueBypassCodeRequest{Operator: toprotoOperator(r.Operator), Uses: r.Uses, LifetimeSeconds: r.LifetimeSeconds, Actor: toprotoActor(r.Actor),
		OperatorRole: duov1.Role(r.OperatorRole)}
}

func toprotoIssueBypassCodeResponse(r IssueBypassCodeResponse) *duov1.IssueBypassCodeResponse {
	return &duov1.IssueBypassCodeResponse{Code: r.Code, BypassCode: toprotoBypassCode(r.BypassCode)}
}

func toprotoListBypassCodesRequest(r ListBypassCodesRequest) *duov1.ListBypassCodesRequest {
	return &duov1.ListBypassCodesRequest{OperatorId: r.OperatorID, Actor: toprotoActor(r.Actor)}
}

func toprotoListBypassCodesResponse(r ListBypassCodesResponse) *duov1.ListBypassCodesResponse {
	return &duov1.ListBypassCodesResponse{BypassCodes: mapSlice(r.BypassCodes, toprotoBypassCode)}
}

func toprotoRevokeBypassCodeRequest(r RevokeBypassCodeRequest) *duov1.RevokeBypassCodeRequest {
	return &duov1.RevokeBypassCodeRequest{OperatorId: r.OperatorID, Id: r.ID, Actor: toprotoActor(r.Actor)}
}

func toprotoRevokeBypassCodeResponse(r RevokeBypassCodeResponse) *duov1.RevokeBypassCodeResponse {
	return &duov1.RevokeBypassCodeResponse{BypassCode: toprotoBypassCode(r.BypassCode)}
}

func toprotoCreateRecoveryLinkRequest(r CreateRecoveryLinkRequest) *duov1.CreateRecoveryLinkRequest {
	return &duov1.CreateRecoveryLinkRequest{Operator: toprotoOperator(r.Operator), Actor: toprotoActor(r.Actor)}
}

func toprotoCreateRecoveryLinkResponse(r CreateRecoveryLinkResponse) *duov1.CreateRecoveryLinkResponse {
	return &duov1.CreateRecoveryLinkResponse{Token: r.Token, ExpiresAtUnix: unixOf(r.ExpiresAt)}
}

func toprotoRedeemRecoveryLinkRequest(r RedeemRecoveryLinkRequest) *duov1.RedeemRecoveryLinkRequest {
	return &duov1.RedeemRecoveryLinkRequest{Operator: toprotoOperator(r.Operator), Token: r.Token, Client: toprotoClientInfo(r.Client)}
}

func toprotoNotice(n Notice) *duov1.Notice {
	return &duov1.Notice{Id: n.ID, AtUnix: unixOf(n.At), OperatorId: n.OperatorID, Kind: string(n.Kind), Actor: n.Actor}
}

func toprotoListNoticesRequest(r ListNoticesRequest) *duov1.ListNoticesRequest {
	return &duov1.ListNoticesRequest{AfterId: r.AfterID, Limit: r.Limit, Actor: toprotoActor(r.Actor)}
}

func toprotoListNoticesResponse(r ListNoticesResponse) *duov1.ListNoticesResponse {
	return &duov1.ListNoticesResponse{Notices: mapSlice(r.Notices, toprotoNotice)}
}

func toprotoUnlockOperatorRequest(r UnlockOperatorRequest) *duov1.UnlockOperatorRequest {
	return &duov1.UnlockOperatorRequest{Operator: toprotoOperator(r.Operator), Actor: toprotoActor(r.Actor)}
}

func toprotoUnlockOperatorResponse(r UnlockOperatorResponse) *duov1.UnlockOperatorResponse {
	return &duov1.UnlockOperatorResponse{State: toprotoOperatorState(r.State)}
}

func toprotoAuthEvent(e AuthEvent) *duov1.AuthEvent {
	return &duov1.AuthEvent{Id: e.ID, AtUnix: unixOf(e.At), Kind: e.Kind, OperatorId: e.OperatorID, ActorId: e.ActorID, Actor: e.Actor,
		ActorRole: e.ActorRole, ClientIp: e.ClientIP, UserAgent: e.UserAgent, Outcome: e.Outcome, Reason: e.Reason, Detail: e.Detail}
}

func toprotoAuthEventFilter(f AuthEventFilter) *duov1.AuthEventFilter {
	return &duov1.AuthEventFilter{OperatorId: f.OperatorID, Kinds: slices.Clone(f.Kinds), Outcomes: slices.Clone(f.Outcomes),
		FromUnix: f.FromUnix, ToUnix: f.ToUnix}
}

func toprotoListAuthEventsRequest(r ListAuthEventsRequest) *duov1.ListAuthEventsRequest {
	return &duov1.ListAuthEventsRequest{Filter: toprotoAuthEventFilter(r.Filter), PageSize: r.PageSize, PageToken: r.PageToken, Actor: toprotoActor(r.Actor)}
}

func toprotoListAuthEventsResponse(r ListAuthEventsResponse) *duov1.ListAuthEventsResponse {
	return &duov1.ListAuthEventsResponse{Events: mapSlice(r.Events, toprotoAuthEvent), NextPageToken: r.NextPageToken}
}

func toprotoExportAuthEventsRequest(r ExportAuthEventsRequest) *duov1.ExportAuthEventsRequest {
	return &duov1.ExportAuthEventsRequest{Filter: toprotoAuthEventFilter(r.Filter), Format: duov1.ExportFormat(r.Format), Actor: toprotoActor(r.Actor)}
}

func toprotoExportChunk(c ExportChunk) *duov1.ExportChunk {
	return &duov1.ExportChunk{Data: slices.Clone(c.Data)}
}

func toprotoGetMetricsRequest(GetMetricsRequest) *duov1.GetMetricsRequest {
	return &duov1.GetMetricsRequest{}
}

func toprotoGetMetricsResponse(r GetMetricsResponse) *duov1.GetMetricsResponse {
	return &duov1.GetMetricsResponse{Families: slices.Clone(r.Families)}
}
