package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The test binary doubles as a plugin, as in go-plugin's own tests: when
// envTestPlugin is set, TestMain serves the fake below instead of running
// tests (ServeFakeIfAsked).
const (
	envTestPlugin     = "HOST_SDK_TEST_PLUGIN"          // "1": serve the fake
	envMarkerDir      = "HOST_SDK_TEST_MARKER_DIR"      // write a file named by the pid on start
	envRefuseStart    = "HOST_SDK_TEST_REFUSE_START"    // exit 1 before serving if this file exists
	envIgnoreShutdown = "HOST_SDK_TEST_IGNORE_SHUTDOWN" // "1": keep running after go-plugin's shutdown
	envPluginVersion  = "HOST_SDK_TEST_PLUGIN_VERSION"  // the fake's plugin_version
)

// ServeFakeIfAsked serves the fake and exits when this test binary was
// started as the plugin (envTestPlugin); TestMain (main_test.go) calls it
// first. It is exported for TestMain, which lives in the external test
// package: that one may import internal/pluginbuild, which imports this
// package.
func ServeFakeIfAsked() {
	if os.Getenv(envTestPlugin) == "1" {
		runTestPlugin()
		os.Exit(0)
	}
}

func runTestPlugin() {
	if f := os.Getenv(envRefuseStart); f != "" {
		if _, err := os.Stat(f); err == nil {
			fmt.Fprintln(os.Stderr, "test plugin: refusing to start")
			os.Exit(1)
		}
	}
	if d := os.Getenv(envMarkerDir); d != "" {
		_ = os.WriteFile(filepath.Join(d, strconv.Itoa(os.Getpid())), nil, 0o600)
	}
	fake := newFakePlugin()
	fake.crash = func() { os.Exit(3) }
	if v := os.Getenv(envPluginVersion); v != "" {
		fake.version = v
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  contract.Handshake,
		VersionedPlugins: contract.VersionedPlugins(fake, nil),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
	if os.Getenv(envIgnoreShutdown) == "1" {
		// A plugin that does not exit when asked: only a kill ends it.
		for {
			time.Sleep(time.Hour)
		}
	}
}

// Hooks of the fake, chosen by operator id (and, for Activate, by data dir).
const (
	opHang            = "hang"             // BeginLogin (and Activate with this data dir) answers only well after the call's deadline
	opCrash           = "crash"            // BeginLogin exits the process (no panic)
	opBadRedirect     = "bad-redirect"     // BeginLogin answers REDIRECT without a URL
	opUnspecified     = "unspecified"      // BeginLogin answers UNSPECIFIED
	opAllowedAtBegin  = "allowed-at-begin" // BeginLogin answers ALLOWED
	opNotRequiredDone = "not-required-at-complete"
)

const (
	fakeNow       = 1700000000 // the fake's clock, in unix seconds
	fakeGoodCode  = "good-duo-code"
	fakeSchema    = 3
	fakeVersion   = "0.0.0-test"
	settingActBy  = "x_activated_by" // the fake reports who activated it, for the activation tests
	fakeSecretKey = "client_secret"
)

var fakeTime = time.Unix(fakeNow, 0).UTC()

// hang plays a hung plugin: it answers only well after the call's deadline,
// so that the host's own deadline always ends the call. (An answer at the
// deadline would race the host's timer, and a busy machine could let the
// plugin's answer win.)
func hang(ctx context.Context) {
	<-ctx.Done()
	time.Sleep(5 * time.Second)
}

// fakePlugin is an in-memory contract.Plugin: plausible, not faithful.
type fakePlugin struct {
	contract.Recovery // nil: the SDK's recovery calls are one-line wrappers of call, tested through the real plugin
	contract.AuthLog  // nil: likewise
	contract.Metrics  // nil: likewise

	crash   func()
	version string

	mu             sync.Mutex
	active         bool
	dataDir        string
	activatedBy    string
	settings       map[string]string
	secret         string
	ops            map[string]contract.OperatorState
	statusDeadline []time.Time // the deadline of every Status call; the zero time for none
}

var _ contract.Plugin = (*fakePlugin)(nil)

func newFakePlugin() *fakePlugin {
	return &fakePlugin{
		version:  fakeVersion,
		settings: map[string]string{"api_hostname": "", "client_id": "", "fail_mode": "closed"},
		ops:      map[string]contract.OperatorState{},
	}
}

// deadlines returns the deadlines the Status calls carried, in order.
func (f *fakePlugin) deadlines() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.statusDeadline)
}

// activeState reports whether the fake is active and who activated it.
func (f *fakePlugin) activeState() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active, f.activatedBy
}

