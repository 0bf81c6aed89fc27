package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// pluginView is the Plugins page's picture of the Duo plugin.
type pluginView struct {
	Installed   bool
	ID          string
	Name        string
	Version     string
	Description string
	BundleDir   string
	DataDir     string
	// Active is the helpdesk's record: the one truth the sign-in path
	// follows.
	Active    bool
	UpdatedAt time.Time
	UpdatedBy string

	// The process, from host.Plugin.State.
	Running    bool
	Phase      string
	PID        int
	Restarts   int
	LastError  string
	Since      time.Time
	StartErr   string
	CanRestart bool

	// From the plugin's Status; StatusErr when it did not answer.
	StatusOK  bool
	StatusErr string
	Status    contract.StatusResponse
	// DuoRefusesLogins is set when the last health check failed for a
	// reason fail open does not cover (rejected credentials, an untrusted
	// certificate): Duo logins are refused in both fail modes.
	DuoRefusesLogins bool
}

func (s *Server) pluginView(ctx context.Context) (pluginView, error) {
	rec, err := s.plugins.Record(ctx)
	if err != nil {
		return pluginView{}, err
	}
	v := pluginView{
		Installed: rec.Installed, ID: plugins.ID, Name: "Duo Security", Version: rec.Version,
		BundleDir: s.plugins.BundleDir(), DataDir: s.plugins.DataDir(),
		Active: rec.Active, UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy,
	}
	if !rec.Installed {
		return v, nil
	}
	if m := s.plugins.Manifest(); m != nil {
		v.Name, v.Version, v.Description = m.Name, m.Version, m.Description
	}
	p, err := s.plugins.Plugin()
	if err != nil {
		v.Phase = "not started"
		v.CanRestart = true
		if se := s.plugins.StartError(); se != nil {
			v.StartErr = se.Error()
		}
		return v, nil
	}
	st := p.State()
	v.Phase, v.PID, v.Restarts, v.LastError, v.Since = st.Phase.String(), st.PID, st.Restarts, st.LastError, st.Since
	v.Running = st.Phase == host.PhaseRunning
	v.CanRestart = st.Phase == host.PhaseFailed || st.Phase == host.PhaseClosed
	if v.Running {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		status, err := p.Status(cctx, contract.StatusRequest{})
		cancel()
		if err != nil {
			v.StatusErr = err.Error()
		} else {
			v.StatusOK, v.Status = true, status
			d := status.Duo
			v.DuoRefusesLogins = d.Checked && !d.OK && d.Failure != contract.DuoUnreachable
		}
	}
	return v, nil
}

func (s *Server) handlePlugins(w http.ResponseWriter, r *http.Request) {
	v, err := s.pluginView(r.Context())
	if err != nil {
		s.internalError(w, r, "plugin record", err)
		return
	}
	s.render(w, r, http.StatusOK, "plugins", "Plugins", "plugins", v)
}

func (s *Server) handleActivate(w http.ResponseWriter, r *http.Request) {
	st, err := s.plugins.Activate(r.Context(), s.actor(r))
	if err != nil {
		s.flashPluginError(r, "activate Duo Security", err)
		redirect(w, r, pluginsPath)
		return
	}
	msg := "Duo Security activated."
	if !st.Configured {
		msg += " Next, open Settings and enter your Duo application's Client ID, Client secret and API hostname."
	}
	s.flash(r, flashSuccess, msg)
	redirect(w, r, pluginsPath)
}

func (s *Server) handleDeactivate(w http.ResponseWriter, r *http.Request) {
	err := s.plugins.Deactivate(r.Context(), s.actor(r))
	switch {
	case err == nil:
		s.flash(r, flashSuccess, "Duo Security deactivated. Its settings are kept; operators sign in with the helpdesk's own two-factor method.")
	case errors.Is(err, host.ErrUnavailable):
		s.flash(r, flashWarning, "Duo Security is deactivated in the helpdesk: operators no longer need Duo. The plugin process could not be reached; it starts inactive when it is back.")
	default:
		s.flashPluginError(r, "deactivate Duo Security", err)
	}
	redirect(w, r, pluginsPath)
}

func (s *Server) handleRestart(w http.ResponseWriter, r *http.Request) {
	if err := s.plugins.Restart(r.Context(), s.actor(r)); err != nil {
		s.flashPluginError(r, "restart the plugin", err)
	} else {
		s.flash(r, flashSuccess, "The plugin process was restarted.")
	}
	redirect(w, r, pluginsPath)
}

func (s *Server) handleCheckDuo(w http.ResponseWriter, r *http.Request) {
	var res contract.CheckDuoResponse
	if !s.withActivePlugin(w, r, "check Duo", pluginsPath, func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.CheckDuo(ctx, contract.CheckDuoRequest{Actor: s.actor(r)})
		return err
	}) {
		return
	}
	if res.Duo.OK {
		s.flash(r, flashSuccess, "Duo answered the health check: the credentials work.")
	} else {
		s.flash(r, flashError, "Duo health check failed: "+res.Duo.Detail)
	}
	redirect(w, r, pluginsPath)
}

type uninstallData struct {
	ID    string
	Name  string
	Error string
}

func (s *Server) handleUninstallForm(w http.ResponseWriter, r *http.Request) {
	v, err := s.pluginView(r.Context())
	if err != nil {
		s.internalError(w, r, "plugin record", err)
		return
	}
	if !v.Installed || v.Active {
		s.flash(r, flashError, "Only an installed plugin that is not active can be uninstalled. Deactivate it first.")
		redirect(w, r, pluginsPath)
		return
	}
	s.render(w, r, http.StatusOK, "uninstall", "Uninstall Duo Security", "plugins", uninstallData{ID: plugins.ID, Name: v.Name})
}

func (s *Server) handleUninstall(w http.ResponseWriter, r *http.Request) {
	confirm := strings.TrimSpace(r.PostForm.Get("confirm"))
	removed, err := s.plugins.Uninstall(r.Context(), s.actor(r), confirm)
	switch {
	case errors.Is(err, plugins.ErrConfirmation):
		s.render(w, r, http.StatusUnprocessableEntity, "uninstall", "Uninstall Duo Security", "plugins", uninstallData{
			ID: plugins.ID, Name: "Duo Security",
			Error: fmt.Sprintf("Type %s exactly to confirm. Nothing was removed.", plugins.ID),
		})
		return
	case errors.Is(err, plugins.ErrActive):
		s.flash(r, flashError, "Duo Security is active: deactivate it before uninstalling. Nothing was removed.")
	case err != nil && removed == nil:
		s.flashPluginError(r, "uninstall Duo Security", err)
	case err != nil:
		s.log.Error("uninstall: some files could not be removed", "error", err)
		s.flash(r, flashWarning, "Duo Security was uninstalled, but some files could not be removed: "+err.Error())
	default:
		s.flash(r, flashSuccess, "Duo Security was uninstalled: its settings, its data and the plugin itself were removed.")
	}
	redirect(w, r, pluginsPath)
}
