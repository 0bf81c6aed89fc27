// Package settings owns the plugin's configuration: the Duo settings an
// admin edits on the helpdesk's settings page (the model, its schema, which
// must equal plugin.json's settings_schema, and its validation), and the
// runtime configuration of the plugin process itself (config file,
// DUO_PLUGIN_* environment, defaults), loaded with a local viper instance.
//
// Everything here is a value: Duo and Runtime are immutable once built, so
// callers swap a whole value (for example through an atomic.Pointer) when the
// settings change instead of editing one in place.
package settings
