// Command docket runs batch jobs on a schedule or on demand. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"docket.dev/docket/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err))
}
