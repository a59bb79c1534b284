package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/repl"
)

// ReplOptions are the inputs of the repl verb.
type ReplOptions struct {
	IO           *IOStreams
	Conn         connOptions
	Output       string
	EmitDefaults bool
	ProtoNames   bool
	StopOnError  bool
	// AllowUnknownFields ignores JSON keys a request does not have.
	AllowUnknownFields bool
	Compress           string
	Deadline           float64
}

// NewCmdRepl returns the repl verb. runF replaces runRepl in tests.
func NewCmdRepl(f *Factory, runF func(context.Context, *ReplOptions) error) *cobra.Command {
	opts := &ReplOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "repl [flags] [TARGET]",
		Short: "Explore and call a server interactively",
		Long: `Open an interactive shell on TARGET (or on descriptor files only; connect
opens a server later): list and describe services, use one, print request
templates, and call methods of every kind, with headers and settings kept
between calls. Type help inside for the commands.

With standard input not a terminal, commands are read line by line and only
results are printed: a script. A streaming call's messages are the lines after
its call, up to an empty line. Any failing command makes the exit code 1.`,
		Example: `  grpcx repl --plaintext localhost:50051
  grpcx repl --protoset testserver/proto/testserver.protoset
  grpcx repl --plaintext localhost:50051 < session.grpcx`,
		Args:        cobra.MaximumNArgs(1),
		Annotations: map[string]string{ownsInterrupt: "yes"},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Conn.Target, args = splitTarget(args)
			if len(args) > 0 {
				return usagef(fmt.Errorf("%q is not a target (host:port or unix:///path)", args[0]))
			}
			if _, err := format.NewFormatter(format.Options{Output: format.Output(opts.Output)}); err != nil {
				return usagef(err)
			}
			if opts.Conn.MaxTime > 0 {
				return usagef(errors.New("--max-time bounds one operation; a session's calls take --deadline SECONDS each (set deadline inside)"))
			}
			if err := checkCompress(opts.Compress); err != nil {
				return err
			}
			if err := checkSeconds("--deadline", opts.Deadline); err != nil {
				return err
			}
			if opts.Conn.Target != "" || opts.Conn.hasFiles() {
				if err := opts.Conn.check(); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runRepl(c.Context(), opts) })
		},
	}
	opts.Conn.addFlags(cmd.Flags())
	opts.Conn.headerHints["grpc-timeout"] = "give each call's deadline with --deadline (or set deadline)"
	opts.Conn.headerHints["grpc-encoding"] = compressHint
	opts.Conn.addProtocolFlags(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "json", "response format: json, jsonl or text (set output in the REPL)")
	fl.BoolVar(&opts.EmitDefaults, "emit-defaults", false, "print fields that hold their default value (set emit-defaults)")
	fl.BoolVar(&opts.ProtoNames, "proto-names", false, "print .proto field names (set proto-names)")
	fl.BoolVar(&opts.StopOnError, "stop-on-error", false, "in a script, stop at the first failing command")
	fl.BoolVar(&opts.AllowUnknownFields, "allow-unknown-fields", false, "ignore JSON keys the request message does not have (set allow-unknown-fields)")
	fl.StringVar(&opts.Compress, "compress", "", "compress requests with `ALGORITHM` (gzip)")
	fl.Float64Var(&opts.Deadline, "deadline", 0, "`SECONDS` allowed for each call (set deadline)")
	return cmd
}

func runRepl(ctx context.Context, opts *ReplOptions) error {
	cfg := repl.Config{
		In: opts.IO.In, Out: opts.IO.Out, Err: opts.IO.ErrOut,
		Interactive: opts.IO.InIsTerminal,
		Format: format.Options{
			Output: format.Output(opts.Output), EmitDefaults: opts.EmitDefaults, ProtoNames: opts.ProtoNames,
		},
		Deadline:           seconds(opts.Deadline),
		StopOnError:        opts.StopOnError,
		AllowUnknownFields: opts.AllowUnknownFields,
	}
	cfg.CallOptions = opts.Conn.callOptions(opts.Compress)
	if cfg.Interactive {
		cfg.HistoryFile = repl.DefaultHistoryFile()
	}
	files, err := opts.Conn.fileSource(ctx)
	if err != nil {
		return err
	}
	cfg.Files = files
	rpcMD, _, err := opts.Conn.headers()
	if err != nil {
		return err
	}
	cfg.Headers = rpcMD
	cfg.Protocol = opts.Conn.Protocol
	cfg.Connect = func(ctx context.Context, target, protocol string) (*repl.Connection, error) {
		o := opts.Conn
		o.Target, o.Protocol = target, protocol
		return o.replConnection(ctx)
	}
	if opts.Conn.Target != "" {
		if cfg.Conn, err = opts.Conn.replConnection(ctx); err != nil {
			return err
		}
	}
	err = repl.Run(ctx, cfg)
	if errors.Is(err, repl.ErrFailed) {
		return &exitError{code: exitFailure, err: err, reported: true}
	}
	return err
}

// replConnection opens a server for the REPL, with the same flags as call.
func (o connOptions) replConnection(ctx context.Context) (*repl.Connection, error) {
	s, err := o.open(ctx, true)
	if err != nil {
		return nil, err
	}
	return &repl.Connection{Target: o.Target, Conn: s.cc, Source: s.src, Close: s.Close}, nil
}
