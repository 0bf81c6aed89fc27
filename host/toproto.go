package host

import (
	"math"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// Converters from the SDK's Go types to the wire types. The protobuf types
// never leave this package's unexported code.

func toprotoActor(a Actor) *duov1.Actor {
	return &duov1.Actor{Id: a.ID, Username: a.Username, Ip: a.IP}
}

func toprotoOperator(o Operator) *duov1.Operator {
	return &duov1.Operator{Id: o.ID, Username: o.Username, Email: o.Email}
}

func toprotoHost(h HostInfo) *duov1.HostInfo {
	return &duov1.HostInfo{Name: h.Name, Version: h.Version}
}

func toprotoClient(c ClientInfo) *duov1.ClientInfo {
	return &duov1.ClientInfo{Ip: c.IP, UserAgent: c.UserAgent}
}

func toprotoActivate(r ActivateRequest) *duov1.ActivateRequest {
	return &duov1.ActivateRequest{
		Host:        toprotoHost(r.Host),
		CallbackUrl: r.CallbackURL,
		DataDir:     r.DataDir,
		Actor:       toprotoActor(r.Actor),
	}
}

func toprotoUninstall(r UninstallRequest) *duov1.UninstallRequest {
	return &duov1.UninstallRequest{Confirm: r.Confirm, Actor: toprotoActor(r.Actor), DataDir: r.DataDir}
}

func toprotoUpdateSettings(r UpdateSettingsRequest) *duov1.UpdateSettingsRequest {
	values := make(map[string]string, len(r.Values))
	for k, v := range r.Values {
		values[k] = v
	}
	return &duov1.UpdateSettingsRequest{Values: values, SkipDuoCheck: r.SkipDuoCheck, Actor: toprotoActor(r.Actor)}
}

func toprotoCompleteLogin(r CompleteLoginRequest) *duov1.CompleteLoginRequest {
	return &duov1.CompleteLoginRequest{
		Operator:      toprotoOperator(r.Operator),
		SessionState:  r.SessionState,
		CallbackState: r.CallbackState,
		DuoCode:       r.DuoCode,
		Client:        toprotoClient(r.Client),
	}
}

// toprotoPageSize clamps to the wire's int32; the plugin picks its default
// for 0.
func toprotoPageSize(n int) int32 {
	switch {
	case n < 0:
		return 0
	case n > math.MaxInt32:
		return math.MaxInt32
	default:
		return int32(n)
	}
}
