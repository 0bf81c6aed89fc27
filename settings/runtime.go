package settings

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// Environment variables read by LoadRuntime.
const (
	// EnvConfig names an optional config file (.yaml, .yml, .json or .toml).
	EnvConfig = "DUO_PLUGIN_CONFIG"
	// EnvDataDir overrides the data directory (absolute path).
	EnvDataDir = "DUO_PLUGIN_DATA_DIR"
	// EnvLogLevel is trace, debug, info, warn or error.
	EnvLogLevel = "DUO_PLUGIN_LOG_LEVEL"
	// EnvLogFormat is json or text.
	EnvLogFormat = "DUO_PLUGIN_LOG_FORMAT"
	// EnvDuoTimeout bounds each call to Duo, as a Go duration ("10s").
	EnvDuoTimeout = "DUO_PLUGIN_DUO_TIMEOUT"
	// EnvHealthCacheTTL is how long a Duo health result is reused ("30s";
	// "0s" disables the cache).
	EnvHealthCacheTTL = "DUO_PLUGIN_HEALTH_CACHE_TTL"
	// EnvAllowTestDuoHost turns on test mode: any API host and a custom CA.
	EnvAllowTestDuoHost = "DUO_PLUGIN_ALLOW_TEST_DUO_HOST"
)

// Bounds of the runtime durations.
const (
	MinDuoTimeout     = time.Second      // shortest accepted Runtime.DuoTimeout
	MaxDuoTimeout     = time.Minute      // longest accepted Runtime.DuoTimeout
	MaxHealthCacheTTL = 10 * time.Minute // longest accepted Runtime.HealthCacheTTL
)

// Runtime is the configuration of the plugin process, fixed at start: from
// defaults, then an optional config file, then the environment. Build it with
// LoadRuntime.
type Runtime struct {
	// DataDir is an absolute, cleaned directory for the plugin's data, or ""
	// to use the one the host passes at activation.
	DataDir string
	// LogLevel is trace, debug, info (default), warn or error.
	LogLevel string
	// LogFormat is json (default) or text.
	LogFormat string
	// DuoTimeout bounds each HTTP call to Duo: 1s to 60s, default 10s.
	DuoTimeout time.Duration
	// HealthCacheTTL is how long a Duo health-check result is reused: 0
	// disables caching, at most 10m, default 30s.
	HealthCacheTTL time.Duration
	// AllowTestDuoHost is the explicit test/simulator switch, default false:
	// see ValidateOptions.AllowTestHost.
	AllowTestDuoHost bool
	// ConfigFile is the config file that was read, or "" if none.
	ConfigFile string
}

// ValidateOptions returns the options Apply must use in this process.
func (r Runtime) ValidateOptions() ValidateOptions {
	return ValidateOptions{AllowTestHost: r.AllowTestDuoHost}
}

// runtimeKey binds one Runtime setting to its config-file key, its
// environment variable and its default, in the string form a user writes.
type runtimeKey struct {
	key, env, def string
}

// runtimeKeys lists every runtime setting; the order is the order of
// reported problems.
var runtimeKeys = []runtimeKey{
	{key: "data_dir", env: EnvDataDir, def: ""},
	{key: "log_level", env: EnvLogLevel, def: "info"},
	{key: "log_format", env: EnvLogFormat, def: "json"},
	{key: "duo_timeout", env: EnvDuoTimeout, def: "10s"},
	{key: "health_cache_ttl", env: EnvHealthCacheTTL, def: "30s"},
	{key: "allow_test_duo_host", env: EnvAllowTestDuoHost, def: "false"},
}

var (
	logLevels  = []string{"trace", "debug", "info", "warn", "error"}
	logFormats = []string{"json", "text"}
)

// DefaultRuntime returns the runtime configuration with nothing configured.
func DefaultRuntime() Runtime {
	return Runtime{
		LogLevel:       "info",
		LogFormat:      "json",
		DuoTimeout:     10 * time.Second,
		HealthCacheTTL: 30 * time.Second,
	}
}

// RuntimeError lists every problem found in the runtime configuration.
type RuntimeError struct {
	// Problems each name the variable or config-file key at fault.
	Problems []string
}

// Error joins the problems.
func (e *RuntimeError) Error() string {
	return "runtime configuration: " + strings.Join(e.Problems, "; ")
}

