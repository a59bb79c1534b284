package cmd

import (
	"context"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/grpcx/grpcx/testserver"
)

// TestserverOptions are the inputs of the testserver verb.
type TestserverOptions struct {
	IO          *IOStreams
	Listen      string
	OnlyV1Alpha bool
}

// NewCmdTestserver returns the testserver verb. runF replaces runTestserver in tests.
func NewCmdTestserver(f *Factory, runF func(context.Context, *TestserverOptions) error) *cobra.Command {
	opts := &TestserverOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "testserver [--listen ADDR]",
		Short: "Run the bundled test server",
		Long: `Run the bundled test server (grpcx.test.v1.TestService, health and
reflection) in plaintext until interrupted. It prints the address it listens on,
which tells the port when --listen asks for port 0.`,
		Example: `  grpcx testserver
  grpcx testserver --listen 127.0.0.1:0
  grpcx testserver --listen unix:///tmp/grpcx.sock --v1alpha-only`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runTestserver(c.Context(), opts) })
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:50051", "`ADDR` to listen on: host:port, or unix:///path for a Unix socket")
	cmd.Flags().BoolVar(&opts.OnlyV1Alpha, "v1alpha-only", false, "serve only the v1alpha reflection service, like older servers")
	return cmd
}

func runTestserver(ctx context.Context, opts *TestserverOptions) error {
	lis, err := testserver.Listen(opts.Listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "listening on %s\n", listenAddr(lis))
	return testserver.Serve(ctx, lis, testserver.Options{OnlyV1Alpha: opts.OnlyV1Alpha})
}

// listenAddr is a listener's address written as a grpcx target.
func listenAddr(lis net.Listener) string {
	if lis.Addr().Network() == "unix" {
		return "unix://" + lis.Addr().String()
	}
	return lis.Addr().String()
}
