package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
)

const pluginsPath = "/admin/plugins"

// pluginView is the Plugins page's picture of the Duo plugin.
type pluginView struct {
	Installed   bool
	ID          string
	Name        string
	Version     string
	Description string
	BundleDir   string
	DataDir     string
	Active      bool
	UpdatedAt   time.Time
	UpdatedBy   string

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
	Status    host.Status
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
		status, err := p.Status(cctx)
		cancel()
		if err != nil {
			v.StatusErr = err.Error()
		} else {
			v.StatusOK, v.Status = true, status
		}
	}
	return v, nil
}

func (s *Server) handlePlugins(w http.ResponseWriter, r *http.Request) {
	// Bring the plugin in line with the helpdesk's record first (after a
	// break-glass deactivation from the shell, for example).
	rctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	s.plugins.Reconcile(rctx)
	cancel()
	v, err := s.pluginView(r.Context())
	if err != nil {
		s.internalError(w, r, "plugin record", err)
		return
	}
	s.render(w, r, http.StatusOK, "plugins", "Plugins", "plugins", v)
}

// flashPluginError turns a lifecycle error into a message for the admin.
func (s *Server) flashPluginError(r *http.Request, what string, err error) {
	s.log.Warn(what+" failed", "error", err)
	msg := err.Error()
	var pe *host.Error
	switch {
	case errors.As(err, &pe):
		msg = pe.Message
	case errors.Is(err, host.ErrUnavailable):
		msg = "the plugin process is not running or did not answer (" + err.Error() + ")"
	}
	s.flash(r, flashError, "Could not "+what+": "+msg)
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
		s.flash(r, flashWarning, "Duo Security is deactivated in the helpdesk: operators no longer need Duo. The plugin process could not be reached; it is told when it is back.")
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

// activePlugin returns the plugin for a page that needs it active, or
// flashes why not and redirects to the Plugins page.
func (s *Server) activePlugin(w http.ResponseWriter, r *http.Request) (plugins.Plugin, bool) {
	active, err := s.plugins.Active(r.Context())
	if err != nil {
		s.internalError(w, r, "plugin record", err)
		return nil, false
	}
	if !active {
		s.flash(r, flashError, "Duo Security is not active. Activate it first.")
		redirect(w, r, pluginsPath)
		return nil, false
	}
	p, err := s.plugins.Plugin()
	if err != nil {
		s.flashPluginError(r, "reach the plugin", err)
		redirect(w, r, pluginsPath)
		return nil, false
	}
	return p, true
}

func (s *Server) handleCheckDuo(w http.ResponseWriter, r *http.Request) {
	p, ok := s.activePlugin(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.pluginCtx(r)
	h, err := p.CheckDuo(ctx)
	cancel()
	switch {
	case err != nil:
		s.flashPluginError(r, "check Duo", err)
	case h.OK:
		s.flash(r, flashSuccess, "Duo answered the health check: the credentials work.")
	default:
		s.flash(r, flashError, "Duo health check failed: "+h.Detail)
	}
	redirect(w, r, pluginsPath)
}

// settingField is one field of the generated settings form.
type settingField struct {
	Key       string
	Label     string
	Type      string
	Help      string
	Required  bool
	Value     string
	Checked   bool
	Options   []settingOption
	SecretSet bool
	Error     string
}

type settingOption struct {
	Value, Label string
	Selected     bool
}

type settingsData struct {
	Fields      []settingField
	OtherErrors []string
	SkipCheck   bool
	Checked     bool // a Duo check ran for this submission
	Duo         host.DuoHealth
}

// buildFields makes the form from the manifest's settings_schema: values
// from vals (the saved settings, or what was submitted), never a secret.
func buildFields(schema []host.SettingField, vals map[string]string, secretSet map[string]bool) []settingField {
	out := make([]settingField, 0, len(schema))
	for _, f := range schema {
		v, ok := vals[f.Key]
		if !ok {
			v = f.Default
		}
		sf := settingField{Key: f.Key, Label: f.DisplayName, Type: f.Type, Help: f.HelpText, Required: f.Required}
		switch f.Type {
		case host.SettingSecret:
			sf.SecretSet = secretSet[f.Key]
		case host.SettingBool:
			sf.Checked = v == "true"
		case host.SettingDropdown:
			for _, o := range f.Options {
				sf.Options = append(sf.Options, settingOption{Value: o.Value, Label: o.DisplayName, Selected: o.Value == v})
			}
		default:
			sf.Value = v
		}
		out = append(out, sf)
	}
	return out
}

func (s *Server) schema() []host.SettingField {
	if m := s.plugins.Manifest(); m != nil {
		return m.SettingsSchema
	}
	return nil
}

func (s *Server) handleSettingsForm(w http.ResponseWriter, r *http.Request) {
	p, ok := s.activePlugin(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.pluginCtx(r)
	cur, err := p.GetSettings(ctx)
	cancel()
	if err != nil {
		s.flashPluginError(r, "read the settings", err)
		redirect(w, r, pluginsPath)
		return
	}
	s.render(w, r, http.StatusOK, "settings", "Duo Security settings", "plugins",
		settingsData{Fields: buildFields(s.schema(), cur.Values, cur.SecretSet)})
}

func (s *Server) handleSaveSettings(w http.ResponseWriter, r *http.Request) {
	p, ok := s.activePlugin(w, r)
	if !ok {
		return
	}
	schema := s.schema()
	values := make(map[string]string, len(schema))
	for _, f := range schema {
		switch f.Type {
		case host.SettingBool:
			values[f.Key] = strconv.FormatBool(r.PostForm.Get(f.Key) != "")
		case host.SettingSecret:
			// Empty keeps the saved secret.
			values[f.Key] = r.PostForm.Get(f.Key)
		default:
			values[f.Key] = strings.TrimSpace(r.PostForm.Get(f.Key))
		}
	}
	skip := r.PostForm.Get("skip_duo_check") != ""
	ctx, cancel := s.pluginCtx(r)
	res, err := p.UpdateSettings(ctx, host.UpdateSettingsRequest{Values: values, SkipDuoCheck: skip, Actor: s.actor(r)})
	var cur host.Settings
	if err == nil && !res.Saved {
		cur, _ = p.GetSettings(ctx)
	}
	cancel()
	if err != nil {
		s.flashPluginError(r, "save the settings", err)
		redirect(w, r, pluginsPath)
		return
	}
	if res.Saved {
		s.log.Info("duo settings saved", "actor", s.actor(r).Username, "duo_checked", res.Duo.Checked)
		msg := "Settings saved."
		switch {
		case res.Duo.Checked && res.Duo.OK:
			msg += " Duo accepted the credentials (checked " + res.Duo.CheckedAt.Local().Format("15:04:05") + ")."
		case skip:
			msg += " They were not checked with Duo: use “Check Duo now” on the Plugins page."
		}
		s.flash(r, flashSuccess, msg)
		redirect(w, r, pluginsPath+"/"+plugins.ID+"/settings")
		return
	}
	// Show the submission again, with each error next to its field. The
	// secret is never sent back.
	submitted := make(map[string]string, len(values))
	for k, v := range values {
		submitted[k] = v
	}
	fields := buildFields(schema, submitted, cur.SecretSet)
	byKey := make(map[string]int, len(fields))
	for i, f := range fields {
		byKey[f.Key] = i
	}
	d := settingsData{SkipCheck: skip, Checked: res.Duo.Checked, Duo: res.Duo}
	for _, fe := range res.Errors {
		if i, ok := byKey[fe.Field]; ok {
			if fields[i].Error != "" {
				fields[i].Error += " "
			}
			fields[i].Error += fe.Message
			continue
		}
		d.OtherErrors = append(d.OtherErrors, fe.Message)
	}
	d.Fields = fields
	s.render(w, r, http.StatusUnprocessableEntity, "settings", "Duo Security settings", "plugins", d)
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

type operatorRow struct {
	Op       store.Operator
	Duo      host.OperatorState
	HasState bool
}

type operatorsData struct {
	Active   bool
	StateErr string
	Rows     []operatorRow
}

func (s *Server) handleOperators(w http.ResponseWriter, r *http.Request) {
	ops, err := s.st.ListOperators(r.Context())
	if err != nil {
		s.internalError(w, r, "list operators", err)
		return
	}
	d := operatorsData{Rows: make([]operatorRow, len(ops))}
	for i, op := range ops {
		d.Rows[i].Op = op
	}
	d.Active, err = s.plugins.Active(r.Context())
	if err != nil {
		s.internalError(w, r, "plugin record", err)
		return
	}
	if d.Active {
		p, err := s.plugins.Plugin()
		if err == nil {
			ids := make([]string, len(ops))
			for i, op := range ops {
				ids[i] = strconv.FormatInt(op.ID, 10)
			}
			ctx, cancel := s.pluginCtx(r)
			var states map[string]host.OperatorState
			// One call for the whole page.
			states, err = p.GetOperatorStates(ctx, ids)
			cancel()
			if err == nil {
				for i := range d.Rows {
					d.Rows[i].Duo, d.Rows[i].HasState = states[ids[i]]
				}
			}
		}
		if err != nil {
			s.log.Warn("operator states", "error", err)
			d.StateErr = "The Duo Security plugin did not answer, so the operators' Duo states cannot be shown or changed right now."
		}
	}
	s.render(w, r, http.StatusOK, "operators", "Operators", "operators", d)
}

func (s *Server) operatorFromPath(w http.ResponseWriter, r *http.Request) (store.Operator, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		op, err := s.st.OperatorByID(r.Context(), id)
		if err == nil {
			return op, true
		}
		if !errors.Is(err, store.ErrNotFound) {
			s.internalError(w, r, "load operator", err)
			return store.Operator{}, false
		}
	}
	s.renderError(w, r, http.StatusNotFound, "No such operator", "There is no such operator.")
	return store.Operator{}, false
}

func (s *Server) handleSetOperatorDuo(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	p, ok := s.activePlugin(w, r)
	if !ok {
		return
	}
	enable := r.PostForm.Get("enabled") == "true"
	ctx, cancel := s.pluginCtx(r)
	_, err := p.SetOperatorEnabled(ctx, hostOperator(op), enable, s.actor(r))
	cancel()
	switch {
	case err != nil:
		s.flashPluginError(r, "change Duo for "+op.Username, err)
	case enable:
		s.log.Info("duo enabled for operator", "operator_id", op.ID, "actor", s.actor(r).Username)
		s.flash(r, flashSuccess, "Duo enabled for "+op.Username+". At their next sign-in they are sent to Duo (to enrol, the first time).")
	default:
		s.log.Info("duo disabled for operator", "operator_id", op.ID, "actor", s.actor(r).Username)
		s.flash(r, flashSuccess, "Duo disabled for "+op.Username+".")
	}
	redirect(w, r, "/admin/operators")
}

func (s *Server) handleSetOperatorAlias(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operatorFromPath(w, r)
	if !ok {
		return
	}
	p, ok := s.activePlugin(w, r)
	if !ok {
		return
	}
	alias := strings.TrimSpace(r.PostForm.Get("alias"))
	ctx, cancel := s.pluginCtx(r)
	_, err := p.SetOperatorAlias(ctx, hostOperator(op), alias, s.actor(r))
	cancel()
	switch {
	case err != nil:
		s.flashPluginError(r, "set the Duo username of "+op.Username, err)
	case alias == "":
		s.flash(r, flashSuccess, "The Duo username of "+op.Username+" is derived from the account again.")
	default:
		s.flash(r, flashSuccess, "The Duo username of "+op.Username+" is now "+alias+".")
	}
	redirect(w, r, "/admin/operators")
}
