package host_test

import (
	"os"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
)

func TestMain(m *testing.M) {
	host.ServeFakeIfAsked()
	code := m.Run()
	pluginbuild.Cleanup() // the examples' bundle (example_support_test.go)
	os.Exit(code)
}
