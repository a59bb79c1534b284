package descsource_test

import (
	"context"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
)

// message compiles src as m.proto and returns its message p.M.
func message(t *testing.T, src string) protoreflect.MessageDescriptor {
	t.Helper()
	files, err := (&protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"m.proto": src}),
	})}).Compile(context.Background(), "m.proto")
	if err != nil {
		t.Fatal(err)
	}
	return files[0].Messages().ByName("M")
}

// TestFingerprint: what changes the wire or JSON form of a message changes
// its fingerprint, including settings of the file rather than of the
// message (an edition's features, proto2 against proto3); comments and
// unrelated types do not.
func TestFingerprint(t *testing.T) {
	t.Parallel()
	const types = `
		message M { N n = 1; E e = 2; int32 i = 3; repeated int32 r = 4; }
		message N { string s = 1; }
		enum E { E_ZERO = 0; E_ONE = 1; }`
	proto3 := descsource.Fingerprint(message(t, `syntax = "proto3"; package p;`+types))
	// Edition 2023 with proto3's features. A file moved to an edition may
	// or may not count as changed (its declarations read differently),
	// which only costs a refresh; the edition cases below change one
	// feature of this one.
	const proto3Features = `edition = "2023"; package p;
		option features.field_presence = IMPLICIT;
		option features.enum_type = OPEN;`
	const editionTypes = `
		message M { N n = 1 [features.field_presence = EXPLICIT]; E e = 2 [features.field_presence = EXPLICIT]; int32 i = 3; repeated int32 r = 4; }
		message N { string s = 1; }
		enum E { E_ZERO = 0; E_ONE = 1; }`
	edition := descsource.Fingerprint(message(t, proto3Features+editionTypes))
	for _, tc := range []struct {
		name, src string
		ref       string // the fingerprint to compare with
		same      bool
	}{
		{"comments and another type", `syntax = "proto3"; package p;
			// M is documented now.
			message M { N n = 1; E e = 2; int32 i = 3; repeated int32 r = 4; }
			message N { string s = 1; } // and so is N
			message Other { bool b = 1; }
			enum E { E_ZERO = 0; E_ONE = 1; }`, proto3, true},
		{"a nested field renamed", `syntax = "proto3"; package p;
			message M { N n = 1; E e = 2; int32 i = 3; repeated int32 r = 4; }
			message N { string t = 1; }
			enum E { E_ZERO = 0; E_ONE = 1; }`, proto3, false},
		{"an enum value added", `syntax = "proto3"; package p;
			message M { N n = 1; E e = 2; int32 i = 3; repeated int32 r = 4; }
			message N { string s = 1; }
			enum E { E_ZERO = 0; E_ONE = 1; E_TWO = 2; }`, proto3, false},
		{"the edition file again", proto3Features + editionTypes, edition, true},
		{"messages delimited, for the whole file", proto3Features + `
			option features.message_encoding = DELIMITED;` + editionTypes, edition, false},
		{"repeated fields expanded, for the whole file", proto3Features + `
			option features.repeated_field_encoding = EXPANDED;` + editionTypes, edition, false},
		{"explicit presence, for the whole file", `edition = "2023"; package p;
			option features.enum_type = OPEN;` + editionTypes, edition, false},
		{"closed enums, for the whole file", `edition = "2023"; package p;
			option features.field_presence = IMPLICIT;
			option features.enum_type = CLOSED;` + editionTypes, edition, false},
	} {
		if got := descsource.Fingerprint(message(t, tc.src)); (got == tc.ref) != tc.same {
			t.Errorf("%s: fingerprints equal %v, want %v", tc.name, got == tc.ref, tc.same)
		}
	}
}
