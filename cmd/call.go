package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

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
}

// NewCmdCall returns the call verb. runF replaces runCall in tests.
func NewCmdCall(f *Factory, runF func(context.Context, *CallOptions) error) *cobra.Command {
	opts := &CallOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "call [flags] TARGET METHOD",
		Short: "Call a method, of any of the four call types",
		Long: `Call METHOD (pkg.Service/Method or pkg.Service.Method) on TARGET.

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
  grpcx call --plaintext unix:///tmp/grpcx.sock grpcx.test.v1.TestService/Unary -d @-`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Conn.Target, args = splitTarget(args)
			if opts.Conn.Target == "" {
				return usagef(errors.New("call needs a TARGET (host:port or unix:///path) before METHOD"))
			}
			if len(args) != 1 {
				return usagef(fmt.Errorf("call takes TARGET and one METHOD, got %d arguments after the target", len(args)))
			}
			opts.Method = args[0]
			opts.DataSet = c.Flags().Changed("data")
			if err := opts.Conn.check(); err != nil {
				return err
			}
			if _, err := format.NewFormatter(format.Options{Output: format.Output(opts.Output)}); err != nil {
				return usagef(err)
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runCall(c.Context(), opts) })
		},
	}
	opts.Conn.addFlags(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVarP(&opts.Data, "data", "d", "", "request JSON: a literal, @FILE, or @- for standard input")
	fl.BoolVar(&opts.AllowUnknownFields, "allow-unknown-fields", false, "ignore JSON keys the request message does not have")
	fl.StringVarP(&opts.Output, "output", "o", "json", "response format: json (indented), jsonl (one line each) or text (protobuf text)")
	fl.BoolVar(&opts.EmitDefaults, "emit-defaults", false, "print fields that hold their default value")
	fl.BoolVar(&opts.ProtoNames, "proto-names", false, "print .proto field names instead of lowerCamelCase JSON names")
	return cmd
}

func runCall(ctx context.Context, opts *CallOptions) error {
	s, err := opts.Conn.open(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	method, err := findMethod(s, opts.Method)
	if err != nil {
		return err
	}
	types := s.types()
	in, closeIn, err := opts.input()
	if err != nil {
		return err
	}
	defer closeIn()
	parser := format.NewJSONParser(in, format.ParseOptions{AllowUnknownFields: opts.AllowUnknownFields, Resolver: types})
	formatter, err := format.NewFormatter(format.Options{
		Output:       format.Output(opts.Output),
		EmitDefaults: opts.EmitDefaults,
		ProtoNames:   opts.ProtoNames,
		Resolver:     types,
	})
	if err != nil {
		return usagef(err)
	}
	printer := format.NewCallPrinter(opts.IO.Out, opts.IO.ErrOut, formatter)
	err = invoke.Invoke(ctx, s.cc, method, nil, parser.Next, printer)
	if perr := printer.Err(); perr != nil && err == nil {
		return perr
	}
	return callError(err, opts.IO.ErrOut, types)
}

// callError reports a call's failure: a status is printed with its details
// and becomes exit code 64+code; anything else is returned for Main.
func callError(err error, stderr io.Writer, types format.Resolver) error {
	if err == nil {
		return nil
	}
	var inErr *format.InputError
	if errors.As(err, &inErr) {
		if inErr.UnknownField {
			return fmt.Errorf("%w; pass --allow-unknown-fields to ignore unknown keys", err)
		}
		return err
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return err
	}
	if werr := format.WriteStatus(stderr, st, types); werr != nil {
		return werr
	}
	return &exitError{code: exitStatusBase + int(st.Code()), err: err, reported: true}
}

// input opens the request stream: -d's literal or file, or standard input
// when it is not a terminal. No input means an empty request.
func (o *CallOptions) input() (io.Reader, func(), error) {
	noop := func() {}
	switch {
	case !o.DataSet:
		if o.IO.InIsTerminal {
			return strings.NewReader(""), noop, nil
		}
		return o.IO.In, noop, nil
	case o.Data == "@-":
		return o.IO.In, noop, nil
	case strings.HasPrefix(o.Data, "@"):
		f, err := os.Open(o.Data[1:])
		if err != nil {
			return nil, nil, fmt.Errorf("request data: %w", err)
		}
		return f, func() { f.Close() }, nil
	}
	return strings.NewReader(o.Data), noop, nil
}

// findMethod resolves pkg.Service/Method or pkg.Service.Method, suggesting
// near names when the service or the method is unknown.
func findMethod(s *session, name string) (protoreflect.MethodDescriptor, error) {
	name = strings.TrimPrefix(name, "/")
	svcName, methodName, ok := strings.Cut(name, "/")
	if !ok {
		i := strings.LastIndexByte(name, '.')
		if i < 0 {
			return nil, usagef(fmt.Errorf("method %q must be written pkg.Service/Method or pkg.Service.Method", name))
		}
		svcName, methodName = name[:i], name[i+1:]
	}
	svc, err := findService(s.src, svcName)
	if err != nil {
		return nil, err
	}
	if m := svc.Methods().ByName(protoreflect.Name(methodName)); m != nil {
		return m, nil
	}
	methods := svc.Methods()
	names := make([]protoreflect.FullName, methods.Len())
	for i := range names {
		names[i] = methods.Get(i).FullName()
	}
	return nil, fmt.Errorf("service %s has no method %q%s", svc.FullName(), methodName, suggest(methodName, sortedNames(names)))
}
