package web

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
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

	// The process, from host.Plugin.State, read again after the Status
	// call: a process that died meanwhile is never shown as running.
	// Phase is a message id (plugins.phase.*).
	Running   bool
	Phase     string
	PID       int
	Restarts  int
	LastError string
	Since     time.Time
	StartErr  string
	// StartWhy, a message id, says in words why Start refused the bundle
	// (a signature that does not verify, nothing installed, a binary that
	// does not match); StartErr is the SDK's detail.
	StartWhy   string
	CanRestart bool

	// Signed: the helpdesk runs only signed releases from an install root
	// (pinned keys); Release is the one it last started, by its directory.
	Signed  bool
	Release string

	// From the plugin's Status; StatusErr when it did not answer. An
	// inactive plugin answers Status.Active=false and reports neither its
	// configuration nor its schema, so the page shows neither.
	StatusOK  bool
	StatusErr string
	Status    contract.StatusResponse
	// DuoRefusesLogins is set when the last health check failed for a
	// reason fail open does not cover (rejected credentials, an untrusted
	// certificate): Duo logins are refused in both fail modes.
	DuoRefusesLogins bool
	// LatencyMs is the last Duo check's latency in milliseconds, for the
	// live status (a fraction below 10 ms).
	LatencyMs string
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
		Signed: s.plugins.InstallRoot(),
	}
	if r := s.plugins.Release(); r != "" {
		v.Release = filepath.Base(r)
	}
	if !rec.Installed {
		return v, nil
	}
	if m := s.plugins.Manifest(); m != nil {
		v.Name, v.Version, v.Description = m.Name, m.Version, m.Description
	}
	p, err := s.plugins.Plugin()
	if err != nil {
		v.Phase = "plugins.phase.not_started"
		v.CanRestart = true
		if se := s.plugins.StartError(); se != nil {
			v.StartErr = se.Error()
			v.StartWhy = startRefusal(se)
		}
		return v, nil
	}
	v.setState(p.State())
	if v.Running {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		status, err := p.Status(cctx, contract.StatusRequest{})
		cancel()
		if err != nil {
			v.StatusErr = err.Error()
			// The process may have died or begun restarting while it was
			// asked: show where it is now, not "running" beside the error.
			v.setState(p.State())
		} else {
			v.StatusOK, v.Status = true, status
			d := status.Duo
			v.DuoRefusesLogins = d.Checked && !d.OK && d.Failure != contract.DuoUnreachable
			v.LatencyMs = latencyMs(d.Latency)
		}
	}
	return v, nil
}

// startRefusal names, as a message id, why Start refused the bundle, or ""
// for another failure (the SDK's text says it then).
func startRefusal(err error) string {
	switch {
	case errors.Is(err, host.ErrBadSignature):
		return "plugins.refused_signature"
	case errors.Is(err, host.ErrNotInstalled):
		return "plugins.refused_not_installed"
	case errors.Is(err, host.ErrChecksumMismatch):
		return "plugins.refused_checksum"
	}
	return ""
}

// phaseIDs names each phase of the SDK's State on the page.
var phaseIDs = map[host.Phase]string{
	host.PhaseStarting:   "plugins.phase.starting",
	host.PhaseRunning:    "plugins.phase.running",
	host.PhaseDown:       "plugins.phase.down",
	host.PhaseRestarting: "plugins.phase.restarting",
	host.PhaseFailed:     "plugins.phase.failed",
	host.PhaseClosed:     "plugins.phase.closed",
}

// setState takes the process's state from the SDK.
func (v *pluginView) setState(st host.State) {
	id, ok := phaseIDs[st.Phase]
	if !ok {
		id = "plugins.phase.unknown"
	}
	v.Phase, v.PID, v.Restarts, v.LastError, v.Since = id, st.PID, st.Restarts, st.LastError, st.Since
	v.Running = st.Phase == host.PhaseRunning
	v.CanRestart = st.Phase == host.PhaseFailed || st.Phase == host.PhaseClosed
}

func (s *Server) handlePlugins(w http.ResponseWriter, r *http.Request) {
	v, err := s.pluginView(r.Context())
	if err != nil {
		s.internalError(w, r, "plugin record", err)
		return
	}
	s.render(w, r, http.StatusOK, "plugins", s.tr(r, "plugins.title"), "plugins", v)
}

