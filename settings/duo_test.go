package settings

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

const (
	validID     = "DIABCDEFGHIJ01234567"
	validSecret = "S3cr3tV4lu3S3cr3tV4lu3S3cr3tV4lu3S3cr3tX"
	validHost   = "api-12345678.duosecurity.com"
)

// configured is a complete, valid production configuration.
func configured() Duo {
	return Duo{
		ClientID:       validID,
		ClientSecret:   secret.Value(validSecret),
		APIHostname:    validHost,
		FailMode:       FailOpen,
		UsernameFormat: FormatEmail,
		LoginTimeout:   120 * time.Second,
		// The recovery settings at their defaults.
		BackupCodeCount:      10,
		BackupCodesLowAt:     2,
		RecoveryLinkLifetime: 24 * time.Hour,
		BypassMaxUses:        10,
		BypassMaxLifetime:    168 * time.Hour,
		// The policy settings at their defaults.
		LockoutThreshold: 10,
		LogRetention:     365 * 24 * time.Hour,
	}
}

// recoveryDefaults are the recovery settings' defaults in Values() form.
var recoveryDefaults = map[string]string{
	KeyBackupCodeCount: "10", KeyBackupCodesLowAt: "2", KeyRecoveryLinkHours: "24",
	KeyBypassMaxUses: "10", KeyBypassMaxHours: "168", KeyAllowSelfDisable: "false",
}

// withRecoveryDefaults returns m with the recovery defaults added.
func withRecoveryDefaults(m map[string]string) map[string]string {
	out := maps.Clone(m)
	maps.Copy(out, recoveryDefaults)
	maps.Copy(out, policyDefaults)
	return out
}

// policyDefaults are the policy settings' defaults, as Values writes them.
var policyDefaults = map[string]string{
	KeyEnforceAll: "false", KeyEnforceRoleAdmin: "false", KeyEnforceRoleHelpDesk: "false", KeyEnforceRoleAgent: "false",
	KeyAllowExemption: "false", KeyLockoutThreshold: "10", KeyLockoutMinutes: "0", KeyLockoutContact: "", KeyLogRetentionDays: "365",
}

// zeroPolicy is how Values writes the policy settings of a zero Duo.
var zeroPolicy = map[string]string{
	KeyEnforceAll: "false", KeyEnforceRoleAdmin: "false", KeyEnforceRoleHelpDesk: "false", KeyEnforceRoleAgent: "false",
	KeyAllowExemption: "false", KeyLockoutThreshold: "", KeyLockoutMinutes: "0", KeyLockoutContact: "", KeyLogRetentionDays: "",
}

