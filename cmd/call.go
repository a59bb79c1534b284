package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/invoke"
)

// CallOptions are the inputs of the call verb.
type CallOptions struct {
	IO                 *IOStreams
	Conn               connOptions
	Method             string
	Data               string
	DataSet            bool
	AllowUnknownFields bool
	Output             string
	EmitDefaults       bool
	ProtoNames         bool
	Verbose            int
	ShowSecrets        bool
	FormatError        bool
	Compress           string
	Cache              cacheOptions
	// interruptNow installs the Ctrl-C handling at once, rather than
	// after oneShotGrace; nil when the verb has none.
	interruptNow func()
}

// envelope is the -o value that prints the whole call as one JSON document.
const envelope = "envelope"

// NewCmdCall returns the call verb. runF replaces runCall in tests.
func NewCmdCall(f *Factory, runF func(context.Context, *CallOptions) error) *cobra.Command {
	opts := &CallOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "call [flags] TARGET METHOD",
		Short: "Call a method, of any of the four call types",
		Long: `Call METHOD (pkg.Service/Method or pkg.Service.Method) on TARGET.

TARGET is host:port, unix:///path, or a URL: http://host:port[/prefix] for
plaintext, https://host:port[/prefix] for TLS (the prefix is for servers a
proxy mounts below the root, with --protocol grpc-web or connect).
--protocol grpc-web or connect calls a server through a web proxy or a
Connect server, over HTTP/2 (h2c in plaintext, ALPN over TLS; --http1 for
servers that speak nothing else, without bidi streams). Their descriptors
come from --proto/--protoset, or from reflection over gRPC on the same
address (--reflect-protocol grpc-web or connect asks it over those).

Requests are JSON values separated by white space, from -d or standard input.
Unary and server-streaming methods take one value (none means an empty
request); client and bidi streams send each value as soon as it is read and
half-close at the end of the input. Each response is printed as it arrives.

Exit codes: 0 success, 1 failure (cannot connect, bad input, unknown method),
2 command-line misuse, 64 + the gRPC status code when the call fails (e.g.
NotFound is 69).`,
		Example: `  grpcx call --plaintext localhost:50051 grpcx.test.v1.TestService/Unary -d '{"message": "hi"}'
  grpcx call --plaintext localhost:50051 grpcx.test.v1.TestService/ServerStream -d '{"count": 3}' -o jsonl
  echo '{"number": 1} {"number": 2}' | grpcx call --plaintext localhost:50051 grpcx.test.v1.TestService/ClientStream
  grpcx call --plaintext localhost:50051 grpcx.test.v1.TestService/Bidi -d @requests.jsonl
  grpcx call --plaintext unix:///tmp/grpcx.sock grpcx.test.v1.TestService/Unary -d @-
  grpcx call --protocol grpc-web http://localhost:50051 grpcx.test.v1.TestService/Bidi -d '{"message": "a"} {"message": "b"}'
  grpcx call --protocol connect --reflect-protocol connect http://localhost:50051 grpcx.test.v1.TestService/Unary
  grpcx call --protocol connect --http1 --reflect=false --protoset testserver/proto/testserver.protoset http://localhost:8080/api grpcx.test.v1.TestService/Unary`,
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			if opts.Conn.Target, opts.Method, err = targetAndMethod("call", args); err != nil {
				return err
			}
			opts.DataSet = c.Flags().Changed("data")
			if err := opts.Conn.check(); err != nil {
				return err
			}
			if opts.Output != envelope {
				if _, err := format.NewFormatter(format.Options{Output: format.Output(opts.Output)}); err != nil {
					return usagef(fmt.Errorf("%w, or envelope", err))
				}
			}
			if err := checkCompress(opts.Compress); err != nil {
				return err
			}
			if opts.Cache.TTL < 0 {
				return usagef(fmt.Errorf("--cache-ttl %v: want a duration of 0 or more (0: no limit)", opts.Cache.TTL))
			}
			opts.interruptNow = f.interruptNow
			if runF != nil {
				return runF(c.Context(), opts)
			}
			err = runE(func() error { return runCall(c.Context(), opts) })
			return opts.formatEarlyError(err)
		},
	}
	opts.Conn.addFlags(cmd.Flags())
	opts.Conn.headerHints["grpc-encoding"] = compressHint
	opts.Conn.addProtocolFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeNames(&opts.Conn, func(rest []string) (bool, bool) { return false, len(rest) == 0 })
	fl := cmd.Flags()
	fl.StringVarP(&opts.Data, "data", "d", "", "request JSON: a literal, @FILE, or @- for standard input")
	fl.BoolVar(&opts.AllowUnknownFields, "allow-unknown-fields", false, "ignore JSON keys the request message does not have")
	fl.StringVarP(&opts.Output, "output", "o", "json", "response format: json (indented), jsonl (one line each), text (protobuf text), or envelope (the whole call as one JSON document)")
	fl.CountVarP(&opts.Verbose, "verbose", "v", "narrate the call on stderr: method, metadata, messages, trailers, status, time (-vv: timing and wire sizes of each message)")
	fl.BoolVar(&opts.ShowSecrets, "show-secrets", false, "show authorization, cookie and *-token header values in verbose and envelope output")
	fl.BoolVar(&opts.FormatError, "format-error", false, "print a failed call's status on stderr as a JSON object (code, name, message, details)")
	fl.BoolVar(&opts.Cache.NoCache, "no-cache", false, "neither use nor update the descriptor cache")
	fl.DurationVar(&opts.Cache.TTL, "cache-ttl", defaultCacheTTL, "how long cached descriptors are used before reflection is asked again first (0: no limit)")
	fl.StringVar(&opts.Compress, "compress", "", "compress requests with `ALGORITHM` (gzip); compressed responses are always accepted")
	fl.BoolVar(&opts.EmitDefaults, "emit-defaults", false, "print fields that hold their default value")
	fl.BoolVar(&opts.ProtoNames, "proto-names", false, "print .proto field names instead of lowerCamelCase JSON names")
	return cmd
}

