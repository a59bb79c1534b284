package cmd

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

// DescribeOptions are the inputs of the describe verb.
type DescribeOptions struct {
	IO      *IOStreams
	Conn    connOptions
	Symbols []string
	// Template prints a JSON skeleton of each message (of each method's
	// request) instead of its .proto source.
	Template bool
	Export   exportOptions
}

// NewCmdDescribe returns the describe verb. runF replaces runDescribe in tests.
func NewCmdDescribe(f *Factory, runF func(context.Context, *DescribeOptions) error) *cobra.Command {
	opts := &DescribeOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "describe [flags] [TARGET] [SYMBOL...]",
		Short: "Show a service, method, message, enum or field as .proto source",
		Long: `Describe symbols by their full names, printing each as .proto source. With no
SYMBOL, describe every service. A method may be written pkg.Service/Method.

--template prints, for each message or method given, a JSON skeleton of the
message (of the method's request) instead: every field with a placeholder of
its type, one element in each list and map. It is a valid request, ready to
edit and pass to call with -d @FILE.`,
		Example: `  grpcx describe --plaintext localhost:50051 grpcx.test.v1.TestService
  grpcx describe --plaintext localhost:50051 grpcx.test.v1.AllTypes grpcx.test.v1.Color
  grpcx describe --protoset testserver/proto/testserver.protoset grpcx.test.v1.TestService/Unary
  grpcx describe --template --plaintext localhost:50051 grpcx.test.v1.TestService/Unary > req.json`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Conn.Target, opts.Symbols = splitTarget(args)
			if err := opts.Conn.check(); err != nil {
				return err
			}
			if opts.Template && len(opts.Symbols) == 0 {
				return usagef(errors.New("--template needs a MESSAGE or METHOD to make a skeleton of"))
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runDescribe(c.Context(), opts) })
		},
	}
	opts.Conn.addFlags(cmd.Flags())
	opts.Conn.addReflectProtocolFlags(cmd.Flags())
	opts.Export.addFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeNames(&opts.Conn, func([]string) (bool, bool) { return true, true })
	cmd.Flags().BoolVar(&opts.Template, "template", false, "print a JSON skeleton of each message (of each method's request) instead of .proto source")
	return cmd
}

func runDescribe(ctx context.Context, opts *DescribeOptions) error {
	return opts.Conn.withSource(ctx, opts.IO.ErrOut, func(src descsource.Source) error {
		ds, err := descsource.Resolve(src, opts.Symbols)
		if err != nil {
			return err
		}
		if opts.Template {
			err = format.WriteTemplates(opts.IO.Out, ds)
		} else {
			err = format.WriteDescriptions(opts.IO.Out, ds)
		}
		if err != nil || !opts.Export.wanted() {
			return err
		}
		return opts.Export.write(ds)
	})
}
