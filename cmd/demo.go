package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	"github.com/grpcx/grpcx/testserver"
)

// DemoOptions are the inputs of the demo verb.
type DemoOptions struct {
	IO   *IOStreams
	Repl bool
}

// NewCmdDemo returns the demo verb. runF replaces runDemo in tests.
func NewCmdDemo(f *Factory, runF func(context.Context, *DemoOptions) error) *cobra.Command {
	opts := &DemoOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "demo [--repl]",
		Short: "Start the bundled test server and take a tour of grpcx",
		Long: `Start the bundled test server in-process on a free loopback port and run a
short tour: list, describe and each of the four call types, printing each
command line and its output. With --repl, open the REPL on that server instead.`,
		Example: `  grpcx demo
  grpcx demo --repl`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{ownsInterrupt: "yes"},
		RunE: func(c *cobra.Command, args []string) error {
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runDemo(c.Context(), opts) })
		},
	}
	cmd.Flags().BoolVar(&opts.Repl, "repl", false, "open the REPL on the bundled server instead of the tour")
	return cmd
}

// demoStep is one command of the tour, with TARGET standing for the server.
type demoStep struct {
	say  string
	args []string
}

var demoTour = []demoStep{
	{"What does the server offer? (reflection, no .proto needed)", []string{"list", "--plaintext", "TARGET"}},
	{"The methods of one service:", []string{"list", "--plaintext", "TARGET", "grpcx.test.v1.TestService"}},
	{"A method and its request message, as .proto source:", []string{"describe", "--plaintext", "TARGET", "grpcx.test.v1.TestService.Unary", "grpcx.test.v1.StreamRequest"}},
	{"A unary call:", []string{"call", "--plaintext", "TARGET", "grpcx.test.v1.TestService/Unary", "-d", `{"message": "hello", "number": 7}`}},
	{"A server stream, one compact line a message, each printed as it arrives:", []string{"call", "--plaintext", "-o", "jsonl", "TARGET", "grpcx.test.v1.TestService/ServerStream", "-d", `{"count": 3, "interval": "0.2s", "message": "tick"}`}},
	{"A client stream: every JSON value of the input is one request:", []string{"call", "--plaintext", "TARGET", "grpcx.test.v1.TestService/ClientStream", "-d", `{"message": "a", "number": 1} {"message": "b", "number": 2} {"message": "c", "number": 3}`}},
	{"A bidi stream: each request is answered as it is sent:", []string{"call", "--plaintext", "-o", "jsonl", "TARGET", "grpcx.test.v1.TestService/Bidi", "-d", `{"message": "ping", "number": 1} {"message": "pong", "number": 2}`}},
	{"Well-known types, maps, oneofs and enums in their JSON form:", []string{"call", "--plaintext", "TARGET", "grpcx.test.v1.TestService/EchoTypes", "-d", `{"color": "COLOR_BLUE", "counts": {"a": "1"}, "choiceText": "picked", "when": "2026-11-25T12:00:00Z", "howLong": "1.5s", "attributes": {"k": [1, "two"]}}`}},
	{"A failing call prints its status and rich details on stderr, and exits 64+code:", []string{"call", "--plaintext", "TARGET", "grpcx.test.v1.TestService/Fail", "-d", `{"code": 5, "message": "no such thing", "details": true}`}},
}

func runDemo(ctx context.Context, opts *DemoOptions) error {
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	serverCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- testserver.Serve(serverCtx, lis, testserver.Options{}) }()
	defer func() { stop(); <-done }()

	target := listenAddr(lis)
	out := opts.IO.Out
	if opts.Repl {
		fmt.Fprintf(out, "The bundled test server is listening on %s.\n", target)
		if code := Main(ctx, []string{"repl", "--plaintext", target}, opts.IO.In, out, opts.IO.ErrOut); code != 0 {
			return &exitError{code: code, err: fmt.Errorf("repl exited with %d", code), reported: true}
		}
		return nil
	}
	tourCtx, stopTour, _ := interruptible(ctx, 0)
	defer stopTour()
	fmt.Fprintf(out, "# The bundled test server is listening on %s.\n", target)
	for _, step := range demoTour {
		args := make([]string, len(step.args))
		for i, a := range step.args {
			args[i] = strings.ReplaceAll(a, "TARGET", target)
		}
		fmt.Fprintf(out, "\n# %s\n$ grpcx %s\n", step.say, shellJoin(args))
		code := Main(tourCtx, runArgs(args), strings.NewReader(""), out, out)
		if code != 0 {
			fmt.Fprintf(out, "(exit code %d)\n", code)
		}
		// The step's own handling may see Ctrl-C before the tour's does:
		// its Canceled exit says so just as well.
		if tourCtx.Err() != nil || code == exitStatusBase+int(codes.Canceled) {
			fmt.Fprintln(out, "\n# Interrupted: the tour stops here.")
			return &exitError{code: 1, err: context.Canceled, reported: true}
		}
	}
	return nil
}

// runArgs is how the tour runs a step it prints as args: its calls skip the
// descriptor cache, which would otherwise keep an entry for every demo's
// one-off port. Their output is the same.
func runArgs(args []string) []string {
	if args[0] != "call" {
		return args
	}
	return append([]string{"call", "--no-cache"}, args[1:]...)
}

// shellJoin quotes arguments so that the printed line can be pasted.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'{}[]*$&|;<>()\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}
