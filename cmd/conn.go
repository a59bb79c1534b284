package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/invoke"
)

// connOptions are the flags that say where the server is and where
// descriptors come from; list, describe and call share them.
type connOptions struct {
	Target      string
	Plaintext   bool
	Reflect     bool
	Protos      []string
	ImportPaths []string
	Protosets   []string
}

func (o *connOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Plaintext, "plaintext", false, "connect without TLS")
	fs.BoolVar(&o.Reflect, "reflect", true, "ask the server's reflection service for descriptors (--reflect=false: files only)")
	fs.StringArrayVar(&o.Protos, "proto", nil, "a .proto `FILE` to load descriptors from (repeatable)")
	fs.StringArrayVarP(&o.ImportPaths, "import-path", "I", nil, "a `DIR` to resolve .proto imports from (repeatable)")
	fs.StringArrayVar(&o.Protosets, "protoset", nil, "a protoset `FILE` (serialized FileDescriptorSet) to load descriptors from (repeatable)")
}

// splitTarget takes the target off the front of args when the first
// argument is one: a target always has a colon, a symbol never does.
func splitTarget(args []string) (target string, rest []string) {
	if len(args) > 0 && strings.Contains(args[0], ":") {
		return args[0], args[1:]
	}
	return "", args
}

func (o *connOptions) hasFiles() bool { return len(o.Protos) > 0 || len(o.Protosets) > 0 }

// check reports flag combinations that cannot work.
func (o *connOptions) check() error {
	if o.Target == "" && !o.hasFiles() {
		return usagef(errors.New("no target and no --proto or --protoset: give a server address (host:port or unix:///path) or descriptor files"))
	}
	if o.Target != "" && !o.Reflect && !o.hasFiles() {
		return usagef(errors.New("--reflect=false needs --proto or --protoset to know the server's methods"))
	}
	if len(o.ImportPaths) > 0 && len(o.Protos) == 0 {
		return usagef(errors.New("-I/--import-path is only used with --proto"))
	}
	return nil
}

// session is an open connection (when there is a target) and the
// descriptor source built from the flags.
type session struct {
	cc  *grpc.ClientConn
	src descsource.Source
}

func (s *session) Close() {
	if s.cc != nil {
		s.cc.Close()
	}
}

// types resolves Any and status detail types: the compiled-in well-known
// and google.rpc types first, then the source.
func (s *session) types() descsource.TypeResolver {
	return descsource.ChainTypes(descsource.WellKnownTypes(), s.src.Types())
}

// open connects when needed and builds the descriptor source. needConn
// forces a connection even when descriptors come from files only.
func (o *connOptions) open(ctx context.Context, needConn bool) (*session, error) {
	files, err := o.fileSource(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{src: files}
	if o.Target == "" || (!needConn && !o.Reflect) {
		return s, nil
	}
	s.cc, err = invoke.Dial(ctx, o.Target, invoke.DialOptions{Plaintext: o.Plaintext})
	if err != nil {
		return nil, err
	}
	if o.Reflect {
		s.src = descsource.FromReflection(ctx, s.cc, files)
	}
	return s, nil
}

func (o *connOptions) fileSource(ctx context.Context) (descsource.Source, error) {
	var srcs []descsource.Source
	if len(o.Protos) > 0 {
		s, err := descsource.FromProtoFiles(ctx, o.ImportPaths, o.Protos)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s)
	}
	if len(o.Protosets) > 0 {
		s, err := descsource.FromProtosets(o.Protosets)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s)
	}
	switch len(srcs) {
	case 0:
		return nil, nil
	case 1:
		return srcs[0], nil
	}
	return descsource.Composite(srcs[0], srcs[1]), nil
}

// describeSourceError adds a hint to errors that the user can fix with a
// flag.
func describeSourceError(err error) error {
	if errors.Is(err, descsource.ErrReflectionNotSupported) {
		return fmt.Errorf("%w; give the schema with --proto or --protoset", err)
	}
	return err
}
