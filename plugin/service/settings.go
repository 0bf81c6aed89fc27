package service

import (
	"context"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// UpdateResult is the outcome of UpdateSettings. Problems with the
// submitted values are in Errors, not in the error return.
type UpdateResult struct {
	Saved  bool
	Errors []settings.FieldError
	Duo    DuoHealth
}

// GetSettings returns the current Duo settings. Valid only while active.
// The caller must not send the secret anywhere; use Values and SecretSet.
func (s *Service) GetSettings(_ context.Context) (settings.Duo, error) {
	var d settings.Duo
	err := s.withActive(func(a *activeState) error {
		d = *a.duo.Load()
		return nil
	})
	return d, err
}

// UpdateSettings validates every submitted field, checks the credentials
// with Duo unless skipCheck, and saves. On any problem nothing is saved.
func (s *Service) UpdateSettings(ctx context.Context, values map[string]string, skipCheck bool, actor Actor) (UpdateResult, error) {
	var res UpdateResult
	err := s.withActive(func(a *activeState) error {
		cur := *a.duo.Load()
		next, ferrs := settings.Apply(cur, values, settings.ValidateOptions{AllowTestHost: s.cfg.Runtime.AllowTestDuoHost})
		if len(ferrs) > 0 {
			res.Errors = ferrs
			s.audit(ctx, a, store.Event{Kind: "settings.rejected", Actor: actor.String(), ClientIP: actor.IP, Outcome: "invalid", Reason: fieldList(ferrs)})
			return nil
		}
		if !skipCheck && s.cfg.Duo != nil && next.Complete() {
			h := s.checkDuo(ctx, next)
			res.Duo = h
			if !h.OK {
				res.Errors = []settings.FieldError{{Field: settings.KeyClientSecret, Reason: "duo_rejected",
					Message: "Duo did not accept these settings: " + h.Detail + ". Check the Client ID, Client secret and API hostname, or save without checking."}}
				s.audit(ctx, a, store.Event{Kind: "settings.rejected", Actor: actor.String(), ClientIP: actor.IP, Outcome: "duo_rejected", Reason: h.Detail})
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
		detail := "credentials checked with Duo"
		if skipCheck || s.cfg.Duo == nil {
			detail = "saved without a Duo check"
		}
		ev := store.Event{At: s.now(), Kind: "settings.updated", Actor: actor.String(), ClientIP: actor.IP, Outcome: "ok", Detail: detail}
		if err := a.store.SaveSettings(ctx, store.Settings{Values: next.Values(), Secrets: sealed}, ev); err != nil {
			return storageError("save settings", err)
		}
		a.duo.Store(&next)
		res.Saved = true
		s.log.Info("settings saved", "actor", actor.String(), "checked", !skipCheck && s.cfg.Duo != nil)
		return nil
	})
	return res, err
}

// CheckDuo runs Duo's health check with the saved settings.
func (s *Service) CheckDuo(ctx context.Context) (DuoHealth, error) {
	var h DuoHealth
	err := s.withActive(func(a *activeState) error {
		d := *a.duo.Load()
		if !d.Complete() {
			h = DuoHealth{Checked: true, CheckedAt: s.now(), Detail: "Duo settings are incomplete"}
			s.health.Store(&h)
			return nil
		}
		h = s.checkDuo(ctx, d)
		return nil
	})
	return h, err
}

func (s *Service) checkDuo(ctx context.Context, d settings.Duo) DuoHealth {
	h := DuoHealth{Checked: true, CheckedAt: s.now()}
	if s.cfg.Duo == nil {
		h.Detail = "no Duo client configured"
	} else if err := s.cfg.Duo.Check(ctx, d); err != nil {
		s.log.Warn("duo health check failed", "error", err)
		h.Detail = duo.Explain(err)
	} else {
		h.OK = true
	}
	h.CheckedAt = h.CheckedAt.Truncate(time.Second)
	s.health.Store(&h)
	return h
}

func fieldList(errs []settings.FieldError) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + ":" + e.Reason
	}
	return strings.Join(parts, ",")
}
