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
	return Actor{ID: a.GetId(), Username: a.GetUsername(), IP: a.GetIp()}
}

func fromprotoOperator(o *duov1.Operator) Operator {
	return Operator{ID: o.GetId(), Username: o.GetUsername(), Email: o.GetEmail()}
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
		Failure: DuoFailure(h.GetFailure())}
}

func fromprotoStatusResponse(s *duov1.StatusResponse) StatusResponse {
	return StatusResponse{Active: s.GetActive(), SchemaVersion: s.GetSchemaVersion(), Configured: s.GetConfigured(),
		PluginVersion: s.GetPluginVersion(), Duo: fromprotoDuoHealth(s.GetDuo())}
}

func fromprotoGetSettingsRequest(*duov1.GetSettingsRequest) GetSettingsRequest {
	return GetSettingsRequest{}
}

func fromprotoGetSettingsResponse(r *duov1.GetSettingsResponse) GetSettingsResponse {
	return GetSettingsResponse{Values: maps.Clone(r.GetValues()), SecretSet: maps.Clone(r.GetSecretSet())}
}

func fromprotoUpdateSettingsRequest(r *duov1.UpdateSettingsRequest) UpdateSettingsRequest {
	return UpdateSettingsRequest{Values: maps.Clone(r.GetValues()), SkipDuoCheck: r.GetSkipDuoCheck(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoFieldError(e *duov1.FieldError) FieldError {
	return FieldError{Field: e.GetField(), Reason: FieldReason(e.GetReason()), Message: e.GetMessage()}
}

func fromprotoUpdateSettingsResponse(r *duov1.UpdateSettingsResponse) UpdateSettingsResponse {
	return UpdateSettingsResponse{Saved: r.GetSaved(), Errors: mapSlice(r.GetErrors(), fromprotoFieldError), Duo: fromprotoDuoHealth(r.GetDuo())}
}

func fromprotoCheckDuoRequest(*duov1.CheckDuoRequest) CheckDuoRequest { return CheckDuoRequest{} }

func fromprotoCheckDuoResponse(r *duov1.CheckDuoResponse) CheckDuoResponse {
	return CheckDuoResponse{Duo: fromprotoDuoHealth(r.GetDuo())}
}

func fromprotoOperatorState(s *duov1.OperatorState) OperatorState {
	return OperatorState{
		OperatorID: s.GetOperatorId(), Enabled: s.GetEnabled(), Username: s.GetUsername(), Email: s.GetEmail(), DuoAlias: s.GetDuoAlias(),
		EnrolledAt: timeOf(s.GetEnrolledAtUnix()), ChangedBy: s.GetChangedBy(), ChangedAt: timeOf(s.GetChangedAtUnix()), LastLogin: timeOf(s.GetLastLoginUnix()),
	}
}

func fromprotoSetOperatorEnabledRequest(r *duov1.SetOperatorEnabledRequest) SetOperatorEnabledRequest {
	return SetOperatorEnabledRequest{Operator: fromprotoOperator(r.GetOperator()), Enabled: r.GetEnabled(), Actor: fromprotoActor(r.GetActor())}
}

func fromprotoSetOperatorEnabledResponse(r *duov1.SetOperatorEnabledResponse) SetOperatorEnabledResponse {
	return SetOperatorEnabledResponse{State: fromprotoOperatorState(r.GetState())}
}

func fromprotoGetOperatorStatesRequest(r *duov1.GetOperatorStatesRequest) GetOperatorStatesRequest {
	return GetOperatorStatesRequest{OperatorIDs: slices.Clone(r.GetOperatorIds())}
}

func fromprotoGetOperatorStatesResponse(r *duov1.GetOperatorStatesResponse) GetOperatorStatesResponse {
	return GetOperatorStatesResponse{States: mapSlice(r.GetStates(), fromprotoOperatorState)}
}

func fromprotoListEnabledOperatorsRequest(r *duov1.ListEnabledOperatorsRequest) ListEnabledOperatorsRequest {
	return ListEnabledOperatorsRequest{PageSize: r.GetPageSize(), PageToken: r.GetPageToken()}
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

// fromprotoLoginDecision maps unknown (newer) wire values to
// DecisionUnspecified, which means deny.
func fromprotoLoginDecision(d duov1.LoginDecision) LoginDecision {
	switch d {
	case duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED:
		return DecisionNotRequired
	case duov1.LoginDecision_LOGIN_DECISION_REDIRECT:
		return DecisionRedirect
	case duov1.LoginDecision_LOGIN_DECISION_DENIED:
		return DecisionDenied
	case duov1.LoginDecision_LOGIN_DECISION_ALLOWED:
		return DecisionAllowed
	default:
		return DecisionUnspecified
	}
}

func fromprotoBeginLoginRequest(r *duov1.BeginLoginRequest) BeginLoginRequest {
	return BeginLoginRequest{Operator: fromprotoOperator(r.GetOperator()), Client: fromprotoClientInfo(r.GetClient())}
}

func fromprotoBeginLoginResponse(r *duov1.BeginLoginResponse) BeginLoginResponse {
	return BeginLoginResponse{Decision: fromprotoLoginDecision(r.GetDecision()), RedirectURL: r.GetRedirectUrl(), State: r.GetState(),
		Reason: LoginReason(r.GetReason()), Message: r.GetMessage()}
}

func fromprotoCompleteLoginRequest(r *duov1.CompleteLoginRequest) CompleteLoginRequest {
	return CompleteLoginRequest{Operator: fromprotoOperator(r.GetOperator()), SessionState: r.GetSessionState(),
		CallbackState: r.GetCallbackState(), DuoCode: r.GetDuoCode(), Client: fromprotoClientInfo(r.GetClient())}
}

func fromprotoCompleteLoginResponse(r *duov1.CompleteLoginResponse) CompleteLoginResponse {
	return CompleteLoginResponse{Decision: fromprotoLoginDecision(r.GetDecision()), Reason: LoginReason(r.GetReason()), Message: r.GetMessage()}
}
