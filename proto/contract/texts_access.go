package contract

// Why the plugin refused a call (PERMISSION_DENIED), for the administrator
// or help-desk operator who made it. {call} is the contract method, {role}
// and {target_role} role names as Role.String writes them, {setting} a
// setting's display name.
const (
	TextAccessNoRule              TextID = "duo.access.no_rule"
	TextAccessOwnAccountOnly      TextID = "duo.access.own_account_only"
	TextAccessToggleOthers        TextID = "duo.access.toggle_others"
	TextAccessEnableAdminOnly     TextID = "duo.access.enable_admin_only"
	TextAccessSelfDisableOff      TextID = "duo.access.self_disable_off"
	TextAccessSelfOnly            TextID = "duo.access.self_only"
	TextAccessRoleMayNot          TextID = "duo.access.role_may_not"
	TextAccessEnforced            TextID = "duo.access.enforced"
	TextAccessBypassSelf          TextID = "duo.access.bypass.self"
	TextAccessBypassRoleUnknown   TextID = "duo.access.bypass.role_unknown"
	TextAccessBypassNotAgent      TextID = "duo.access.bypass.not_agent"
	TextAccessBypassHelpDeskLimit TextID = "duo.access.bypass.help_desk_limit"
	TextAccessBypassSettingsLimit TextID = "duo.access.bypass.settings_limit"
	TextAccessUnlockRoleUnknown   TextID = "duo.access.unlock.role_unknown"
	TextAccessUnlockNotAgent      TextID = "duo.access.unlock.not_agent"
)

var accessTexts = map[TextID]string{
	TextAccessNoRule:              "{call} has no access rule, so no one may call it",
	TextAccessOwnAccountOnly:      "the {role} role may call {call} only for their own account",
	TextAccessToggleOthers:        "only an administrator may turn Duo on or off for another operator (the {role} role acted)",
	TextAccessEnableAdminOnly:     "only an administrator may turn Duo on; operators may at most turn their own Duo off",
	TextAccessSelfDisableOff:      "operators may not turn off their own Duo: the setting \"{setting}\" is off",
	TextAccessSelfOnly:            "only the operator themselves may call {call}, for their own account",
	TextAccessRoleMayNot:          "the {role} role may not call {call}",
	TextAccessEnforced:            "Duo is enforced for this account by the setting \"{setting}\", so its owner may not turn it off",
	TextAccessBypassSelf:          "no one may issue a bypass code for themselves: another administrator can, or they sign in with a backup code",
	TextAccessBypassRoleUnknown:   "the help desk may issue bypass codes only for agents, and the host did not say this operator's role; ask an administrator",
	TextAccessBypassNotAgent:      "the help desk may issue bypass codes only for agents, not for the {target_role} role; ask an administrator",
	TextAccessBypassHelpDeskLimit: "the help desk may issue bypass codes of at most 1 use valid for at most 1 hour; ask an administrator for more",
	TextAccessBypassSettingsLimit: "the settings allow bypass codes of at most {max_uses} use(s) valid for at most {max_hours} hour(s) (\"{uses_setting}\" and \"{hours_setting}\")",
	TextAccessUnlockRoleUnknown:   "the help desk may unlock only agents, and the host did not say this operator's role; ask an administrator",
	TextAccessUnlockNotAgent:      "the help desk may unlock only agents, not the {target_role} role; ask an administrator",
}
