package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// verb builds one of grpcx's verbs.
type verb struct {
	name  string
	build func(*Factory) *cobra.Command
}

// verbs returns grpcx's verbs, in the order help lists them (a function,
// not a variable: demo runs Main, which builds them).
func verbs() []verb {
	return []verb{
		{"list", func(f *Factory) *cobra.Command { return NewCmdList(f, nil) }},
		{"describe", func(f *Factory) *cobra.Command { return NewCmdDescribe(f, nil) }},
		{"call", func(f *Factory) *cobra.Command { return NewCmdCall(f, nil) }},
		{"bench", func(f *Factory) *cobra.Command { return NewCmdBench(f, nil) }},
		{"repl", func(f *Factory) *cobra.Command { return NewCmdRepl(f, nil) }},
		{"gateway", func(f *Factory) *cobra.Command { return NewCmdGateway(f, nil) }},
		{"testserver", func(f *Factory) *cobra.Command { return NewCmdTestserver(f, nil) }},
		{"demo", func(f *Factory) *cobra.Command { return NewCmdDemo(f, nil) }},
	}
}

// NewCmdRoot returns the grpcx command with every verb.
func NewCmdRoot(f *Factory) *cobra.Command { return newCmdRoot(f, "") }

// newCmdRoot returns the grpcx command with only the verb named, when verb
// names one, else with every verb. A verb's flags, help and errors need
// only itself, and building all of them is a measurable part of a
// one-shot call's start-up.
func newCmdRoot(f *Factory, name string) *cobra.Command {
	root := &cobra.Command{
		Use:   "grpcx",
		Short: "Explore and call gRPC servers without generated stubs",
		Long: `grpcx lists, describes and calls the methods of any gRPC server, using the
server's reflection service or local .proto and protoset files for the schema.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// cobra's completion command, and the __complete command its scripts
	// run, need every verb: they come only with the whole tree, so that
	// a one-shot verb does not pay for building them.
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(flagError)
	all := verbs()
	for _, v := range all {
		if v.name == name {
			root.AddCommand(v.build(f))
			return root
		}
	}
	for _, v := range all {
		root.AddCommand(v.build(f))
	}
	root.CompletionOptions.DisableDefaultCmd = false
	return root
}

// flagError makes a flag error a usage error, and names the flag a
// grpcurl habit meant: "-plaintext" is read as -p -l -a ..., and grpcx
// spells it --plaintext.
func flagError(c *cobra.Command, err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, " in -"); i >= 0 && strings.HasPrefix(msg, "unknown shorthand flag") {
		name, _, _ := strings.Cut(msg[i+len(" in -"):], "=")
		if c.Flags().Lookup(name) != nil {
			return usagef(fmt.Errorf("%w: grpcx's long flags take two dashes, --%s", err, name))
		}
	}
	return usagef(err)
}

// runE wraps a verb's run function so that Main can tell its errors from
// command-line errors found by cobra.
func runE(run func() error) error {
	if err := run(); err != nil {
		return &runError{err}
	}
	return nil
}
