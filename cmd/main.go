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
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// Version is grpcx's version, set at build time with -ldflags "-X".
var Version = "0.1.0-dev"

// Main runs grpcx with args (without the program name) and returns the exit
// code: 0 success, 1 failure, 2 command-line misuse, 64 + the gRPC code for a
// call that failed with a status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := NewFactory(stdin, stdout, stderr)
	var verb string
	if len(args) > 0 {
		verb = args[0]
	}
	root := newCmdRoot(f, verb)
	root.SetArgs(args)
	root.PersistentPreRun = func(c *cobra.Command, _ []string) {
		tuneGC(c)
		if c.Annotations[ownsInterrupt] == "" {
			var ctx context.Context
			ctx, f.stopInterrupt, f.interruptNow = interruptible(c.Context(), interruptDelay(c))
			c.SetContext(ctx)
		}
	}
	err := root.ExecuteContext(ctx)
	if f.stopInterrupt != nil {
		f.stopInterrupt()
	}
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

// ownsInterrupt, as a command annotation, means the command handles Ctrl-C
// itself (the REPL, where it cancels a call, not the session).
const ownsInterrupt = "grpcx/owns-interrupt"

// interruptible returns a context that the first Ctrl-C or SIGTERM
// cancels, so the operation stops and reports what it got (a call prints
// the responses it holds, bench its report, a server stops serving); it
// then restores the default handling, so that a second signal ends grpcx
// at once. SIGTERM is what timeout(1), CI runners and container engines
// send: without this, the output a call had buffered would be lost.
//
// The handlers go in after delay, or when now is called, on a goroutine
// of their own, and not at all if the operation ends first: a process's
// first signal.Notify starts the runtime's signal thread and waits for it,
// which cost a one-shot call 2 to 5% of its wall time over 201 paired
// rounds. A signal before they are in ends grpcx as it would during
// start-up.
func interruptible(ctx context.Context, delay time.Duration) (_ context.Context, stop, now func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	watch := func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sig)
		select {
		case s := <-sig:
			cancel(fmt.Errorf("%v signal received", s))
		case <-ctx.Done():
		}
	}
	var once sync.Once
	now = func() {
		once.Do(func() {
			if ctx.Err() == nil {
				go watch()
			}
		})
	}
	if delay > 0 {
		time.AfterFunc(delay, now)
	} else {
		now()
	}
	return ctx, func() { cancel(nil) }, now
}

// oneShotGrace is how long a one-shot verb (call, list, describe) runs
// before its Ctrl-C handling goes in: a unary call over loopback is done
// in 5 to 15 ms, and one interrupted sooner has nothing yet to lose. A
// call that prints as it goes (a stream, or -o envelope) has the handling
// from its start (see runCall).
const oneShotGrace = 50 * time.Millisecond

// interruptDelay is when c's Ctrl-C handling goes in: at once for the
// verbs that run until stopped (servers, bench, the demo), whose stopping
// is what the handling is for.
func interruptDelay(c *cobra.Command) time.Duration {
	switch c.Name() {
	case "call", "list", "describe":
		return oneShotGrace
	}
	return 0
}

// clientGCPercent is the garbage collector's target for the client verbs.
// A call allocates a little per message and holds almost nothing, so the
// heap's floor (4 MiB scaled by this percentage) sets how often a long
// stream collects and how large it grows. 150 collects a third less often
// than Go's default of 100 (a 100k bidi call: 7% of its CPU time in the
// collector, against 5% at 200) and keeps a long stream's peak within an
// eighth of a short one's, where 200's 8 MiB floor took it past a fifth
// (bench/run.sh's memory case checks it).
const clientGCPercent = 150

// tuneGC sets clientGCPercent for the verbs that make calls, unless the
// user chose with GOGC. Servers (testserver, gateway) keep Go's default.
func tuneGC(c *cobra.Command) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	switch c.Name() {
	case "testserver", "gateway":
		return
	}
	debug.SetGCPercent(clientGCPercent)
}
