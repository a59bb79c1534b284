package cmd

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
)

func isNotFound(err error) bool { return errors.Is(err, descsource.ErrNotFound) }

func sortedNames(names []protoreflect.FullName) []protoreflect.FullName {
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// suggest says what exists: the names nearest to name first (by edit
// distance, case-insensitively, comparing short names too), then how many
// there are in all.
func suggest(name string, candidates []protoreflect.FullName) string {
	if len(candidates) == 0 {
		return "; there are none"
	}
	type scored struct {
		name string
		dist int
	}
	var near []scored
	for _, c := range candidates {
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
	b.WriteString("\navailable:")
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

// kindName names what a descriptor describes, for messages to the user.
func kindName(d protoreflect.Descriptor) string {
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
