package contract

// The settings' field errors. {field} is the setting's display name as
// plugin.json names it; a host that shows the error beside its field may
// leave it out of a translation.
const (
	TextSettingUnknown         TextID = "duo.settings.unknown"
	TextSettingTooLong         TextID = "duo.settings.too_long"
	TextSettingRequired        TextID = "duo.settings.required"
	TextSettingRequiredChoice  TextID = "duo.settings.required_choice"
	TextClientIDRequired       TextID = "duo.settings.client_id.required"
	TextClientIDLength         TextID = "duo.settings.client_id.length"
	TextClientIDFormat         TextID = "duo.settings.client_id.format"
	TextClientSecretRequired   TextID = "duo.settings.client_secret.required"
	TextClientSecretLength     TextID = "duo.settings.client_secret.length"
	TextClientSecretFormat     TextID = "duo.settings.client_secret.format"
	TextAPIHostnameRequired    TextID = "duo.settings.api_hostname.required"
	TextAPIHostnameFormat      TextID = "duo.settings.api_hostname.format"
	TextAPIHostnameFormatTest  TextID = "duo.settings.api_hostname.format_test"
	TextAPIHostnameNotDuo      TextID = "duo.settings.api_hostname.not_duo"
	TextSettingOption          TextID = "duo.settings.option"
	TextSettingBool            TextID = "duo.settings.bool"
	TextSettingContactLength   TextID = "duo.settings.contact.length"
	TextSettingContactFormat   TextID = "duo.settings.contact.format"
	TextBackupLowAtNotBelow    TextID = "duo.settings.backup_codes_low_at.not_below_count"
	TextCAFileNotAllowed       TextID = "duo.settings.ca_file.not_allowed"
	TextCAFileNotAbsolute      TextID = "duo.settings.ca_file.not_absolute"
	TextCAFileMissing          TextID = "duo.settings.ca_file.missing"
	TextCAFilePermission       TextID = "duo.settings.ca_file.permission"
	TextCAFileUnopenable       TextID = "duo.settings.ca_file.unopenable"
	TextCAFileNotRegular       TextID = "duo.settings.ca_file.not_regular"
	TextCAFileUnreadable       TextID = "duo.settings.ca_file.unreadable"
	TextCAFileTooLarge         TextID = "duo.settings.ca_file.too_large"
	TextCAFileNoPEM            TextID = "duo.settings.ca_file.no_pem"
	TextDuoRejectedCredentials TextID = "duo.settings.duo.credentials_rejected"
	TextDuoRejectedCertificate TextID = "duo.settings.duo.certificate_untrusted"
	TextDuoRejectedUnreachable TextID = "duo.settings.duo.unreachable"
	TextDuoRejectedOther       TextID = "duo.settings.duo.failed"
)

// NumberTexts are the ids of a number setting's errors, by the unit its
// value counts ("" for a plain count): required, not a whole number, out
// of range. Their arguments are {field}, {min} and {max}.
var NumberTexts = map[string][3]TextID{
	"":        {"duo.settings.number.required", "duo.settings.number.format", "duo.settings.number.range"},
	"seconds": {"duo.settings.seconds.required", "duo.settings.seconds.format", "duo.settings.seconds.range"},
	"minutes": {"duo.settings.minutes.required", "duo.settings.minutes.format", "duo.settings.minutes.range"},
	"hours":   {"duo.settings.hours.required", "duo.settings.hours.format", "duo.settings.hours.range"},
	"days":    {"duo.settings.days.required", "duo.settings.days.format", "duo.settings.days.range"},
}

const duoAdminPanel = "as shown for your Web SDK application in the Duo Admin Panel"

