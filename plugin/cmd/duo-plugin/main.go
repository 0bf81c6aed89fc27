// Command duo-plugin is the Duo Security plugin process. A helpdesk starts
// it through the host SDK (package host); run by hand it explains that and
// exits.
package main

import (
	"fmt"
	"os"

	"github.com/helpdesk-duo/duo-plugin/internal/pprofdir"
	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/hooks"
	"github.com/helpdesk-duo/duo-plugin/plugin/process"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

func main() {
	rt, err := settings.LoadRuntime()
	if err != nil {
		// stderr only: stdout belongs to go-plugin's handshake.
		fmt.Fprintf(os.Stderr, "duo-plugin: configuration: %v\n", err)
		os.Exit(1)
	}
	log := process.NewLogger(rt, os.Stderr)
	stopProfile, err := pprofdir.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "duo-plugin: %v\n", err)
		os.Exit(1)
	}
	defer stopProfile()
	// SQLite in the data directory, unless a PostgreSQL database that
	// every instance shares is configured.
	var backend store.Backend = store.SQLiteBackend{}
	if rt.Shared() {
		backend = store.PostgresBackend{URL: rt.DatabaseURL, Schema: rt.DatabaseSchema}
	}
	process.Serve(hooks.New(hooks.Config{
		Runtime: rt,
		Store:   backend,
		Duo:     duo.NewFactory(rt),
		Logger:  log,
	}), log)
}