func (f *fakePlugin) statusLocked() contract.StatusResponse {
	return contract.StatusResponse{
		Active:        f.active,
		SchemaVersion: fakeSchema,
		Configured:    f.settings["client_id"] != "" && f.secret != "",
		PluginVersion: f.version,
		Duo:           contract.DuoHealth{Checked: true, OK: true, CheckedAt: fakeTime},
	}
}

func (f *fakePlugin) Activate(ctx context.Context, req contract.ActivateRequest) (contract.ActivateResponse, error) {
	if req.DataDir == opHang {
		hang(ctx)
		return contract.ActivateResponse{}, contract.Errorf(contract.ReasonInternal, "gave up")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.DataDir == "" {
		return contract.ActivateResponse{}, contract.Errorf(contract.ReasonInvalidArgument, "data_dir is required")
	}
	if f.active && f.dataDir != req.DataDir {
		return contract.ActivateResponse{}, contract.Errorf(contract.ReasonDataDirMismatch, "already active with another data dir")
	}
	f.active, f.dataDir, f.activatedBy = true, req.DataDir, req.Actor.Username
	return contract.ActivateResponse{Status: f.statusLocked()}, nil
}

func (f *fakePlugin) Deactivate(context.Context, contract.DeactivateRequest) (contract.DeactivateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active = false
	return contract.DeactivateResponse{}, nil
}

func (f *fakePlugin) Uninstall(_ context.Context, req contract.UninstallRequest) (contract.UninstallResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Confirm != contract.PluginID {
		return contract.UninstallResponse{}, contract.Errorf(contract.ReasonConfirmation, "confirm must name the plugin")
	}
	if f.active {
		return contract.UninstallResponse{}, contract.Errorf(contract.ReasonActive, "deactivate first")
	}
	dir := f.dataDir
	if dir == "" {
		dir = req.DataDir
	}
	f.dataDir, f.settings, f.secret, f.ops = "", map[string]string{}, "", map[string]contract.OperatorState{}
	return contract.UninstallResponse{Removed: []string{dir + "/duo.db", dir + "/secret.key"}}, nil
}

func (f *fakePlugin) Status(ctx context.Context, _ contract.StatusRequest) (contract.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dl, _ := ctx.Deadline()
	f.statusDeadline = append(f.statusDeadline, dl)
	return f.statusLocked(), nil
}

func (f *fakePlugin) requireActiveLocked() error {
	if !f.active {
		return contract.Errorf(contract.ReasonInactive, "the plugin is not active")
	}
	return nil
}

func (f *fakePlugin) GetSettings(context.Context, contract.GetSettingsRequest) (contract.GetSettingsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return contract.GetSettingsResponse{}, err
	}
	values := map[string]string{settingActBy: f.activatedBy}
	for k, v := range f.settings {
		values[k] = v
	}
	return contract.GetSettingsResponse{Values: values, SecretSet: map[string]bool{fakeSecretKey: f.secret != ""}}, nil
}

func (f *fakePlugin) UpdateSettings(_ context.Context, req contract.UpdateSettingsRequest) (contract.UpdateSettingsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return contract.UpdateSettingsResponse{}, err
	}
	var errs []contract.FieldError
	if req.Values["client_id"] == "" {
		errs = append(errs, contract.FieldError{Field: "client_id", Reason: contract.FieldRequired, Message: "Client ID is required"})
	}
	if m := req.Values["fail_mode"]; m != "" && m != "closed" && m != "open" {
		errs = append(errs, contract.FieldError{Field: "fail_mode", Reason: contract.FieldOption, Message: "fail_mode must be closed or open"})
	}
	var health contract.DuoHealth
	if !req.SkipDuoCheck {
		health = contract.DuoHealth{Checked: true, OK: true, CheckedAt: fakeTime}
	}
	if len(errs) > 0 {
		return contract.UpdateSettingsResponse{Errors: errs, Duo: health}, nil
	}
	for k, v := range req.Values {
		if k == fakeSecretKey {
			if v != "" {
				f.secret = v
			}
			continue
		}
		f.settings[k] = v
	}
	return contract.UpdateSettingsResponse{Saved: true, Duo: health}, nil
}

func (f *fakePlugin) CheckDuo(context.Context, contract.CheckDuoRequest) (contract.CheckDuoResponse, error) {
	return contract.CheckDuoResponse{Duo: contract.DuoHealth{
		Checked: true, OK: false, CheckedAt: fakeTime, Detail: "401 from Duo", Failure: contract.DuoCredentialsRejected,
	}}, nil
}

func (f *fakePlugin) stateLocked(id string) contract.OperatorState {
	if s, ok := f.ops[id]; ok {
		return s
	}
	return contract.OperatorState{OperatorID: id}
}

