package hooks

import (
	"context"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/duohealth"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// GetSettings implements contract.Settings. The secret never leaves.
func (p *Plugin) GetSettings(ctx context.Context, req contract.GetSettingsRequest) (contract.GetSettingsResponse, error) {
	var out contract.GetSettingsResponse
	err := p.withActive(ctx, func(a *activeState) error {
		if err := p.permit(ctx, a, request{call: callGetSettings, actor: req.Actor}); err != nil {
			return err
		}
		d := a.duo.Load()
		out = contract.GetSettingsResponse{Values: d.Values(), SecretSet: d.SecretSet()}
		return nil
	})
	return out, err
}

// UpdateSettings implements contract.Settings: validate every submitted
// field, check the credentials with Duo unless told not to, save. On any
// problem nothing is saved, and the health shown for the saved settings is
// untouched.
func (p *Plugin) UpdateSettings(ctx context.Context, req contract.UpdateSettingsRequest) (contract.UpdateSettingsResponse, error) {
	var res contract.UpdateSettingsResponse
	err := p.withActive(ctx, func(a *activeState) error {
		if err := p.permit(ctx, a, request{call: callUpdateSettings, actor: req.Actor}); err != nil {
			return err
		}
		cur := *a.duo.Load()
		next, ferrs := settings.Apply(cur, req.Values, p.cfg.Runtime.ValidateOptions())
		rejected := func(outcome, reason string) {
			p.audit(ctx, a, by(store.Event{Kind: "settings.rejected", Outcome: outcome, Reason: reason}, req.Actor))
		}
		if len(ferrs) > 0 {
			res.Errors = ferrs
			rejected("invalid", fieldList(ferrs))
			return nil
		}
		checked := !req.SkipDuoCheck && p.cfg.Duo != nil && next.Complete()
		if checked {
			// Checked here, not through the cache: a submission Duo refuses
			// must not replace the health shown for the saved settings.
			dctx, cancel := p.duoContext(ctx)
			res.Duo = p.checkFunc(next)(dctx)
			cancel()
			res.Duo.Checked, res.Duo.CheckedAt = true, p.now()
			if !res.Duo.OK {
				res.Errors = []contract.FieldError{p.duoRefusal(res.Duo)}
				rejected("duo_rejected", string(res.Duo.Failure)+": "+res.Duo.Detail)
				return nil
			}
		}
		sealed := map[string][]byte{}
		if next.ClientSecret != cur.ClientSecret && next.ClientSecret.IsSet() {
			ct, err := a.box.Seal(secretName, []byte(next.ClientSecret.Reveal()))
			if err != nil {
				return storageError("save settings: seal secret", err)
			}
			sealed[secretName] = ct
		}
		changed := changedSettings(cur, next)
		detail := fieldsDetail(changed) + "; credentials checked with Duo"
		if !checked {
			detail = fieldsDetail(changed) + "; saved without a Duo check"
		}
		ev := by(store.Event{At: p.now(), Kind: "settings.updated", Outcome: "ok", Detail: detail}, req.Actor)
		if err := a.store.SaveSettings(ctx, store.Settings{Values: next.Values(), Secrets: sealed}, next.UsernameFormat != cur.UsernameFormat, ev); err != nil {
			return storageError("save settings", err)
		}
		if policy := policyChanges(changed); len(policy) > 0 {
			p.audit(ctx, a, by(store.Event{At: ev.At, Kind: "policy.changed", Outcome: "ok", Detail: fieldsDetail(policy)}, req.Actor))
		}
		a.reload.Lock()
		a.duo.Store(&next)
		// Which revision the save made is not known here: the next call
		// reads the stored settings again (and any saved after these).
		a.rev.Store(-1)
		a.reload.Unlock()
		if checked {
			p.health.Put(healthKey(next), res.Duo)
		}
		res.Saved = true
		p.log.Info("settings saved", "actor", req.Actor.String(), "checked", checked)
		return nil
	})
	return res, err
}

// duoRefusal tells the admin why Duo's check refused the submitted
// settings, next to the field most likely at fault.
func (p *Plugin) duoRefusal(h contract.DuoHealth) contract.FieldError {
	fe := contract.FieldError{Field: settings.KeyAPIHostname, Reason: contract.FieldDuoRejected}
	id := contract.TextDuoRejectedOther
	switch h.Failure {
	case contract.DuoCredentialsRejected:
		fe.Field, id = settings.KeyClientSecret, contract.TextDuoRejectedCredentials
	case contract.DuoCertificateUntrusted:
		if p.cfg.Runtime.AllowTestDuoHost {
			fe.Field = settings.KeyCAFile
		}
		id = contract.TextDuoRejectedCertificate
	case contract.DuoUnreachable:
		id = contract.TextDuoRejectedUnreachable
	}
	fe.Text = contract.Say(id, "detail", h.Detail)
	fe.Message = fe.Text.English()
	return fe
}

// CheckDuo implements contract.Settings: Duo's health check with the saved
// settings, now, remembered for Status and logins.
func (p *Plugin) CheckDuo(ctx context.Context, req contract.CheckDuoRequest) (contract.CheckDuoResponse, error) {
	var out contract.CheckDuoResponse
	err := p.withActive(ctx, func(a *activeState) error {
		if err := p.permit(ctx, a, request{call: callCheckDuo, actor: req.Actor}); err != nil {
			return err
		}
		d := *a.duo.Load()
		dctx, cancel := p.duoContext(ctx)
		defer cancel()
		h, err := p.health.Refresh(dctx, healthKey(d), p.checkFunc(d))
		if err != nil {
			// The check goes on and will be shown by Status; this answer
			// only says it did not come in time.
			h = contract.DuoHealth{Checked: true, CheckedAt: p.now(), Failure: contract.DuoUnreachable, Detail: "Duo did not answer in time"}
		}
		out.Duo = h
		return nil
	})
	return out, err
}

// checkFunc runs Duo's health check with d and says what failed.
func (p *Plugin) checkFunc(d settings.Duo) duohealth.CheckFunc {
	return func(ctx context.Context) contract.DuoHealth {
		switch {
		case !d.Complete():
			return contract.DuoHealth{Failure: contract.DuoNotConfigured, Detail: "the Duo settings are incomplete"}
		case p.cfg.Duo == nil:
			return contract.DuoHealth{Failure: contract.DuoNotConfigured, Detail: "no Duo client configured"}
		}
		// Timed here, so a check made on saving settings (not through the
		// cache) shows its latency too.
		start := time.Now()
		if err := p.cfg.Duo.Check(ctx, d); err != nil {
			failure, detail := duo.Diagnose(err, p.cfg.Runtime.AllowTestDuoHost)
			p.log.Warn("duo health check failed", "failure", string(failure), "detail", detail)
			return contract.DuoHealth{Failure: failure, Detail: detail, Latency: time.Since(start)}
		}
		return contract.DuoHealth{OK: true, Latency: time.Since(start)}
	}
}

func fieldList(errs []contract.FieldError) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + ":" + string(e.Reason)
	}
	return strings.Join(parts, ",")
}
