// Package duoplugin is plugin.json, the plugin's manifest, embedded in the
// plugin binary: the one source of the plugin's id, version and settings
// schema. Only the plugin side imports it; a host reads the manifest of
// the bundle it installs.
package duoplugin

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

//go:embed plugin.json
var manifestJSON []byte

// Manifest is what the plugin reads of its own plugin.json.
type Manifest struct {
	ID              string                  `json:"id"`
	Version         string                  `json:"version"`
	ProtocolVersion int                     `json:"protocol_version"`
	SettingsSchema  []contract.SettingField `json:"settings_schema"`
}

// Embedded is the manifest built into this binary. plugin.json is part of
// the source, so a malformed one fails every test and every start at once.
var Embedded = mustParse(manifestJSON)

func mustParse(raw []byte) Manifest {
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(fmt.Sprintf("embedded plugin.json: %v", err))
	}
	if m.ID != contract.PluginID || m.ProtocolVersion != contract.ProtocolVersion || m.Version == "" || len(m.SettingsSchema) == 0 {
		panic(fmt.Sprintf("embedded plugin.json: id %q, protocol %d, version %q, %d settings: does not describe this plugin",
			m.ID, m.ProtocolVersion, m.Version, len(m.SettingsSchema)))
	}
	return m
}
