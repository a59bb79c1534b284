package cmd

import (
	"github.com/spf13/cobra"
)

// NewCmdRoot returns the grpcx command with every verb.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "grpcx",
		Short: "Explore and call gRPC servers without generated stubs",
		Long: `grpcx lists, describes and calls the methods of any gRPC server, using the
server's reflection service or local .proto and protoset files for the schema.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// No generated completion command: building it costs every start-up.
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef(err) })
	root.AddCommand(
		NewCmdList(f, nil),
		NewCmdDescribe(f, nil),
		NewCmdCall(f, nil),
		NewCmdBench(f, nil),
		NewCmdRepl(f, nil),
		NewCmdGateway(f, nil),
		NewCmdTestserver(f, nil),
		NewCmdDemo(f, nil),
	)
	return root
}

// runE wraps a verb's run function so that Main can tell its errors from
// command-line errors found by cobra.
func runE(run func() error) error {
	if err := run(); err != nil {
		return &runError{err}
	}
	return nil
}
