package testlog

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
)

// PluginLogName is the plugin's hclog name (plugin/process.NewLogger).
// go-plugin forwards the plugin's JSON log lines into the host's logger
// with it in the "@module" attribute; no line of the SDK's own has one.
const PluginLogName = "duo-plugin"

// Record is what tests read of a line of the host's JSON log.
type Record struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Module string `json:"@module"` // set on the plugin's lines, forwarded by go-plugin
}

// Logged reports whether the host's JSON log holds a line that matches.
func Logged(logs string, match func(Record) bool) bool {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		var line Record
		if json.Unmarshal(sc.Bytes(), &line) == nil && match(line) {
			return true
		}
	}
	return false
}

// PluginLogged reports whether the host's JSON log holds a line that only
// the plugin process writes: msg from the plugin's own logger.
func PluginLogged(logs, msg string) bool {
	return Logged(logs, func(l Record) bool { return l.Module == PluginLogName && l.Msg == msg })
}

// CheckNoSecret fails if any secret appears in logs. It first requires a
// line the plugin itself logged on activation, forwarded by go-plugin: a
// log holding only the SDK's lines would let the check pass without
// having seen a word of the plugin's.
func CheckNoSecret(t testing.TB, what, logs string, secrets ...string) {
	t.Helper()
	if !PluginLogged(logs, "plugin activated") {
		t.Fatalf("%s: no line from the plugin process (%s %q) in the host's log: the secrecy check would prove nothing", what, PluginLogName, "plugin activated")
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatalf("%s: an empty secret to look for", what)
		}
		if strings.Contains(logs, s) {
			t.Fatalf("%s: a secret reached the log", what)
		}
	}
}
