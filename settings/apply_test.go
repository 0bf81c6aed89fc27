package settings

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// writeCA writes a self-signed PEM certificate into a fresh directory and
// returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "duo simulator test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// with returns configured() changed by f.
func with(f func(*Duo)) Duo {
	d := configured()
	f(&d)
	return d
}

func TestApply(t *testing.T) {
	t.Parallel()
	ca := writeCA(t)
	notPEM := writeFile(t, "ca.pem", "not a certificate\n")
	keyOnly := writeFile(t, "key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	big := writeFile(t, "big.pem", strings.Repeat("x", maxCAFileSize+1))
	dir := t.TempDir()
	prod := ValidateOptions{}
	test := ValidateOptions{AllowTestHost: true}
	full := func(extra map[string]string) map[string]string {
		m := map[string]string{
			KeyClientID: validID, KeyClientSecret: validSecret, KeyAPIHostname: validHost,
			KeyFailMode: "open", KeyUsernameFormat: "email", KeyLoginTimeout: "120", KeyCAFile: "",
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		stored Duo
		values map[string]string
		opts   ValidateOptions
		want   Duo      // the result when wantErrs is empty
		errs   []string // field:reason, in order
	}{
		// merging
		{"first save", Defaults(), full(nil), prod, configured(), nil},
		{"nothing submitted keeps everything", configured(), nil, prod, configured(), nil},
		{"missing keys keep stored", configured(), map[string]string{KeyFailMode: "closed"}, prod, with(func(d *Duo) { d.FailMode = FailClosed }), nil},
		{"empty secret keeps stored", configured(), full(map[string]string{KeyClientSecret: ""}), prod, configured(), nil},
		{"blank secret keeps stored", configured(), full(map[string]string{KeyClientSecret: " \t\n"}), prod, configured(), nil},
		{"new secret replaces", configured(), full(map[string]string{KeyClientSecret: strings.Repeat("b", 40)}), prod,
			with(func(d *Duo) { d.ClientSecret = secret.Value(strings.Repeat("b", 40)) }), nil},
		{"values are trimmed", Defaults(), map[string]string{
			KeyClientID: " " + validID + "\n", KeyClientSecret: "\t" + validSecret + " ", KeyAPIHostname: "  " + validHost,
			KeyFailMode: " open ", KeyUsernameFormat: "email\n", KeyLoginTimeout: " 120 ",
		}, prod, configured(), nil},
		{"empty ca_file clears it", with(func(d *Duo) { d.CAFile = ca }), map[string]string{KeyCAFile: " "}, test, configured(), nil},
		{"empty client_id does not keep stored", configured(), map[string]string{KeyClientID: ""}, prod, Duo{}, []string{"client_id:required"}},

		// required
		{"defaults and nothing submitted", Defaults(), nil, prod, Duo{}, []string{"client_id:required", "client_secret:required", "api_hostname:required"}},
		{"zero stored and nothing submitted", Duo{}, nil, prod, Duo{}, []string{
			"client_id:required", "client_secret:required", "api_hostname:required", "fail_mode:required", "username_format:required", "login_timeout_seconds:required",
			"backup_code_count:required", "recovery_link_hours:required", "bypass_max_uses:required", "bypass_max_hours:required",
			"lockout_threshold:required", "log_retention_days:required"}},
		{"required dropdown emptied", configured(), map[string]string{KeyFailMode: "", KeyUsernameFormat: "  ", KeyLoginTimeout: ""}, prod, Duo{},
			[]string{"fail_mode:required", "username_format:required", "login_timeout_seconds:required"}},

		// client_id
		{"client_id lower-case letters accepted", Defaults(), full(map[string]string{KeyClientID: "diabcdefghij01234567"}), prod,
			with(func(d *Duo) { d.ClientID = "diabcdefghij01234567" }), nil},
		{"client_id 19 characters", configured(), map[string]string{KeyClientID: validID[:19]}, prod, Duo{}, []string{"client_id:length"}},
		{"client_id 21 characters", configured(), map[string]string{KeyClientID: validID + "8"}, prod, Duo{}, []string{"client_id:length"}},
		{"client_id with a dash", configured(), map[string]string{KeyClientID: "DIABCDEFGHIJ-1234567"}, prod, Duo{}, []string{"client_id:format"}},
		{"client_id with inner space", configured(), map[string]string{KeyClientID: "DIABCDEFGH J01234567"}, prod, Duo{}, []string{"client_id:format"}},
		{"client_id with 20 non-ASCII letters", configured(), map[string]string{KeyClientID: strings.Repeat("é", 20)}, prod, Duo{}, []string{"client_id:format"}},

		// client_secret
		{"secret 39 characters", configured(), map[string]string{KeyClientSecret: validSecret[:39]}, prod, Duo{}, []string{"client_secret:length"}},
		{"secret with a symbol", configured(), map[string]string{KeyClientSecret: validSecret[:39] + "!"}, prod, Duo{}, []string{"client_secret:format"}},
		{"stored secret invalid is reported", with(func(d *Duo) { d.ClientSecret = "short" }), map[string]string{KeyFailMode: "closed"}, prod, Duo{}, []string{"client_secret:length"}},

		// api_hostname
		{"host upper-case is lowered", configured(), map[string]string{KeyAPIHostname: "API-12345678.DuoSecurity.COM"}, prod, configured(), nil},
		{"pasted URL", configured(), map[string]string{KeyAPIHostname: "https://api-12345678.duosecurity.com/"}, prod, configured(), nil},
		{"pasted URL upper-case scheme", configured(), map[string]string{KeyAPIHostname: "HTTPS://api-12345678.duosecurity.com//"}, prod, configured(), nil},
		{"trailing slash only", configured(), map[string]string{KeyAPIHostname: validHost + "/"}, prod, configured(), nil},
		{"duofederal", configured(), map[string]string{KeyAPIHostname: "api-abc.duofederal.com"}, prod, with(func(d *Duo) { d.APIHostname = "api-abc.duofederal.com" }), nil},
		{"http scheme", configured(), map[string]string{KeyAPIHostname: "http://" + validHost}, prod, Duo{}, []string{"api_hostname:format"}},
		{"path", configured(), map[string]string{KeyAPIHostname: validHost + "/oauth/v1"}, prod, Duo{}, []string{"api_hostname:format"}},
		{"query", configured(), map[string]string{KeyAPIHostname: validHost + "?x=1"}, prod, Duo{}, []string{"api_hostname:format"}},
		{"userinfo", configured(), map[string]string{KeyAPIHostname: "me@" + validHost}, prod, Duo{}, []string{"api_hostname:format"}},
		{"inner space", configured(), map[string]string{KeyAPIHostname: "api-1234 5678.duosecurity.com"}, prod, Duo{}, []string{"api_hostname:format"}},
		{"scheme only", configured(), map[string]string{KeyAPIHostname: "https:///"}, prod, Duo{}, []string{"api_hostname:format"}},
		{"not Duo", configured(), map[string]string{KeyAPIHostname: "example.com"}, prod, Duo{}, []string{"api_hostname:host"}},
		{"Duo look-alike", configured(), map[string]string{KeyAPIHostname: "api-1234.duosecurity.com.evil.example"}, prod, Duo{}, []string{"api_hostname:host"}},
		{"Duo without api- prefix", configured(), map[string]string{KeyAPIHostname: "admin-1234.duosecurity.com"}, prod, Duo{}, []string{"api_hostname:host"}},
		{"Duo host with port in production", configured(), map[string]string{KeyAPIHostname: validHost + ":443"}, prod, Duo{}, []string{"api_hostname:host"}},
		{"IP and port in production", configured(), map[string]string{KeyAPIHostname: "127.0.0.1:8443"}, prod, Duo{}, []string{"api_hostname:host"}},
		{"IP and port in test mode", configured(), map[string]string{KeyAPIHostname: "127.0.0.1:8443"}, test, with(func(d *Duo) { d.APIHostname = "127.0.0.1:8443" }), nil},
		{"name and port in test mode", configured(), map[string]string{KeyAPIHostname: "https://Duo-Sim.Example.com:8443/"}, test, with(func(d *Duo) { d.APIHostname = "duo-sim.example.com:8443" }), nil},
		{"bare name in test mode", configured(), map[string]string{KeyAPIHostname: "localhost"}, test, with(func(d *Duo) { d.APIHostname = "localhost" }), nil},
		{"IPv6 with port in test mode", configured(), map[string]string{KeyAPIHostname: "[::1]:8443"}, test, with(func(d *Duo) { d.APIHostname = "[::1]:8443" }), nil},
		{"IPv6 without port in test mode", configured(), map[string]string{KeyAPIHostname: "[::1]"}, test, with(func(d *Duo) { d.APIHostname = "[::1]" }), nil},
		{"Duo host in test mode", configured(), map[string]string{KeyAPIHostname: validHost}, test, configured(), nil},
		{"IPv6 without brackets in test mode", configured(), map[string]string{KeyAPIHostname: "::1"}, test, Duo{}, []string{"api_hostname:format"}},
		{"IPv4 in brackets in test mode", configured(), map[string]string{KeyAPIHostname: "[127.0.0.1]:8443"}, test, Duo{}, []string{"api_hostname:format"}},
		{"port 0 in test mode", configured(), map[string]string{KeyAPIHostname: "127.0.0.1:0"}, test, Duo{}, []string{"api_hostname:format"}},
		{"port too big in test mode", configured(), map[string]string{KeyAPIHostname: "127.0.0.1:65536"}, test, Duo{}, []string{"api_hostname:format"}},
		{"port not a number in test mode", configured(), map[string]string{KeyAPIHostname: "localhost:https"}, test, Duo{}, []string{"api_hostname:format"}},
		{"empty port in test mode", configured(), map[string]string{KeyAPIHostname: "localhost:"}, test, Duo{}, []string{"api_hostname:format"}},
		{"underscore in test mode", configured(), map[string]string{KeyAPIHostname: "duo_sim:8443"}, test, Duo{}, []string{"api_hostname:format"}},
		{"empty label in test mode", configured(), map[string]string{KeyAPIHostname: "duo..sim"}, test, Duo{}, []string{"api_hostname:format"}},
		{"path in test mode", configured(), map[string]string{KeyAPIHostname: "127.0.0.1:8443/x"}, test, Duo{}, []string{"api_hostname:format"}},

		// dropdowns
		{"fail_mode not an option", configured(), map[string]string{KeyFailMode: "sometimes"}, prod, Duo{}, []string{"fail_mode:option"}},
		{"fail_mode is case-sensitive", configured(), map[string]string{KeyFailMode: "Closed"}, prod, Duo{}, []string{"fail_mode:option"}},
		{"username_format email_local", configured(), map[string]string{KeyUsernameFormat: "email_local"}, prod, with(func(d *Duo) { d.UsernameFormat = FormatEmailLocal }), nil},
		{"username_format not an option", configured(), map[string]string{KeyUsernameFormat: "upn"}, prod, Duo{}, []string{"username_format:option"}},

		// login_timeout_seconds
		{"timeout 30", configured(), map[string]string{KeyLoginTimeout: "30"}, prod, with(func(d *Duo) { d.LoginTimeout = 30 * time.Second }), nil},
		{"timeout 600", configured(), map[string]string{KeyLoginTimeout: "600"}, prod, with(func(d *Duo) { d.LoginTimeout = 10 * time.Minute }), nil},
		{"timeout 29", configured(), map[string]string{KeyLoginTimeout: "29"}, prod, Duo{}, []string{"login_timeout_seconds:range"}},
		{"timeout 601", configured(), map[string]string{KeyLoginTimeout: "601"}, prod, Duo{}, []string{"login_timeout_seconds:range"}},
		{"timeout negative", configured(), map[string]string{KeyLoginTimeout: "-60"}, prod, Duo{}, []string{"login_timeout_seconds:range"}},
		{"timeout overflows", configured(), map[string]string{KeyLoginTimeout: "99999999999999999999"}, prod, Duo{}, []string{"login_timeout_seconds:range"}},
		{"timeout huge but fits int", configured(), map[string]string{KeyLoginTimeout: "9223372036854775807"}, prod, Duo{}, []string{"login_timeout_seconds:range"}},
		{"timeout as duration", configured(), map[string]string{KeyLoginTimeout: "5m"}, prod, Duo{}, []string{"login_timeout_seconds:format"}},
		{"timeout fractional", configured(), map[string]string{KeyLoginTimeout: "60.5"}, prod, Duo{}, []string{"login_timeout_seconds:format"}},

		// recovery settings
		{"recovery settings at their bounds", configured(), map[string]string{KeyBackupCodeCount: "20", KeyBackupCodesLowAt: "10", KeyRecoveryLinkHours: "168",
			KeyBypassMaxUses: "1", KeyBypassMaxHours: "1", KeyAllowSelfDisable: "true"}, prod, with(func(d *Duo) {
			d.BackupCodeCount, d.BackupCodesLowAt, d.RecoveryLinkLifetime = 20, 10, 168*time.Hour
			d.BypassMaxUses, d.BypassMaxLifetime, d.AllowSelfDisable = 1, time.Hour, true
		}), nil},
		{"recovery settings at their other bounds", configured(), map[string]string{KeyBackupCodeCount: "5", KeyBackupCodesLowAt: "0", KeyRecoveryLinkHours: "1",
			KeyBypassMaxUses: "10", KeyBypassMaxHours: "168", KeyAllowSelfDisable: "false"}, prod, with(func(d *Duo) {
			d.BackupCodeCount, d.BackupCodesLowAt, d.RecoveryLinkLifetime = 5, 0, time.Hour
		}), nil},
		{"recovery numbers are trimmed", configured(), map[string]string{KeyBackupCodeCount: " 12 ", KeyAllowSelfDisable: " true\n"}, prod,
			with(func(d *Duo) { d.BackupCodeCount, d.AllowSelfDisable = 12, true }), nil},
		{"backup_code_count 4", configured(), map[string]string{KeyBackupCodeCount: "4"}, prod, Duo{}, []string{"backup_code_count:range"}},
		{"backup_code_count 21", configured(), map[string]string{KeyBackupCodeCount: "21"}, prod, Duo{}, []string{"backup_code_count:range"}},
		{"backup_code_count not a number", configured(), map[string]string{KeyBackupCodeCount: "ten"}, prod, Duo{}, []string{"backup_code_count:format"}},
		{"backup_code_count emptied", configured(), map[string]string{KeyBackupCodeCount: ""}, prod, Duo{}, []string{"backup_code_count:required"}},
		{"backup_codes_low_at 11", configured(), map[string]string{KeyBackupCodesLowAt: "11"}, prod, Duo{}, []string{"backup_codes_low_at:range"}},
		{"backup_codes_low_at negative", configured(), map[string]string{KeyBackupCodesLowAt: "-1"}, prod, Duo{}, []string{"backup_codes_low_at:range"}},
		{"backup_codes_low_at equal to the count", configured(), map[string]string{KeyBackupCodeCount: "6", KeyBackupCodesLowAt: "6"}, prod, Duo{}, []string{"backup_codes_low_at:range"}},
		{"backup_codes_low_at above a stored count", with(func(d *Duo) { d.BackupCodeCount = 5 }), map[string]string{KeyBackupCodesLowAt: "7"}, prod, Duo{}, []string{"backup_codes_low_at:range"}},
		{"count lowered under a stored mark", with(func(d *Duo) { d.BackupCodesLowAt = 8 }), map[string]string{KeyBackupCodeCount: "8"}, prod, Duo{}, []string{"backup_codes_low_at:range"}},
		{"a bad count is not also blamed on the mark", configured(), map[string]string{KeyBackupCodeCount: "1"}, prod, Duo{}, []string{"backup_code_count:range"}},
		{"recovery_link_hours 0", configured(), map[string]string{KeyRecoveryLinkHours: "0"}, prod, Duo{}, []string{"recovery_link_hours:range"}},
		{"recovery_link_hours 169", configured(), map[string]string{KeyRecoveryLinkHours: "169"}, prod, Duo{}, []string{"recovery_link_hours:range"}},
		{"recovery_link_hours as a duration", configured(), map[string]string{KeyRecoveryLinkHours: "24h"}, prod, Duo{}, []string{"recovery_link_hours:format"}},
		{"bypass_max_uses 0", configured(), map[string]string{KeyBypassMaxUses: "0"}, prod, Duo{}, []string{"bypass_max_uses:range"}},
		{"bypass_max_uses 11", configured(), map[string]string{KeyBypassMaxUses: "11"}, prod, Duo{}, []string{"bypass_max_uses:range"}},
		{"bypass_max_uses fractional", configured(), map[string]string{KeyBypassMaxUses: "1.5"}, prod, Duo{}, []string{"bypass_max_uses:format"}},
		{"bypass_max_hours 169", configured(), map[string]string{KeyBypassMaxHours: "169"}, prod, Duo{}, []string{"bypass_max_hours:range"}},
		{"bypass_max_hours overflows", configured(), map[string]string{KeyBypassMaxHours: "99999999999999999999"}, prod, Duo{}, []string{"bypass_max_hours:range"}},
		{"allow_self_disable yes", configured(), map[string]string{KeyAllowSelfDisable: "yes"}, prod, Duo{}, []string{"allow_self_disable:format"}},
		{"allow_self_disable is case-sensitive", configured(), map[string]string{KeyAllowSelfDisable: "True"}, prod, Duo{}, []string{"allow_self_disable:format"}},
		{"allow_self_disable empty is off", with(func(d *Duo) { d.AllowSelfDisable = true }), map[string]string{KeyAllowSelfDisable: ""}, prod, configured(), nil},
		{"every recovery setting wrong", configured(), map[string]string{KeyAllowSelfDisable: "1", KeyBypassMaxHours: "0", KeyBypassMaxUses: "x",
			KeyRecoveryLinkHours: "-3", KeyBackupCodesLowAt: "12", KeyBackupCodeCount: "0"}, prod, Duo{}, []string{
			"backup_code_count:range", "backup_codes_low_at:range", "recovery_link_hours:range", "bypass_max_uses:format", "bypass_max_hours:range", "allow_self_disable:format"}},

		// ca_file
		{"ca_file in test mode", configured(), map[string]string{KeyCAFile: ca}, test, with(func(d *Duo) { d.CAFile = ca }), nil},
		{"ca_file in production", configured(), map[string]string{KeyCAFile: ca}, prod, Duo{}, []string{"ca_file:not_allowed"}},
		{"stored ca_file after the switch is off", with(func(d *Duo) { d.CAFile = ca }), map[string]string{KeyFailMode: "closed"}, prod, Duo{}, []string{"ca_file:not_allowed"}},
		{"ca_file relative", configured(), map[string]string{KeyCAFile: "certs/test-ca.pem"}, test, Duo{}, []string{"ca_file:format"}},
		{"ca_file missing", configured(), map[string]string{KeyCAFile: filepath.Join(dir, "missing.pem")}, test, Duo{}, []string{"ca_file:format"}},
		{"ca_file a directory", configured(), map[string]string{KeyCAFile: dir}, test, Duo{}, []string{"ca_file:format"}},
		{"ca_file a device", configured(), map[string]string{KeyCAFile: os.DevNull}, test, Duo{}, []string{"ca_file:format"}},
		{"ca_file not PEM", configured(), map[string]string{KeyCAFile: notPEM}, test, Duo{}, []string{"ca_file:format"}},
		{"ca_file PEM without certificate", configured(), map[string]string{KeyCAFile: keyOnly}, test, Duo{}, []string{"ca_file:format"}},
		{"ca_file too large", configured(), map[string]string{KeyCAFile: big}, test, Duo{}, []string{"ca_file:format"}},

		// unknown and length
		{"unknown key", configured(), map[string]string{"clientid": validID}, prod, Duo{}, []string{"clientid:unknown"}},
		{"unknown keys sorted after schema", configured(), map[string]string{"zeta": "", "alpha": "", KeyFailMode: "x"}, prod, Duo{},
			[]string{"fail_mode:option", "alpha:unknown", "zeta:unknown"}},
		{"too long", configured(), map[string]string{KeyClientID: strings.Repeat("A", MaxValueLength+1)}, prod, Duo{}, []string{"client_id:length"}},
		{"too long secret", configured(), map[string]string{KeyClientSecret: strings.Repeat("A", MaxValueLength+1)}, prod, Duo{}, []string{"client_secret:length"}},
		{"too long counts characters", configured(), map[string]string{KeyCAFile: "/" + strings.Repeat("é", MaxValueLength-1)}, prod, Duo{}, []string{"ca_file:not_allowed"}},
		{"too long whitespace is not trimmed first", configured(), map[string]string{KeyCAFile: strings.Repeat(" ", MaxValueLength+1)}, prod, Duo{}, []string{"ca_file:length"}},

		// all at once
		{"every field wrong", Defaults(), map[string]string{
			KeyClientID: "DI1", KeyClientSecret: "s", KeyAPIHostname: "example.com", KeyFailMode: "x", KeyUsernameFormat: "y",
			KeyLoginTimeout: "1", KeyCAFile: "/ca.pem", "extra": "",
		}, prod, Duo{}, []string{
			"client_id:length", "client_secret:length", "api_hostname:host", "fail_mode:option", "username_format:option",
			"login_timeout_seconds:range", "ca_file:not_allowed", "extra:unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, errs := Apply(tt.stored, tt.values, tt.opts)
			if r := reasons(errs); !slices.Equal(r, tt.errs) {
				t.Fatalf("errors = %q, want %q\n%+v", r, tt.errs, errs)
			}
			want := tt.want
			if len(tt.errs) > 0 {
				want = tt.stored // on error, nothing changes
			}
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			for _, e := range errs {
				if e.Message == "" {
					t.Errorf("%s: empty message", e.Field)
				}
				for _, v := range tt.values {
					if v = strings.TrimSpace(v); len(v) >= 4 && strings.Contains(e.Message, v) {
						t.Errorf("%s: message echoes a submitted value: %q", e.Field, e.Message)
					}
				}
			}
		})
	}
}

func TestApplyDoesNotModifyInputs(t *testing.T) {
	t.Parallel()
	values := map[string]string{KeyClientID: " " + validID + " ", KeyClientSecret: ""}
	stored := configured()
	_, errs := Apply(stored, values, ValidateOptions{})
	if errs != nil {
		t.Fatalf("errors: %v", errs)
	}
	if values[KeyClientID] != " "+validID+" " || len(values) != 2 || stored != configured() {
		t.Errorf("Apply modified its inputs: values %q, stored %+v", values, stored)
	}
}

// A CA file the plugin process cannot open, whoever runs it: its parent is
// a regular file, so no mode bit (which root ignores) is involved.
func TestApplyUnopenableCAFile(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(writeCA(t), "ca.pem")
	_, errs := Apply(configured(), map[string]string{KeyCAFile: ca}, ValidateOptions{AllowTestHost: true})
	want := []FieldError{{Field: KeyCAFile, Reason: contract.FieldFormat, Message: "Trusted CA file (testing only) cannot be opened by the plugin process."}}
	if !reflect.DeepEqual(withoutText(t, errs), want) {
		t.Errorf("got %+v, want %+v", errs, want)
	}
}

// TestApplyMessages pins the wording admins see, one case per message.
func TestApplyMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := writeFile(t, "ca.pem", "nope")
	prod := ValidateOptions{}
	test := ValidateOptions{AllowTestHost: true}
	tests := []struct {
		name   string
		stored Duo
		values map[string]string
		opts   ValidateOptions
		want   FieldError
	}{
		{"client_id required", configured(), map[string]string{KeyClientID: ""}, prod, FieldError{Field: KeyClientID, Reason: contract.FieldRequired,
			Message: "Client ID is required: copy it from your Web SDK application in the Duo Admin Panel (20 characters, starting with DI)."}},
		{"client_secret required", with(func(d *Duo) { d.ClientSecret = "" }), nil, prod, FieldError{Field: KeyClientSecret, Reason: contract.FieldRequired,
			Message: "Client secret is required: copy it from your Web SDK application in the Duo Admin Panel (40 characters)."}},
		{"api_hostname required", configured(), map[string]string{KeyAPIHostname: ""}, prod, FieldError{Field: KeyAPIHostname, Reason: contract.FieldRequired,
			Message: "API hostname is required: copy it from your Web SDK application in the Duo Admin Panel, like api-xxxxxxxx.duosecurity.com."}},
		{"fail_mode required", configured(), map[string]string{KeyFailMode: ""}, prod, FieldError{Field: KeyFailMode, Reason: contract.FieldRequired,
			Message: "When Duo is unreachable is required: choose one of closed, open."}},
		{"username_format required", configured(), map[string]string{KeyUsernameFormat: ""}, prod, FieldError{Field: KeyUsernameFormat, Reason: contract.FieldRequired,
			Message: "Duo username is required: choose one of username, email, email_local."}},
		{"timeout required", configured(), map[string]string{KeyLoginTimeout: ""}, prod, FieldError{Field: KeyLoginTimeout, Reason: contract.FieldRequired,
			Message: "Time to complete Duo (seconds) is required: a whole number of seconds from 30 to 600."}},
		{"client_id length", configured(), map[string]string{KeyClientID: "DI123"}, prod, FieldError{Field: KeyClientID, Reason: contract.FieldLength,
			Message: "Client ID must be exactly 20 letters and digits, like DIXXXXXXXXXXXXXXXXXX, as shown for your Web SDK application in the Duo Admin Panel; the value entered has 5 characters."}},
		{"client_id format", configured(), map[string]string{KeyClientID: "DI-23456789012345678"}, prod, FieldError{Field: KeyClientID, Reason: contract.FieldFormat,
			Message: "Client ID must be exactly 20 letters and digits, like DIXXXXXXXXXXXXXXXXXX, as shown for your Web SDK application in the Duo Admin Panel; the value entered has other characters."}},
		{"client_secret length", configured(), map[string]string{KeyClientSecret: "abc"}, prod, FieldError{Field: KeyClientSecret, Reason: contract.FieldLength,
			Message: "Client secret must be exactly 40 letters and digits, as shown for your Web SDK application in the Duo Admin Panel."}},
		{"client_secret format", configured(), map[string]string{KeyClientSecret: strings.Repeat("-", 40)}, prod, FieldError{Field: KeyClientSecret, Reason: contract.FieldFormat,
			Message: "Client secret must be exactly 40 letters and digits, as shown for your Web SDK application in the Duo Admin Panel; the value entered has other characters."}},
		{"api_hostname host", configured(), map[string]string{KeyAPIHostname: "example.com"}, prod, FieldError{Field: KeyAPIHostname, Reason: contract.FieldHost,
			Message: "API hostname must be your Duo API hostname, like api-xxxxxxxx.duosecurity.com (or api-xxxxxxxx.duofederal.com), as shown for your Web SDK application in the Duo Admin Panel."}},
		{"api_hostname format", configured(), map[string]string{KeyAPIHostname: "http://example.com"}, prod, FieldError{Field: KeyAPIHostname, Reason: contract.FieldFormat,
			Message: "API hostname must be a host name only, like api-xxxxxxxx.duosecurity.com: no spaces, no path, and no scheme other than https://."}},
		{"api_hostname format in test mode", configured(), map[string]string{KeyAPIHostname: "a b"}, test, FieldError{Field: KeyAPIHostname, Reason: contract.FieldFormat,
			Message: "API hostname must be a host name or host:port only, like api-xxxxxxxx.duosecurity.com or 127.0.0.1:8443: no spaces, no path, and no scheme other than https://."}},
		{"fail_mode option", configured(), map[string]string{KeyFailMode: "x"}, prod, FieldError{Field: KeyFailMode, Reason: contract.FieldOption,
			Message: "When Duo is unreachable must be one of closed, open."}},
		{"username_format option", configured(), map[string]string{KeyUsernameFormat: "x"}, prod, FieldError{Field: KeyUsernameFormat, Reason: contract.FieldOption,
			Message: "Duo username must be one of username, email, email_local."}},
		{"timeout format", configured(), map[string]string{KeyLoginTimeout: "2m"}, prod, FieldError{Field: KeyLoginTimeout, Reason: contract.FieldFormat,
			Message: "Time to complete Duo (seconds) must be a whole number of seconds from 30 to 600."}},
		{"timeout range", configured(), map[string]string{KeyLoginTimeout: "1000"}, prod, FieldError{Field: KeyLoginTimeout, Reason: contract.FieldRange,
			Message: "Time to complete Duo (seconds) must be from 30 to 600 seconds."}},
		{"backup_code_count required", configured(), map[string]string{KeyBackupCodeCount: ""}, prod, FieldError{Field: KeyBackupCodeCount, Reason: contract.FieldRequired,
			Message: "Backup codes per set is required: a whole number from 5 to 20."}},
		{"backup_code_count format", configured(), map[string]string{KeyBackupCodeCount: "many"}, prod, FieldError{Field: KeyBackupCodeCount, Reason: contract.FieldFormat,
			Message: "Backup codes per set must be a whole number from 5 to 20."}},
		{"backup_code_count range", configured(), map[string]string{KeyBackupCodeCount: "50"}, prod, FieldError{Field: KeyBackupCodeCount, Reason: contract.FieldRange,
			Message: "Backup codes per set must be from 5 to 20."}},
		{"backup_codes_low_at range", configured(), map[string]string{KeyBackupCodesLowAt: "11"}, prod, FieldError{Field: KeyBackupCodesLowAt, Reason: contract.FieldRange,
			Message: "Warn when this many backup codes are left must be from 0 to 10."}},
		{"backup_codes_low_at not under the count", configured(), map[string]string{KeyBackupCodeCount: "5", KeyBackupCodesLowAt: "5"}, prod, FieldError{Field: KeyBackupCodesLowAt, Reason: contract.FieldRange,
			Message: "Warn when this many backup codes are left must be less than Backup codes per set (5), or every new set would count as nearly used up."}},
		{"recovery_link_hours required", configured(), map[string]string{KeyRecoveryLinkHours: " "}, prod, FieldError{Field: KeyRecoveryLinkHours, Reason: contract.FieldRequired,
			Message: "Recovery link lifetime (hours) is required: a whole number of hours from 1 to 168."}},
		{"recovery_link_hours range", configured(), map[string]string{KeyRecoveryLinkHours: "200"}, prod, FieldError{Field: KeyRecoveryLinkHours, Reason: contract.FieldRange,
			Message: "Recovery link lifetime (hours) must be from 1 to 168 hours."}},
		{"recovery_link_hours format", configured(), map[string]string{KeyRecoveryLinkHours: "1d"}, prod, FieldError{Field: KeyRecoveryLinkHours, Reason: contract.FieldFormat,
			Message: "Recovery link lifetime (hours) must be a whole number of hours from 1 to 168."}},
		{"bypass_max_uses range", configured(), map[string]string{KeyBypassMaxUses: "11"}, prod, FieldError{Field: KeyBypassMaxUses, Reason: contract.FieldRange,
			Message: "Bypass code: most sign-ins must be from 1 to 10."}},
		{"bypass_max_hours range", configured(), map[string]string{KeyBypassMaxHours: "0"}, prod, FieldError{Field: KeyBypassMaxHours, Reason: contract.FieldRange,
			Message: "Bypass code: longest lifetime (hours) must be from 1 to 168 hours."}},
		{"allow_self_disable format", configured(), map[string]string{KeyAllowSelfDisable: "on"}, prod, FieldError{Field: KeyAllowSelfDisable, Reason: contract.FieldFormat,
			Message: "Operators may turn off their own Duo must be true or false."}},
		{"ca_file not allowed", configured(), map[string]string{KeyCAFile: "/ca.pem"}, prod, FieldError{Field: KeyCAFile, Reason: contract.FieldNotAllowed,
			Message: "Trusted CA file (testing only) is only for testing against a Duo simulator, and this plugin is not running in test mode: leave it blank."}},
		{"ca_file relative", configured(), map[string]string{KeyCAFile: "ca.pem"}, test, FieldError{Field: KeyCAFile, Reason: contract.FieldFormat,
			Message: "Trusted CA file (testing only) must be an absolute path to a PEM file, like /etc/duo-simulator/ca.pem."}},
		{"ca_file missing", configured(), map[string]string{KeyCAFile: filepath.Join(dir, "no.pem")}, test, FieldError{Field: KeyCAFile, Reason: contract.FieldFormat,
			Message: "Trusted CA file (testing only) does not exist: enter the absolute path of a PEM file."}},
		{"ca_file directory", configured(), map[string]string{KeyCAFile: dir}, test, FieldError{Field: KeyCAFile, Reason: contract.FieldFormat,
			Message: "Trusted CA file (testing only) must be a regular file containing PEM certificates."}},
		{"ca_file not PEM", configured(), map[string]string{KeyCAFile: notPEM}, test, FieldError{Field: KeyCAFile, Reason: contract.FieldFormat,
			Message: "Trusted CA file (testing only) contains no PEM certificate (a block starting with -----BEGIN CERTIFICATE-----)."}},
		{"unknown", configured(), map[string]string{"colour": "red"}, prod, FieldError{Field: "colour", Reason: contract.FieldUnknown,
			Message: "This is not a setting of the Duo Security plugin; its settings are client_id, client_secret, api_hostname, fail_mode, username_format, login_timeout_seconds, ca_file, backup_code_count, backup_codes_low_at, recovery_link_hours, bypass_max_uses, bypass_max_hours, allow_self_disable, enforce_all, enforce_role_admin, enforce_role_help_desk, enforce_role_agent, allow_service_account_exemption, lockout_threshold, lockout_minutes, lockout_contact, log_retention_days."}},
		{"unknown long key is shortened", configured(), map[string]string{strings.Repeat("k", 100): ""}, prod, FieldError{Field: strings.Repeat("k", 64) + "…", Reason: contract.FieldUnknown,
			Message: "This is not a setting of the Duo Security plugin; its settings are client_id, client_secret, api_hostname, fail_mode, username_format, login_timeout_seconds, ca_file, backup_code_count, backup_codes_low_at, recovery_link_hours, bypass_max_uses, bypass_max_hours, allow_self_disable, enforce_all, enforce_role_admin, enforce_role_help_desk, enforce_role_agent, allow_service_account_exemption, lockout_threshold, lockout_minutes, lockout_contact, log_retention_days."}},
		{"unknown key cut at a rune boundary", configured(), map[string]string{strings.Repeat("k", 63) + "é": ""}, prod, FieldError{Field: strings.Repeat("k", 63) + "…", Reason: contract.FieldUnknown,
			Message: "This is not a setting of the Duo Security plugin; its settings are client_id, client_secret, api_hostname, fail_mode, username_format, login_timeout_seconds, ca_file, backup_code_count, backup_codes_low_at, recovery_link_hours, bypass_max_uses, bypass_max_hours, allow_self_disable, enforce_all, enforce_role_admin, enforce_role_help_desk, enforce_role_agent, allow_service_account_exemption, lockout_threshold, lockout_minutes, lockout_contact, log_retention_days."}},
		{"unknown key with invalid UTF-8", configured(), map[string]string{"k\xffk": ""}, prod, FieldError{Field: "k\uFFFDk", Reason: contract.FieldUnknown,
			Message: "This is not a setting of the Duo Security plugin; its settings are client_id, client_secret, api_hostname, fail_mode, username_format, login_timeout_seconds, ca_file, backup_code_count, backup_codes_low_at, recovery_link_hours, bypass_max_uses, bypass_max_hours, allow_self_disable, enforce_all, enforce_role_admin, enforce_role_help_desk, enforce_role_agent, allow_service_account_exemption, lockout_threshold, lockout_minutes, lockout_contact, log_retention_days."}},
		{"length", configured(), map[string]string{KeyAPIHostname: strings.Repeat("a", 5000)}, prod, FieldError{Field: KeyAPIHostname, Reason: contract.FieldLength,
			Message: "API hostname is too long: at most 4096 characters."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errs := Apply(tt.stored, tt.values, tt.opts)
			if want := []FieldError{tt.want}; !reflect.DeepEqual(withoutText(t, errs), want) {
				t.Errorf("got  %+v\nwant %+v", errs, want)
			}
		})
	}
}

// TestApplySecretNeverInMessages submits many bad secrets and checks that no
// message carries any of them.
func TestApplySecretNeverInMessages(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"short", validSecret + "X", strings.Repeat("!", 40), validSecret[:20] + " " + validSecret[:19], strings.Repeat("Z", 5000)} {
		_, errs := Apply(configured(), map[string]string{KeyClientSecret: s}, ValidateOptions{})
		if len(errs) != 1 || errs[0].Field != KeyClientSecret {
			t.Fatalf("secret %d chars: errors = %+v, want one client_secret error", len(s), errs)
		}
		if strings.Contains(errs[0].Message, strings.TrimSpace(s)) || strings.Contains(errs[0].Message, validSecret[:8]) {
			t.Errorf("message contains the secret: %q", errs[0].Message)
		}
	}
}

