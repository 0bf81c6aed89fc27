package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// The test binary doubles as a plugin, as in go-plugin's own tests: when
// envTestPlugin is set, TestMain serves the fake below instead of running
// tests.
const (
	envTestPlugin     = "HOST_SDK_TEST_PLUGIN"          // "1": serve the fake
	envMarkerDir      = "HOST_SDK_TEST_MARKER_DIR"      // write a file named by the pid on start
	envRefuseStart    = "HOST_SDK_TEST_REFUSE_START"    // exit 1 before serving if this file exists
	envIgnoreShutdown = "HOST_SDK_TEST_IGNORE_SHUTDOWN" // "1": keep running after go-plugin's shutdown
	envPluginVersion  = "HOST_SDK_TEST_PLUGIN_VERSION"  // the fake's plugin_version
)

func TestMain(m *testing.M) {
	if os.Getenv(envTestPlugin) == "1" {
		runTestPlugin()
		os.Exit(0)
	}
	os.Exit(m.Run())
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
	fake := newFakeServer()
	fake.crash = func() { os.Exit(3) }
	if v := os.Getenv(envPluginVersion); v != "" {
		fake.version = v
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  contract.Handshake,
		VersionedPlugins: contract.VersionedPlugins(fake),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
	if os.Getenv(envIgnoreShutdown) == "1" {
		// A plugin that does not exit when asked: only a kill ends it.
		for {
			time.Sleep(time.Hour)
		}
	}
}

// Hooks of the fake, chosen by operator id.
const (
	opHang            = "hang"             // BeginLogin blocks until the call's deadline
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
	settingActBy  = "x_activated_by" // the fake reports who activated it, for the replay test
	fakeSecretKey = "client_secret"
)

// fakeServer is an in-memory contract.Server: plausible, not faithful.
type fakeServer struct {
	duov1.UnimplementedLifecycleServer
	duov1.UnimplementedSettingsServer
	duov1.UnimplementedOperatorsServer
	duov1.UnimplementedLoginServer

	crash   func()
	version string

	mu          sync.Mutex
	active      bool
	dataDir     string
	activatedBy string
	settings    map[string]string
	secret      string
	ops         map[string]*duov1.OperatorState
}

var _ contract.Server = (*fakeServer)(nil)

func newFakeServer() *fakeServer {
	return &fakeServer{
		version:  fakeVersion,
		settings: map[string]string{"api_hostname": "", "client_id": "", "fail_mode": "closed"},
		ops:      map[string]*duov1.OperatorState{},
	}
}

func (f *fakeServer) statusLocked() *duov1.StatusResponse {
	return &duov1.StatusResponse{
		Active:        f.active,
		SchemaVersion: fakeSchema,
		Configured:    f.settings["client_id"] != "" && f.secret != "",
		PluginVersion: f.version,
		Duo:           &duov1.DuoHealth{Checked: true, Ok: true, CheckedAtUnix: fakeNow},
	}
}

func (f *fakeServer) Activate(_ context.Context, req *duov1.ActivateRequest) (*duov1.ActivateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetDataDir() == "" {
		return nil, contract.Status(codes.InvalidArgument, contract.ReasonInvalidArgument, "data_dir is required")
	}
	if f.active && f.dataDir != req.GetDataDir() {
		return nil, contract.Status(codes.FailedPrecondition, contract.ReasonDataDirMismatch, "already active with another data dir")
	}
	f.active, f.dataDir, f.activatedBy = true, req.GetDataDir(), req.GetActor().GetUsername()
	return &duov1.ActivateResponse{Status: f.statusLocked()}, nil
}

func (f *fakeServer) Deactivate(context.Context, *duov1.DeactivateRequest) (*duov1.DeactivateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active = false
	return &duov1.DeactivateResponse{}, nil
}

func (f *fakeServer) Uninstall(_ context.Context, req *duov1.UninstallRequest) (*duov1.UninstallResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetConfirm() != contract.PluginID {
		return nil, contract.Status(codes.FailedPrecondition, contract.ReasonConfirmation, "confirm must name the plugin")
	}
	if f.active {
		return nil, contract.Status(codes.FailedPrecondition, contract.ReasonActive, "deactivate first")
	}
	dir := f.dataDir
	if dir == "" {
		dir = req.GetDataDir()
	}
	f.dataDir, f.settings, f.secret, f.ops = "", map[string]string{}, "", map[string]*duov1.OperatorState{}
	return &duov1.UninstallResponse{Removed: []string{dir + "/duo.db", dir + "/secret.key"}}, nil
}

func (f *fakeServer) Status(context.Context, *duov1.StatusRequest) (*duov1.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statusLocked(), nil
}

func (f *fakeServer) requireActiveLocked() error {
	if !f.active {
		return contract.Status(codes.FailedPrecondition, contract.ReasonInactive, "the plugin is not active")
	}
	return nil
}

func (f *fakeServer) GetSettings(context.Context, *duov1.GetSettingsRequest) (*duov1.GetSettingsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return nil, err
	}
	values := map[string]string{settingActBy: f.activatedBy}
	for k, v := range f.settings {
		values[k] = v
	}
	return &duov1.GetSettingsResponse{Values: values, SecretSet: map[string]bool{fakeSecretKey: f.secret != ""}}, nil
}

