package repl

import (
	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

// descsourceTypes resolves Any and status detail types: the compiled-in
// well-known and google.rpc types first, then the source.
func descsourceTypes(src descsource.Source) format.Resolver {
	if src == nil {
		return descsource.WellKnownTypes()
	}
	return descsource.ChainTypes(descsource.WellKnownTypes(), src.Types())
}
