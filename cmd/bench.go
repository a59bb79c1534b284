package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/load"
)

// BenchOptions are the inputs of the bench verb.
type BenchOptions struct {
	IO                 *IOStreams
	Conn               connOptions
	Method             string
	Data               string
	DataSet            bool
	AllowUnknownFields bool
	Requests           int64
	Duration           time.Duration
	Concurrency        int
	Connections        int
	RPS                float64
	Warmup             int64
	StreamMessages     int
	Output             string
	Compress           string
	// Progress shows the live progress line; by default it is shown when
	// standard error is a terminal.
	Progress bool
}

// defaultBenchRequests is -n when neither -n nor -z is given.
const defaultBenchRequests = 200

// NewCmdBench returns the bench verb. runF replaces runBench in tests.
func NewCmdBench(f *Factory, runF func(context.Context, *BenchOptions) error) *cobra.Command {
	opts := &BenchOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "bench [flags] TARGET METHOD",
		Short: "Put a method under load and report latency, rate and errors",
		Long: `Call METHOD on TARGET many times from concurrent workers and report the
count, duration, requests per second, a latency histogram with percentiles,
the status codes, the first distinct error messages and how many server
processes answered (by their x-server-pid response header).

The request data (-d) is read and encoded once, unless it contains "{{": then
it is a Go template executed for each request, with {{.RequestNumber}},
{{.WorkerID}}, {{.Timestamp}} (RFC 3339), {{randomString N}} and
{{randomInt MIN MAX}}. Unary and server-streaming calls take the data's
values in turn; client and bidi streams send --stream-messages values per
call. One call is one request; server streams are read to the end.

Workers share --connections connections round-robin; gRPC balances calls per
connection, so more connections spread load over more server processes.
--max-time bounds each call here, not the whole run. Ctrl-C stops early and
still reports what completed. The progress line appears on a terminal.

Exit codes: 0 when every request succeeded, 1 when any failed, the run was
interrupted or could not start, 2 for command-line misuse.`,
		Example: `  grpcx bench --plaintext -n 10000 -c 50 localhost:50051 grpcx.test.v1.TestService/Unary -d '{"message": "hi"}'
  grpcx bench --plaintext -z 10s --rps 500 localhost:50051 grpcx.test.v1.TestService/Unary
  grpcx bench --plaintext -n 1000 localhost:50051 grpcx.test.v1.TestService/Unary -d '{"message": "req {{.RequestNumber}} {{randomString 8}}"}'
  grpcx bench --plaintext -n 500 --stream-messages 10 localhost:50051 grpcx.test.v1.TestService/ClientStream -d '{"number": 1} {"number": 2}'
  grpcx bench --plaintext -n 20000 -c 60 --connections 6 -o json localhost:50051 grpcx.test.v1.TestService/Pid`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			if opts.Conn.Target, opts.Method, err = targetAndMethod("bench", args); err != nil {
				return err
			}
			opts.DataSet = c.Flags().Changed("data")
			if !c.Flags().Changed("progress") {
				opts.Progress = writerIsTerminal(opts.IO.ErrOut)
			}
			if !c.Flags().Changed("requests") && opts.Duration == 0 {
				opts.Requests = defaultBenchRequests
			}
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runBench(c.Context(), opts) })
		},
	}
	opts.Conn.addFlags(cmd.Flags())
	opts.Conn.addProtocolFlags(cmd.Flags())
	opts.Conn.headerHints["grpc-encoding"] = compressHint
	fl := cmd.Flags()
	fl.Lookup("max-time").Usage = "`SECONDS` each call may take, sent to the server as its deadline (0: no limit)"
	fl.StringVarP(&opts.Data, "data", "d", "", "request JSON: a literal, @FILE, or @- for standard input; a template when it contains {{ (default: an empty request)")
	fl.BoolVar(&opts.AllowUnknownFields, "allow-unknown-fields", false, "ignore JSON keys the request message does not have")
	fl.Int64VarP(&opts.Requests, "requests", "n", 0, "`N` requests to count (default 200 unless -z is given)")
	fl.DurationVarP(&opts.Duration, "duration", "z", 0, "run for `DURATION` (10s, 1m), then stop starting requests; with -n, the first limit wins")
	fl.IntVarP(&opts.Concurrency, "concurrency", "c", 50, "`C` concurrent workers")
	fl.IntVar(&opts.Connections, "connections", 1, "`K` connections, shared round-robin by the workers")
	fl.Float64Var(&opts.RPS, "rps", 0, "start at most `R` requests per second over all workers (0: no limit)")
	fl.Int64Var(&opts.Warmup, "warmup", 0, "`N` requests made first and left out of the report")
	fl.IntVar(&opts.StreamMessages, "stream-messages", 0, "`M` messages each client or bidi stream sends (default: as many as the data holds)")
	fl.StringVarP(&opts.Output, "output", "o", "text", "report format: text, json or csv")
	fl.StringVar(&opts.Compress, "compress", "", "compress requests with `ALGORITHM` (gzip)")
	fl.BoolVar(&opts.Progress, "progress", false, "show the live progress line on standard error (default: when it is a terminal)")
	return cmd
}