func runCall(ctx context.Context, opts *CallOptions) error {
	ctx, cancel := opts.Conn.withMaxTime(ctx)
	defer cancel()
	var verbose *format.VerbosePrinter
	if opts.Verbose > 0 {
		verbose = format.NewVerbosePrinter(opts.IO.ErrOut, nil, format.VerboseOptions{
			Level: opts.Verbose, ShowSecrets: opts.ShowSecrets, RequestCompression: opts.Compress,
		})
		opts.Conn.statsHandlers = append(opts.Conn.statsHandlers, verbose)
	}
	// Reading the cache entry and building its descriptors takes about as
	// long as connecting on a fast network: do both at once. The check of a
	// cached method starts as soon as the connection exists, so that the
	// server answers reflection while grpcx reads the cache.
	mc := opts.openCache()
	var cached <-chan protoreflect.MethodDescriptor
	if mc != nil {
		cached = mc.LookupAsync(opts.Method)
		opts.Conn.started = func(reflectCtx context.Context, cc grpc.ClientConnInterface) {
			mc.Prefetch(reflectCtx, cc, opts.Method)
		}
	}
	s, err := opts.Conn.open(ctx, true)
	if err != nil {
		return maxTimeError(ctx, err)
	}
	defer s.closeAtExit()
	if verbose != nil {
		verbose.Notef("protocol %s", describeProtocol(s.cc))
	}
	method, check, err := opts.resolveMethod(s, mc, cached, verbose)
	if err != nil {
		opts.Conn.explainNotGRPC(ctx, err, reflectionPath, s.rpcHeaders, opts.IO.ErrOut, opts.ShowSecrets)
		return maxTimeError(ctx, err)
	}
	// A call that prints as it goes would lose what it printed, and leave
	// an envelope unfinished, to a signal before the handling is in.
	if opts.interruptNow != nil && (method.IsStreamingClient() || method.IsStreamingServer() || opts.Output == envelope) {
		opts.interruptNow()
	}
	// A call that streams requests waits for the check before it starts:
	// every request it sends would be misread if the request type changed,
	// and the wait is one round trip of a stream. A one-request call sends
	// at once and holds the responses (see validatingHandler).
	var streamCheck *descsource.Validation
	if check != nil && method.IsStreamingClient() {
		v := <-check
		check, streamCheck = nil, &v
		if v.Fresh != nil {
			method = v.Fresh
			if verbose != nil {
				verbose.Notef("the server's schema changed since it was cached: the call uses its current one")
			}
		}
	}
	if w, ok := s.cc.(*invoke.WebConn); ok {
		if err := w.Supports(invoke.KindOf(method)); err != nil {
			return fmt.Errorf("%s is %s: %w; drop --http1, or reach the server over HTTP/2", method.FullName(), invoke.KindOf(method), err)
		}
	}
	types := s.types()
	in, closeIn, err := openData(opts.IO, opts.Data, opts.DataSet)
	if err != nil {
		return err
	}
	defer closeIn()
	parser := format.NewJSONParser(in, format.ParseOptions{AllowUnknownFields: opts.AllowUnknownFields, Resolver: types})
	printer, err := opts.printer(method, types)
	if err != nil {
		return err
	}
	var handler invoke.Handler = printer
	if verbose != nil {
		verbose.SetInner(printer)
		verbose.OnResolveMethod(invoke.MethodPath(method), string(invoke.KindOf(method)))
		handler = verbose
	}
	var validating *validatingHandler
	if check != nil {
		validating = newValidatingHandler(handler, check)
		handler = validating
	}
	callOpts := append(opts.Conn.callOptions(opts.Compress), invoke.WithExtensions(types))
	err = invoke.Invoke(ctx, s.cc, method, s.rpcHeaders, parser.Next, handler, callOpts...)
	var stale error
	if validating != nil {
		stale = validating.settle(err, opts.IO.ErrOut)
	} else if streamCheck != nil && streamCheck.Err != nil && err == nil {
		warnUnchecked(opts.IO.ErrOut, streamCheck.Err)
	}
	if env, ok := printer.(*format.EnvelopePrinter); ok {
		cause := stale
		if _, isStatus := status.FromError(err); err != nil && !isStatus {
			cause = err
		}
		env.Close(cause)
	}
	if perr := printer.Err(); perr != nil && err == nil {
		return perr
	}
	if stale != nil {
		return stale
	}
	cerr := opts.callError(maxTimeError(ctx, err), types)
	opts.Conn.explainNotGRPC(ctx, err, invoke.MethodPath(method), s.rpcHeaders, opts.IO.ErrOut, opts.ShowSecrets)
	return cerr
}