func (f *fakeServer) UpdateSettings(_ context.Context, req *duov1.UpdateSettingsRequest) (*duov1.UpdateSettingsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return nil, err
	}
	var errs []*duov1.FieldError
	if req.GetValues()["client_id"] == "" {
		errs = append(errs, &duov1.FieldError{Field: "client_id", Reason: "required", Message: "Client ID is required"})
	}
	if m := req.GetValues()["fail_mode"]; m != "" && m != "closed" && m != "open" {
		errs = append(errs, &duov1.FieldError{Field: "fail_mode", Reason: "option", Message: "fail_mode must be closed or open"})
	}
	health := &duov1.DuoHealth{Checked: !req.GetSkipDuoCheck(), Ok: !req.GetSkipDuoCheck(), CheckedAtUnix: fakeNow}
	if len(errs) > 0 {
		return &duov1.UpdateSettingsResponse{Errors: errs, Duo: health}, nil
	}
	for k, v := range req.GetValues() {
		if k == fakeSecretKey {
			if v != "" {
				f.secret = v
			}
			continue
		}
		f.settings[k] = v
	}
	return &duov1.UpdateSettingsResponse{Saved: true, Duo: health}, nil
}

func (f *fakeServer) CheckDuo(context.Context, *duov1.CheckDuoRequest) (*duov1.CheckDuoResponse, error) {
	return &duov1.CheckDuoResponse{Duo: &duov1.DuoHealth{Checked: true, Ok: false, CheckedAtUnix: fakeNow, Detail: "401 from Duo"}}, nil
}

func (f *fakeServer) stateLocked(id string) *duov1.OperatorState {
	if s, ok := f.ops[id]; ok {
		return s
	}
	return &duov1.OperatorState{OperatorId: id}
}

func (f *fakeServer) SetOperatorEnabled(_ context.Context, req *duov1.SetOperatorEnabledRequest) (*duov1.SetOperatorEnabledResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return nil, err
	}
	op := req.GetOperator()
	if op.GetId() == "" {
		return nil, contract.Status(codes.InvalidArgument, contract.ReasonInvalidArgument, "operator.id is required")
	}
	s := f.stateLocked(op.GetId())
	s.Enabled, s.Username, s.Email = req.GetEnabled(), op.GetUsername(), op.GetEmail()
	s.ChangedBy, s.ChangedAtUnix = req.GetActor().GetUsername(), fakeNow
	f.ops[op.GetId()] = s
	return &duov1.SetOperatorEnabledResponse{State: s}, nil
}

