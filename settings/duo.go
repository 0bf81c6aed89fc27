package settings

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// FailMode says what a login of a Duo-enabled operator does while Duo cannot
// be reached.
type FailMode string

// The fail modes.
const (
	// FailClosed refuses the login (the default).
	FailClosed FailMode = "closed"
	// FailOpen allows the login on the password alone; each such login is
	// audited as a warning.
	FailOpen FailMode = "open"
)

// UsernameFormat says which part of the helpdesk account is sent to Duo as
// the username (a per-operator alias wins over it).
type UsernameFormat string

// The username formats.
const (
	// FormatUsername sends the helpdesk username (the default).
	FormatUsername UsernameFormat = "username"
	// FormatEmail sends the operator's e-mail address.
	FormatEmail UsernameFormat = "email"
	// FormatEmailLocal sends the part of the e-mail address before the @.
	FormatEmailLocal UsernameFormat = "email_local"
)

// Login timeout bounds, as the schema's help text states them.
const (
	MinLoginTimeout = 30 * time.Second  // shortest accepted Duo.LoginTimeout
	MaxLoginTimeout = 600 * time.Second // longest accepted Duo.LoginTimeout
)

// Recovery bounds, as the schema's help texts state them.
const (
	MinBackupCodeCount      = 5               // fewest codes in a set
	MaxBackupCodeCount      = 20              // most codes in a set
	MaxBackupCodesLowAt     = 10              // highest "few codes left" mark (0 is the lowest)
	MinRecoveryLinkLifetime = time.Hour       // shortest recovery link lifetime
	MaxRecoveryLinkLifetime = 168 * time.Hour // longest recovery link lifetime (one week)
	MinBypassMaxUses        = 1               // lowest cap on a bypass code's uses
	MaxBypassMaxUses        = 10              // highest cap on a bypass code's uses
	MinBypassMaxLifetime    = time.Hour       // lowest cap on a bypass code's lifetime
	MaxBypassMaxLifetime    = 168 * time.Hour // highest cap on a bypass code's lifetime
)

// Policy bounds, as the schema's help texts state them.
const (
	MinLockoutThreshold = 3                     // fewest failures that lock
	MaxLockoutThreshold = 100                   // most failures that lock
	MaxLockoutDuration  = 7 * 24 * time.Hour    // longest automatic lockout (0: until unlocked)
	MaxLockoutContact   = 200                   // characters of lockout_contact
	MinLogRetention     = 24 * time.Hour        // shortest log retention
	MaxLogRetention     = 3650 * 24 * time.Hour // longest log retention
)

// EnforcedRoles are the roles enforce_role_* can require Duo of.
var EnforcedRoles = []contract.Role{contract.RoleAdmin, contract.RoleHelpDesk, contract.RoleAgent}

// Duo is the plugin's Duo settings. It is a value with no references inside,
// so a copy is independent of the original: treat it as immutable and swap
// whole values when the settings change. Build one with Defaults, Apply or
// ParseStored; Apply and Validate check the values, the others do not.
type Duo struct {
	// ClientID is the Web SDK application's Client ID (20 characters).
	ClientID string
	// ClientSecret is the application's Client secret (40 characters).
	ClientSecret secret.Value
	// APIHostname is the Duo API host, lower-case, without scheme: normally
	// api-xxxxxxxx.duosecurity.com; any host[:port] only in test mode.
	APIHostname string
	// FailMode applies while Duo is unreachable.
	FailMode FailMode
	// UsernameFormat chooses the Duo username of an operator without alias.
	UsernameFormat UsernameFormat
	// LoginTimeout is how long an operator has to complete the Duo prompt.
	LoginTimeout time.Duration
	// CAFile is an absolute path to a PEM CA bundle to trust for APIHostname;
	// set only in test mode. The file was checked when saved; whoever uses
	// it must read it again and handle errors, as it may have changed.
	CAFile string
	// BackupCodeCount is how many codes a set of backup codes holds.
	BackupCodeCount int
	// BackupCodesLowAt: an operator with this many unused backup codes or
	// fewer is asked to make a new set. Always less than BackupCodeCount.
	BackupCodesLowAt int
	// RecoveryLinkLifetime is how long a recovery link works, in whole hours.
	RecoveryLinkLifetime time.Duration
	// BypassMaxUses is the most uses an admin may give one bypass code.
	BypassMaxUses int
	// BypassMaxLifetime is the longest lifetime an admin may give one bypass
	// code, in whole hours.
	BypassMaxLifetime time.Duration
	// AllowSelfDisable lets an operator turn Duo off for their own account.
	AllowSelfDisable bool
	// EnforceAll requires Duo of every operator, whatever their toggle.
	EnforceAll bool
	// EnforceAdmin, EnforceHelpDesk and EnforceAgent require Duo of every
	// operator the host gives that role.
	EnforceAdmin, EnforceHelpDesk, EnforceAgent bool
	// AllowServiceAccountExemption lets accounts the host marks as service
	// accounts skip Duo (each such login audited).
	AllowServiceAccountExemption bool
	// LockoutThreshold is how many second-factor failures in a row lock an
	// operator.
	LockoutThreshold int
	// LockoutDuration ends a lockout by itself; 0 keeps it until someone
	// unlocks the operator. Whole minutes.
	LockoutDuration time.Duration
	// LockoutContact names who unlocks a locked operator, for their
	// message; "" for the default wording.
	LockoutContact string
	// LogRetention is how long audit events are kept, in whole days.
	LogRetention time.Duration
}

// EnforcedFor reports whether the settings require Duo of role, whatever
// the operator's toggle.
func (d Duo) EnforcedFor(role contract.Role) bool {
	switch role {
	case contract.RoleAdmin:
		return d.EnforceAdmin
	case contract.RoleHelpDesk:
		return d.EnforceHelpDesk
	case contract.RoleAgent:
		return d.EnforceAgent
	}
	return false
}

