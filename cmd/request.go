package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc"

	"github.com/grpcx/grpcx/format"
)

// The pieces below are shared by the verbs that send requests: call, bench
// and repl.

// targetAndMethod takes TARGET METHOD from a verb's arguments.
func targetAndMethod(verb string, args []string) (target, method string, err error) {
	target, args = splitTarget(args)
	if target == "" {
		return "", "", usagef(fmt.Errorf("%s needs a TARGET (host:port or unix:///path) before METHOD", verb))
	}
	if len(args) != 1 {
		return "", "", usagef(fmt.Errorf("%s takes TARGET and one METHOD, got %d arguments after the target", verb, len(args)))
	}
	return target, args[0], nil
}

// checkCompress reports a --compress value grpcx has no compressor for.
func checkCompress(name string) error {
	if name != "" && name != "gzip" && name != "identity" {
		return usagef(fmt.Errorf("--compress %q: the compressors are gzip and identity", name))
	}
	return nil
}

// callOptions are the per-call options of the flags: --max-msg-sz, which
// limits only the method's responses (reflection keeps grpc-go's limit),
// and --compress.
func (o *connOptions) callOptions(compress string) []grpc.CallOption {
	var opts []grpc.CallOption
	if o.MaxMsgSize > 0 {
		opts = append(opts, grpc.MaxCallRecvMsgSize(o.MaxMsgSize))
	}
	if compress != "" {
		opts = append(opts, grpc.UseCompressor(compress))
	}
	return opts
}

// openData opens the request data of -d: a literal, @FILE or @- for
// standard input; without -d, standard input unless it is a terminal, in
// which case there is no data.
func openData(streams *IOStreams, data string, set bool) (io.Reader, func(), error) {
	noop := func() {}
	switch {
	case !set && (streams.InIsTerminal || streams.In == nil):
		return strings.NewReader(""), noop, nil
	case !set, data == "@-":
		return streams.In, noop, nil
	case data == "@":
		return nil, nil, usagef(errors.New("-d @ needs a file name, -d @FILE, or -d @- for standard input"))
	case strings.HasPrefix(data, "@"):
		f, err := os.Open(data[1:])
		if err != nil {
			return nil, nil, fmt.Errorf("request data: %w", err)
		}
		return f, func() { f.Close() }, nil
	}
	return strings.NewReader(data), noop, nil
}

// inputHint names the flag that lets a request with unknown keys through.
func inputHint(err error) error {
	var inErr *format.InputError
	if errors.As(err, &inErr) && inErr.UnknownField {
		return fmt.Errorf("%w; pass --allow-unknown-fields to ignore unknown keys", err)
	}
	return err
}
