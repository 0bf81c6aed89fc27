package settings

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/pgdb"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

// Environment variables read by LoadRuntime. Each but EnvConfig is
// "DUO_PLUGIN_" and its config-file key in upper case, because viper derives
// the name from the key; TestRuntimeEnvNames keeps the two in step.
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
	// EnvDatabaseURL names a PostgreSQL database (postgres:// or
	// postgresql:// URL) that every instance of the plugin shares; empty
	// keeps the store in SQLite in the data directory. It may hold a
	// password: it is never logged nor put in an error.
	EnvDatabaseURL = "DUO_PLUGIN_DATABASE_URL"
	// EnvDatabaseSchema is the PostgreSQL schema of the plugin's tables
	// (default duo_plugin): lower-case letters, digits and _.
	EnvDatabaseSchema = "DUO_PLUGIN_DATABASE_SCHEMA"
	// EnvSecretsKey is the key that seals the stored client secret and
	// keys the hashes of codes: base64 of 32 random bytes, the same for
	// every instance. Required with EnvDatabaseURL, refused without it
	// (SQLite keeps its key in the file secrets.key in the data
	// directory).
	EnvSecretsKey = "DUO_PLUGIN_SECRETS_KEY"
)

// DefaultDatabaseSchema is the PostgreSQL schema used unless
// EnvDatabaseSchema names another.
const DefaultDatabaseSchema = "duo_plugin"

// SecretsKeySize is the length of the secrets key in bytes.
const SecretsKeySize = 32

// envPrefix is what viper puts before a key's upper-cased name to find its
// environment variable.
const envPrefix = "DUO_PLUGIN"

// Bounds of the runtime durations.
const (
	MinDuoTimeout     = time.Second      // shortest accepted Runtime.DuoTimeout
	MaxDuoTimeout     = time.Minute      // longest accepted Runtime.DuoTimeout
	MaxHealthCacheTTL = 10 * time.Minute // longest accepted Runtime.HealthCacheTTL
)

// Runtime is the configuration of the plugin process, fixed at start: from
// defaults, then an optional config file, then the environment. Build it with
// LoadRuntime. The mapstructure tags are the config-file keys.
type Runtime struct {
	// DataDir is an absolute, cleaned directory for the plugin's data, or ""
	// to use the one the host passes at activation.
	DataDir string `mapstructure:"data_dir"`
	// LogLevel is trace, debug, info (default), warn or error.
	LogLevel string `mapstructure:"log_level"`
	// LogFormat is json (default) or text.
	LogFormat string `mapstructure:"log_format"`
	// DuoTimeout bounds each HTTP call to Duo: 1s to 60s, default 10s.
	DuoTimeout time.Duration `mapstructure:"duo_timeout"`
	// HealthCacheTTL is how long a Duo health-check result is reused: 0
	// disables caching, at most 10m, default 30s.
	HealthCacheTTL time.Duration `mapstructure:"health_cache_ttl"`
	// AllowTestDuoHost is the explicit test/simulator switch, default false:
	// see ValidateOptions.AllowTestHost.
	AllowTestDuoHost bool `mapstructure:"allow_test_duo_host"`
	// DatabaseURL names the PostgreSQL database every instance shares;
	// unset keeps the store in SQLite in the data directory.
	DatabaseURL secret.Value `mapstructure:"database_url"`
	// DatabaseSchema is the PostgreSQL schema of the plugin's tables.
	DatabaseSchema string `mapstructure:"database_schema"`
	// SecretsKey is the base64 of the SecretsKeySize-byte key (see
	// EnvSecretsKey); set exactly when DatabaseURL is. SecretsKeyBytes
	// decodes it.
	SecretsKey secret.Value `mapstructure:"secrets_key"`
	// ConfigFile is the config file that was read, or "" if none. It is not
	// a key: a config file cannot name itself.
	ConfigFile string `mapstructure:"-"`
}

// ValidateOptions returns the options Apply must use in this process.
func (r Runtime) ValidateOptions() ValidateOptions {
	return ValidateOptions{AllowTestHost: r.AllowTestDuoHost}
}

// Shared reports whether the store is a PostgreSQL database shared by
// every instance (DatabaseURL set) rather than SQLite in the data
// directory.
func (r Runtime) Shared() bool { return r.DatabaseURL.IsSet() }

