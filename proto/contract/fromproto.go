package contract

import (
	"maps"
	"slices"
	"time"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// protobuf → Go, one function per message. Every getter is nil-safe, so a
// missing message converts to zero values.

func timeOf(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func fromprotoActor(a *duov1.Actor) Actor {
	return Actor{ID: a.GetId(), Username: a.GetUsername(), IP: a.GetIp(), Role: Role(a.GetRole())}
}

func fromprotoOperator(o *duov1.Operator) Operator {
	return Operator{ID: o.GetId(), Username: o.GetUsername(), Email: o.GetEmail(), Role: Role(o.GetRole()), ServiceAccount: o.GetServiceAccount()}
}

func fromprotoText(t *duov1.Text) Text {
	return Text{ID: TextID(t.GetId()), Args: maps.Clone(t.GetArgs())}
}

func fromprotoLoginCounts(c *duov1.LoginCounts) LoginCounts {
	return LoginCounts{Window: time.Duration(c.GetWindowSeconds()) * time.Second, Allowed: c.GetAllowed(), Denied: c.GetDenied(),
		FailOpen: c.GetFailOpen(), Exempt: c.GetExempt()}
}

func fromprotoHostInfo(h *duov1.HostInfo) HostInfo {
	return HostInfo{Name: h.GetName(), Version: h.GetVersion()}
}

func fromprotoClientInfo(c *duov1.ClientInfo) ClientInfo {
	return ClientInfo{IP: c.GetIp(), UserAgent: c.GetUserAgent()}
}

func fromprotoActivateRequest(r *duov1.ActivateRequest) ActivateRequest {
	return ActivateRequest{Host: fromprotoHostInfo(r.GetHost()), CallbackURL: r.GetCallbackUrl(), DataDir: r.GetDataDir(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoActivateResponse(r *duov1.ActivateResponse) ActivateResponse {
	return ActivateResponse{Status: fromprotoStatusResponse(r.GetStatus())}
}

func fromprotoDeactivateRequest(r *duov1.DeactivateRequest) DeactivateRequest {
	return DeactivateRequest{Actor: fromprotoActor(r.GetActor())}
}

func fromprotoDeactivateResponse(*duov1.DeactivateResponse) DeactivateResponse {
	return DeactivateResponse{}
}

func fromprotoUninstallRequest(r *duov1.UninstallRequest) UninstallRequest {
	return UninstallRequest{Confirm: r.GetConfirm(), Actor: fromprotoActor(r.GetActor()), DataDir: r.GetDataDir()}
}

func fromprotoUninstallResponse(r *duov1.UninstallResponse) UninstallResponse {
	return UninstallResponse{Removed: slices.Clone(r.GetRemoved())}
}

func fromprotoStatusRequest(*duov1.StatusRequest) StatusRequest { return StatusRequest{} }

func fromprotoDuoHealth(h *duov1.DuoHealth) DuoHealth {
	return DuoHealth{Checked: h.GetChecked(), OK: h.GetOk(), CheckedAt: timeOf(h.GetCheckedAtUnix()), Detail: h.GetDetail(),
		Failure: DuoFailure(h.GetFailure()), Latency: time.Duration(h.GetLatencyMs()) * time.Millisecond, ConsecutiveFailures: h.GetConsecutiveFailures()}
}

func fromprotoStatusResponse(s *duov1.StatusResponse) StatusResponse {
	return StatusResponse{Active: s.GetActive(), SchemaVersion: s.GetSchemaVersion(), Configured: s.GetConfigured(),
		PluginVersion: s.GetPluginVersion(), Duo: fromprotoDuoHealth(s.GetDuo()), Logins: fromprotoLoginCounts(s.GetLogins()),
		ProtocolMinor: s.GetProtocolMinor()}
}

func fromprotoGetSettingsRequest(r *duov1.GetSettingsRequest) GetSettingsRequest {
	return GetSettingsRequest{Actor: fromprotoActor(r.GetActor())}
}

func fromprotoGetSettingsResponse(r *duov1.GetSettingsResponse) GetSettingsResponse {
	return GetSettingsResponse{Values: maps.Clone(r.GetValues()), SecretSet: maps.Clone(r.GetSecretSet())}
}

func fromprotoUpdateSettingsRequest(r *duov1.UpdateSettingsRequest) UpdateSettingsRequest {
	return UpdateSettingsRequest{Values: maps.Clone(r.GetValues()), SkipDuoCheck: r.GetSkipDuoCheck(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoFieldError(e *duov1.FieldError) FieldError {
	return FieldError{Field: e.GetField(), Reason: FieldReason(e.GetReason()), Message: e.GetMessage(), Text: fromprotoText(e.GetText())}
}

func fromprotoUpdateSettingsResponse(r *duov1.UpdateSettingsResponse) UpdateSettingsResponse {
	return UpdateSettingsResponse{Saved: r.GetSaved(), Errors: mapSlice(r.GetErrors(), fromprotoFieldError), Duo: fromprotoDuoHealth(r.GetDuo())}
}

func fromprotoCheckDuoRequest(r *duov1.CheckDuoRequest) CheckDuoRequest {
	return CheckDuoRequest{Actor: fromprotoActor(r.GetActor())}
}

func fromprotoCheckDuoResponse(r *duov1.CheckDuoResponse) CheckDuoResponse {
	return CheckDuoResponse{Duo: fromprotoDuoHealth(r.GetDuo())}
}

func fromprotoOperatorState(s *duov1.OperatorState) OperatorState {
	return OperatorState{
		OperatorID: s.GetOperatorId(), Enabled: s.GetEnabled(), Username: s.GetUsername(), Email: s.GetEmail(), DuoAlias: s.GetDuoAlias(),
		EnrolledAt: timeOf(s.GetEnrolledAtUnix()), ChangedBy: s.GetChangedBy(), ChangedAt: timeOf(s.GetChangedAtUnix()), LastLogin: timeOf(s.GetLastLoginUnix()),
		BackupCodesLeft: s.GetBackupCodesLeft(), BackupCodesIssuedAt: timeOf(s.GetBackupCodesIssuedAtUnix()), BackupCodesLow: s.GetBackupCodesLow(),
		Requirement: Requirement(s.GetRequirement()), Locked: s.GetLocked(), LockedAt: timeOf(s.GetLockedAtUnix()),
		LockedUntil: timeOf(s.GetLockedUntilUnix()), FailedAttempts: s.GetFailedAttempts(),
	}
}

func fromprotoSetOperatorEnabledRequest(r *duov1.SetOperatorEnabledRequest) SetOperatorEnabledRequest {
	return SetOperatorEnabledRequest{Operator: fromprotoOperator(r.GetOperator()), Enabled: r.GetEnabled(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoSetOperatorEnabledResponse(r *duov1.SetOperatorEnabledResponse) SetOperatorEnabledResponse {
	return SetOperatorEnabledResponse{State: fromprotoOperatorState(r.GetState())}
}

func fromprotoGetOperatorStatesRequest(r *duov1.GetOperatorStatesRequest) GetOperatorStatesRequest {
	return GetOperatorStatesRequest{OperatorIDs: slices.Clone(r.GetOperatorIds()), Actor: fromprotoActor(r.GetActor()),
		Operators: mapSlice(r.GetOperators(), fromprotoOperator)}
}

func fromprotoGetOperatorStatesResponse(r *duov1.GetOperatorStatesResponse) GetOperatorStatesResponse {
	return GetOperatorStatesResponse{States: mapSlice(r.GetStates(), fromprotoOperatorState)}
}

func fromprotoListEnabledOperatorsRequest(r *duov1.ListEnabledOperatorsRequest) ListEnabledOperatorsRequest {
	return ListEnabledOperatorsRequest{PageSize: r.GetPageSize(), PageToken: r.GetPageToken(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoListEnabledOperatorsResponse(r *duov1.ListEnabledOperatorsResponse) ListEnabledOperatorsResponse {
	return ListEnabledOperatorsResponse{States: mapSlice(r.GetStates(), fromprotoOperatorState), NextPageToken: r.GetNextPageToken()}
}

func fromprotoSetOperatorAliasRequest(r *duov1.SetOperatorAliasRequest) SetOperatorAliasRequest {
	return SetOperatorAliasRequest{Operator: fromprotoOperator(r.GetOperator()), DuoAlias: r.GetDuoAlias(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoSetOperatorAliasResponse(r *duov1.SetOperatorAliasResponse) SetOperatorAliasResponse {
	return SetOperatorAliasResponse{State: fromprotoOperatorState(r.GetState())}
}

// fromprotoLoginDecision takes the wire's number as the decision
// (TestEveryDecisionMapsBothWays) and maps unknown (newer) wire values to
// DecisionUnspecified, which means deny.
func fromprotoLoginDecision(d duov1.LoginDecision) LoginDecision {
	if g := LoginDecision(d); g.known() {
		return g
	}
	return DecisionUnspecified
}

func fromprotoBeginLoginRequest(r *duov1.BeginLoginRequest) BeginLoginRequest {
	return BeginLoginRequest{Operator: fromprotoOperator(r.GetOperator()), Client: fromprotoClientInfo(r.GetClient())}
}

func fromprotoBeginLoginResponse(r *duov1.BeginLoginResponse) BeginLoginResponse {
	return BeginLoginResponse{Decision: fromprotoLoginDecision(r.GetDecision()), RedirectURL: r.GetRedirectUrl(), State: r.GetState(),
		Reason: LoginReason(r.GetReason()), Message: r.GetMessage(), Text: fromprotoText(r.GetText())}
}

func fromprotoCompleteLoginRequest(r *duov1.CompleteLoginRequest) CompleteLoginRequest {
	return CompleteLoginRequest{Operator: fromprotoOperator(r.GetOperator()), SessionState: r.GetSessionState(),
		CallbackState: r.GetCallbackState(), DuoCode: r.GetDuoCode(), Client: fromprotoClientInfo(r.GetClient())}
}

func fromprotoCompleteLoginResponse(r *duov1.CompleteLoginResponse) CompleteLoginResponse {
	return CompleteLoginResponse{Decision: fromprotoLoginDecision(r.GetDecision()), Reason: LoginReason(r.GetReason()), Message: r.GetMessage(),
		BackupCodes: slices.Clone(r.GetBackupCodes()), BackupCodesTicket: r.GetBackupCodesTicket(), Text: fromprotoText(r.GetText())}
}

func fromprotoConfirmBackupCodesRequest(r *duov1.ConfirmBackupCodesRequest) ConfirmBackupCodesRequest {
	return ConfirmBackupCodesRequest{Operator: fromprotoOperator(r.GetOperator()), Ticket: r.GetTicket(), Client: fromprotoClientInfo(r.GetClient())}
}

func fromprotoRedeemCodeRequest(r *duov1.RedeemCodeRequest) RedeemCodeRequest {
	return RedeemCodeRequest{Operator: fromprotoOperator(r.GetOperator()), Code: r.GetCode(), Client: fromprotoClientInfo(r.GetClient())}
}

func fromprotoRegenerateBackupCodesRequest(r *duov1.RegenerateBackupCodesRequest) RegenerateBackupCodesRequest {
	return RegenerateBackupCodesRequest{Operator: fromprotoOperator(r.GetOperator()), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoRegenerateBackupCodesResponse(r *duov1.RegenerateBackupCodesResponse) RegenerateBackupCodesResponse {
	return RegenerateBackupCodesResponse{BackupCodes: slices.Clone(r.GetBackupCodes()), State: fromprotoOperatorState(r.GetState())}
}

func fromprotoBypassCode(c *duov1.BypassCode) BypassCode {
	return BypassCode{ID: c.GetId(), OperatorID: c.GetOperatorId(), IssuedBy: c.GetIssuedBy(), IssuedAt: timeOf(c.GetIssuedAtUnix()),
		UsesLeft: c.GetUsesLeft(), ExpiresAt: timeOf(c.GetExpiresAtUnix()), RevokedAt: timeOf(c.GetRevokedAtUnix())}
}

func fromprotoIssueBypassCodeRequest(r *duov1.IssueBypassCodeRequest) IssueBypassCodeRequest {
	return IssueBypassCodeRequest{Operator: fromprotoOperator(r.GetOperator()), Uses: r.GetUses(), LifetimeSeconds: r.GetLifetimeSeconds(), Actor: fromprotoActor(r.GetActor()),
		OperatorRole: Role(r.GetOperatorRole())}
}

func fromprotoIssueBypassCodeResponse(r *duov1.IssueBypassCodeResponse) IssueBypassCodeResponse {
	return IssueBypassCodeResponse{Code: r.GetCode(), BypassCode: fromprotoBypassCode(r.GetBypassCode())}
}

func fromprotoListBypassCodesRequest(r *duov1.ListBypassCodesRequest) ListBypassCodesRequest {
	return ListBypassCodesRequest{OperatorID: r.GetOperatorId(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoListBypassCodesResponse(r *duov1.ListBypassCodesResponse) ListBypassCodesResponse {
	return ListBypassCodesResponse{BypassCodes: mapSlice(r.GetBypassCodes(), fromprotoBypassCode)}
}

func fromprotoRevokeBypassCodeRequest(r *duov1.RevokeBypassCodeRequest) RevokeBypassCodeRequest {
	return RevokeBypassCodeRequest{OperatorID: r.GetOperatorId(), ID: r.GetId(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoRevokeBypassCodeResponse(r *duov1.RevokeBypassCodeResponse) RevokeBypassCodeResponse {
	return RevokeBypassCodeResponse{BypassCode: fromprotoBypassCode(r.GetBypassCode())}
}

func fromprotoCreateRecoveryLinkRequest(r *duov1.CreateRecoveryLinkRequest) CreateRecoveryLinkRequest {
	return CreateRecoveryLinkRequest{Operator: fromprotoOperator(r.GetOperator()), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoCreateRecoveryLinkResponse(r *duov1.CreateRecoveryLinkResponse) CreateRecoveryLinkResponse {
	return CreateRecoveryLinkResponse{Token: r.GetToken(), ExpiresAt: timeOf(r.GetExpiresAtUnix())}
}

func fromprotoRedeemRecoveryLinkRequest(r *duov1.RedeemRecoveryLinkRequest) RedeemRecoveryLinkRequest {
	return RedeemRecoveryLinkRequest{Operator: fromprotoOperator(r.GetOperator()), Token: r.GetToken(), Client: fromprotoClientInfo(r.GetClient())}
}

func fromprotoNotice(n *duov1.Notice) Notice {
	return Notice{ID: n.GetId(), At: timeOf(n.GetAtUnix()), OperatorID: n.GetOperatorId(), Kind: NoticeKind(n.GetKind()), Actor: n.GetActor()}
}

func fromprotoListNoticesRequest(r *duov1.ListNoticesRequest) ListNoticesRequest {
	return ListNoticesRequest{AfterID: r.GetAfterId(), Limit: r.GetLimit(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoListNoticesResponse(r *duov1.ListNoticesResponse) ListNoticesResponse {
	return ListNoticesResponse{Notices: mapSlice(r.GetNotices(), fromprotoNotice)}
}

func fromprotoUnlockOperatorRequest(r *duov1.UnlockOperatorRequest) UnlockOperatorRequest {
	return UnlockOperatorRequest{Operator: fromprotoOperator(r.GetOperator()), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoUnlockOperatorResponse(r *duov1.UnlockOperatorResponse) UnlockOperatorResponse {
	return UnlockOperatorResponse{State: fromprotoOperatorState(r.GetState())}
}

func fromprotoAuthEvent(e *duov1.AuthEvent) AuthEvent {
	return AuthEvent{ID: e.GetId(), At: timeOf(e.GetAtUnix()), Kind: e.GetKind(), OperatorID: e.GetOperatorId(), ActorID: e.GetActorId(),
		Actor: e.GetActor(), ActorRole: e.GetActorRole(), ClientIP: e.GetClientIp(), UserAgent: e.GetUserAgent(), Outcome: e.GetOutcome(),
		Reason: e.GetReason(), Detail: e.GetDetail()}
}

func fromprotoAuthEventFilter(f *duov1.AuthEventFilter) AuthEventFilter {
	return AuthEventFilter{OperatorID: f.GetOperatorId(), Kinds: slices.Clone(f.GetKinds()), Outcomes: slices.Clone(f.GetOutcomes()),
		FromUnix: f.GetFromUnix(), ToUnix: f.GetToUnix()}
}

func fromprotoListAuthEventsRequest(r *duov1.ListAuthEventsRequest) ListAuthEventsRequest {
	return ListAuthEventsRequest{Filter: fromprotoAuthEventFilter(r.GetFilter()), PageSize: r.GetPageSize(), PageToken: r.GetPageToken(),
		Actor: fromprotoActor(r.GetActor())}
}

func fromprotoListAuthEventsResponse(r *duov1.ListAuthEventsResponse) ListAuthEventsResponse {
	return ListAuthEventsResponse{Events: mapSlice(r.GetEvents(), fromprotoAuthEvent), NextPageToken: r.GetNextPageToken()}
}

func fromprotoExportAuthEventsRequest(r *duov1.ExportAuthEventsRequest) ExportAuthEventsRequest {
	return ExportAuthEventsRequest{Filter: fromprotoAuthEventFilter(r.GetFilter()), Format: ExportFormat(r.GetFormat()), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoExportChunk(c *duov1.ExportChunk) ExportChunk {
	return ExportChunk{Data: slices.Clone(c.GetData())}
}

func fromprotoGetMetricsRequest(*duov1.GetMetricsRequest) GetMetricsRequest {
	return GetMetricsRequest{}
}

func fromprotoGetMetricsResponse(r *duov1.GetMetricsResponse) GetMetricsResponse {
	return GetMetricsResponse{Families: slices.Clone(r.GetFamilies())}
}
