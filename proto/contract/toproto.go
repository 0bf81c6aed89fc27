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
	return &duov1.Actor{Id: a.ID, Username: a.Username, Ip: a.IP}
}

func toprotoOperator(o Operator) *duov1.Operator {
	return &duov1.Operator{Id: o.ID, Username: o.Username, Email: o.Email}
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
	return &duov1.DuoHealth{Checked: h.Checked, Ok: h.OK, CheckedAtUnix: unixOf(h.CheckedAt), Detail: h.Detail, Failure: string(h.Failure)}
}

func toprotoStatusResponse(s StatusResponse) *duov1.StatusResponse {
	return &duov1.StatusResponse{Active: s.Active, SchemaVersion: s.SchemaVersion, Configured: s.Configured,
		PluginVersion: s.PluginVersion, Duo: toprotoDuoHealth(s.Duo)}
}

func toprotoGetSettingsRequest(GetSettingsRequest) *duov1.GetSettingsRequest {
	return &duov1.GetSettingsRequest{}
}

func toprotoGetSettingsResponse(r GetSettingsResponse) *duov1.GetSettingsResponse {
	return &duov1.GetSettingsResponse{Values: maps.Clone(r.Values), SecretSet: maps.Clone(r.SecretSet)}
}

func toprotoUpdateSettingsRequest(r UpdateSettingsRequest) *duov1.UpdateSettingsRequest {
	return &duov1.UpdateSettingsRequest{Values: maps.Clone(r.Values), SkipDuoCheck: r.SkipDuoCheck, Actor: toprotoActor(r.Actor)}
}

func toprotoFieldError(e FieldError) *duov1.FieldError {
	return &duov1.FieldError{Field: e.Field, Reason: string(e.Reason), Message: e.Message}
}

func toprotoUpdateSettingsResponse(r UpdateSettingsResponse) *duov1.UpdateSettingsResponse {
	return &duov1.UpdateSettingsResponse{Saved: r.Saved, Errors: mapSlice(r.Errors, toprotoFieldError), Duo: toprotoDuoHealth(r.Duo)}
}

func toprotoCheckDuoRequest(CheckDuoRequest) *duov1.CheckDuoRequest { return &duov1.CheckDuoRequest{} }

func toprotoCheckDuoResponse(r CheckDuoResponse) *duov1.CheckDuoResponse {
	return &duov1.CheckDuoResponse{Duo: toprotoDuoHealth(r.Duo)}
}

func toprotoOperatorState(s OperatorState) *duov1.OperatorState {
	return &duov1.OperatorState{
		OperatorId: s.OperatorID, Enabled: s.Enabled, Username: s.Username, Email: s.Email, DuoAlias: s.DuoAlias,
		EnrolledAtUnix: unixOf(s.EnrolledAt), ChangedBy: s.ChangedBy, ChangedAtUnix: unixOf(s.ChangedAt), LastLoginUnix: unixOf(s.LastLogin),
	}
}

func toprotoSetOperatorEnabledRequest(r SetOperatorEnabledRequest) *duov1.SetOperatorEnabledRequest {
	return &duov1.SetOperatorEnabledRequest{Operator: toprotoOperator(r.Operator), Enabled: r.Enabled, Actor: toprotoActor(r.Actor)}
}

func toprotoSetOperatorEnabledResponse(r SetOperatorEnabledResponse) *duov1.SetOperatorEnabledResponse {
	return &duov1.SetOperatorEnabledResponse{State: toprotoOperatorState(r.State)}
}

func toprotoGetOperatorStatesRequest(r GetOperatorStatesRequest) *duov1.GetOperatorStatesRequest {
	return &duov1.GetOperatorStatesRequest{OperatorIds: slices.Clone(r.OperatorIDs)}
}

func toprotoGetOperatorStatesResponse(r GetOperatorStatesResponse) *duov1.GetOperatorStatesResponse {
	return &duov1.GetOperatorStatesResponse{States: mapSlice(r.States, toprotoOperatorState)}
}

func toprotoListEnabledOperatorsRequest(r ListEnabledOperatorsRequest) *duov1.ListEnabledOperatorsRequest {
	return &duov1.ListEnabledOperatorsRequest{PageSize: r.PageSize, PageToken: r.PageToken}
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

func toprotoLoginDecision(d LoginDecision) duov1.LoginDecision {
	switch d {
	case DecisionNotRequired:
		return duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED
	case DecisionRedirect:
		return duov1.LoginDecision_LOGIN_DECISION_REDIRECT
	case DecisionDenied:
		return duov1.LoginDecision_LOGIN_DECISION_DENIED
	case DecisionAllowed:
		return duov1.LoginDecision_LOGIN_DECISION_ALLOWED
	default:
		return duov1.LoginDecision_LOGIN_DECISION_UNSPECIFIED
	}
}

func toprotoBeginLoginRequest(r BeginLoginRequest) *duov1.BeginLoginRequest {
	return &duov1.BeginLoginRequest{Operator: toprotoOperator(r.Operator), Client: toprotoClientInfo(r.Client)}
}

func toprotoBeginLoginResponse(r BeginLoginResponse) *duov1.BeginLoginResponse {
	return &duov1.BeginLoginResponse{Decision: toprotoLoginDecision(r.Decision), RedirectUrl: r.RedirectURL, State: r.State,
		Reason: string(r.Reason), Message: r.Message}
}

func toprotoCompleteLoginRequest(r CompleteLoginRequest) *duov1.CompleteLoginRequest {
	return &duov1.CompleteLoginRequest{Operator: toprotoOperator(r.Operator), SessionState: r.SessionState,
		CallbackState: r.CallbackState, DuoCode: r.DuoCode, Client: toprotoClientInfo(r.Client)}
}

func toprotoCompleteLoginResponse(r CompleteLoginResponse) *duov1.CompleteLoginResponse {
	return &duov1.CompleteLoginResponse{Decision: toprotoLoginDecision(r.Decision), Reason: string(r.Reason), Message: r.Message}
}