// SecretsKeyBytes decodes SecretsKey; LoadRuntime has checked it.
func (r Runtime) SecretsKeyBytes() ([]byte, error) {
	key, err := decodeSecretsKey(r.SecretsKey.Reveal())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvSecretsKey, err)
	}
	return key, nil
}

// decodeSecretsKey reads base64 (standard, padded or not) of exactly
// SecretsKeySize bytes. Its errors never quote the value.
func decodeSecretsKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("is not base64; make one with: head -c 32 /dev/urandom | base64")
	}
	if len(key) != SecretsKeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d; make one with: head -c 32 /dev/urandom | base64", len(key), SecretsKeySize)
	}
	return key, nil
}

// runtimeKey ties a config-file key to its environment variable and the
// kind of its value, for saying what is wrong with a value and where it came
// from.
type runtimeKey struct {
	key, env string
	kind     valueKind
	example  string // a valid duration to show, for kindDuration
}

type valueKind int

const (
	kindString valueKind = iota
	kindDuration
	kindBool
)

// runtimeKeys lists every runtime setting in the order of Runtime's fields;
// it is also the order of reported problems.
var runtimeKeys = []runtimeKey{
	{key: "data_dir", env: EnvDataDir, kind: kindString},
	{key: "log_level", env: EnvLogLevel, kind: kindString},
	{key: "log_format", env: EnvLogFormat, kind: kindString},
	{key: "duo_timeout", env: EnvDuoTimeout, kind: kindDuration, example: "10s"},
	{key: "health_cache_ttl", env: EnvHealthCacheTTL, kind: kindDuration, example: "30s"},
	{key: "allow_test_duo_host", env: EnvAllowTestDuoHost, kind: kindBool},
	{key: "database_url", env: EnvDatabaseURL, kind: kindString},
	{key: "database_schema", env: EnvDatabaseSchema, kind: kindString},
	{key: "secrets_key", env: EnvSecretsKey, kind: kindString},
}

var (
	logLevels   = []string{"trace", "debug", "info", "warn", "error"}
	logFormats  = []string{"json", "text"}
	configTypes = []string{"yaml", "yml", "json", "toml"}
)

// DefaultRuntime returns the runtime configuration with nothing configured.
func DefaultRuntime() Runtime {
	return Runtime{
		LogLevel:       "info",
		LogFormat:      "json",
		DuoTimeout:     10 * time.Second,
		HealthCacheTTL: 30 * time.Second,
		DatabaseSchema: DefaultDatabaseSchema,
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

// LoadRuntime builds the plugin process's configuration from the process
// environment. Precedence, lowest first: defaults; the config file named by
// DUO_PLUGIN_CONFIG, whose keys are data_dir, log_level, log_format,
// duo_timeout, health_cache_ttl, allow_test_duo_host, database_url,
// database_schema and secrets_key; the DUO_PLUGIN_*
// variables. An empty variable or an empty string in the file counts as
// unset.
//
// A named config file that is missing, unreadable, malformed or of another
// type is an error naming the file, returned alone. Otherwise every invalid
// value and every unknown file key is reported at once in a *RuntimeError.
//
// It uses its own viper instance, never the global one, so that nothing
// else in the process can change the plugin's configuration.
func LoadRuntime() (Runtime, error) {
	v := viper.New()
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	// AutomaticEnv only looks up keys viper knows, which the defaults below
	// make every key; viper's default AllowEmptyEnv(false) makes an empty
	// variable unset.
	v.AutomaticEnv()
	def := DefaultRuntime()
	v.SetDefault("data_dir", def.DataDir)
	v.SetDefault("log_level", def.LogLevel)
	v.SetDefault("log_format", def.LogFormat)
	v.SetDefault("duo_timeout", def.DuoTimeout)
	v.SetDefault("health_cache_ttl", def.HealthCacheTTL)
	v.SetDefault("allow_test_duo_host", def.AllowTestDuoHost)
	v.SetDefault("database_url", string(def.DatabaseURL))
	v.SetDefault("database_schema", def.DatabaseSchema)
	v.SetDefault("secrets_key", string(def.SecretsKey))

	// The file's name is read directly: it must be known before viper reads
	// anything, and it is not itself a setting.
	cfg := strings.TrimSpace(os.Getenv(EnvConfig))
	if cfg != "" {
		ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(cfg), "."))
		if !slices.Contains(configTypes, ext) {
			return Runtime{}, fmt.Errorf("runtime configuration: config file %q named by %s: unsupported type %q; use .yaml, .yml, .json or .toml", cfg, EnvConfig, filepath.Ext(cfg))
		}
		v.SetConfigFile(cfg)
		// Set explicitly because viper takes the type from the extension
		// as written, and .YAML or .TOML would be refused.
		v.SetConfigType(ext)
		if err := v.ReadInConfig(); err != nil {
			return Runtime{}, fmt.Errorf("runtime configuration: read config file %q named by %s: %w", cfg, EnvConfig, err)
		}
	}

	// Decoding starts from the defaults so that a blank string, which
	// blankIsUnset turns into the field's current value, keeps the default.
	r := def
	err := v.Unmarshal(&r, viper.DecodeHook(runtimeDecodeHook()), func(c *mapstructure.DecoderConfig) {
		// Reports unknown file keys: a typo must not be silently ignored.
		c.ErrorUnused = true
		// Viper's weak typing would read 7 as the path "7" and 1 as true;
		// the hooks convert only what a user can mean.
		c.WeaklyTypedInput = false
	})
	fieldErrs, problems := splitDecodeError(err, cfg)
	for _, k := range runtimeKeys {
		var msg string
		if ferr, ok := fieldErrs[k.key]; ok {
			msg = decodeProblem(k, v.Get(k.key), ferr)
		} else {
			msg = validateRuntime(&r, k.key)
		}
		if msg != "" {
			problems = append(problems, whereFrom(v, k, cfg)+": "+msg)
		}
	}
	if len(problems) > 0 {
		return Runtime{}, &RuntimeError{Problems: problems}
	}
	r.ConfigFile = cfg
	return r, nil
}

