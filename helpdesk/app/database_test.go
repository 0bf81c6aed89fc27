package app_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/app"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/internal/pgtest"
)

// The plugin process gets the helpdesk's database URL unless the
// environment already names one, which wins.
func TestPluginDatabaseEnv(t *testing.T) {
	t.Parallel()
	const url = "postgres://h/db"
	set := func(string) string { return "postgres://other/db" }
	unset := func(string) string { return "" }
	for _, tc := range []struct {
		name   string
		url    string
		env    []string
		getenv func(string) string
		want   []string
	}{
		{"no database", "", nil, unset, nil},
		{"the helpdesk's", url, nil, unset, []string{app.EnvPluginDatabaseURL + "=" + url}},
		{"the process environment's wins", url, nil, set, nil},
		{"PluginEnv's wins", url, []string{app.EnvPluginDatabaseURL + "=postgres://x/y"}, unset, nil},
		{"a longer name is another", url, []string{app.EnvPluginDatabaseURL + "_SCHEMA=p"}, unset, []string{app.EnvPluginDatabaseURL + "=" + url}},
	} {
		if got := app.PluginDatabaseEnv(tc.url, tc.env, tc.getenv); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Two helpdesks with one database URL share their state in PostgreSQL, not
// in their data directories.
func TestTwoInstancesOnOneDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	bundle := t.TempDir()
	manifest := `{"id":"duo-security","name":"Duo Security","version":"0.1.0","protocol_version":1,"executables":{"linux-amd64":{"path":"bin/duo-plugin"}}}`
	if err := os.WriteFile(filepath.Join(bundle, plugins.ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	var apps []*app.App
	for _, name := range []string{"a", "b"} {
		dataDir := t.TempDir()
		a, err := app.New(t.Context(), app.Config{
			Addr: "127.0.0.1:0", DataDir: dataDir, PluginDir: bundle, DatabaseURL: url, Instance: name,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Getenv: func(string) string { return "" },
			Start: func(context.Context, string, plugins.Activation) (plugins.Plugin, error) {
				return idle{}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		if !a.Store().Postgres() {
			t.Fatal("the store is not the PostgreSQL database")
		}
		if _, err := os.Stat(app.DBPath(dataDir)); !os.IsNotExist(err) {
			t.Fatalf("a helpdesk.db was made in the data directory: %v", err)
		}
		apps = append(apps, a)
	}
	if _, err := apps[0].Store().CreateOperator(t.Context(), store.NewOperator{Username: "x", Role: store.RoleAgent, PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := apps[1].Store().OperatorByUsername(t.Context(), "x"); err != nil {
		t.Fatalf("b does not see a's operator: %v", err)
	}
}