// check reports flag values and combinations that cannot work.
func (o *BenchOptions) check() error {
	if err := o.Conn.check(); err != nil {
		return err
	}
	switch {
	case o.Requests < 0, o.Warmup < 0, o.Duration < 0, o.RPS < 0, o.StreamMessages < 0:
		return usagef(errors.New("-n, -z, --rps, --warmup and --stream-messages must not be negative"))
	case math.IsNaN(o.RPS) || math.IsInf(o.RPS, 0):
		return usagef(fmt.Errorf("--rps %v: want a number of requests per second", o.RPS))
	case o.Requests == 0 && o.Duration == 0:
		return usagef(errors.New("-n 0 needs -z DURATION to know when to stop"))
	case o.Concurrency < 1:
		return usagef(errors.New("-c must be at least 1"))
	case o.Connections < 1 || o.Connections > o.Concurrency:
		return usagef(fmt.Errorf("--connections must be from 1 to -c (%d): each connection needs a worker", o.Concurrency))
	}
	if _, err := load.ParseOutput(o.Output); err != nil {
		return usagef(err)
	}
	return checkCompress(o.Compress)
}

func runBench(ctx context.Context, opts *BenchOptions) error {
	s, err := opts.Conn.open(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	calls, err := opts.calls(ctx, s)
	if err != nil {
		return err
	}
	callers, err := calls.Callers(opts.Concurrency)
	if err != nil {
		return err
	}
	lopts := load.Options{
		Requests: opts.Requests, Duration: opts.Duration, Warmup: opts.Warmup, RPS: opts.RPS,
		ServerHeader: serverPIDHeader,
	}
	if opts.Progress {
		lopts.Progress = opts.IO.ErrOut
	}
	res, err := load.Run(ctx, lopts, callers)
	if err != nil {
		return err
	}
	out, _ := load.ParseOutput(opts.Output)
	if err := load.Write(opts.IO.Out, res, out); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return benchError(res)
}

// serverPIDHeader is the response header by which the bundled test server
// (and any server that sets it) names the process that served a call.
const serverPIDHeader = "x-server-pid"

// calls resolves the method, prepares the requests and opens the extra
// connections: everything done once, before the first request.
func (o *BenchOptions) calls(ctx context.Context, s *session) (*load.Calls, error) {
	method, err := descsource.FindMethod(s.src, o.Method)
	if err != nil {
		return nil, describeSourceError(err)
	}
	data, err := o.data()
	if err != nil {
		return nil, err
	}
	popts := format.ParseOptions{AllowUnknownFields: o.AllowUnknownFields, Resolver: s.types()}
	reqs, err := load.NewRequests(data, method.Input(), popts)
	if err != nil {
		return nil, inputHint(err)
	}
	conns := []grpc.ClientConnInterface{s.cc}
	callProto, _ := o.Conn.protocols()
	for len(conns) < o.Connections {
		cc, err := o.Conn.dial(ctx, s, callProto, nil)
		if err != nil {
			return nil, fmt.Errorf("connection %d: %w", len(conns)+1, err)
		}
		conns = append(conns, cc)
	}
	return &load.Calls{
		Conns: conns, Method: method, Metadata: s.rpcHeaders, Requests: reqs,
		StreamMessages: o.StreamMessages, Timeout: seconds(o.Conn.MaxTime),
		ServerHeader: serverPIDHeader, CallOptions: o.Conn.callOptions(o.Compress),
	}, nil
}

// data returns the request data, read whole: the requests are parsed
// once, before the run. Without -d it is an empty request, not standard
// input as for call: a bench in a script or a loop must not wait for, or
// take, input meant for something else; -d @- reads it.
func (o *BenchOptions) data() (string, error) {
	if !o.DataSet {
		return "", nil
	}
	in, closeIn, err := openData(o.IO, o.Data, o.DataSet)
	if err != nil {
		return "", err
	}
	defer closeIn()
	b, err := io.ReadAll(in)
	if err != nil {
		return "", fmt.Errorf("request data: %w", err)
	}
	return string(b), nil
}

// benchError turns a run with failures, or cut short, into exit code 1;
// the report has said what happened.
func benchError(res *load.Result) error {
	switch {
	case res.Errors > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d requests failed", res.Errors, res.Count)}
	case res.Interrupted:
		return &exitError{code: exitFailure, err: fmt.Errorf("interrupted after %d requests", res.Count)}
	}
	return nil
}

// writerIsTerminal reports whether w is a terminal, for the progress line.
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}
