package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jhump/protoreflect/v2/protoprint"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/reflect/protoreflect"
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
	symbols := opts.Symbols
	if len(symbols) == 0 {
		names, err := s.src.ListServices()
		if err != nil {
			return describeSourceError(err)
		}
		for _, n := range names {
			symbols = append(symbols, string(n))
		}
	}
	printer := &protoprint.Printer{Compact: true}
	var out strings.Builder
	for i, sym := range symbols {
		d, err := findSymbol(s, sym)
		if err != nil {
			return err
		}
		text, err := printer.PrintProtoToString(d)
		if err != nil {
			return fmt.Errorf("print %s: %w", d.FullName(), err)
		}
		if i > 0 {
			out.WriteByte('\n')
		}
		fmt.Fprintf(&out, "%s is %s:\n%s", d.FullName(), withArticle(kindName(d)), text)
		if !strings.HasSuffix(text, "\n") {
			out.WriteByte('\n')
		}
	}
	_, err := io.WriteString(opts.IO.Out, out.String())
	return err
}

// findSymbol resolves a symbol written the way users write them: with or
// without a leading dot, and with a slash before a method name.
func findSymbol(s *session, sym string) (protoreflect.Descriptor, error) {
	name := strings.TrimPrefix(strings.ReplaceAll(sym, "/", "."), ".")
	d, err := s.src.FindSymbol(protoreflect.FullName(name))
	if err == nil {
		return d, nil
	}
	if !isNotFound(err) {
		return nil, describeSourceError(err)
	}
	services, lerr := s.src.ListServices()
	if lerr != nil {
		return nil, fmt.Errorf("symbol %q not found", name)
	}
	return nil, fmt.Errorf("symbol %q not found%s", name, suggest(name, services))
}

// withArticle puts "a" or "an" before a noun.
func withArticle(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}
