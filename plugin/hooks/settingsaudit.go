package hooks

import (
	"slices"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/settings"
)

// policyKeys are the settings of enforcement and lockout: a change of any
// is also audited as its own kind, policy.changed, so it is easy to find.
var policyKeys = []string{
	settings.KeyEnforceAll, settings.KeyEnforceRoleAdmin, settings.KeyEnforceRoleHelpDesk, settings.KeyEnforceRoleAgent,
	settings.KeyAllowExemption, settings.KeyLockoutThreshold, settings.KeyLockoutMinutes, settings.KeyLockoutContact,
}

// changedSettings names the settings that differ between cur and next,
// sorted: names only, never values (the secret is only said to change).
func changedSettings(cur, next settings.Duo) []string {
	a, b := cur.Values(), next.Values()
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	if next.ClientSecret != cur.ClientSecret {
		out = append(out, settings.KeyClientSecret)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// policyChanges are the policy settings among changed.
func policyChanges(changed []string) []string {
	var out []string
	for _, k := range changed {
		if slices.Contains(policyKeys, k) {
			out = append(out, k)
		}
	}
	return out
}

// fieldsDetail says which fields changed, for an event's detail.
func fieldsDetail(changed []string) string {
	if len(changed) == 0 {
		return "no field changed"
	}
	return "changed: " + strings.Join(changed, ", ")
}
