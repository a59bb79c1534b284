package format

import (
	"context"
	"strings"
	"sync"

	"github.com/jhump/protoreflect/v2/protoprint"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
)

// protoprint shortens the name of each type a file refers to, relative to
// where it is used, without checking what the short name resolves to. A
// nested type can shadow a package-level one (Status inside X, where a
// field of X means the package's Status), and a package can be named like
// the start of another (a.google, from which google.protobuf.Empty
// resolves to a.google.protobuf.Empty): protoc then reads another type, or
// none. So before .proto source is shown or written, the files are printed,
// compiled again and compared; when a reference changed, the files are
// printed with every type name fully qualified, which always resolves as
// meant.

// qualified remembers, by file, whether it needs fully qualified names.
var qualified sync.Map // protoreflect.FileDescriptor -> bool

// printerFor returns the printer for files (each with the files it
// imports): short names when they read back as the same types.
func printerFor(files []protoreflect.FileDescriptor, compact bool) *protoprint.Printer {
	need := false
	var unknown []protoreflect.FileDescriptor
	for _, fd := range files {
		if standardFile(fd) {
			continue // protocompile has its own, compiled from protoc's sources
		}
		if v, ok := qualified.Load(fd); ok {
			need = need || v.(bool)
		} else {
			unknown = append(unknown, fd)
		}
	}
	if !need && len(unknown) > 0 {
		need = !shortNamesHold(files, unknown)
		for _, fd := range unknown {
			qualified.Store(fd, need)
		}
	}
	return &protoprint.Printer{Compact: compact, ForceFullyQualifiedNames: need}
}

// shortNamesHold prints files with short names, compiles them and reports
// whether each of check refers to the same types as before. Sources that
// do not compile again count as not holding.
func shortNamesHold(files, check []protoreflect.FileDescriptor) bool {
	printer := &protoprint.Printer{}
	sources := make(map[string]string, len(files))
	for _, fd := range files {
		if standardFile(fd) {
			continue
		}
		var b strings.Builder
		if err := printer.PrintProtoFile(fd, &b); err != nil {
			return false
		}
		sources[fd.Path()] = b.String()
	}
	names := make([]string, len(check))
	for i, fd := range check {
		names[i] = fd.Path()
	}
	compiled, err := descsource.CompileSources(context.Background(), sources, names)
	if err != nil {
		return false
	}
	for i, fd := range check {
		if !sameReferences(fd, compiled[i]) {
			return false
		}
	}
	return true
}

// sameReferences reports whether two versions of a file declare the same
// fields, extensions and methods with the same types.
func sameReferences(a, b protoreflect.FileDescriptor) bool {
	return sameMessages(a.Messages(), b.Messages()) && sameExtensions(a.Extensions(), b.Extensions()) &&
		sameServices(a.Services(), b.Services())
}

func sameMessages(a, b protoreflect.MessageDescriptors) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		ma := a.Get(i)
		mb := b.ByName(ma.Name())
		if mb == nil || !sameMessages(ma.Messages(), mb.Messages()) || !sameExtensions(ma.Extensions(), mb.Extensions()) {
			return false
		}
		fa, fb := ma.Fields(), mb.Fields()
		if fa.Len() != fb.Len() {
			return false
		}
		for j := range fa.Len() {
			if f := fb.ByNumber(fa.Get(j).Number()); f == nil || !sameType(fa.Get(j), f) {
				return false
			}
		}
	}
	return true
}

func sameExtensions(a, b protoreflect.ExtensionDescriptors) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		xa := a.Get(i)
		xb := b.ByName(xa.Name())
		if xb == nil || xa.ContainingMessage().FullName() != xb.ContainingMessage().FullName() || !sameType(xa, xb) {
			return false
		}
	}
	return true
}

func sameServices(a, b protoreflect.ServiceDescriptors) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		sa := a.Get(i)
		sb := b.ByName(sa.Name())
		if sb == nil || sa.Methods().Len() != sb.Methods().Len() {
			return false
		}
		for j := range sa.Methods().Len() {
			ma := sa.Methods().Get(j)
			mb := sb.Methods().ByName(ma.Name())
			if mb == nil || ma.Input().FullName() != mb.Input().FullName() || ma.Output().FullName() != mb.Output().FullName() {
				return false
			}
		}
	}
	return true
}

// sameType reports whether two fields have the same kind and type.
func sameType(a, b protoreflect.FieldDescriptor) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch {
	case a.Message() != nil:
		return b.Message() != nil && a.Message().FullName() == b.Message().FullName()
	case a.Enum() != nil:
		return b.Enum() != nil && a.Enum().FullName() == b.Enum().FullName()
	}
	return true
}

// standardFile reports whether fd is one of the google/protobuf files,
// which the compiler provides itself.
func standardFile(fd protoreflect.FileDescriptor) bool {
	return strings.HasPrefix(fd.Path(), "google/protobuf/")
}
