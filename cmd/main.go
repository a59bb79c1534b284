// Package cmd is grpcx's command line: one cobra command per verb, each
// copying its flags into an options struct and running a few calls into
// descsource, invoke and format. Main is the only entry point.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// Version is grpcx's version, set at build time with -ldflags "-X".
var Version = "0.1.0-dev"

// Main runs grpcx with args (without the program name) and returns the exit
// code: 0 success, 1 failure, 2 command-line misuse, 64 + the gRPC code for a
// call that failed with a status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The first Ctrl-C cancels the operation, which then reports what it
	// got; restoring the default handling lets a second one end grpcx at once.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	f := NewFactory(stdin, stdout, stderr)
	root := NewCmdRoot(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := exitCode(err)
	var ee *exitError
	if !errors.As(err, &ee) || !ee.reported {
		fmt.Fprintf(stderr, "grpcx: %v\n", err)
	}
	if code == exitUsage {
		fmt.Fprintln(stderr, "Run 'grpcx --help' for usage.")
	}
	return code
}
