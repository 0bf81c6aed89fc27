// Command helpdesk is the reference helpdesk: a small web helpdesk that
// uses the Duo Security plugin through the host SDK, as a vendor would.
//
//	go run ./helpdesk/cmd/helpdesk demo
//
// runs it with the Duo simulator and demo logins; see `helpdesk help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