func withPolicy(m, policy map[string]string) map[string]string {
	out := maps.Clone(m)
	maps.Copy(out, policy)
	return out
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	want := Duo{FailMode: FailClosed, UsernameFormat: FormatUsername, LoginTimeout: 5 * time.Minute,
		BackupCodeCount: 10, BackupCodesLowAt: 2, RecoveryLinkLifetime: 24 * time.Hour, BypassMaxUses: 10, BypassMaxLifetime: 168 * time.Hour,
		LockoutThreshold: 10, LogRetention: 365 * 24 * time.Hour}
	if got := Defaults(); got != want {
		t.Errorf("Defaults() = %+v, want %+v", got, want)
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Duo)
		want   bool
	}{
		{"configured", func(*Duo) {}, true},
		{"defaults", func(d *Duo) { *d = Defaults() }, false},
		{"no client id", func(d *Duo) { d.ClientID = "" }, false},
		{"no secret", func(d *Duo) { d.ClientSecret = "" }, false},
		{"no host", func(d *Duo) { d.APIHostname = "" }, false},
		{"other fields do not matter", func(d *Duo) { d.FailMode, d.UsernameFormat, d.LoginTimeout = "", "", 0 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := configured()
			tt.mutate(&d)
			if got := d.Complete(); got != tt.want {
				t.Errorf("Complete() = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestValuesAndSecretSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		d          Duo
		want       map[string]string
		wantSecret bool
	}{
		{"defaults", Defaults(), withRecoveryDefaults(map[string]string{
			KeyClientID: "", KeyAPIHostname: "", KeyFailMode: "closed", KeyUsernameFormat: "username", KeyLoginTimeout: "300", KeyCAFile: "",
		}), false},
		{"configured", configured(), withRecoveryDefaults(map[string]string{
			KeyClientID: validID, KeyAPIHostname: validHost, KeyFailMode: "open", KeyUsernameFormat: "email", KeyLoginTimeout: "120", KeyCAFile: "",
		}), true},
		// Zero counts and durations are unset; 0 codes left is a valid mark.
		{"zero", Duo{}, withPolicy(map[string]string{
			KeyClientID: "", KeyAPIHostname: "", KeyFailMode: "", KeyUsernameFormat: "", KeyLoginTimeout: "", KeyCAFile: "",
			KeyBackupCodeCount: "", KeyBackupCodesLowAt: "0", KeyRecoveryLinkHours: "", KeyBypassMaxUses: "", KeyBypassMaxHours: "", KeyAllowSelfDisable: "false",
		}, zeroPolicy), false},
		{"test host and CA", Duo{APIHostname: "127.0.0.1:8443", CAFile: "/tmp/ca.pem", LoginTimeout: 90500 * time.Millisecond}, withPolicy(map[string]string{
			KeyClientID: "", KeyAPIHostname: "127.0.0.1:8443", KeyFailMode: "", KeyUsernameFormat: "", KeyLoginTimeout: "90", KeyCAFile: "/tmp/ca.pem",
			KeyBackupCodeCount: "", KeyBackupCodesLowAt: "0", KeyRecoveryLinkHours: "", KeyBypassMaxUses: "", KeyBypassMaxHours: "", KeyAllowSelfDisable: "false",
		}, zeroPolicy), false},
		{"recovery settings", with(func(d *Duo) {
			d.BackupCodeCount, d.BackupCodesLowAt, d.RecoveryLinkLifetime = 20, 0, 90*time.Minute
			d.BypassMaxUses, d.BypassMaxLifetime, d.AllowSelfDisable = 1, 168*time.Hour, true
		}), withPolicy(map[string]string{
			KeyClientID: validID, KeyAPIHostname: validHost, KeyFailMode: "open", KeyUsernameFormat: "email", KeyLoginTimeout: "120", KeyCAFile: "",
			KeyBackupCodeCount: "20", KeyBackupCodesLowAt: "0", KeyRecoveryLinkHours: "1", KeyBypassMaxUses: "1", KeyBypassMaxHours: "168", KeyAllowSelfDisable: "true",
		}, policyDefaults), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.d.Values(); !maps.Equal(got, tt.want) {
				t.Errorf("Values() = %v, want %v", got, tt.want)
			}
			if got, want := tt.d.SecretSet(), map[string]bool{KeyClientSecret: tt.wantSecret}; !maps.Equal(got, want) {
				t.Errorf("SecretSet() = %v, want %v", got, want)
			}
		})
	}
}

func TestDuoIsAValue(t *testing.T) {
	t.Parallel()
	a := configured()
	b := a
	b.ClientID = "DIZZZZZZZZZZZZZZZZZZ"
	b.ClientSecret = "other"
	vals := a.Values()
	vals[KeyClientID] = "changed"
	if a != configured() {
		t.Errorf("changing a copy or Values() changed the original: %+v", a)
	}
}

func TestParseStored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		values  map[string]string
		secret  secret.Value
		want    Duo
		wantErr string
	}{
		{"nil", nil, "", Defaults(), ""},
		{"round trip of configured", configured().Values(), secret.Value(validSecret), configured(), ""},
		{"round trip of defaults", Defaults().Values(), "", Defaults(), ""},
		{"empty values take defaults", map[string]string{KeyFailMode: "", KeyUsernameFormat: "", KeyLoginTimeout: ""}, "", Defaults(), ""},
		{"partial", map[string]string{KeyClientID: "DIX"}, "", withDefaults(func(d *Duo) { d.ClientID = "DIX" }), ""},
		{"test host and ca kept", map[string]string{KeyAPIHostname: "127.0.0.1:8443", KeyCAFile: "/ca.pem"}, "s",
			withDefaults(func(d *Duo) { d.ClientSecret, d.APIHostname, d.CAFile = "s", "127.0.0.1:8443", "/ca.pem" }), ""},
		{"settings stored before recovery existed take their defaults", map[string]string{KeyClientID: validID, KeyFailMode: "open"}, "",
			withDefaults(func(d *Duo) { d.ClientID, d.FailMode = validID, FailOpen }), ""},
		{"recovery settings", map[string]string{KeyBackupCodeCount: "5", KeyBackupCodesLowAt: "0", KeyRecoveryLinkHours: "168",
			KeyBypassMaxUses: "1", KeyBypassMaxHours: "1", KeyAllowSelfDisable: "true"}, "",
			withDefaults(func(d *Duo) {
				d.BackupCodeCount, d.BackupCodesLowAt, d.RecoveryLinkLifetime = 5, 0, 168*time.Hour
				d.BypassMaxUses, d.BypassMaxLifetime, d.AllowSelfDisable = 1, time.Hour, true
			}), ""},
		{"unknown keys and secret row ignored", map[string]string{"future_key": "x", KeyClientSecret: "plain"}, "", Defaults(), ""},
		{"bad fail mode", map[string]string{KeyFailMode: "sometimes"}, "", Duo{},
			`parse stored Duo settings: corrupt stored setting: fail_mode is "sometimes", want one of closed, open`},
		{"bad username format", map[string]string{KeyUsernameFormat: "upn"}, "", Duo{},
			`parse stored Duo settings: corrupt stored setting: username_format is "upn", want one of username, email, email_local`},
		{"timeout not a number", map[string]string{KeyLoginTimeout: "5m"}, "", Duo{},
			`parse stored Duo settings: corrupt stored setting: login_timeout_seconds is "5m", want an integer from 30 to 600`},
		{"timeout out of range", map[string]string{KeyLoginTimeout: "10"}, "", Duo{},
			`parse stored Duo settings: corrupt stored setting: login_timeout_seconds is "10", want an integer from 30 to 600`},
		{"every corrupt key", map[string]string{KeyFailMode: "x", KeyUsernameFormat: "y", KeyLoginTimeout: "z"}, "", Duo{},
			"parse stored Duo settings: corrupt stored setting: fail_mode is \"x\", want one of closed, open\n" +
				"corrupt stored setting: username_format is \"y\", want one of username, email, email_local\n" +
				"corrupt stored setting: login_timeout_seconds is \"z\", want an integer from 30 to 600"},
		{"backup code count out of range", map[string]string{KeyBackupCodeCount: "4"}, "", Duo{},
			`parse stored Duo settings: corrupt stored setting: backup_code_count is "4", want an integer from 5 to 20`},
		{"every corrupt recovery key, in schema order", map[string]string{KeyAllowSelfDisable: "yes", KeyBypassMaxHours: "169", KeyBypassMaxUses: "0",
			KeyRecoveryLinkHours: "1.5", KeyBackupCodesLowAt: "-1", KeyBackupCodeCount: "21"}, "", Duo{},
			"parse stored Duo settings: corrupt stored setting: backup_code_count is \"21\", want an integer from 5 to 20\n" +
				"corrupt stored setting: backup_codes_low_at is \"-1\", want an integer from 0 to 10\n" +
				"corrupt stored setting: recovery_link_hours is \"1.5\", want an integer from 1 to 168\n" +
				"corrupt stored setting: bypass_max_uses is \"0\", want an integer from 1 to 10\n" +
				"corrupt stored setting: bypass_max_hours is \"169\", want an integer from 1 to 168\n" +
				"corrupt stored setting: allow_self_disable is \"yes\", want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseStored(tt.values, tt.secret)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("err does not wrap ErrCorrupt: %v", err)
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDuoValidate(t *testing.T) {
	t.Parallel()
	testHost := configured()
	testHost.APIHostname = "127.0.0.1:8443"
	tests := []struct {
		name string
		d    Duo
		opts ValidateOptions
		want []string
	}{
		{"configured", configured(), ValidateOptions{}, nil},
		{"defaults lack credentials", Defaults(), ValidateOptions{}, []string{"client_id:required", "client_secret:required", "api_hostname:required"}},
		{"test host in test mode", testHost, ValidateOptions{AllowTestHost: true}, nil},
		{"test host after the switch is off", testHost, ValidateOptions{}, []string{"api_hostname:host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := reasons(tt.d.Validate(tt.opts)); !slices.Equal(got, tt.want) {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

// withDefaults returns Defaults() changed by f.
func withDefaults(f func(*Duo)) Duo {
	d := Defaults()
	f(&d)
	return d
}

// reasons renders field errors as "field:reason".
func reasons(errs []FieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+":"+string(e.Reason))
	}
	return out
}