func (f *fakePlugin) SetOperatorEnabled(_ context.Context, req contract.SetOperatorEnabledRequest) (contract.SetOperatorEnabledResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return contract.SetOperatorEnabledResponse{}, err
	}
	op := req.Operator
	if op.ID == "" {
		return contract.SetOperatorEnabledResponse{}, contract.Errorf(contract.ReasonInvalidArgument, "operator.id is required")
	}
	s := f.stateLocked(op.ID)
	s.Enabled, s.Username, s.Email = req.Enabled, op.Username, op.Email
	s.ChangedBy, s.ChangedAt = req.Actor.Username, fakeTime
	f.ops[op.ID] = s
	return contract.SetOperatorEnabledResponse{State: s}, nil
}

func (f *fakePlugin) GetOperatorStates(_ context.Context, req contract.GetOperatorStatesRequest) (contract.GetOperatorStatesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var resp contract.GetOperatorStatesResponse
	for _, id := range req.OperatorIDs {
		resp.States = append(resp.States, f.stateLocked(id))
	}
	return resp, nil
}

func (f *fakePlugin) ListEnabledOperators(_ context.Context, req contract.ListEnabledOperatorsRequest) (contract.ListEnabledOperatorsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, s := range f.ops {
		if s.Enabled {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	start := 0
	if t := req.PageToken; t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(ids) {
			return contract.ListEnabledOperatorsResponse{}, contract.Errorf(contract.ReasonInvalidArgument, "bad page token")
		}
		start = n
	}
	size := int(req.PageSize)
	if size <= 0 {
		size = 100
	}
	end := min(start+size, len(ids))
	var resp contract.ListEnabledOperatorsResponse
	for _, id := range ids[start:end] {
		resp.States = append(resp.States, f.ops[id])
	}
	if end < len(ids) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func (f *fakePlugin) SetOperatorAlias(_ context.Context, req contract.SetOperatorAliasRequest) (contract.SetOperatorAliasResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return contract.SetOperatorAliasResponse{}, err
	}
	s := f.stateLocked(req.Operator.ID)
	s.DuoAlias, s.ChangedBy, s.ChangedAt = req.DuoAlias, req.Actor.Username, fakeTime
	f.ops[s.OperatorID] = s
	return contract.SetOperatorAliasResponse{State: s}, nil
}

func (f *fakePlugin) BeginLogin(ctx context.Context, req contract.BeginLoginRequest) (contract.BeginLoginResponse, error) {
	id := req.Operator.ID
	switch id {
	case opHang:
		hang(ctx)
		return contract.BeginLoginResponse{}, contract.Errorf(contract.ReasonInternal, "gave up")
	case opCrash:
		f.crash()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return contract.BeginLoginResponse{}, err
	}
	switch id {
	case opBadRedirect:
		return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, State: "s"}, nil
	case opUnspecified:
		return contract.BeginLoginResponse{}, nil
	case opAllowedAtBegin:
		return contract.BeginLoginResponse{Decision: contract.DecisionAllowed}, nil
	}
	if !f.stateLocked(id).Enabled {
		return contract.BeginLoginResponse{Decision: contract.DecisionNotRequired}, nil
	}
	state := "state-" + id
	return contract.BeginLoginResponse{
		Decision:    contract.DecisionRedirect,
		RedirectURL: "https://duo.example.test/oauth/v1/authorize?state=" + state,
		State:       state,
	}, nil
}

func (f *fakePlugin) CompleteLogin(_ context.Context, req contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return contract.CompleteLoginResponse{}, err
	}
	denied := func(reason contract.LoginReason) (contract.CompleteLoginResponse, error) {
		return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: reason, Message: "Duo verification failed."}, nil
	}
	switch {
	case req.Operator.ID == opNotRequiredDone:
		return contract.CompleteLoginResponse{Decision: contract.DecisionNotRequired}, nil
	case req.SessionState == "" || req.SessionState != req.CallbackState:
		return denied(contract.LoginReasonStateMismatch)
	case req.SessionState != "state-"+req.Operator.ID:
		return denied(contract.LoginReasonStateUnknown)
	case req.DuoCode != fakeGoodCode:
		return denied(contract.LoginReasonDuoDenied)
	}
	s := f.stateLocked(req.Operator.ID)
	s.LastLogin = fakeTime
	if s.EnrolledAt.IsZero() {
		s.EnrolledAt = fakeTime
	}
	f.ops[s.OperatorID] = s
	return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
}

func (f *fakePlugin) UnlockOperator(context.Context, contract.UnlockOperatorRequest) (contract.UnlockOperatorResponse, error) {
	return contract.UnlockOperatorResponse{}, contract.Errorf(contract.ReasonInternal, "the fake does not unlock")
}