// LoadRuntime builds the plugin process's configuration from environ (the
// process environment as os.Environ returns it: KEY=VALUE entries, the last
// one of a key winning). Precedence, lowest first: defaults; the config file
// named by DUO_PLUGIN_CONFIG, whose keys are data_dir, log_level, log_format,
// duo_timeout, health_cache_ttl and allow_test_duo_host; the DUO_PLUGIN_*
// variables. An empty variable or an empty string in the file counts as
// unset.
//
// A named config file that is missing, unreadable, malformed or of another
// type is an error naming the file, returned alone. Otherwise every invalid
// value and every unknown file key is reported at once in a *RuntimeError.
//
// It uses its own viper instance, never the global one. Viper's BindEnv
// reads the process environment itself, which would bypass environ, so the
// explicit bindings in runtimeKeys are applied from environ with Set, which
// viper ranks above the config file and the defaults.
func LoadRuntime(environ []string) (Runtime, error) {
	env := parseEnviron(environ)
	v := viper.New()
	for _, k := range runtimeKeys {
		v.SetDefault(k.key, k.def)
	}

	var problems []string
	cfg := strings.TrimSpace(env[EnvConfig])
	if cfg != "" {
		ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(cfg), "."))
		if !slices.Contains([]string{"yaml", "yml", "json", "toml"}, ext) {
			return Runtime{}, fmt.Errorf("runtime configuration: config file %q named by %s: unsupported type %q; use .yaml, .yml, .json or .toml", cfg, EnvConfig, filepath.Ext(cfg))
		}
		v.SetConfigFile(cfg)
		v.SetConfigType(ext)
		if err := v.ReadInConfig(); err != nil {
			return Runtime{}, fmt.Errorf("runtime configuration: read config file %q named by %s: %w", cfg, EnvConfig, err)
		}
		known := make([]string, len(runtimeKeys))
		for i, k := range runtimeKeys {
			known[i] = k.key
		}
		all := v.AllKeys()
		slices.Sort(all)
		for _, key := range all {
			if !slices.Contains(known, key) {
				problems = append(problems, fmt.Sprintf("config file %q: unknown key %.64q; known keys are %s", cfg, key, strings.Join(known, ", ")))
			}
		}
	}
	for _, k := range runtimeKeys {
		if val := env[k.env]; val != "" {
			v.Set(k.key, val)
		}
	}

	r := Runtime{ConfigFile: cfg}
	for _, k := range runtimeKeys {
		where := k.key + " (default)"
		switch {
		case env[k.env] != "":
			where = k.env
		case v.InConfig(k.key):
			where = fmt.Sprintf("%s in config file %q", k.key, cfg)
		}
		if msg := decodeRuntime(&r, k, v.Get(k.key)); msg != "" {
			problems = append(problems, where+": "+msg)
		}
	}
	if len(problems) > 0 {
		return Runtime{}, &RuntimeError{Problems: problems}
	}
	return r, nil
}

// decodeRuntime parses raw into k's field of r, and returns what is wrong
// with it, or "".
func decodeRuntime(r *Runtime, k runtimeKey, raw any) string {
	if s, ok := raw.(string); ok && strings.TrimSpace(s) == "" {
		raw = k.def
	}
	switch k.key {
	case "data_dir":
		s, msg := asString(raw)
		if msg != "" {
			return msg
		}
		if s != "" && !filepath.IsAbs(s) {
			return fmt.Sprintf("%.256q is not an absolute path", s)
		}
		if s != "" {
			s = filepath.Clean(s)
		}
		r.DataDir = s
	case "log_level", "log_format":
		s, msg := asString(raw)
		if msg != "" {
			return msg
		}
		s = strings.ToLower(s)
		allowed := logLevels
		what := "log level"
		if k.key == "log_format" {
			allowed, what = logFormats, "log format"
		}
		if !slices.Contains(allowed, s) {
			return fmt.Sprintf("%.64q is not a %s; use %s", s, what, strings.Join(allowed, ", "))
		}
		if k.key == "log_level" {
			r.LogLevel = s
		} else {
			r.LogFormat = s
		}
	case "duo_timeout":
		d, msg := asDuration(raw, "10s")
		if msg != "" {
			return msg
		}
		if d < MinDuoTimeout || d > MaxDuoTimeout {
			return fmt.Sprintf("%s is out of range; use %s to %s", d, MinDuoTimeout, MaxDuoTimeout)
		}
		r.DuoTimeout = d
	case "health_cache_ttl":
		d, msg := asDuration(raw, "30s")
		if msg != "" {
			return msg
		}
		if d < 0 || d > MaxHealthCacheTTL {
			return fmt.Sprintf("%s is out of range; use 0s (no caching) to %s", d, MaxHealthCacheTTL)
		}
		r.HealthCacheTTL = d
	case "allow_test_duo_host":
		switch b := raw.(type) {
		case bool:
			r.AllowTestDuoHost = b
		case string:
			p, err := strconv.ParseBool(strings.TrimSpace(b))
			if err != nil {
				return fmt.Sprintf("%.64q is not a boolean; use true or false", b)
			}
			r.AllowTestDuoHost = p
		default:
			return "must be true or false, not " + describe(raw)
		}
	}
	return ""
}

func asString(raw any) (string, string) {
	s, ok := raw.(string)
	if !ok {
		return "", "must be a string, not " + describe(raw)
	}
	return strings.TrimSpace(s), ""
}

// asDuration parses a Go duration. A number from a config file goes through
// the same parser, so 0 is accepted and 10 is refused for its missing unit.
func asDuration(raw any, example string) (time.Duration, string) {
	var s string
	switch x := raw.(type) {
	case string:
		s = strings.TrimSpace(x)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		s = fmt.Sprint(x)
	default:
		return 0, "must be a duration like " + strconv.Quote(example) + ", not " + describe(raw)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Sprintf("%.64q is not a duration; use a Go duration like %q", s, example)
	}
	return d, ""
}

// describe names the kind of a config-file value for an error message.
func describe(raw any) string {
	switch raw.(type) {
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a table"
	default:
		return fmt.Sprintf("a %T", raw)
	}
}

// parseEnviron maps KEY=VALUE entries; entries without "=" are ignored.
func parseEnviron(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}
