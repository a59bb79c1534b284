package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

// DescribeOptions are the inputs of the describe verb.
type DescribeOptions struct {
	IO      *IOStreams
	Conn    connOptions
	Symbols []string
}

// NewCmdDescribe returns the describe verb. runF replaces runDescribe in tests.
func NewCmdDescribe(f *Factory, runF func(context.Context, *DescribeOptions) error) *cobra.Command {
	opts := &DescribeOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "describe [flags] [TARGET] [SYMBOL...]",
		Short: "Show a service, method, message, enum or field as .proto source",
		Long: `Describe symbols by their full names, printing each as .proto source. With no
SYMBOL, describe every service. A method may be written pkg.Service/Method.`,
		Example: `  grpcx describe --plaintext localhost:50051 grpcx.test.v1.TestService
  grpcx describe --plaintext localhost:50051 grpcx.test.v1.AllTypes grpcx.test.v1.Color
  grpcx describe --protoset testserver/proto/testserver.protoset grpcx.test.v1.TestService/Unary`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Conn.Target, opts.Symbols = splitTarget(args)
			if err := opts.Conn.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runDescribe(c.Context(), opts) })
		},
	}
	opts.Conn.addFlags(cmd.Flags())
	return cmd
}

func runDescribe(ctx context.Context, opts *DescribeOptions) error {
	ctx, cancel := opts.Conn.withMaxTime(ctx)
	defer cancel()
	s, err := opts.Conn.open(ctx, false)
	if err != nil {
		return maxTimeError(ctx, err)
	}
	defer s.Close()
	err = runDescribeSession(ctx, opts, s)
	opts.Conn.explainNotGRPC(ctx, err, reflectionPath, nil, opts.IO.ErrOut, false)
	return maxTimeError(ctx, err)
}

func runDescribeSession(ctx context.Context, opts *DescribeOptions, s *session) error {
	ds, err := descsource.Resolve(s.src, opts.Symbols)
	if err != nil {
		return describeSourceError(err)
	}
	return format.WriteDescriptions(opts.IO.Out, ds)
}