func (s *Server) handleActivate(w http.ResponseWriter, r *http.Request) {
	st, err := s.plugins.Activate(r.Context(), s.actor(r))
	if err != nil {
		s.flashPluginError(r, m("fail.activate"), err)
		redirect(w, r, pluginsPath)
		return
	}
	text := s.tr(r, "plugins.activated_flash")
	if !st.Configured {
		text += " " + s.tr(r, "plugins.activated_next")
	}
	s.flash(r, flashSuccess, text)
	redirect(w, r, pluginsPath)
}

func (s *Server) handleDeactivate(w http.ResponseWriter, r *http.Request) {
	err := s.plugins.Deactivate(r.Context(), s.actor(r))
	switch {
	case err == nil:
		s.flash(r, flashSuccess, s.tr(r, "plugins.deactivated_flash"))
	case errors.Is(err, host.ErrUnavailable):
		s.flash(r, flashWarning, s.tr(r, "plugins.deactivated_unreachable"))
	default:
		s.flashPluginError(r, m("fail.deactivate"), err)
	}
	redirect(w, r, pluginsPath)
}

func (s *Server) handleRestart(w http.ResponseWriter, r *http.Request) {
	if err := s.plugins.Restart(r.Context(), s.actor(r)); err != nil {
		s.flashPluginError(r, m("fail.restart"), err)
	} else {
		s.flash(r, flashSuccess, s.tr(r, "plugins.restarted_flash"))
	}
	redirect(w, r, pluginsPath)
}

func (s *Server) handleCheckDuo(w http.ResponseWriter, r *http.Request) {
	var res contract.CheckDuoResponse
	if !s.withActivePlugin(w, r, m("fail.check"), pluginsPath, func(ctx context.Context, p plugins.Plugin) (err error) {
		res, err = p.CheckDuo(ctx, contract.CheckDuoRequest{Actor: s.actor(r)})
		return err
	}) {
		return
	}
	if res.Duo.OK {
		s.flash(r, flashSuccess, s.tr(r, "plugins.check_ok_flash"))
	} else {
		s.flash(r, flashError, s.tr(r, "plugins.check_failed_flash", "Detail", res.Duo.Detail))
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
		s.flash(r, flashError, s.tr(r, "uninstall.only_inactive"))
		redirect(w, r, pluginsPath)
		return
	}
	s.render(w, r, http.StatusOK, "uninstall", s.tr(r, "uninstall.title", "Name", v.Name), "plugins", uninstallData{ID: plugins.ID, Name: v.Name})
}

func (s *Server) handleUninstall(w http.ResponseWriter, r *http.Request) {
	confirm := strings.TrimSpace(r.PostForm.Get("confirm"))
	removed, err := s.plugins.Uninstall(r.Context(), s.actor(r), confirm)
	switch {
	case errors.Is(err, plugins.ErrConfirmation):
		s.render(w, r, http.StatusUnprocessableEntity, "uninstall", s.tr(r, "uninstall.title", "Name", "Duo Security"), "plugins", uninstallData{
			ID: plugins.ID, Name: "Duo Security",
			Error: s.tr(r, "uninstall.type_to_confirm", "ID", plugins.ID),
		})
		return
	case errors.Is(err, plugins.ErrActive):
		s.flash(r, flashError, s.tr(r, "uninstall.active"))
	case errors.Is(err, plugins.ErrOtherInstances):
		var oe *plugins.OtherInstancesError
		names := ""
		if errors.As(err, &oe) {
			names = strings.Join(oe.Names, ", ")
		}
		s.flash(r, flashError, s.tr(r, "uninstall.other_instances", "Names", names))
	case err != nil && removed == nil:
		s.flashPluginError(r, m("fail.uninstall"), err)
	case err != nil:
		s.log.Error("uninstall: some files could not be removed", "error", err)
		s.flash(r, flashWarning, s.tr(r, "uninstall.partial", "Error", err.Error()))
	default:
		s.flash(r, flashSuccess, s.tr(r, "uninstall.done"))
	}
	redirect(w, r, pluginsPath)
}

// latencyMs shows a latency in milliseconds: whole ones from 10 ms, one
// decimal below (the simulator on loopback answers in a millisecond).
func latencyMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms >= 10 {
		return strconv.FormatFloat(ms, 'f', 0, 64)
	}
	return strconv.FormatFloat(ms, 'f', 1, 64)
}
