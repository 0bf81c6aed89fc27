package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/internal/secret/secrettest"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
)

// The secret.Value type is tested in internal/secret; these tests check that
// Duo, which holds one, prints, encodes and logs without its client secret.

func TestDuoRedactionFormats(t *testing.T) {
	t.Parallel()
	set := secret.Value(validSecret)
	tests := []struct {
		name string
		got  func() string
		want string
	}{
		{"Duo %+v", func() string {
			return fmt.Sprintf("%+v", Duo{ClientID: "DIABCDEFGHIJ01234567", ClientSecret: set, APIHostname: "api-x.duosecurity.com"})
		}, "{ClientID:DIABCDEFGHIJ01234567 ClientSecret:[redacted] APIHostname:api-x.duosecurity.com FailMode: UsernameFormat: LoginTimeout:0s CAFile: BackupCodeCount:0 BackupCodesLowAt:0 RecoveryLinkLifetime:0s BypassMaxUses:0 BypassMaxLifetime:0s AllowSelfDisable:false EnforceAll:false EnforceAdmin:false EnforceHelpDesk:false EnforceAgent:false AllowServiceAccountExemption:false LockoutThreshold:0 LockoutDuration:0s LockoutContact: LogRetention:0s}"},
		{"Duo pointer %+v", func() string { return fmt.Sprintf("%+v", &Duo{ClientSecret: set}) }, "&{ClientID: ClientSecret:[redacted] APIHostname: FailMode: UsernameFormat: LoginTimeout:0s CAFile: BackupCodeCount:0 BackupCodesLowAt:0 RecoveryLinkLifetime:0s BypassMaxUses:0 BypassMaxLifetime:0s AllowSelfDisable:false EnforceAll:false EnforceAdmin:false EnforceHelpDesk:false EnforceAgent:false AllowServiceAccountExemption:false LockoutThreshold:0 LockoutDuration:0s LockoutContact: LogRetention:0s}"},
		{"Duo %#v", func() string { return fmt.Sprintf("%#v", Duo{ClientSecret: set}) }, `settings.Duo{ClientID:"", ClientSecret:secret.Value("[redacted]"), APIHostname:"", FailMode:"", UsernameFormat:"", LoginTimeout:0, CAFile:"", BackupCodeCount:0, BackupCodesLowAt:0, RecoveryLinkLifetime:0, BypassMaxUses:0, BypassMaxLifetime:0, AllowSelfDisable:false, EnforceAll:false, EnforceAdmin:false, EnforceHelpDesk:false, EnforceAgent:false, AllowServiceAccountExemption:false, LockoutThreshold:0, LockoutDuration:0, LockoutContact:"", LogRetention:0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.got(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDuoRedactionJSON(t *testing.T) {
	t.Parallel()
	got, err := json.Marshal(Duo{ClientSecret: secret.Value(validSecret)})
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	want := `{"ClientID":"","ClientSecret":"[redacted]","APIHostname":"","FailMode":"","UsernameFormat":"","LoginTimeout":0,"CAFile":"","BackupCodeCount":0,"BackupCodesLowAt":0,"RecoveryLinkLifetime":0,"BypassMaxUses":0,"BypassMaxLifetime":0,"AllowSelfDisable":false,"EnforceAll":false,"EnforceAdmin":false,"EnforceHelpDesk":false,"EnforceAgent":false,"AllowServiceAccountExemption":false,"LockoutThreshold":0,"LockoutDuration":0,"LockoutContact":"","LogRetention":0}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestDuoSlog(t *testing.T) {
	t.Parallel()
	d := Duo{ClientID: "DIABCDEFGHIJ01234567", ClientSecret: secret.Value(validSecret), APIHostname: "api-x.duosecurity.com", FailMode: FailClosed, UsernameFormat: FormatEmail, LoginTimeout: 300 * time.Second}
	tests := []struct {
		name string
		json bool
		args []any
		want string
	}{
		{"json Duo", true, []any{"duo", d}, `{"msg":"m","duo":{"client_id":"DIABCDEFGHIJ01234567","client_secret_set":true,"api_hostname":"api-x.duosecurity.com","fail_mode":"closed","username_format":"email","login_timeout":300000000000,"ca_file":"","backup_code_count":0,"backup_codes_low_at":0,"recovery_link_lifetime":0,"bypass_max_uses":0,"bypass_max_lifetime":0,"allow_self_disable":false,"enforce_all":false,"enforce_role_admin":false,"enforce_role_help_desk":false,"enforce_role_agent":false,"allow_service_account_exemption":false,"lockout_threshold":0,"lockout_duration":0,"log_retention":0}}`},
		{"text Duo", false, []any{"duo", d}, `msg=m duo.client_id=DIABCDEFGHIJ01234567 duo.client_secret_set=true duo.api_hostname=api-x.duosecurity.com duo.fail_mode=closed duo.username_format=email duo.login_timeout=5m0s duo.ca_file="" duo.backup_code_count=0 duo.backup_codes_low_at=0 duo.recovery_link_lifetime=0s duo.bypass_max_uses=0 duo.bypass_max_lifetime=0s duo.allow_self_disable=false duo.enforce_all=false duo.enforce_role_admin=false duo.enforce_role_help_desk=false duo.enforce_role_agent=false duo.allow_service_account_exemption=false duo.lockout_threshold=0 duo.lockout_duration=0s duo.log_retention=0s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := testlog.Line(tt.json, tt.args...)
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if strings.Contains(got, validSecret) {
				t.Errorf("log output contains the secret: %s", got)
			}
		})
	}
}

// TestDuoNeverLeaks sweeps fmt verbs over Duo values holding a secret. %p is
// tried only with pointers: with a non-pointer, fmt's bad-verb path prints
// the raw value without consulting any method (go vet reports that misuse).
func TestDuoNeverLeaks(t *testing.T) {
	t.Parallel()
	d := Duo{ClientSecret: secret.Value(validSecret)}
	secrettest.NoLeakThroughFmt(t, validSecret,
		[]any{d, &d, d.ClientSecret, &d.ClientSecret, []Duo{d}, map[string]Duo{"k": d}, errors.New("x")},
		[]any{&d, &d.ClientSecret})
	noVerb := strings.Repeat("x", 1) // not a constant, so vet lets the extra argument through
	if got, want := fmt.Sprintf(noVerb, d.ClientSecret), "x%!(EXTRA secret.Value=[redacted])"; got != want {
		t.Errorf("extra argument: got %q, want %q", got, want)
	}
}