// whereFrom names the source viper took k's value from. An empty variable
// is passed over, as viper passes over it.
func whereFrom(v *viper.Viper, k runtimeKey, cfg string) string {
	switch {
	case os.Getenv(k.env) != "":
		return k.env
	case v.InConfig(k.key):
		return fmt.Sprintf("%s in config file %q", k.key, cfg)
	default:
		return k.env + " (not set)"
	}
}

// splitDecodeError sorts the errors of v.Unmarshal: a field's error by its
// key, anything else as a finished problem.
func splitDecodeError(err error, cfg string) (map[string]error, []string) {
	byKey := make(map[string]error)
	var problems []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, each := range e.Unwrap() {
				walk(each)
			}
		case *mapstructure.DecodeError:
			if e.Name() != "" {
				byKey[e.Name()] = e.Unwrap()
				break
			}
			// The root's only error is ErrorUnused's list of unknown keys,
			// and only the file can hold keys viper does not know.
			problems = append(problems, fmt.Sprintf("config file %q %v (known keys: %s)", cfg, e.Unwrap(), knownKeys()))
		default:
			if inner := errors.Unwrap(err); inner != nil {
				walk(inner)
			} else {
				problems = append(problems, err.Error())
			}
		}
	}
	walk(err)
	return byKey, problems
}

func knownKeys() string {
	keys := make([]string, len(runtimeKeys))
	for i, k := range runtimeKeys {
		keys[i] = k.key
	}
	return strings.Join(keys, ", ")
}

// decodeProblem words the error decoding k's value raw.
func decodeProblem(k runtimeKey, raw any, err error) string {
	var wrong wrongKind
	if errors.As(err, &wrong) {
		switch k.kind {
		case kindDuration:
			return fmt.Sprintf("must be a duration like %q, not %s", k.example, wrong.got)
		case kindBool:
			return "must be true or false, not " + wrong.got
		default:
			return "must be a string, not " + wrong.got
		}
	}
	s := strings.TrimSpace(fmt.Sprint(raw))
	switch k.kind {
	case kindDuration:
		return fmt.Sprintf("%.64q is not a duration; use a Go duration like %q", s, k.example)
	case kindBool:
		return fmt.Sprintf("%.64q is not a boolean; use true or false", s)
	default:
		return err.Error()
	}
}

