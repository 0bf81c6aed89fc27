package settings

import (
	"slices"

	duoplugin "github.com/helpdesk-duo/duo-plugin"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Keys of the Duo settings, as in plugin.json's settings_schema and in the
// store's key/value rows. A test checks each is in the schema.
const (
	KeyClientID       = "client_id"             // Duo.ClientID
	KeyClientSecret   = "client_secret"         // Duo.ClientSecret; stored apart, encrypted
	KeyAPIHostname    = "api_hostname"          // Duo.APIHostname
	KeyFailMode       = "fail_mode"             // Duo.FailMode
	KeyUsernameFormat = "username_format"       // Duo.UsernameFormat
	KeyLoginTimeout   = "login_timeout_seconds" // Duo.LoginTimeout, in whole seconds
	KeyCAFile         = "ca_file"               // Duo.CAFile; test mode only

	KeyBackupCodeCount   = "backup_code_count"   // Duo.BackupCodeCount
	KeyBackupCodesLowAt  = "backup_codes_low_at" // Duo.BackupCodesLowAt
	KeyRecoveryLinkHours = "recovery_link_hours" // Duo.RecoveryLinkLifetime, in whole hours
	KeyBypassMaxUses     = "bypass_max_uses"     // Duo.BypassMaxUses
	KeyBypassMaxHours    = "bypass_max_hours"    // Duo.BypassMaxLifetime, in whole hours
	KeyAllowSelfDisable  = "allow_self_disable"  // Duo.AllowSelfDisable: "true" or "false"

	KeyEnforceAll          = "enforce_all"                     // Duo.EnforceAll
	KeyEnforceRoleAdmin    = "enforce_role_admin"              // Duo.EnforceRoles[RoleAdmin]
	KeyEnforceRoleHelpDesk = "enforce_role_help_desk"          // Duo.EnforceRoles[RoleHelpDesk]
	KeyEnforceRoleAgent    = "enforce_role_agent"              // Duo.EnforceRoles[RoleAgent]
	KeyAllowExemption      = "allow_service_account_exemption" // Duo.AllowServiceAccountExemption
	KeyLockoutThreshold    = "lockout_threshold"               // Duo.LockoutThreshold
	KeyLockoutMinutes      = "lockout_minutes"                 // Duo.LockoutDuration, in whole minutes; 0: until unlocked
	KeyLockoutContact      = "lockout_contact"                 // Duo.LockoutContact
	KeyLogRetentionDays    = "log_retention_days"              // Duo.LogRetention, in whole days
)

// schema is plugin.json's settings_schema, embedded in the binary: the one
// source of the settings' names, types, help texts, options and defaults.
var schema = duoplugin.Embedded.SettingsSchema

// Fields returns the schema of the Duo settings, in the order the settings
// page shows them: plugin.json's settings_schema. The result is a fresh
// copy the caller may modify.
func Fields() []contract.SettingField {
	out := make([]contract.SettingField, len(schema))
	for i, f := range schema {
		f.Options = slices.Clone(f.Options)
		out[i] = f
	}
	return out
}

// LookupField returns the schema entry of key, and whether key is a setting.
func LookupField(key string) (contract.SettingField, bool) {
	i := fieldIndex(key)
	if i < 0 {
		return contract.SettingField{}, false
	}
	return Fields()[i], true
}

// fieldIndex is key's position in the schema, or -1.
func fieldIndex(key string) int {
	return slices.IndexFunc(schema, func(f contract.SettingField) bool { return f.Key == key })
}

// optionValues lists the values of key's dropdown options.
func optionValues(key string) []string {
	i := fieldIndex(key)
	if i < 0 {
		return nil
	}
	vals := make([]string, len(schema[i].Options))
	for j, o := range schema[i].Options {
		vals[j] = o.Value
	}
	return vals
}