// Each reason a CA file fails to open has its words, the permission one
// included (which a test run as root, as CI is, cannot provoke on disk).
func TestOpenProblemNamesTheCause(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		&fs.PathError{Op: "open", Path: "/x", Err: fs.ErrPermission}: "{field} cannot be read by the plugin process (permission denied).",
		&fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}:   "{field} does not exist: enter the absolute path of a PEM file.",
		&fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOTDIR}:  "{field} cannot be opened by the plugin process.",
	} {
		if got := contract.Texts()[openProblem(err)]; got != want {
			t.Errorf("openProblem(%v) = %q, want %q", err, got, want)
		}
	}
}

// withoutText checks that each error's Text renders its Message (the
// English a host without a translation shows) and returns the errors
// without their Text, for comparing the wording.
func withoutText(t *testing.T, errs []FieldError) []FieldError {
	t.Helper()
	out := make([]FieldError, len(errs))
	for i, e := range errs {
		if e.Text.ID == "" {
			t.Errorf("%s: error %q has no text id", e.Field, e.Message)
		} else if got := e.Text.English(); got != e.Message {
			t.Errorf("%s: text %s renders %q, message is %q", e.Field, e.Text.ID, got, e.Message)
		}
		e.Text = contract.Text{}
		out[i] = e
	}
	return out
}