func (f *fakeServer) GetOperatorStates(_ context.Context, req *duov1.GetOperatorStatesRequest) (*duov1.GetOperatorStatesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &duov1.GetOperatorStatesResponse{}
	for _, id := range req.GetOperatorIds() {
		resp.States = append(resp.States, f.stateLocked(id))
	}
	return resp, nil
}

func (f *fakeServer) ListEnabledOperators(_ context.Context, req *duov1.ListEnabledOperatorsRequest) (*duov1.ListEnabledOperatorsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, s := range f.ops {
		if s.GetEnabled() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	start := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(ids) {
			return nil, contract.Status(codes.InvalidArgument, contract.ReasonInvalidArgument, "bad page token")
		}
		start = n
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = 100
	}
	end := min(start+size, len(ids))
	resp := &duov1.ListEnabledOperatorsResponse{}
	for _, id := range ids[start:end] {
		resp.States = append(resp.States, f.ops[id])
	}
	if end < len(ids) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func (f *fakeServer) SetOperatorAlias(_ context.Context, req *duov1.SetOperatorAliasRequest) (*duov1.SetOperatorAliasResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return nil, err
	}
	s := f.stateLocked(req.GetOperator().GetId())
	s.DuoAlias, s.ChangedBy, s.ChangedAtUnix = req.GetDuoAlias(), req.GetActor().GetUsername(), fakeNow
	f.ops[s.GetOperatorId()] = s
	return &duov1.SetOperatorAliasResponse{State: s}, nil
}

func (f *fakeServer) BeginLogin(ctx context.Context, req *duov1.BeginLoginRequest) (*duov1.BeginLoginResponse, error) {
	id := req.GetOperator().GetId()
	switch id {
	case opHang:
		<-ctx.Done()
		return nil, ctx.Err()
	case opCrash:
		f.crash()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return nil, err
	}
	switch id {
	case opBadRedirect:
		return &duov1.BeginLoginResponse{Decision: duov1.LoginDecision_LOGIN_DECISION_REDIRECT, State: "s"}, nil
	case opUnspecified:
		return &duov1.BeginLoginResponse{}, nil
	case opAllowedAtBegin:
		return &duov1.BeginLoginResponse{Decision: duov1.LoginDecision_LOGIN_DECISION_ALLOWED}, nil
	}
	if !f.stateLocked(id).GetEnabled() {
		return &duov1.BeginLoginResponse{Decision: duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED}, nil
	}
	state := "state-" + id
	return &duov1.BeginLoginResponse{
		Decision:    duov1.LoginDecision_LOGIN_DECISION_REDIRECT,
		RedirectUrl: "https://duo.example.test/oauth/v1/authorize?state=" + state,
		State:       state,
	}, nil
}

func (f *fakeServer) CompleteLogin(_ context.Context, req *duov1.CompleteLoginRequest) (*duov1.CompleteLoginResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requireActiveLocked(); err != nil {
		return nil, err
	}
	denied := func(reason string) (*duov1.CompleteLoginResponse, error) {
		return &duov1.CompleteLoginResponse{Decision: duov1.LoginDecision_LOGIN_DECISION_DENIED, Reason: reason, Message: "Duo verification failed."}, nil
	}
	switch {
	case req.GetOperator().GetId() == opNotRequiredDone:
		return &duov1.CompleteLoginResponse{Decision: duov1.LoginDecision_LOGIN_DECISION_NOT_REQUIRED}, nil
	case req.GetSessionState() == "" || req.GetSessionState() != req.GetCallbackState():
		return denied("state_mismatch")
	case req.GetSessionState() != "state-"+req.GetOperator().GetId():
		return denied("unknown_state")
	case req.GetDuoCode() != fakeGoodCode:
		return denied("duo_denied")
	}
	s := f.stateLocked(req.GetOperator().GetId())
	s.LastLoginUnix = fakeNow
	if s.EnrolledAtUnix == 0 {
		s.EnrolledAtUnix = fakeNow
	}
	return &duov1.CompleteLoginResponse{Decision: duov1.LoginDecision_LOGIN_DECISION_ALLOWED}, nil
}
