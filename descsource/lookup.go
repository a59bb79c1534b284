package descsource

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The lookups below resolve names the way users type them, and when a name
// is unknown their errors say what exists and suggest the nearest names.
// The CLI and the REPL share them.

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func SortedNames(names []protoreflect.FullName) []protoreflect.FullName {
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// suggest says what exists: the names nearest to name first (by edit
// distance, case-insensitively, comparing short names too), then how many
// there are in all.
func suggest(name string, candidates []protoreflect.FullName) string {
	return suggestFrom(name, candidates, "available", candidates)
}

// suggestFrom is suggest with the near names taken from near0, and the
// list under label taken from candidates.
func suggestFrom(name string, near0 []protoreflect.FullName, label string, candidates []protoreflect.FullName) string {
	if len(candidates) == 0 {
		return "; there are none"
	}
	type scored struct {
		name string
		dist int
	}
	var near []scored
	for _, c := range near0 {
		d := distance(strings.ToLower(name), strings.ToLower(string(c)))
		if short := string(c.Name()); short != string(c) {
			d = min(d, distance(strings.ToLower(name), strings.ToLower(short)))
		}
		if d <= max(2, len(name)/4) {
			near = append(near, scored{string(c), d})
		}
	}
	sort.SliceStable(near, func(i, j int) bool { return near[i].dist < near[j].dist })
	// Only the closest few: a name one edit away makes one five away noise.
	for i := range near {
		if near[i].dist > near[0].dist+1 {
			near = near[:i]
			break
		}
	}
	var b strings.Builder
	if len(near) > 0 {
		b.WriteString("; did you mean ")
		for i, n := range near[:min(3, len(near))] {
			if i > 0 {
				b.WriteString(" or ")
			}
			fmt.Fprintf(&b, "%s", n.name)
		}
		b.WriteString("?")
	}
	b.WriteString("\n" + label + ":")
	for _, c := range candidates {
		b.WriteString("\n  ")
		b.WriteString(string(c))
	}
	return b.String()
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// KindName names what a descriptor describes, for messages to the user.
func KindName(d protoreflect.Descriptor) string {
	switch d := d.(type) {
	case protoreflect.ServiceDescriptor:
		return "service"
	case protoreflect.MethodDescriptor:
		return "method"
	case protoreflect.MessageDescriptor:
		return "message"
	case protoreflect.EnumDescriptor:
		return "enum"
	case protoreflect.EnumValueDescriptor:
		return "enum value"
	case protoreflect.FieldDescriptor:
		if d.IsExtension() {
			return "extension"
		}
		return "field"
	case protoreflect.OneofDescriptor:
		return "oneof"
	case protoreflect.FileDescriptor:
		return "file"
	}
	return "symbol"
}

// FindService resolves a service name, suggesting near names when it is
// unknown.
func FindService(src Source, name string) (protoreflect.ServiceDescriptor, error) {
	name = strings.TrimPrefix(name, ".")
	d, err := src.FindSymbol(protoreflect.FullName(name))
	if err == nil {
		if svc, ok := d.(protoreflect.ServiceDescriptor); ok {
			return svc, nil
		}
		return nil, fmt.Errorf("%s is a %s, not a service", name, KindName(d))
	}
	if !isNotFound(err) {
		return nil, err
	}
	services, lerr := src.ListServices()
	if lerr != nil {
		return nil, err
	}
	if slices.Contains(services, protoreflect.FullName(name)) {
		return nil, incomplete(name, err)
	}
	return nil, notFoundf("service %q not found%s", name, suggest(name, services))
}

// incomplete reports a service the server lists but whose descriptors did
// not resolve (reflection left out a file its file imports, say): err says
// what was missing.
func incomplete(name string, err error) error {
	return fmt.Errorf("the server lists %s, but not all of its descriptors: %w; give the missing files with --proto or --protoset", name, err)
}

// FindMethod resolves pkg.Service/Method or pkg.Service.Method, suggesting
// near names when the service or the method is unknown.
func FindMethod(src Source, name string) (protoreflect.MethodDescriptor, error) {
	svcName, methodName, ok := SplitMethodName(name)
	if !ok {
		return nil, notFoundf("method %q must be written pkg.Service/Method or pkg.Service.Method", strings.TrimPrefix(name, "/"))
	}
	svc, err := FindService(src, svcName)
	if err != nil {
		// A service named where a method is wanted splits into a
		// "service" that is its package: say what it is instead.
		if whole := strings.TrimPrefix(name, "/"); !strings.Contains(whole, "/") {
			if whole, werr := FindService(src, whole); werr == nil {
				return nil, notAMethod(whole)
			}
		}
		return nil, err
	}
	if methodName == "" { // pkg.Service/
		return nil, notAMethod(svc)
	}
	if m := svc.Methods().ByName(protoreflect.Name(methodName)); m != nil {
		return m, nil
	}
	return nil, notFoundf("service %s has no method %q%s", svc.FullName(), methodName, suggest(methodName, MethodNames(svc)))
}

// notAMethod is the error for a service named where a method is wanted.
func notAMethod(svc protoreflect.ServiceDescriptor) error {
	var methods []string
	for _, m := range MethodNames(svc) {
		methods = append(methods, string(svc.FullName())+"/"+string(m.Name()))
	}
	return notFoundf("%s is a service, not a method: give one of its methods (%s)", svc.FullName(), strings.Join(methods, ", "))
}

// SplitMethodName splits a method name written pkg.Service/Method,
// /pkg.Service/Method or pkg.Service.Method into the service's name and the
// method's; ok is false when name has neither a slash nor a dot.
func SplitMethodName(name string) (service, method string, ok bool) {
	name = strings.TrimPrefix(name, "/")
	if service, method, ok = strings.Cut(name, "/"); ok {
		return service, method, true
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// FindSymbol resolves a symbol written the way users write them: with or
// without a leading dot, and with a slash before a method name.
func FindSymbol(src Source, sym string) (protoreflect.Descriptor, error) {
	name := strings.TrimPrefix(strings.ReplaceAll(sym, "/", "."), ".")
	d, err := src.FindSymbol(protoreflect.FullName(name))
	if err == nil {
		return d, nil
	}
	if !isNotFound(err) {
		return nil, err
	}
	// An enum value is named in its enum's scope (pkg.COLOR_RED), but
	// people write it under the enum, as they see it: take that too.
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if ed, eerr := src.FindSymbol(protoreflect.FullName(name[:i])); eerr == nil {
			if e, ok := ed.(protoreflect.EnumDescriptor); ok {
				if v := e.Values().ByName(protoreflect.Name(name[i+1:])); v != nil {
					return v, nil
				}
			}
		}
	}
	services, lerr := src.ListServices()
	if lerr != nil {
		return nil, notFoundf("symbol %q not found", name)
	}
	if slices.Contains(services, protoreflect.FullName(name)) {
		return nil, incomplete(name, err)
	}
	return nil, notFoundf("symbol %q not found%s", name, suggestFrom(name, knownSymbols(src, services), "services", services))
}

// knownSymbols returns the names of the services and of every method,
// message and enum of the files that define them and of the files those
// import, well-known ones aside: what a misspelt symbol is likely to be.
func knownSymbols(src Source, services []protoreflect.FullName) []protoreflect.FullName {
	var ds []protoreflect.Descriptor
	for _, svc := range resolveServices(src, services) {
		ds = append(ds, svc)
	}
	names := append([]protoreflect.FullName(nil), services...)
	for _, fd := range FileClosure(ds...) {
		if IsWellKnownFile(fd.Path()) {
			continue
		}
		names = append(names, DeclaredTypes(fd, true)...)
		for i := 0; i < fd.Services().Len(); i++ {
			names = append(names, MethodNames(fd.Services().Get(i))...)
		}
	}
	return names
}

// Services returns the services src lists, resolved; one that does not
// resolve is left out.
func Services(src Source) ([]protoreflect.ServiceDescriptor, error) {
	names, err := src.ListServices()
	if err != nil {
		return nil, err
	}
	return resolveServices(src, names), nil
}

func resolveServices(src Source, names []protoreflect.FullName) []protoreflect.ServiceDescriptor {
	var out []protoreflect.ServiceDescriptor
	for _, n := range names {
		if d, err := src.FindSymbol(n); err == nil {
			if svc, ok := d.(protoreflect.ServiceDescriptor); ok {
				out = append(out, svc)
			}
		}
	}
	return out
}

// DeclaredTypes returns the full names of the messages fd declares,
// nested ones included and map entries aside, and with enums set, of its
// enums too.
func DeclaredTypes(fd protoreflect.FileDescriptor, enums bool) []protoreflect.FullName {
	var names []protoreflect.FullName
	addEnums := func(es protoreflect.EnumDescriptors) {
		for i := 0; enums && i < es.Len(); i++ {
			names = append(names, es.Get(i).FullName())
		}
	}
	var addMessages func(protoreflect.MessageDescriptors)
	addMessages = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			if m := ms.Get(i); !m.IsMapEntry() {
				names = append(names, m.FullName())
				addMessages(m.Messages())
				addEnums(m.Enums())
			}
		}
	}
	addMessages(fd.Messages())
	addEnums(fd.Enums())
	return names
}

// MethodNames returns the full names of a service's methods, sorted.
func MethodNames(svc protoreflect.ServiceDescriptor) []protoreflect.FullName {
	methods := svc.Methods()
	names := make([]protoreflect.FullName, methods.Len())
	for i := range names {
		names[i] = methods.Get(i).FullName()
	}
	return SortedNames(names)
}

// notFoundError is a lookup failure whose text says what exists; it
// matches [ErrNotFound].
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrNotFound }

func notFoundf(format string, args ...any) error {
	return &notFoundError{fmt.Sprintf(format, args...)}
}

// List returns the services of src, or the methods of one service when
// service is not empty, as full names, sorted.
func List(src Source, service string) ([]protoreflect.FullName, error) {
	if service == "" {
		return src.ListServices()
	}
	svc, err := FindService(src, service)
	if err != nil {
		return nil, err
	}
	return MethodNames(svc), nil
}

// Resolve finds each of symbols with [FindSymbol]; no symbols means every
// service.
func Resolve(src Source, symbols []string) ([]protoreflect.Descriptor, error) {
	if len(symbols) == 0 {
		names, err := src.ListServices()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			symbols = append(symbols, string(n))
		}
	}
	ds := make([]protoreflect.Descriptor, 0, len(symbols))
	for _, sym := range symbols {
		d, err := FindSymbol(src, sym)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}
