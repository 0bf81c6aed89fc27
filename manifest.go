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

// stampedVersion is set by a release build (cmd/duo-release) with
// -ldflags "-X github.com/helpdesk-duo/duo-plugin.stampedVersion=1.2.3" to
// the version written in the release's plugin.json, so that the binary
// reports the version its bundle's manifest names. Empty in every other
// build, which reports plugin.json's version.
var stampedVersion string

// Embedded is the manifest built into this binary (its version stamped by
// a release build). plugin.json is part of
// the source, so a malformed one fails every test and every start at once.
var Embedded = mustParse(manifestJSON)

func mustParse(raw []byte) Manifest {
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(fmt.Sprintf("embedded plugin.json: %v", err))
	}
	if stampedVersion != "" {
		m.Version = stampedVersion
	}
	if m.ID != contract.PluginID || m.ProtocolVersion != contract.ProtocolVersion || m.Version == "" || len(m.SettingsSchema) == 0 {
		panic(fmt.Sprintf("embedded plugin.json: id %q, protocol %d, version %q, %d settings: does not describe this plugin",
			m.ID, m.ProtocolVersion, m.Version, len(m.SettingsSchema)))
	}
	return m
}