// resolveMethod finds the method, in the descriptor cache mc when it can
// (cached delivers what the lookup found there, nil for nothing); a cached
// method comes with the channel on which reflection's view of it arrives
// while the call runs.
func (o *CallOptions) resolveMethod(s *session, mc *descsource.MethodCache, cached <-chan protoreflect.MethodDescriptor, verbose *format.VerbosePrinter) (protoreflect.MethodDescriptor, <-chan descsource.Validation, error) {
	if mc != nil {
		if m := <-cached; m != nil {
			if verbose != nil {
				verbose.Notef("descriptors from the cache; checking them with reflection while the call runs")
			}
			return m, mc.Validate(s.reflectCtx, s.reflectCC, m), nil
		}
		mc.Missed()
	}
	m, err := descsource.FindMethod(s.src, o.Method)
	err = describeSourceError(err)
	if err != nil {
		return nil, nil, err
	}
	if mc != nil {
		mc.Store(m)
	}
	return m, nil, nil
}

// callPrinter is what prints responses: plain messages or the envelope.
type callPrinter interface {
	invoke.Handler
	Err() error
}

func (o *CallOptions) printer(method protoreflect.MethodDescriptor, types format.Resolver) (callPrinter, error) {
	fopts := format.Options{
		Output:       format.Output(o.Output),
		EmitDefaults: o.EmitDefaults,
		ProtoNames:   o.ProtoNames,
		Resolver:     types,
	}
	if o.Output == envelope {
		fopts.Output = format.JSONL
	}
	formatter, err := format.NewFormatter(fopts)
	if err != nil {
		return nil, usagef(err)
	}
	if o.Output == envelope {
		return format.NewEnvelopePrinter(o.IO.Out, o.IO.ErrOut, invoke.MethodPath(method), formatter, types, o.ShowSecrets), nil
	}
	// Verbose narration goes to stderr as events happen; keep stdout in
	// step with it by flushing each message at once.
	delay := format.DefaultFlushDelay
	if o.Verbose > 0 {
		delay = 0
	}
	return format.NewCallPrinter(o.IO.Out, o.IO.ErrOut, formatter, delay), nil
}

// maxTimeError says when --max-time is what ended the operation.
func maxTimeError(ctx context.Context, err error) error {
	if err == nil || !errors.Is(context.Cause(ctx), errMaxTime) {
		return err
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return fmt.Errorf("%w (%w)", err, errMaxTime)
}

// callError reports a call's failure: a status is printed with its details
// (unless the envelope holds it) and becomes exit code 64+code; anything
// else is returned for Main.
func (o *CallOptions) callError(err error, types format.Resolver) error {
	if err == nil {
		return nil
	}
	var inErr *format.InputError
	if errors.As(err, &inErr) {
		return inputHint(err)
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return err
	}
	switch {
	case o.Output == envelope:
	case o.FormatError:
		fmt.Fprintf(o.IO.ErrOut, "%s\n", format.StatusJSON(st, types))
	default:
		format.WriteStatus(o.IO.ErrOut, st, types)
		if hint := statusHint(st, o.Conn.MaxMsgSize); hint != "" {
			fmt.Fprintf(o.IO.ErrOut, "  Hint: %s\n", hint)
		}
	}
	return &exitError{code: exitStatusBase + int(st.Code()), err: err, reported: true}
}

// formatEarlyError keeps --format-error's promise for a failure before the
// call had a status of its own that still exits as a status does (68 when
// --max-time ran out while connecting, 65 for Ctrl-C): its stderr is the
// status as one JSON object, like any failed call's.
func (o *CallOptions) formatEarlyError(err error) error {
	code := exitCode(err)
	var ee *exitError
	if !o.FormatError || err == nil || errors.As(err, &ee) || code < exitStatusBase {
		return err
	}
	st := status.New(codes.Code(code-exitStatusBase), err.Error())
	fmt.Fprintf(o.IO.ErrOut, "%s\n", format.StatusJSON(st, nil))
	return &exitError{code: code, err: err, reported: true}
}
