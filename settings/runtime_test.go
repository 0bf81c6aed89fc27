package settings

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"
)

// The LoadRuntime tests set process variables with t.Setenv, so none of them
// is parallel.

// setEnv leaves exactly the DUO_PLUGIN_* variables of environ ("KEY=VALUE")
// set: every other one, from the machine or an earlier case, is set to "",
// which LoadRuntime treats as unset.
func setEnv(t *testing.T, environ ...string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "DUO_PLUGIN_") {
			t.Setenv(k, "")
		}
	}
	for _, k := range []string{EnvConfig, EnvDataDir, EnvLogLevel, EnvLogFormat, EnvDuoTimeout, EnvHealthCacheTTL, EnvAllowTestDuoHost} {
		t.Setenv(k, "")
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("setEnv: %q is not KEY=VALUE", kv)
		}
		t.Setenv(k, v)
	}
}

func TestLoadRuntime(t *testing.T) {
	yamlAll := writeFile(t, "all.yaml", `
data_dir: /srv/duo/
log_level: debug
log_format: text
duo_timeout: 20s
health_cache_ttl: 1m
allow_test_duo_host: true
`)
	jsonAll := writeFile(t, "all.json", `{"data_dir": "/srv/json", "log_level": "warn", "log_format": "text",
		"duo_timeout": "5s", "health_cache_ttl": "0s", "allow_test_duo_host": "1"}`)
	tomlAll := writeFile(t, "all.TOML", `data_dir = "/srv/toml"
log_level = "error"
log_format = "json"
duo_timeout = "1m"
health_cache_ttl = "10m"
allow_test_duo_host = false
`)
	ymlPartial := writeFile(t, "partial.yml", "log_level: trace\n")
	yamlEmpty := writeFile(t, "empty.yaml", "")
	yamlBlanks := writeFile(t, "blanks.yaml", "log_level: \"\"\nduo_timeout: \"  \"\n")
	yamlZero := writeFile(t, "zero.yaml", "health_cache_ttl: 0\n")
	yamlUpper := writeFile(t, "upper.yaml", "LOG_LEVEL: Warn\n")
	yamlNull := writeFile(t, "null.yaml", "log_level:\nduo_timeout: ~\n")
	jsonZero := writeFile(t, "zero.json", `{"health_cache_ttl": 0}`)
	ymlTwo := writeFile(t, "two.yml", "log_level: trace\nduo_timeout: 20s\n")

	def := DefaultRuntime()
	with := func(f func(*Runtime)) Runtime {
		r := DefaultRuntime()
		f(&r)
		return r
	}
	fromYAML := Runtime{DatabaseSchema: DefaultDatabaseSchema, DataDir: "/srv/duo", LogLevel: "debug", LogFormat: "text", DuoTimeout: 20 * time.Second,
		HealthCacheTTL: time.Minute, AllowTestDuoHost: true, ConfigFile: yamlAll}
	tests := []struct {
		name    string
		environ []string
		want    Runtime
	}{
		{"defaults", nil, Runtime{DatabaseSchema: DefaultDatabaseSchema, LogLevel: "info", LogFormat: "json", DuoTimeout: 10 * time.Second, HealthCacheTTL: 30 * time.Second}},
		{"unrelated variables", []string{"LOG_LEVEL=debug", "DUO_PLUGIN_UNKNOWN=x", "DUO_PLUGIN_LOG=debug"}, def},

		// environment over defaults, each key
		{"env data dir", []string{"DUO_PLUGIN_DATA_DIR=/var/lib/duo/../duo-plugin/"}, with(func(r *Runtime) { r.DataDir = "/var/lib/duo-plugin" })},
		{"env log level", []string{"DUO_PLUGIN_LOG_LEVEL=trace"}, with(func(r *Runtime) { r.LogLevel = "trace" })},
		{"env log level any case", []string{"DUO_PLUGIN_LOG_LEVEL= WARN "}, with(func(r *Runtime) { r.LogLevel = "warn" })},
		{"env log format", []string{"DUO_PLUGIN_LOG_FORMAT=text"}, with(func(r *Runtime) { r.LogFormat = "text" })},
		{"env duo timeout", []string{"DUO_PLUGIN_DUO_TIMEOUT=1500ms"}, with(func(r *Runtime) { r.DuoTimeout = 1500 * time.Millisecond })},
		{"env duo timeout bounds", []string{"DUO_PLUGIN_DUO_TIMEOUT=1m"}, with(func(r *Runtime) { r.DuoTimeout = time.Minute })},
		{"env health ttl", []string{"DUO_PLUGIN_HEALTH_CACHE_TTL=10m"}, with(func(r *Runtime) { r.HealthCacheTTL = 10 * time.Minute })},
		{"env health ttl disabled", []string{"DUO_PLUGIN_HEALTH_CACHE_TTL=0"}, with(func(r *Runtime) { r.HealthCacheTTL = 0 })},
		{"env allow test host", []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true"}, with(func(r *Runtime) { r.AllowTestDuoHost = true })},
		{"env allow test host 1", []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=1"}, with(func(r *Runtime) { r.AllowTestDuoHost = true })},
		{"env allow test host FALSE", []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=FALSE"}, def},
		{"empty env is unset", []string{"DUO_PLUGIN_LOG_LEVEL=", "DUO_PLUGIN_DUO_TIMEOUT="}, def},
		{"every variable empty is unset", []string{"DUO_PLUGIN_CONFIG=", "DUO_PLUGIN_DATA_DIR=", "DUO_PLUGIN_LOG_LEVEL=", "DUO_PLUGIN_LOG_FORMAT=",
			"DUO_PLUGIN_DUO_TIMEOUT=", "DUO_PLUGIN_HEALTH_CACHE_TTL=", "DUO_PLUGIN_ALLOW_TEST_DUO_HOST="}, def},
		{"value with =", []string{"DUO_PLUGIN_DATA_DIR=/srv/a=b"}, with(func(r *Runtime) { r.DataDir = "/srv/a=b" })},

		// file over defaults, each key and each format
		{"yaml file", []string{"DUO_PLUGIN_CONFIG=" + yamlAll}, fromYAML},
		{"json file", []string{"DUO_PLUGIN_CONFIG=" + jsonAll}, Runtime{DatabaseSchema: DefaultDatabaseSchema, DataDir: "/srv/json", LogLevel: "warn", LogFormat: "text",
			DuoTimeout: 5 * time.Second, HealthCacheTTL: 0, AllowTestDuoHost: true, ConfigFile: jsonAll}},
		{"toml file, upper-case extension", []string{"DUO_PLUGIN_CONFIG=" + tomlAll}, Runtime{DatabaseSchema: DefaultDatabaseSchema, DataDir: "/srv/toml", LogLevel: "error", LogFormat: "json",
			DuoTimeout: time.Minute, HealthCacheTTL: 10 * time.Minute, ConfigFile: tomlAll}},
		{"yml file, one key", []string{"DUO_PLUGIN_CONFIG=" + ymlPartial}, with(func(r *Runtime) { r.LogLevel = "trace"; r.ConfigFile = ymlPartial })},
		{"empty file", []string{"DUO_PLUGIN_CONFIG=" + yamlEmpty}, with(func(r *Runtime) { r.ConfigFile = yamlEmpty })},
		{"blank file values are unset", []string{"DUO_PLUGIN_CONFIG=" + yamlBlanks}, with(func(r *Runtime) { r.ConfigFile = yamlBlanks })},
		{"file number 0 for a duration", []string{"DUO_PLUGIN_CONFIG=" + yamlZero}, with(func(r *Runtime) { r.HealthCacheTTL = 0; r.ConfigFile = yamlZero })},
		{"json number 0 for a duration", []string{"DUO_PLUGIN_CONFIG=" + jsonZero}, with(func(r *Runtime) { r.HealthCacheTTL = 0; r.ConfigFile = jsonZero })},
		{"null file values are unset", []string{"DUO_PLUGIN_CONFIG=" + yamlNull}, with(func(r *Runtime) { r.ConfigFile = yamlNull })},
		{"file keys any case", []string{"DUO_PLUGIN_CONFIG=" + yamlUpper}, with(func(r *Runtime) { r.LogLevel = "warn"; r.ConfigFile = yamlUpper })},
		{"empty DUO_PLUGIN_CONFIG", []string{"DUO_PLUGIN_CONFIG="}, def},

		// environment over file, each key
		{"env beats file: data dir", []string{"DUO_PLUGIN_CONFIG=" + yamlAll, "DUO_PLUGIN_DATA_DIR=/env"}, func() Runtime { r := fromYAML; r.DataDir = "/env"; return r }()},
		{"env beats file: log level", []string{"DUO_PLUGIN_CONFIG=" + yamlAll, "DUO_PLUGIN_LOG_LEVEL=error"}, func() Runtime { r := fromYAML; r.LogLevel = "error"; return r }()},
		{"env beats file: log format", []string{"DUO_PLUGIN_CONFIG=" + yamlAll, "DUO_PLUGIN_LOG_FORMAT=json"}, func() Runtime { r := fromYAML; r.LogFormat = "json"; return r }()},
		{"env beats file: duo timeout", []string{"DUO_PLUGIN_CONFIG=" + yamlAll, "DUO_PLUGIN_DUO_TIMEOUT=3s"}, func() Runtime { r := fromYAML; r.DuoTimeout = 3 * time.Second; return r }()},
		{"env beats file: health ttl", []string{"DUO_PLUGIN_CONFIG=" + yamlAll, "DUO_PLUGIN_HEALTH_CACHE_TTL=0s"}, func() Runtime { r := fromYAML; r.HealthCacheTTL = 0; return r }()},
		{"env beats file: allow test host", []string{"DUO_PLUGIN_CONFIG=" + yamlAll, "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=false"}, func() Runtime { r := fromYAML; r.AllowTestDuoHost = false; return r }()},
		{"empty env does not beat file", []string{"DUO_PLUGIN_CONFIG=" + yamlAll, "DUO_PLUGIN_LOG_LEVEL="}, fromYAML},
		{"env beats file beats default", []string{"DUO_PLUGIN_CONFIG=" + ymlTwo, "DUO_PLUGIN_LOG_LEVEL=error"},
			with(func(r *Runtime) { r.LogLevel = "error"; r.DuoTimeout = 20 * time.Second; r.ConfigFile = ymlTwo })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.environ...)
			got, err := LoadRuntime()
			if err != nil {
				t.Fatalf("LoadRuntime: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadRuntimeErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	ini := writeFile(t, "duo.ini", "log_level=info\n")
	noExt := writeFile(t, "duo", "log_level: info\n")
	unknown := writeFile(t, "unknown.yaml", "log_levl: debug\nduo:\n  timeout: 5s\n")
	badValues := writeFile(t, "values.yaml", "data_dir: 7\nlog_level: verbose\nlog_format: [json]\nduo_timeout: 10\nhealth_cache_ttl: -1s\nallow_test_duo_host: yes\n")
	badTypes := writeFile(t, "types.json", `{"duo_timeout": true, "allow_test_duo_host": 1, "log_level": {"a": 1}}`)
	bareTTL := writeFile(t, "bare.yaml", "health_cache_ttl: 5\n")
	floatTimeout := writeFile(t, "float.json", `{"duo_timeout": 1.5}`)
	known := " (known keys: data_dir, log_level, log_format, duo_timeout, health_cache_ttl, allow_test_duo_host, database_url, database_schema, secrets_key)"
	prefix := "runtime configuration: "
	tests := []struct {
		name    string
		environ []string
		want    string
		is      error // errors.Is target, if any
	}{
		// environment, each key
		{"data dir relative", []string{"DUO_PLUGIN_DATA_DIR=data"}, prefix + `DUO_PLUGIN_DATA_DIR: "data" is not an absolute path`, nil},
		{"unknown level", []string{"DUO_PLUGIN_LOG_LEVEL=verbose"}, prefix + `DUO_PLUGIN_LOG_LEVEL: "verbose" is not a log level; use trace, debug, info, warn, error`, nil},
		{"unknown format", []string{"DUO_PLUGIN_LOG_FORMAT=logfmt"}, prefix + `DUO_PLUGIN_LOG_FORMAT: "logfmt" is not a log format; use json, text`, nil},
		{"bad duration", []string{"DUO_PLUGIN_DUO_TIMEOUT=ten seconds"}, prefix + `DUO_PLUGIN_DUO_TIMEOUT: "ten seconds" is not a duration; use a Go duration like "10s"`, nil},
		{"duration without unit", []string{"DUO_PLUGIN_DUO_TIMEOUT=10"}, prefix + `DUO_PLUGIN_DUO_TIMEOUT: "10" is not a duration; use a Go duration like "10s"`, nil},
		{"duo timeout too short", []string{"DUO_PLUGIN_DUO_TIMEOUT=999ms"}, prefix + `DUO_PLUGIN_DUO_TIMEOUT: 999ms is out of range; use 1s to 1m0s`, nil},
		{"duo timeout too long", []string{"DUO_PLUGIN_DUO_TIMEOUT=61s"}, prefix + `DUO_PLUGIN_DUO_TIMEOUT: 1m1s is out of range; use 1s to 1m0s`, nil},
		{"health ttl bad", []string{"DUO_PLUGIN_HEALTH_CACHE_TTL=off"}, prefix + `DUO_PLUGIN_HEALTH_CACHE_TTL: "off" is not a duration; use a Go duration like "30s"`, nil},
		{"health ttl negative", []string{"DUO_PLUGIN_HEALTH_CACHE_TTL=-1s"}, prefix + `DUO_PLUGIN_HEALTH_CACHE_TTL: -1s is out of range; use 0s (no caching) to 10m0s`, nil},
		{"health ttl too long", []string{"DUO_PLUGIN_HEALTH_CACHE_TTL=601s"}, prefix + `DUO_PLUGIN_HEALTH_CACHE_TTL: 10m1s is out of range; use 0s (no caching) to 10m0s`, nil},
		{"bad bool", []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=yes"}, prefix + `DUO_PLUGIN_ALLOW_TEST_DUO_HOST: "yes" is not a boolean; use true or false`, nil},
		{"every env problem at once", []string{"DUO_PLUGIN_LOG_LEVEL=loud", "DUO_PLUGIN_DUO_TIMEOUT=0s", "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=maybe"},
			prefix + `DUO_PLUGIN_LOG_LEVEL: "loud" is not a log level; use trace, debug, info, warn, error; ` +
				`DUO_PLUGIN_DUO_TIMEOUT: 0s is out of range; use 1s to 1m0s; ` +
				`DUO_PLUGIN_ALLOW_TEST_DUO_HOST: "maybe" is not a boolean; use true or false`, nil},

		// the file itself (parse errors: TestLoadRuntimeFileErrorsNameTheFile)
		{"missing file", []string{"DUO_PLUGIN_CONFIG=" + missing},
			prefix + `read config file "` + missing + `" named by DUO_PLUGIN_CONFIG: open ` + missing + `: no such file or directory`, fs.ErrNotExist},
		{"unsupported type", []string{"DUO_PLUGIN_CONFIG=" + ini},
			prefix + `config file "` + ini + `" named by DUO_PLUGIN_CONFIG: unsupported type ".ini"; use .yaml, .yml, .json or .toml`, nil},
		{"no extension", []string{"DUO_PLUGIN_CONFIG=" + noExt},
			prefix + `config file "` + noExt + `" named by DUO_PLUGIN_CONFIG: unsupported type ""; use .yaml, .yml, .json or .toml`, nil},

		// values in the file
		{"unknown keys", []string{"DUO_PLUGIN_CONFIG=" + unknown},
			prefix + `config file "` + unknown + `" has invalid keys: duo, log_levl` + known, nil},
		{"unknown key and a bad variable, all at once", []string{"DUO_PLUGIN_CONFIG=" + unknown, "DUO_PLUGIN_LOG_FORMAT=xml", "DUO_PLUGIN_DUO_TIMEOUT=soon"},
			prefix + `config file "` + unknown + `" has invalid keys: duo, log_levl` + known + `; ` +
				`DUO_PLUGIN_LOG_FORMAT: "xml" is not a log format; use json, text; ` +
				`DUO_PLUGIN_DUO_TIMEOUT: "soon" is not a duration; use a Go duration like "10s"`, nil},
		{"yaml bare number for a duration", []string{"DUO_PLUGIN_CONFIG=" + bareTTL},
			prefix + `health_cache_ttl in config file "` + bareTTL + `": "5" is not a duration; use a Go duration like "30s"`, nil},
		{"json fraction for a duration", []string{"DUO_PLUGIN_CONFIG=" + floatTimeout},
			prefix + `duo_timeout in config file "` + floatTimeout + `": "1.5" is not a duration; use a Go duration like "10s"`, nil},
		{"bad file values", []string{"DUO_PLUGIN_CONFIG=" + badValues},
			prefix + `data_dir in config file "` + badValues + `": must be a string, not a number; ` +
				`log_level in config file "` + badValues + `": "verbose" is not a log level; use trace, debug, info, warn, error; ` +
				`log_format in config file "` + badValues + `": must be a string, not a list; ` +
				`duo_timeout in config file "` + badValues + `": "10" is not a duration; use a Go duration like "10s"; ` +
				`health_cache_ttl in config file "` + badValues + `": -1s is out of range; use 0s (no caching) to 10m0s; ` +
				`allow_test_duo_host in config file "` + badValues + `": "yes" is not a boolean; use true or false`, nil},
		{"bad file types", []string{"DUO_PLUGIN_CONFIG=" + badTypes},
			prefix + `log_level in config file "` + badTypes + `": must be a string, not a table; ` +
				`duo_timeout in config file "` + badTypes + `": must be a duration like "10s", not a boolean; ` +
				`allow_test_duo_host in config file "` + badTypes + `": must be true or false, not a number`, nil},
		{"env fixes a bad file value, other problems remain", []string{"DUO_PLUGIN_CONFIG=" + badValues, "DUO_PLUGIN_LOG_LEVEL=info", "DUO_PLUGIN_DATA_DIR=/d",
			"DUO_PLUGIN_LOG_FORMAT=json", "DUO_PLUGIN_DUO_TIMEOUT=10s", "DUO_PLUGIN_HEALTH_CACHE_TTL=1s"},
			prefix + `allow_test_duo_host in config file "` + badValues + `": "yes" is not a boolean; use true or false`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.environ...)
			got, err := LoadRuntime()
			if err == nil {
				t.Fatalf("no error; got %+v", got)
			}
			if got != (Runtime{}) {
				t.Errorf("on error got %+v, want the zero Runtime", got)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got  %s\n want %s", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error does not wrap %v: %v", tt.is, err)
			}
		})
	}
}

// TestLoadRuntimeFileErrorsNameTheFile covers the errors whose tail comes
// from a parser, so only their stable parts are asserted.
func TestLoadRuntimeFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	asDir := filepath.Join(dir, "conf.yaml")
	if err := os.Mkdir(asDir, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		wantParse bool
	}{
		{"malformed yaml", writeFile(t, "bad.yaml", "log_level: [unclosed\n"), true},
		{"malformed json", writeFile(t, "bad.json", `{"log_level": `), true},
		{"malformed toml", writeFile(t, "bad.toml", "log_level = \n"), true},
		{"top-level list", writeFile(t, "list.yaml", "- a\n- b\n"), true},
		{"a directory", asDir, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, "DUO_PLUGIN_CONFIG="+tt.path)
			_, err := LoadRuntime()
			if err == nil {
				t.Fatal("no error")
			}
			wantPrefix := `runtime configuration: read config file "` + tt.path + `" named by DUO_PLUGIN_CONFIG: `
			if !strings.HasPrefix(err.Error(), wantPrefix) {
				t.Errorf("error %q does not start with %q", err, wantPrefix)
			}
			var parseErr viper.ConfigParseError
			if got := errors.As(err, &parseErr); got != tt.wantParse {
				t.Errorf("errors.As(ConfigParseError) = %t, want %t (%v)", got, tt.wantParse, err)
			}
		})
	}
}

func TestRuntimeErrorType(t *testing.T) {
	setEnv(t, "DUO_PLUGIN_LOG_FORMAT=xml", "DUO_PLUGIN_LOG_LEVEL=x")
	_, err := LoadRuntime()
	var re *RuntimeError
	if !errors.As(err, &re) {
		t.Fatalf("error is not a *RuntimeError: %v", err)
	}
	want := []string{
		`DUO_PLUGIN_LOG_LEVEL: "x" is not a log level; use trace, debug, info, warn, error`,
		`DUO_PLUGIN_LOG_FORMAT: "xml" is not a log format; use json, text`,
	}
	if strings.Join(re.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("Problems = %q, want %q", re.Problems, want)
	}
}

func TestRuntimeValidateOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Runtime
		want ValidateOptions
	}{
		{"default", DefaultRuntime(), ValidateOptions{}},
		{"test switch", Runtime{AllowTestDuoHost: true}, ValidateOptions{AllowTestHost: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.r.ValidateOptions(); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestLoadRuntimeIgnoresGlobalViper proves LoadRuntime uses its own viper
// instance: settings on the global one must not leak in.
func TestLoadRuntimeIgnoresGlobalViper(t *testing.T) {
	setEnv(t)
	t.Cleanup(viper.Reset)
	viper.Set("log_level", "debug")
	viper.SetDefault("duo_timeout", "5s")
	viper.SetEnvPrefix("OTHER")
	viper.AutomaticEnv()
	t.Setenv("OTHER_LOG_FORMAT", "text")
	got, err := LoadRuntime()
	if err != nil {
		t.Fatalf("LoadRuntime: %v", err)
	}
	if got != DefaultRuntime() {
		t.Errorf("got %+v, want the defaults %+v", got, DefaultRuntime())
	}
}

// TestRuntimeEnvNames keeps runtimeKeys in step with Runtime's mapstructure
// tags and with the variable names viper derives from the keys.
func TestRuntimeEnvNames(t *testing.T) {
	t.Parallel()
	var tags []string
	rt := reflect.TypeFor[Runtime]()
	for i := range rt.NumField() {
		if tag := rt.Field(i).Tag.Get("mapstructure"); tag != "-" {
			tags = append(tags, tag)
		}
	}
	if len(tags) != len(runtimeKeys) {
		t.Fatalf("Runtime has keys %q, runtimeKeys has %d", tags, len(runtimeKeys))
	}
	for i, k := range runtimeKeys {
		if k.key != tags[i] {
			t.Errorf("runtimeKeys[%d].key = %q, Runtime's field %d has key %q", i, k.key, i, tags[i])
		}
		if want := "DUO_PLUGIN_" + strings.ToUpper(k.key); k.env != want {
			t.Errorf("key %q: env %q, viper reads %q", k.key, k.env, want)
		}
	}
}

func TestLoadRuntimeDatabase(t *testing.T) {
	const (
		url = "postgres://duo:hunter2-pw@db.internal:5432/helpdesk"
		key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 0…31
	)
	ok := []struct {
		name    string
		environ []string
		shared  bool
		schema  string
	}{
		{"sqlite by default", nil, false, DefaultDatabaseSchema},
		{"postgres with its key", []string{EnvDatabaseURL + "=" + url, EnvSecretsKey + "=" + key}, true, DefaultDatabaseSchema},
		{"another schema", []string{EnvDatabaseURL + "=" + url, EnvSecretsKey + "=" + key, EnvDatabaseSchema + "=duo_b"}, true, "duo_b"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.environ...)
			r, err := LoadRuntime()
			if err != nil {
				t.Fatalf("LoadRuntime: %v", err)
			}
			if r.Shared() != tt.shared || r.DatabaseSchema != tt.schema {
				t.Fatalf("shared %v, schema %q; want %v, %q", r.Shared(), r.DatabaseSchema, tt.shared, tt.schema)
			}
			if tt.shared {
				k, err := r.SecretsKeyBytes()
				if err != nil || len(k) != SecretsKeySize || k[31] != 31 {
					t.Fatalf("SecretsKeyBytes = %v, %v", k, err)
				}
			}
		})
	}
	bad := []struct {
		name, want string
		environ    []string
	}{
		{"postgres without a key", EnvSecretsKey + " (not set): is required with " + EnvDatabaseURL, []string{EnvDatabaseURL + "=" + url}},
		{"a key without postgres", EnvSecretsKey + ": is only used with " + EnvDatabaseURL, []string{EnvSecretsKey + "=" + key}},
		{"a short key", EnvSecretsKey + ": decodes to 16 bytes, want 32", []string{EnvDatabaseURL + "=" + url, EnvSecretsKey + "=AAECAwQFBgcICQoLDA0ODw=="}},
		{"a key not base64", EnvSecretsKey + ": is not base64", []string{EnvDatabaseURL + "=" + url, EnvSecretsKey + "=not base64 at all!"}},
		{"not a postgres url", EnvDatabaseURL + ": is not a PostgreSQL URL", []string{EnvDatabaseURL + "=mysql://duo:hunter2-pw@db/x", EnvSecretsKey + "=" + key}},
		{"a schema that needs quoting", EnvDatabaseSchema + `: "Duo-Plugin" is not a schema name`, []string{EnvDatabaseURL + "=" + url, EnvSecretsKey + "=" + key, EnvDatabaseSchema + "=Duo-Plugin"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.environ...)
			_, err := LoadRuntime()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadRuntime: %v; want it to say %q", err, tt.want)
			}
			for _, s := range []string{"hunter2-pw", "AAECAwQFBgcICQoLDA0OD"} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
		})
	}
}
