package web_test

import (
	"os"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

func TestMain(m *testing.M) {
	// The tests with the real plugin (realEnv) build it when the first of
	// them starts: most of this package's tests use a fake and need no
	// build.
	code := m.Run()
	pluginbuild.Cleanup()
	os.Exit(code)
}
