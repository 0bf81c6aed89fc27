package settings

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// MaxValueLength is the longest value, in characters, Apply looks at.
const MaxValueLength = 4096

// maxCAFileSize bounds how much of a CA file is read; real bundles are far
// smaller, and the bound keeps a path like /dev/zero from hanging a save.
const maxCAFileSize = 1 << 20

// ValidateOptions carries what the plugin process allows beyond production
// settings.
type ValidateOptions struct {
	// AllowTestHost is true when the plugin process runs with the explicit
	// test/simulator switch (DUO_PLUGIN_ALLOW_TEST_DUO_HOST): the API
	// hostname may then be any host[:port], and ca_file may be set.
	AllowTestHost bool
}

// FieldError is one problem with one submitted setting: the contract's
// type, so it crosses the boundary as it is. Field is the setting's key (or
// the unknown key submitted); Message tells the admin what is expected and
// never contains the submitted value.
type FieldError = contract.FieldError

var (
	// alnum is what Duo's credentials consist of (duo_universal_java checks it).
	alnum = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	// duoHost is a production Duo API host, lower-cased.
	duoHost = regexp.MustCompile(`^api-[a-z0-9]+\.(duosecurity|duofederal)\.com$`)
	// dnsLabel is one label of a host name, lower-cased.
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// Apply builds new settings from the values an admin submitted over the
// stored ones, and validates the result.
//
// stored should come from Defaults or ParseStored. A key missing from values
// keeps its stored value, and so does an empty client_secret (the settings
// page never shows the secret, so a blank box means "keep it"). Every value
// is trimmed of surrounding whitespace; api_hostname is lower-cased, and a
// pasted "https://" and trailing "/" are removed. Every field of the merged
// result is validated, and all errors are returned at once, in schema order
// with unknown keys last (sorted). On any error Apply returns stored
// unchanged, so nothing half-applied can escape.
//
// Apply reads ca_file from disk when it is set.
func Apply(stored Duo, values map[string]string, opts ValidateOptions) (Duo, []FieldError) {
	merged := stored.submitted()
	var errs []FieldError
	skip := map[string]bool{}
	for key, raw := range values {
		if fieldIndex(key) < 0 {
			t := contract.Say(contract.TextSettingUnknown, "keys", strings.Join(keys(), ", "))
			errs = append(errs, FieldError{Field: printableKey(key), Reason: contract.FieldUnknown, Message: t.English(), Text: t})
			continue
		}
		if utf8.RuneCountInString(raw) > MaxValueLength {
			errs = append(errs, fieldError(schema[fieldIndex(key)], contract.FieldLength, contract.TextSettingTooLong, "max", strconv.Itoa(MaxValueLength)))
			skip[key] = true
			continue
		}
		v := strings.TrimSpace(raw)
		if key == KeyClientSecret && v == "" {
			continue
		}
		merged[key] = v
	}
	next, verrs := validate(merged, opts, skip)
	errs = append(errs, verrs...)
	if len(errs) > 0 {
		sortFieldErrors(errs)
		return stored, errs
	}
	return next, nil
}

// Validate checks d as Apply would check it, for settings that were valid
// when saved but may not be under the current options (for example a test
// host after the test switch was turned off). It returns nil when d is valid.
func (d Duo) Validate(opts ValidateOptions) []FieldError {
	_, errs := validate(d.submitted(), opts, nil)
	return errs
}

// validate parses and checks every field of m, in schema order, skipping
// the keys in skip (already reported).
func validate(m map[string]string, opts ValidateOptions, skip map[string]bool) (Duo, []FieldError) {
	var d Duo
	var errs []FieldError
	failed := map[string]bool{}
	for _, f := range schema {
		if skip[f.Key] {
			continue
		}
		v := m[f.Key]
		if v == "" {
			if f.Required {
				errs = append(errs, requiredError(f))
			}
			continue
		}
		var fe *FieldError
		switch f.Key {
		case KeyClientID:
			fe = checkCredential(f, v, 20, contract.TextClientIDLength, contract.TextClientIDFormat)
			d.ClientID = v
		case KeyClientSecret:
			fe = checkCredential(f, v, 40, contract.TextClientSecretLength, contract.TextClientSecretFormat)
			d.ClientSecret = secret.Value(v)
		case KeyAPIHostname:
			d.APIHostname, fe = checkHost(f, v, opts)
		case KeyFailMode:
			fe = checkOption(f, v)
			d.FailMode = FailMode(v)
		case KeyUsernameFormat:
			fe = checkOption(f, v)
			d.UsernameFormat = UsernameFormat(v)
		case KeyCAFile:
			fe = checkCAFile(f, v, opts)
			d.CAFile = v
		case KeyLockoutContact:
			d.LockoutContact, fe = checkContact(f, v)
		default:
			if field, ok := bools[f.Key]; ok {
				*field(&d), fe = checkBool(f, v)
			} else if r, ok := numbers[f.Key]; ok {
				var n int
				n, fe = checkNumber(f, v)
				r.set(&d, n)
			}
		}
		if fe != nil {
			errs = append(errs, *fe)
			failed[f.Key] = true
		}
	}
	// A fresh set must not count as "few left" already, or every operator
	// would be nagged from the start.
	if !failed[KeyBackupCodeCount] && !failed[KeyBackupCodesLowAt] && m[KeyBackupCodeCount] != "" && m[KeyBackupCodesLowAt] != "" &&
		!skip[KeyBackupCodeCount] && !skip[KeyBackupCodesLowAt] && d.BackupCodesLowAt >= d.BackupCodeCount {
		f := schema[fieldIndex(KeyBackupCodesLowAt)]
		count := schema[fieldIndex(KeyBackupCodeCount)]
		errs = append(errs, fieldError(f, contract.FieldRange, contract.TextBackupLowAtNotBelow,
			"count_field", count.DisplayName, "count", strconv.Itoa(d.BackupCodeCount)))
	}
	return d, errs
}

func requiredError(f contract.SettingField) FieldError {
	if r, ok := numbers[f.Key]; ok {
		return r.fieldError(f, contract.FieldRequired, 0)
	}
	switch f.Key {
	case KeyClientID:
		return fieldError(f, contract.FieldRequired, contract.TextClientIDRequired)
	case KeyClientSecret:
		return fieldError(f, contract.FieldRequired, contract.TextClientSecretRequired)
	case KeyAPIHostname:
		return fieldError(f, contract.FieldRequired, contract.TextAPIHostnameRequired)
	case KeyFailMode, KeyUsernameFormat:
		return fieldError(f, contract.FieldRequired, contract.TextSettingRequiredChoice, "options", strings.Join(optionValues(f.Key), ", "))
	}
	return fieldError(f, contract.FieldRequired, contract.TextSettingRequired)
}

// fieldError is an error of setting f whose message is the text id with
// its arguments, {field} being f's display name.
func fieldError(f contract.SettingField, reason contract.FieldReason, id contract.TextID, nameValues ...string) FieldError {
	t := contract.Say(id, append([]string{"field", f.DisplayName}, nameValues...)...)
	return FieldError{Field: f.Key, Reason: reason, Message: t.English(), Text: t}
}

// fieldErrorPtr is fieldError for checks that answer nil when all is well.
func fieldErrorPtr(f contract.SettingField, reason contract.FieldReason, id contract.TextID, nameValues ...string) *FieldError {
	fe := fieldError(f, reason, id, nameValues...)
	return &fe
}

// checkCredential checks a Duo credential: exactly n letters and digits.
// lengthID's message tells the entered length ({length}) only for values
// that are not secret.
func checkCredential(f contract.SettingField, v string, n int, lengthID, formatID contract.TextID) *FieldError {
	if l := utf8.RuneCountInString(v); l != n {
		return fieldErrorPtr(f, contract.FieldLength, lengthID, "length", strconv.Itoa(l))
	}
	if !alnum.MatchString(v) {
		return fieldErrorPtr(f, contract.FieldFormat, formatID)
	}
	return nil
}

// checkHost normalises and checks the API hostname.
func checkHost(f contract.SettingField, v string, opts ValidateOptions) (string, *FieldError) {
	h := strings.ToLower(v)
	h = strings.TrimPrefix(h, "https://")
	h = strings.TrimRight(h, "/")

	formatID := contract.TextAPIHostnameFormat
	if opts.AllowTestHost {
		formatID = contract.TextAPIHostnameFormatTest
	}
	formatErr := fieldErrorPtr(f, contract.FieldFormat, formatID)
	if h == "" || strings.ContainsFunc(h, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("/?#@\\", r) || r >= utf8.RuneSelf
	}) {
		return "", formatErr
	}
	if duoHost.MatchString(h) {
		return h, nil
	}
	if !opts.AllowTestHost {
		if !validHostPort(h) {
			return "", formatErr
		}
		return "", fieldErrorPtr(f, contract.FieldHost, contract.TextAPIHostnameNotDuo)
	}
	if !validHostPort(h) {
		return "", formatErr
	}
	return h, nil
}