// Defaults returns the settings of a fresh installation: the defaults of
// plugin.json's settings_schema (fail closed, the helpdesk username as Duo
// username, 5 minutes to complete Duo, 10 backup codes with a warning at 2,
// recovery links for 24 hours, bypass codes of at most 10 uses and a week,
// no self-disable) and no credentials.
func Defaults() Duo { return defaults }

// defaults is parsed once from the schema; a default that does not parse
// is a broken plugin.json, caught by every test and every start.
var defaults = func() Duo {
	vals := make(map[string]string, len(schema))
	for _, f := range schema {
		vals[f.Key] = f.Default
	}
	var d Duo
	if err := parseInto(&d, vals); err != nil {
		panic("plugin.json settings_schema defaults: " + err.Error())
	}
	return d
}()

// Complete reports whether the credentials needed to talk to Duo (client
// id, client secret and API hostname) are all set. It does not validate them.
func (d Duo) Complete() bool {
	return d.ClientID != "" && d.ClientSecret.IsSet() && d.APIHostname != ""
}

// Values returns every non-secret setting in its string form, keyed as in
// the schema, as the settings page shows it and the store keeps it. The
// client secret is never included: see SecretSet. A zero duration or count
// whose smallest valid value is above zero is "" (unset), BackupCodesLowAt
// is always a number (0 is valid), and durations are truncated to whole
// seconds or hours as their setting counts them.
func (d Duo) Values() map[string]string {
	return map[string]string{
		KeyClientID:          d.ClientID,
		KeyAPIHostname:       d.APIHostname,
		KeyFailMode:          string(d.FailMode),
		KeyUsernameFormat:    string(d.UsernameFormat),
		KeyLoginTimeout:      wholeUnits(d.LoginTimeout, time.Second),
		KeyCAFile:            d.CAFile,
		KeyBackupCodeCount:   positive(d.BackupCodeCount),
		KeyBackupCodesLowAt:  strconv.Itoa(d.BackupCodesLowAt),
		KeyRecoveryLinkHours: wholeUnits(d.RecoveryLinkLifetime, time.Hour),
		KeyBypassMaxUses:     positive(d.BypassMaxUses),
		KeyBypassMaxHours:    wholeUnits(d.BypassMaxLifetime, time.Hour),
		KeyAllowSelfDisable:  strconv.FormatBool(d.AllowSelfDisable),

		KeyEnforceAll:          strconv.FormatBool(d.EnforceAll),
		KeyEnforceRoleAdmin:    strconv.FormatBool(d.EnforceAdmin),
		KeyEnforceRoleHelpDesk: strconv.FormatBool(d.EnforceHelpDesk),
		KeyEnforceRoleAgent:    strconv.FormatBool(d.EnforceAgent),
		KeyAllowExemption:      strconv.FormatBool(d.AllowServiceAccountExemption),
		KeyLockoutThreshold:    positive(d.LockoutThreshold),
		KeyLockoutMinutes:      strconv.FormatInt(int64(d.LockoutDuration/time.Minute), 10),
		KeyLockoutContact:      d.LockoutContact,
		KeyLogRetentionDays:    wholeUnits(d.LogRetention, 24*time.Hour),
	}
}

// wholeUnits is d in whole units, "" for zero.
func wholeUnits(d, unit time.Duration) string {
	if d == 0 {
		return ""
	}
	return strconv.FormatInt(int64(d/unit), 10)
}

// positive is n in decimal, "" for zero.
func positive(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// SecretSet reports, for every secret setting, whether it is stored.
func (d Duo) SecretSet() map[string]bool {
	return map[string]bool{KeyClientSecret: d.ClientSecret.IsSet()}
}

// LogValue implements slog.LogValuer: the non-secret settings and whether
// the secret is set.
func (d Duo) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String(KeyClientID, d.ClientID),
		slog.Bool("client_secret_set", d.ClientSecret.IsSet()),
		slog.String(KeyAPIHostname, d.APIHostname),
		slog.String(KeyFailMode, string(d.FailMode)),
		slog.String(KeyUsernameFormat, string(d.UsernameFormat)),
		slog.Duration("login_timeout", d.LoginTimeout),
		slog.String(KeyCAFile, d.CAFile),
		slog.Int(KeyBackupCodeCount, d.BackupCodeCount),
		slog.Int(KeyBackupCodesLowAt, d.BackupCodesLowAt),
		slog.Duration("recovery_link_lifetime", d.RecoveryLinkLifetime),
		slog.Int(KeyBypassMaxUses, d.BypassMaxUses),
		slog.Duration("bypass_max_lifetime", d.BypassMaxLifetime),
		slog.Bool(KeyAllowSelfDisable, d.AllowSelfDisable),
		slog.Bool(KeyEnforceAll, d.EnforceAll),
		slog.Bool(KeyEnforceRoleAdmin, d.EnforceAdmin),
		slog.Bool(KeyEnforceRoleHelpDesk, d.EnforceHelpDesk),
		slog.Bool(KeyEnforceRoleAgent, d.EnforceAgent),
		slog.Bool(KeyAllowExemption, d.AllowServiceAccountExemption),
		slog.Int(KeyLockoutThreshold, d.LockoutThreshold),
		slog.Duration("lockout_duration", d.LockoutDuration),
		slog.Duration("log_retention", d.LogRetention),
	)
}

// submitted is d in the string form Apply validates, including the secret.
func (d Duo) submitted() map[string]string {
	m := d.Values()
	m[KeyClientSecret] = d.ClientSecret.Reveal()
	return m
}
