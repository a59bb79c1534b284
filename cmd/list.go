package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

// ListOptions are the inputs of the list verb.
type ListOptions struct {
	IO      *IOStreams
	Conn    connOptions
	Service string
	Export  exportOptions
}

// NewCmdList returns the list verb. runF replaces runList in tests.
func NewCmdList(f *Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "list [flags] [TARGET] [SERVICE]",
		Short: "List services, or the methods of one service",
		Long: `List the services a server (or a set of descriptor files) offers, one full
name a line, sorted. Given a SERVICE, list its methods instead.`,
		Example: `  grpcx list --plaintext localhost:50051
  grpcx list --plaintext localhost:50051 grpcx.test.v1.TestService
  grpcx list --protoset testserver/proto/testserver.protoset`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Conn.Target, args = splitTarget(args)
			if len(args) > 1 {
				return usagef(fmt.Errorf("list takes at most one SERVICE, got %q", args))
			}
			if len(args) == 1 {
				opts.Service = args[0]
			}
			if err := opts.Conn.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runList(c.Context(), opts) })
		},
	}
	opts.Conn.addFlags(cmd.Flags())
	opts.Conn.addReflectProtocolFlags(cmd.Flags())
	opts.Export.addFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeNames(&opts.Conn, func(rest []string) (bool, bool) { return len(rest) == 0, false })
	return cmd
}

func runList(ctx context.Context, opts *ListOptions) error {
	return opts.Conn.withSource(ctx, opts.IO.ErrOut, func(src descsource.Source) error {
		names, err := descsource.List(src, opts.Service)
		if err != nil {
			return err
		}
		if err := format.WriteNames(opts.IO.Out, names); err != nil {
			return err
		}
		if !opts.Export.wanted() {
			return nil
		}
		symbols := make([]string, len(names))
		for i, n := range names {
			symbols[i] = string(n)
		}
		ds, err := descsource.Resolve(src, symbols)
		if err != nil {
			return err
		}
		return opts.Export.write(ds)
	})
}