// validateRuntime checks the decoded value of key in r, normalising it, and
// returns what is wrong with it, or "".
func validateRuntime(r *Runtime, key string) string {
	switch key {
	case "data_dir":
		if r.DataDir == "" {
			return ""
		}
		if !filepath.IsAbs(r.DataDir) {
			return fmt.Sprintf("%.256q is not an absolute path", r.DataDir)
		}
		r.DataDir = filepath.Clean(r.DataDir)
	case "log_level":
		r.LogLevel = strings.ToLower(r.LogLevel)
		if !slices.Contains(logLevels, r.LogLevel) {
			return fmt.Sprintf("%.64q is not a log level; use %s", r.LogLevel, strings.Join(logLevels, ", "))
		}
	case "log_format":
		r.LogFormat = strings.ToLower(r.LogFormat)
		if !slices.Contains(logFormats, r.LogFormat) {
			return fmt.Sprintf("%.64q is not a log format; use %s", r.LogFormat, strings.Join(logFormats, ", "))
		}
	case "duo_timeout":
		if r.DuoTimeout < MinDuoTimeout || r.DuoTimeout > MaxDuoTimeout {
			return fmt.Sprintf("%s is out of range; use %s to %s", r.DuoTimeout, MinDuoTimeout, MaxDuoTimeout)
		}
	case "health_cache_ttl":
		if r.HealthCacheTTL < 0 || r.HealthCacheTTL > MaxHealthCacheTTL {
			return fmt.Sprintf("%s is out of range; use 0s (no caching) to %s", r.HealthCacheTTL, MaxHealthCacheTTL)
		}
	case "database_url":
		// Never quoted: it may hold a password.
		u := r.DatabaseURL.Reveal()
		if u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			return "is not a PostgreSQL URL; use postgres://user:password@host:5432/database"
		}
	case "database_schema":
		if !pgdb.ValidSchema(r.DatabaseSchema) {
			return fmt.Sprintf("%.64q is not a schema name; use lower-case letters, digits and _, not starting with a digit, at most 63", r.DatabaseSchema)
		}
	case "secrets_key":
		switch {
		case r.Shared() && !r.SecretsKey.IsSet():
			return "is required with " + EnvDatabaseURL + ": every instance must seal and hash with the same key; make one with: head -c 32 /dev/urandom | base64"
		case !r.Shared() && r.SecretsKey.IsSet():
			return "is only used with " + EnvDatabaseURL + "; with SQLite the key is the file secrets.key in the data directory: unset it"
		case r.SecretsKey.IsSet():
			if _, err := decodeSecretsKey(r.SecretsKey.Reveal()); err != nil {
				return err.Error()
			}
		}
	}
	return ""
}

var durationType = reflect.TypeFor[time.Duration]()

// runtimeDecodeHook turns what a config file or the environment holds into
// Runtime's field types. Each hook passes on what it does not handle.
func runtimeDecodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(
		refuseWrongKind,
		blankIsUnset,
		numberAsDurationText,
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToBoolHookFunc(),
	)
}

// wrongKind is a value of a kind its field cannot take, such as a list for
// a string; got describes the value.
type wrongKind struct{ got string }

func (e wrongKind) Error() string { return "unexpected " + e.got }

// refuseWrongKind refuses a value no later hook can convert, so that the
// problem names the value's kind instead of a Go type.
func refuseWrongKind(from, to reflect.Type, data any) (any, error) {
	var ok bool
	switch {
	case to == durationType:
		ok = from == durationType || from.Kind() == reflect.String || isNumber(from.Kind())
	case to.Kind() == reflect.String:
		ok = from.Kind() == reflect.String
	case to.Kind() == reflect.Bool:
		ok = from.Kind() == reflect.Bool || from.Kind() == reflect.String
	default:
		return data, nil
	}
	if !ok {
		return nil, wrongKind{got: describe(data)}
	}
	return data, nil
}

// blankIsUnset trims strings, and returns the field's current value (its
// default) for a blank one: viper treats an empty variable as unset but
// reads an empty string in a file as a value.
func blankIsUnset(from, to reflect.Value) (any, error) {
	if from.Kind() != reflect.String {
		return from.Interface(), nil
	}
	s := strings.TrimSpace(from.String())
	if s == "" {
		return to.Interface(), nil
	}
	return s, nil
}

// numberAsDurationText hands a file's number for a duration to the
// duration parser as text, so 0 is accepted and 10 is refused for its
// missing unit instead of being taken as 10ns.
func numberAsDurationText(from, to reflect.Type, data any) (any, error) {
	if to == durationType && from != durationType && isNumber(from.Kind()) {
		return fmt.Sprint(data), nil
	}
	return data, nil
}

func isNumber(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// describe names the kind of a config-file value for an error message.
func describe(raw any) string {
	switch reflect.ValueOf(raw).Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a table"
	default:
		if isNumber(reflect.ValueOf(raw).Kind()) {
			return "a number"
		}
		return fmt.Sprintf("a %T", raw)
	}
}