var settingsTexts = func() map[TextID]string {
	m := map[TextID]string{
		TextSettingUnknown:         "This is not a setting of the Duo Security plugin; its settings are {keys}.",
		TextSettingTooLong:         "{field} is too long: at most {max} characters.",
		TextSettingRequired:        "{field} is required.",
		TextSettingRequiredChoice:  "{field} is required: choose one of {options}.",
		TextClientIDRequired:       "Client ID is required: copy it from your Web SDK application in the Duo Admin Panel (20 characters, starting with DI).",
		TextClientIDLength:         "{field} must be exactly 20 letters and digits, like DIXXXXXXXXXXXXXXXXXX, " + duoAdminPanel + "; the value entered has {length} characters.",
		TextClientIDFormat:         "{field} must be exactly 20 letters and digits, like DIXXXXXXXXXXXXXXXXXX, " + duoAdminPanel + "; the value entered has other characters.",
		TextClientSecretRequired:   "Client secret is required: copy it from your Web SDK application in the Duo Admin Panel (40 characters).",
		TextClientSecretLength:     "{field} must be exactly 40 letters and digits, " + duoAdminPanel + ".",
		TextClientSecretFormat:     "{field} must be exactly 40 letters and digits, " + duoAdminPanel + "; the value entered has other characters.",
		TextAPIHostnameRequired:    "API hostname is required: copy it from your Web SDK application in the Duo Admin Panel, like api-xxxxxxxx.duosecurity.com.",
		TextAPIHostnameFormat:      "API hostname must be a host name only, like api-xxxxxxxx.duosecurity.com: no spaces, no path, and no scheme other than https://.",
		TextAPIHostnameFormatTest:  "API hostname must be a host name or host:port only, like api-xxxxxxxx.duosecurity.com or 127.0.0.1:8443: no spaces, no path, and no scheme other than https://.",
		TextAPIHostnameNotDuo:      "API hostname must be your Duo API hostname, like api-xxxxxxxx.duosecurity.com (or api-xxxxxxxx.duofederal.com), " + duoAdminPanel + ".",
		TextSettingOption:          "{field} must be one of {options}.",
		TextSettingBool:            "{field} must be true or false.",
		TextSettingContactLength:   "{field} must be at most {max} characters.",
		TextSettingContactFormat:   "{field} must be one line of text, without control characters or angle brackets.",
		TextBackupLowAtNotBelow:    "{field} must be less than {count_field} ({count}), or every new set would count as nearly used up.",
		TextCAFileNotAllowed:       "{field} is only for testing against a Duo simulator, and this plugin is not running in test mode: leave it blank.",
		TextCAFileNotAbsolute:      "{field} must be an absolute path to a PEM file, like /etc/duo-simulator/ca.pem.",
		TextCAFileMissing:          "{field} does not exist: enter the absolute path of a PEM file.",
		TextCAFilePermission:       "{field} cannot be read by the plugin process (permission denied).",
		TextCAFileUnopenable:       "{field} cannot be opened by the plugin process.",
		TextCAFileNotRegular:       "{field} must be a regular file containing PEM certificates.",
		TextCAFileUnreadable:       "{field} cannot be read by the plugin process.",
		TextCAFileTooLarge:         "{field} is larger than 1 MiB; a CA file holds a few PEM certificates.",
		TextCAFileNoPEM:            "{field} contains no PEM certificate (a block starting with -----BEGIN CERTIFICATE-----).",
		TextDuoRejectedCredentials: "Duo did not accept these settings: {detail}. Check the Client ID, Client secret and API hostname, or save without checking.",
		TextDuoRejectedCertificate: "Duo could not be trusted: {detail}.",
		TextDuoRejectedUnreachable: "Duo could not be reached: {detail}. Check the API hostname, or save without checking while Duo is down.",
		TextDuoRejectedOther:       "Duo's check failed: {detail}.",
	}
	for unit, ids := range NumberTexts {
		of := ""
		if unit != "" {
			of = " of " + unit
		}
		m[ids[0]] = "{field} is required: a whole number" + of + " from {min} to {max}."
		m[ids[1]] = "{field} must be a whole number" + of + " from {min} to {max}."
		if unit == "" {
			m[ids[2]] = "{field} must be from {min} to {max}."
		} else {
			m[ids[2]] = "{field} must be from {min} to {max} " + unit + "."
		}
	}
	return m
}()
