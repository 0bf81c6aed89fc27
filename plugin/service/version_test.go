package service

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// The manifest and the binary must agree on who the plugin is.
func TestVersionAndIDMatchManifest(t *testing.T) {
	raw, err := os.ReadFile("../../plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID              string `json:"id"`
		Version         string `json:"version"`
		ProtocolVersion int    `json:"protocol_version"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != Version || m.ID != contract.PluginID || m.ProtocolVersion != contract.ProtocolVersion {
		t.Fatalf("plugin.json says id %q version %q protocol %d; code says %q %q %d",
			m.ID, m.Version, m.ProtocolVersion, contract.PluginID, Version, contract.ProtocolVersion)
	}
}