// validHostPort reports whether h is a host name, an IPv4 address or a
// bracketed IPv6 address, with an optional port.
func validHostPort(h string) bool {
	host, port := h, ""
	switch {
	case strings.HasPrefix(h, "["):
		if strings.HasSuffix(h, "]") {
			host = h[1 : len(h)-1]
		} else {
			var err error
			if host, port, err = net.SplitHostPort(h); err != nil {
				return false
			}
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		return port == "" || validPort(port)
	case strings.Count(h, ":") == 1:
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil || !validPort(port) {
			return false
		}
	case strings.Contains(h, ":"):
		return false // an IPv6 address needs brackets
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Is4()
	}
	if len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if !dnsLabel.MatchString(label) {
			return false
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || strings.TrimLeft(p, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

func checkOption(f contract.SettingField, v string) *FieldError {
	opts := optionValues(f.Key)
	if slices.Contains(opts, v) {
		return nil
	}
	return fieldErrorPtr(f, contract.FieldOption, contract.TextSettingOption, "options", strings.Join(opts, ", "))
}

// numberRange is a number setting: its bounds, the unit its messages
// name, and where its value goes in Duo.
type numberRange struct {
	min, max int
	unit     string // "seconds", "hours", or "" for a count
	set      func(d *Duo, n int)
}

// numbers holds every number setting, with its bounds as its help text
// states them.
var numbers = map[string]numberRange{
	KeyLoginTimeout: {int(MinLoginTimeout / time.Second), int(MaxLoginTimeout / time.Second), "seconds",
		func(d *Duo, n int) { d.LoginTimeout = time.Duration(n) * time.Second }},
	KeyBackupCodeCount: {MinBackupCodeCount, MaxBackupCodeCount, "",
		func(d *Duo, n int) { d.BackupCodeCount = n }},
	KeyBackupCodesLowAt: {0, MaxBackupCodesLowAt, "",
		func(d *Duo, n int) { d.BackupCodesLowAt = n }},
	KeyRecoveryLinkHours: {int(MinRecoveryLinkLifetime / time.Hour), int(MaxRecoveryLinkLifetime / time.Hour), "hours",
		func(d *Duo, n int) { d.RecoveryLinkLifetime = time.Duration(n) * time.Hour }},
	KeyBypassMaxUses: {MinBypassMaxUses, MaxBypassMaxUses, "",
		func(d *Duo, n int) { d.BypassMaxUses = n }},
	KeyBypassMaxHours: {int(MinBypassMaxLifetime / time.Hour), int(MaxBypassMaxLifetime / time.Hour), "hours",
		func(d *Duo, n int) { d.BypassMaxLifetime = time.Duration(n) * time.Hour }},
	KeyLockoutThreshold: {MinLockoutThreshold, MaxLockoutThreshold, "",
		func(d *Duo, n int) { d.LockoutThreshold = n }},
	KeyLockoutMinutes: {0, int(MaxLockoutDuration / time.Minute), "minutes",
		func(d *Duo, n int) { d.LockoutDuration = time.Duration(n) * time.Minute }},
	KeyLogRetentionDays: {int(MinLogRetention / (24 * time.Hour)), int(MaxLogRetention / (24 * time.Hour)), "days",
		func(d *Duo, n int) { d.LogRetention = time.Duration(n) * 24 * time.Hour }},
}

// bools holds every checkbox setting, with where its value goes in Duo.
var bools = map[string]func(d *Duo) *bool{
	KeyAllowSelfDisable:    func(d *Duo) *bool { return &d.AllowSelfDisable },
	KeyEnforceAll:          func(d *Duo) *bool { return &d.EnforceAll },
	KeyEnforceRoleAdmin:    func(d *Duo) *bool { return &d.EnforceAdmin },
	KeyEnforceRoleHelpDesk: func(d *Duo) *bool { return &d.EnforceHelpDesk },
	KeyEnforceRoleAgent:    func(d *Duo) *bool { return &d.EnforceAgent },
	KeyAllowExemption:      func(d *Duo) *bool { return &d.AllowServiceAccountExemption },
}

// checkContact checks lockout_contact: one line of printable text a
// locked operator reads.
func checkContact(f contract.SettingField, v string) (string, *FieldError) {
	if utf8.RuneCountInString(v) > MaxLockoutContact {
		return "", fieldErrorPtr(f, contract.FieldLength, contract.TextSettingContactLength, "max", strconv.Itoa(MaxLockoutContact))
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == '<' || r == '>' }) {
		return "", fieldErrorPtr(f, contract.FieldFormat, contract.TextSettingContactFormat)
	}
	return strings.TrimSpace(v), nil
}

// fieldError is the error of number setting f: which is 0 for required,
// 1 for not a whole number, 2 for out of range.
func (r numberRange) fieldError(f contract.SettingField, reason contract.FieldReason, which int) FieldError {
	return fieldError(f, reason, contract.NumberTexts[r.unit][which], "min", strconv.Itoa(r.min), "max", strconv.Itoa(r.max))
}

// parse reads v and reports whether it is a whole number within bounds.
func (r numberRange) parse(v string) (n int, isNumber, inRange bool) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.Is(err, strconv.ErrRange), false
	}
	return n, true, n >= r.min && n <= r.max
}

// checkNumber checks a number setting against its bounds.
func checkNumber(f contract.SettingField, v string) (int, *FieldError) {
	r := numbers[f.Key]
	n, isNumber, inRange := r.parse(v)
	switch {
	case !isNumber:
		fe := r.fieldError(f, contract.FieldFormat, 1)
		return 0, &fe
	case !inRange:
		fe := r.fieldError(f, contract.FieldRange, 2)
		return 0, &fe
	}
	return n, nil
}

// checkBool checks a checkbox setting: exactly "true" or "false", as the
// settings page sends it.
func checkBool(f contract.SettingField, v string) (bool, *FieldError) {
	b, ok := parseBool(v)
	if !ok {
		return false, fieldErrorPtr(f, contract.FieldFormat, contract.TextSettingBool)
	}
	return b, nil
}

func parseBool(v string) (b, ok bool) {
	switch v {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// checkCAFile checks that ca_file is allowed and names a readable file with
// at least one PEM certificate.
func checkCAFile(f contract.SettingField, v string, opts ValidateOptions) *FieldError {
	fail := func(reason contract.FieldReason, id contract.TextID) *FieldError {
		return fieldErrorPtr(f, reason, id)
	}
	if !opts.AllowTestHost {
		return fail(contract.FieldNotAllowed, contract.TextCAFileNotAllowed)
	}
	if !filepath.IsAbs(v) {
		return fail(contract.FieldFormat, contract.TextCAFileNotAbsolute)
	}
	file, err := os.Open(v)
	if err != nil {
		return fail(contract.FieldFormat, openProblem(err))
	}
	defer func() { _ = file.Close() }()
	if st, err := file.Stat(); err != nil || !st.Mode().IsRegular() {
		return fail(contract.FieldFormat, contract.TextCAFileNotRegular)
	}
	data, err := io.ReadAll(io.LimitReader(file, maxCAFileSize+1))
	if err != nil {
		return fail(contract.FieldFormat, contract.TextCAFileUnreadable)
	}
	if len(data) > maxCAFileSize {
		return fail(contract.FieldFormat, contract.TextCAFileTooLarge)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fail(contract.FieldFormat, contract.TextCAFileNoPEM)
	}
	return nil
}

// openProblem says why the CA file did not open, after its display name.
func openProblem(err error) contract.TextID {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return contract.TextCAFileMissing
	case errors.Is(err, fs.ErrPermission):
		return contract.TextCAFilePermission
	default:
		return contract.TextCAFileUnopenable
	}
}

// sortFieldErrors orders errors by schema position, unknown keys last and
// by key; the sort is stable so one field's errors keep their order.
func sortFieldErrors(errs []FieldError) {
	pos := func(e FieldError) int {
		if i := fieldIndex(e.Field); i >= 0 {
			return i
		}
		return len(schema)
	}
	slices.SortStableFunc(errs, func(a, b FieldError) int {
		if pa, pb := pos(a), pos(b); pa != pb {
			return pa - pb
		}
		return strings.Compare(a.Field, b.Field)
	})
}

// printableKey bounds an unknown key for FieldError.Field: it is echoed back
// to the settings page, and a key is not a value but may be just as large.
func printableKey(k string) string {
	const maxKey = 64
	k = strings.ToValidUTF8(k, "\uFFFD")
	if len(k) <= maxKey {
		return k
	}
	cut := maxKey
	for cut > 0 && !utf8.RuneStart(k[cut]) {
		cut--
	}
	return k[:cut] + "…"
}

func keys() []string {
	out := make([]string, len(schema))
	for i, f := range schema {
		out[i] = f.Key
	}
	return out
}

// ErrCorrupt marks a stored setting that no valid save could have produced.
var ErrCorrupt = errors.New("corrupt stored setting")

// ParseStored rebuilds settings from the store's key/value rows (the form
// Values returns) and the decrypted secret. It is lenient: a missing or empty
// key takes its default, unknown keys (from another plugin version) and a
// client_secret row are ignored, and credentials are not validated, so
// incomplete settings load. It fails, with errors wrapping ErrCorrupt and
// naming each key, only for values that Apply never stores: a fail_mode or
// username_format outside its options, a number setting that is not an
// integer within its bounds (login timeout 30 to 600, backup codes 5 to 20…),
// or allow_self_disable other than true or false.
func ParseStored(values map[string]string, clientSecret secret.Value) (Duo, error) {
	d := Defaults()
	d.ClientSecret = clientSecret
	if err := parseInto(&d, values); err != nil {
		return Duo{}, fmt.Errorf("parse stored Duo settings: %w", err)
	}
	return d, nil
}

// parseInto sets d's non-secret fields from the non-empty values, in
// schema order, checking only what ParseStored promises to check.
func parseInto(d *Duo, values map[string]string) error {
	var errs []error
	corrupt := func(key, v, want string) {
		errs = append(errs, fmt.Errorf("%w: %s is %.64q, want %s", ErrCorrupt, key, v, want))
	}
	for _, f := range schema {
		v := values[f.Key]
		if v == "" {
			continue
		}
		switch f.Key {
		case KeyClientID:
			d.ClientID = v
		case KeyAPIHostname:
			d.APIHostname = v
		case KeyCAFile:
			d.CAFile = v
		case KeyFailMode, KeyUsernameFormat:
			if !slices.Contains(optionValues(f.Key), v) {
				corrupt(f.Key, v, "one of "+strings.Join(optionValues(f.Key), ", "))
			}
			if f.Key == KeyFailMode {
				d.FailMode = FailMode(v)
			} else {
				d.UsernameFormat = UsernameFormat(v)
			}
		case KeyLockoutContact:
			d.LockoutContact = v
		default:
			if field, ok := bools[f.Key]; ok {
				b, ok := parseBool(v)
				if !ok {
					corrupt(f.Key, v, "true or false")
				}
				*field(d) = b
			} else if r, ok := numbers[f.Key]; ok {
				n, _, inRange := r.parse(v)
				if !inRange {
					corrupt(f.Key, v, fmt.Sprintf("an integer from %d to %d", r.min, r.max))
				}
				r.set(d, n)
			}
		}
	}
	return errors.Join(errs...)
}
