package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// call runs one RPC against the live instance under the call deadline and
// maps its error. Errors are prefixed with op.
func call[Resp any](ctx context.Context, p *Plugin, op string, rpc func(context.Context, *contract.Clients) (Resp, error)) (Resp, error) {
	var zero Resp
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return zero, fmt.Errorf("%s: %w", op, unavailable(contract.ReasonDeadline, "the caller's deadline passed before the call", err))
	case err != nil:
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	in, err := p.current()
	if err != nil {
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	cctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout)
	defer cancel()
	resp, err := rpc(cctx, in.clients)
	if err != nil {
		err = fromCallError(ctx, err)
		if errors.Is(err, ErrUnavailable) {
			// The process may have died: have the supervisor look now
			// rather than at the next ping.
			p.src.Kick()
		}
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	return resp, nil
}

// Activate opens (or creates) the plugin's store in req.DataDir, applies its
// migrations and creates its secrets key; it is idempotent. After it
// succeeds the SDK remembers req and replays it, as the actor "host-sdk",
// whenever the supervisor restarts the process, so an active plugin comes
// back active; Deactivate and Uninstall make it forget.
func (p *Plugin) Activate(ctx context.Context, req ActivateRequest) (Status, error) {
	resp, err := call(ctx, p, "activate", func(ctx context.Context, c *contract.Clients) (*duov1.ActivateResponse, error) {
		return c.Lifecycle.Activate(ctx, toprotoActivate(req))
	})
	if err != nil {
		return Status{}, err
	}
	p.rememberActivate(&req)
	return fromprotoStatus(resp.GetStatus()), nil
}

// Deactivate stops the plugin answering hooks; every setting and record is
// kept. Idempotent. While deactivated, BeginLogin and CompleteLogin fail with
// contract.ReasonInactive.
func (p *Plugin) Deactivate(ctx context.Context, actor Actor) error {
	_, err := call(ctx, p, "deactivate", func(ctx context.Context, c *contract.Clients) (*duov1.DeactivateResponse, error) {
		return c.Lifecycle.Deactivate(ctx, &duov1.DeactivateRequest{Actor: toprotoActor(actor)})
	})
	if err != nil {
		return err
	}
	p.rememberActivate(nil)
	return nil
}

// Uninstall removes everything the plugin stored and returns the removed
// paths in order. It is irreversible and refused while the plugin is active
// (contract.ReasonActive) or when req.Confirm is not the plugin's id
// (contract.ReasonConfirmation).
func (p *Plugin) Uninstall(ctx context.Context, req UninstallRequest) ([]string, error) {
	resp, err := call(ctx, p, "uninstall", func(ctx context.Context, c *contract.Clients) (*duov1.UninstallResponse, error) {
		return c.Lifecycle.Uninstall(ctx, toprotoUninstall(req))
	})
	if err != nil {
		return nil, err
	}
	p.rememberActivate(nil)
	return append([]string(nil), resp.GetRemoved()...), nil
}

// Status reports whether the plugin is active and configured, its schema
// version and its last Duo health check.
func (p *Plugin) Status(ctx context.Context) (Status, error) {
	resp, err := call(ctx, p, "status", func(ctx context.Context, c *contract.Clients) (*duov1.StatusResponse, error) {
		return c.Lifecycle.Status(ctx, &duov1.StatusRequest{})
	})
	if err != nil {
		return Status{}, err
	}
	return fromprotoStatus(resp), nil
}

// GetSettings returns the settings keyed as in the manifest's
// settings_schema. Secrets are never returned; SecretSet says which are
// stored. Valid only while the plugin is active.
func (p *Plugin) GetSettings(ctx context.Context) (Settings, error) {
	resp, err := call(ctx, p, "get settings", func(ctx context.Context, c *contract.Clients) (*duov1.GetSettingsResponse, error) {
		return c.Settings.GetSettings(ctx, &duov1.GetSettingsRequest{})
	})
	if err != nil {
		return Settings{}, err
	}
	return fromprotoSettings(resp), nil
}

// UpdateSettings validates every field and, unless req.SkipDuoCheck, checks
// the credentials with Duo before saving. Validation failures are not
// errors: they come back in the result, all at once, with Saved false. Valid
// only while the plugin is active. req.Values may hold secrets; the SDK never
// logs them.
func (p *Plugin) UpdateSettings(ctx context.Context, req UpdateSettingsRequest) (UpdateSettingsResult, error) {
	resp, err := call(ctx, p, "update settings", func(ctx context.Context, c *contract.Clients) (*duov1.UpdateSettingsResponse, error) {
		return c.Settings.UpdateSettings(ctx, toprotoUpdateSettings(req))
	})
	if err != nil {
		return UpdateSettingsResult{}, err
	}
	return fromprotoUpdateSettings(resp), nil
}

// CheckDuo runs Duo's health check with the saved settings.
func (p *Plugin) CheckDuo(ctx context.Context) (DuoHealth, error) {
	resp, err := call(ctx, p, "check duo", func(ctx context.Context, c *contract.Clients) (*duov1.CheckDuoResponse, error) {
		return c.Settings.CheckDuo(ctx, &duov1.CheckDuoRequest{})
	})
	if err != nil {
		return DuoHealth{}, err
	}
	return fromprotoDuoHealth(resp.GetDuo()), nil
}

// SetOperatorEnabled turns Duo on or off for one operator and returns the
// operator's new state.
func (p *Plugin) SetOperatorEnabled(ctx context.Context, op Operator, enabled bool, actor Actor) (OperatorState, error) {
	resp, err := call(ctx, p, "set operator enabled", func(ctx context.Context, c *contract.Clients) (*duov1.SetOperatorEnabledResponse, error) {
		return c.Operators.SetOperatorEnabled(ctx, &duov1.SetOperatorEnabledRequest{
			Operator: toprotoOperator(op), Enabled: enabled, Actor: toprotoActor(actor),
		})
	})
	if err != nil {
		return OperatorState{}, err
	}
	return fromprotoOperatorState(resp.GetState()), nil
}

// GetOperatorStates answers for every id asked, keyed by operator id;
// operators the plugin does not know come back disabled.
func (p *Plugin) GetOperatorStates(ctx context.Context, ids []string) (map[string]OperatorState, error) {
	resp, err := call(ctx, p, "get operator states", func(ctx context.Context, c *contract.Clients) (*duov1.GetOperatorStatesResponse, error) {
		return c.Operators.GetOperatorStates(ctx, &duov1.GetOperatorStatesRequest{OperatorIds: append([]string(nil), ids...)})
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]OperatorState, len(resp.GetStates()))
	for _, s := range resp.GetStates() {
		st := fromprotoOperatorState(s)
		out[st.OperatorID] = st
	}
	return out, nil
}

// ListEnabledOperators returns one page of the operators Duo is enabled for
// and the token of the next page ("" on the last page). pageToken is "" for
// the first page; pageSize 0 lets the plugin choose.
func (p *Plugin) ListEnabledOperators(ctx context.Context, pageSize int, pageToken string) ([]OperatorState, string, error) {
	resp, err := call(ctx, p, "list enabled operators", func(ctx context.Context, c *contract.Clients) (*duov1.ListEnabledOperatorsResponse, error) {
		return c.Operators.ListEnabledOperators(ctx, &duov1.ListEnabledOperatorsRequest{PageSize: toprotoPageSize(pageSize), PageToken: pageToken})
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]OperatorState, 0, len(resp.GetStates()))
	for _, s := range resp.GetStates() {
		out = append(out, fromprotoOperatorState(s))
	}
	return out, resp.GetNextPageToken(), nil
}

// SetOperatorAlias sets the Duo username used for this operator, instead of
// the one derived from the helpdesk account; an empty alias clears it.
func (p *Plugin) SetOperatorAlias(ctx context.Context, op Operator, alias string, actor Actor) (OperatorState, error) {
	resp, err := call(ctx, p, "set operator alias", func(ctx context.Context, c *contract.Clients) (*duov1.SetOperatorAliasResponse, error) {
		return c.Operators.SetOperatorAlias(ctx, &duov1.SetOperatorAliasRequest{
			Operator: toprotoOperator(op), DuoAlias: alias, Actor: toprotoActor(actor),
		})
	})
	if err != nil {
		return OperatorState{}, err
	}
	return fromprotoOperatorState(resp.GetState()), nil
}

// BeginLogin is called after the operator's password was checked, while the
// plugin is active. It answers DecisionNotRequired (go on with the host's
// own second factor, if any), DecisionRedirect (keep State in the pre-auth
// session and redirect to RedirectURL) or DecisionDenied.
//
// Fail closed: any error — including ErrUnavailable while the plugin is down
// or restarting — and any decision other than DecisionNotRequired or
// DecisionRedirect MUST be treated as deny.
func (p *Plugin) BeginLogin(ctx context.Context, op Operator, client ClientInfo) (BeginLoginResult, error) {
	resp, err := call(ctx, p, "begin login", func(ctx context.Context, c *contract.Clients) (*duov1.BeginLoginResponse, error) {
		return c.Login.BeginLogin(ctx, &duov1.BeginLoginRequest{Operator: toprotoOperator(op), Client: toprotoClient(client)})
	})
	if err != nil {
		return BeginLoginResult{}, err
	}
	res, err := fromprotoBeginLogin(resp)
	if err != nil {
		return BeginLoginResult{}, fmt.Errorf("begin login: %w", err)
	}
	return res, nil
}

// CompleteLogin is called from the host's Duo callback with the state kept
// in the operator's pre-auth session and the state and duo_code from the
// callback URL. It answers DecisionAllowed or DecisionDenied.
//
// Fail closed: log the operator in only on a nil error and DecisionAllowed.
// Any error — including ErrUnavailable while the plugin is down or
// restarting — and any other decision MUST be treated as deny.
func (p *Plugin) CompleteLogin(ctx context.Context, req CompleteLoginRequest) (CompleteLoginResult, error) {
	resp, err := call(ctx, p, "complete login", func(ctx context.Context, c *contract.Clients) (*duov1.CompleteLoginResponse, error) {
		return c.Login.CompleteLogin(ctx, toprotoCompleteLogin(req))
	})
	if err != nil {
		return CompleteLoginResult{}, err
	}
	res, err := fromprotoCompleteLogin(resp)
	if err != nil {
		return CompleteLoginResult{}, fmt.Errorf("complete login: %w", err)
	}
	return res, nil
}
