package descsource_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestSplitMethodName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, service, method string
		ok                  bool
	}{
		{"pkg.Svc/Method", "pkg.Svc", "Method", true},
		{"/pkg.Svc/Method", "pkg.Svc", "Method", true},
		{"pkg.Svc.Method", "pkg.Svc", "Method", true},
		{"Svc/Method", "Svc", "Method", true},
		{"Method", "", "", false},
	}
	for _, tt := range tests {
		service, method, ok := descsource.SplitMethodName(tt.in)
		if service != tt.service || method != tt.method || ok != tt.ok {
			t.Errorf("SplitMethodName(%q) = %q, %q, %v; want %q, %q, %v", tt.in, service, method, ok, tt.service, tt.method, tt.ok)
		}
	}
}

// TestCacheHoldsWhatReflectionSent stores the test server's files as
// reflection sends them and checks that the entry then holds them byte for
// byte, and only them.
func TestCacheHoldsWhatReflectionSent(t *testing.T) {
	t.Parallel()
	raw := testServiceFiles(t)
	if len(raw) == 0 {
		t.Fatal("reflection sent no files for the test service")
	}
	set, err := descsource.DecodeFiles(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range set.GetFile() {
		if descsource.IsWellKnownFile(f.GetName()) {
			t.Errorf("FetchFileBytes kept the well-known file %s", f.GetName())
		}
	}

	c := &descsource.Cache{Dir: t.TempDir()}
	const key = "k"
	if c.Fresh(key) {
		t.Fatal("Fresh reports an entry before any was stored")
	}
	if err := c.StoreFiles(key, raw, nil); err != nil {
		t.Fatal(err)
	}
	if !c.Fresh(key) {
		t.Fatal("Fresh reports no entry after StoreFiles")
	}
	entry, err := c.Load(key)
	if err != nil || entry == nil {
		t.Fatalf("Load: %v, %v", entry, err)
	}
	if !entry.Holds(raw) {
		t.Error("the entry does not hold the files it was stored with")
	}
	if _, err := entry.Files.FindDescriptorByName(testService); err != nil {
		t.Errorf("the entry's descriptors lack the service: %v", err)
	}
	changed := bytes.Clone(raw[0])
	changed[len(changed)-1] ^= 1
	if entry.Holds([][]byte{changed}) {
		t.Error("the entry holds a file with a changed byte")
	}
	if entry.Holds(nil) {
		t.Error("the entry holds an empty answer")
	}
}

// TestCacheStoreFilesKeepsOtherFiles stores a second file under a key and
// checks the first is kept, before it, unless the second replaces it.
func TestCacheStoreFilesKeepsOtherFiles(t *testing.T) {
	t.Parallel()
	file := func(name, msg string) []byte {
		b, err := proto.Marshal(&descriptorpb.FileDescriptorProto{
			Name: proto.String(name), Syntax: proto.String("proto3"),
			MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String(msg)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, a2 := file("a.proto", "A"), file("b.proto", "B"), file("a.proto", "A2")
	c := &descsource.Cache{Dir: t.TempDir()}
	load := func() *descsource.Entry {
		t.Helper()
		e, err := c.Load("k")
		if err != nil || e == nil {
			t.Fatalf("Load: %v, %v", e, err)
		}
		return e
	}
	if err := c.StoreFiles("k", [][]byte{a}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.StoreFiles("k", [][]byte{b}, load()); err != nil {
		t.Fatal(err)
	}
	if e := load(); !e.Holds([][]byte{a, b}) || names(t, e) != "a.proto b.proto" {
		t.Errorf("after adding b.proto: files %s, holds both: %v", names(t, e), e.Holds([][]byte{a, b}))
	}
	if err := c.StoreFiles("k", [][]byte{a2}, load()); err != nil {
		t.Fatal(err)
	}
	e := load()
	if e.Holds([][]byte{a}) || !e.Holds([][]byte{a2, b}) || names(t, e) != "b.proto a.proto" {
		t.Errorf("after replacing a.proto: files %s", names(t, e))
	}
	if _, err := e.Files.FindDescriptorByName("A2"); err != nil {
		t.Errorf("the replaced file is not the one built: %v", err)
	}
	entries, _ := filepath.Glob(filepath.Join(c.Dir, "*"))
	if len(entries) != 1 {
		t.Errorf("cache directory holds %v, want one entry and no temporary files", entries)
	}
}

// TestCacheLoadDamaged treats an entry that is not exactly what StoreFiles
// wrote as an error, never a panic: its descriptors are built without
// validation, so they must be the ones validated before they were stored.
func TestCacheLoadDamaged(t *testing.T) {
	t.Parallel()
	raw := testServiceFiles(t)
	c := &descsource.Cache{Dir: t.TempDir()}
	if err := c.StoreFiles("good", raw, nil); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(c.Dir, "good.protoset"))
	if err != nil {
		t.Fatal(err)
	}
	// A plain protoset of the same files, as older versions wrote.
	set, err := descsource.DecodeFiles(raw)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	for name, data := range map[string][]byte{
		"byte flipped":   flipped,
		"truncated":      good[:len(good)-10],
		"no checksum":    plain,
		"checksum only":  good[len(good)-34:],
		"trailing bytes": append(bytes.Clone(good), 0x0a, 0x00),
		"not a protoset": []byte("not a file descriptor set"),
		"empty":          nil,
	} {
		if err := os.WriteFile(filepath.Join(c.Dir, "bad.protoset"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if e, err := c.Load("bad"); err == nil {
			t.Errorf("%s: Load = %v, want an error", name, e)
		}
	}
	// Bytes that are not a descriptor are never stored; were they, with a
	// good checksum, loading them would be an error, not a panic.
	garbage := [][]byte{[]byte("not a file descriptor")}
	if err := c.StoreFiles("garbage", garbage, nil); err == nil {
		t.Error("StoreFiles stored bytes that are not a file descriptor")
	}
	var data []byte
	data = protowire.AppendTag(data, 1, protowire.BytesType)
	data = protowire.AppendBytes(data, garbage[0])
	sum := sha256.Sum256(data)
	data = protowire.AppendTag(data, 15, protowire.BytesType)
	data = protowire.AppendBytes(data, sum[:])
	if err := os.WriteFile(filepath.Join(c.Dir, "garbage.protoset"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Load("garbage"); err == nil {
		t.Errorf("Load of garbage with a good checksum = %v, want an error", e)
	}
}

// fileBytes serializes a FileDescriptorProto written in text format.
func fileBytes(t *testing.T, text string) []byte {
	t.Helper()
	fdp := new(descriptorpb.FileDescriptorProto)
	if err := prototext.Unmarshal([]byte(text), fdp); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCacheStoreFilesImportsFirst updates a file that a kept file imports:
// the entry must still list every file after its imports, or the kept
// file's references would not resolve.
func TestCacheStoreFilesImportsFirst(t *testing.T) {
	t.Parallel()
	common := func(fields string) []byte {
		return fileBytes(t, `name: "common.proto" package: "p" syntax: "proto3"
			message_type { name: "C" `+fields+` }`)
	}
	user := func(n string) []byte {
		return fileBytes(t, `name: "s`+n+`.proto" package: "p" syntax: "proto3" dependency: "common.proto"
			message_type { name: "R`+n+`" field { name: "c" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".p.C" json_name: "c" } }
			service { name: "S`+n+`" method { name: "M" input_type: ".p.R`+n+`" output_type: ".p.R`+n+`" } }`)
	}
	c := &descsource.Cache{Dir: t.TempDir()}
	if err := c.StoreFiles("k", [][]byte{common(""), user("1")}, nil); err != nil {
		t.Fatal(err)
	}
	first, err := c.Load("k")
	if err != nil {
		t.Fatal(err)
	}
	// S2 arrives with a newer common.proto; S1's file is kept.
	newer := common(`field { name: "x" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "x" }`)
	if err := c.StoreFiles("k", [][]byte{newer, user("2")}, first); err != nil {
		t.Fatal(err)
	}
	e, err := c.Load("k")
	if err != nil {
		t.Fatalf("Load after the update: %v", err)
	}
	if got := names(t, e); got != "common.proto s1.proto s2.proto" {
		t.Errorf("files stored in the order %s, want each after its imports", got)
	}
	d, err := e.Files.FindDescriptorByName("p.R1")
	if err != nil {
		t.Fatal(err)
	}
	if c := d.(protoreflect.MessageDescriptor).Fields().ByName("c").Message(); c.IsPlaceholder() || c.Fields().Len() != 1 {
		t.Errorf("R1.c is %v, want the newer p.C", c)
	}
}

// TestBuildFilesImportedLater builds files in the order reflection sends
// them, a file before the files it imports.
func TestBuildFilesImportedLater(t *testing.T) {
	t.Parallel()
	raw := [][]byte{
		fileBytes(t, `name: "s.proto" package: "p" syntax: "proto3" dependency: "m.proto"
			service { name: "S" method { name: "M" input_type: ".p.R" output_type: ".p.R" } }`),
		fileBytes(t, `name: "m.proto" package: "p" syntax: "proto3" dependency: "google/protobuf/timestamp.proto"
			message_type { name: "R" field { name: "t" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp" json_name: "t" } }`),
	}
	set, err := descsource.DecodeFiles(raw)
	if err != nil {
		t.Fatal(err)
	}
	files, err := descsource.BuildFiles(set)
	if err != nil {
		t.Fatalf("BuildFiles of a file before its import: %v", err)
	}
	d, err := files.FindDescriptorByName("p.S.M")
	if err != nil {
		t.Fatal(err)
	}
	if in := d.(protoreflect.MethodDescriptor).Input(); in.IsPlaceholder() || in.Fields().ByName("t").Message().FullName() != "google.protobuf.Timestamp" {
		t.Errorf("p.S.M's input is %v, want p.R with a Timestamp field", in)
	}
}

// TestCacheStoreFilesDropsOlderFilesThatNoLongerFit stores a service whose
// message type has moved to another file: the entry's older file, which
// still defines it, cannot be kept beside the new one, and must not keep
// the new files out either.
func TestCacheStoreFilesDropsOlderFilesThatNoLongerFit(t *testing.T) {
	t.Parallel()
	types := func(file string) []byte {
		return fileBytes(t, `name: "`+file+`" package: "p" syntax: "proto3" message_type { name: "C" }`)
	}
	service := func(n, types string) []byte {
		return fileBytes(t, `name: "s`+n+`.proto" package: "p" syntax: "proto3" dependency: "`+types+`"
			service { name: "S`+n+`" method { name: "M" input_type: ".p.C" output_type: ".p.C" } }`)
	}
	c := &descsource.Cache{Dir: t.TempDir()}
	if err := c.StoreFiles("k", [][]byte{types("a.proto"), service("1", "a.proto")}, nil); err != nil {
		t.Fatal(err)
	}
	first, err := c.Load("k")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StoreFiles("k", [][]byte{types("b.proto"), service("2", "b.proto")}, first); err != nil {
		t.Fatalf("StoreFiles with p.C moved to b.proto: %v", err)
	}
	e, err := c.Load("k")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, e); got != "b.proto s2.proto" {
		t.Errorf("entry holds %s, want the new files alone", got)
	}
}

// TestCacheStoreFilesRefusesWhatLoadWouldMisread stores files that
// protodesc accepts but the builder Load uses would read differently or
// not resolve: none may be stored.
func TestCacheStoreFilesRefusesWhatLoadWouldMisread(t *testing.T) {
	t.Parallel()
	tests := map[string][][]byte{
		// protodesc works out the kind from the type name; the builder
		// would leave it unknown.
		"field without a type": {fileBytes(t, `name: "a.proto" package: "p" syntax: "proto3"
			message_type { name: "A" field { name: "b" number: 1 label: LABEL_OPTIONAL type_name: ".p.B" json_name: "b" } }
			message_type { name: "B" }`)},
		"missing import": {fileBytes(t, `name: "a.proto" package: "p" syntax: "proto3" dependency: "gone.proto"
			message_type { name: "A" field { name: "b" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".q.B" json_name: "b" } }`)},
	}
	for name, files := range tests {
		c := &descsource.Cache{Dir: t.TempDir()}
		if err := c.StoreFiles("k", files, nil); err == nil {
			t.Errorf("%s: StoreFiles stored it", name)
		}
		if e, err := c.Load("k"); e != nil || err != nil {
			t.Errorf("%s: Load = %v, %v; want no entry", name, e, err)
		}
	}
}

// TestCacheBuildsWhatProtodescBuilds compares the descriptors of a cache
// entry, built without protodesc, with those protodesc builds from the
// same files: every message, field, enum and method the same.
func TestCacheBuildsWhatProtodescBuilds(t *testing.T) {
	t.Parallel()
	raw := testServiceFiles(t)
	c := &descsource.Cache{Dir: t.TempDir()}
	if err := c.StoreFiles("k", raw, nil); err != nil {
		t.Fatal(err)
	}
	entry, err := c.Load("k")
	if err != nil {
		t.Fatal(err)
	}
	set, err := descsource.DecodeFiles(raw)
	if err != nil {
		t.Fatal(err)
	}
	want, err := descsource.BuildFiles(set)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range set.GetFile() {
		got, err := entry.Files.FindFileByPath(f.GetName())
		if err != nil {
			t.Fatal(err)
		}
		wantFD, _ := want.FindFileByPath(f.GetName())
		if g, w := protodesc.ToFileDescriptorProto(got), protodesc.ToFileDescriptorProto(wantFD); !proto.Equal(g, w) {
			t.Errorf("%s: the cache builds\n%v\nprotodesc builds\n%v", f.GetName(), g, w)
		}
	}
	// Types from other files resolve: the method's request and response
	// and the message and enum fields they use.
	d, err := entry.Files.FindDescriptorByName("grpcx.test.v1.TestService.EchoTypes")
	if err != nil {
		t.Fatal(err)
	}
	in := d.(protoreflect.MethodDescriptor).Input()
	for i := 0; i < in.Fields().Len(); i++ {
		f := in.Fields().Get(i)
		if m := f.Message(); m != nil && m.IsPlaceholder() {
			t.Errorf("field %s: message %s did not resolve", f.FullName(), m.FullName())
		}
		if e := f.Enum(); e != nil && e.IsPlaceholder() {
			t.Errorf("field %s: enum %s did not resolve", f.FullName(), e.FullName())
		}
	}
}

func names(t *testing.T, e *descsource.Entry) string {
	t.Helper()
	set, err := e.Decode()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i, f := range set.GetFile() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.GetName())
	}
	return b.String()
}

// TestCachePrunes writes an entry into a directory holding an entry and a
// temporary file nobody has written for long, and recent ones, and checks
// only the old ones are gone, and nothing that is not the cache's.
func TestCachePrunes(t *testing.T) {
	t.Parallel()
	c := &descsource.Cache{Dir: t.TempDir()}
	long := time.Now().Add(-31 * 24 * time.Hour)
	files := map[string]time.Time{
		"old.protoset":        long,
		"recent.protoset":     time.Now().Add(-24 * time.Hour),
		"k.1234.tmp":          time.Now().Add(-2 * time.Hour),
		"j.5678.tmp":          time.Now(),
		"someone-elses.thing": long,
	}
	for name, mtime := range files {
		path := filepath.Join(c.Dir, name)
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	raw := testServiceFiles(t)
	if err := c.StoreFiles("k", raw, nil); err != nil {
		t.Fatal(err)
	}
	for name, gone := range map[string]bool{
		"old.protoset": true, "recent.protoset": false, "k.1234.tmp": true,
		"j.5678.tmp": false, "someone-elses.thing": false, "k.protoset": false,
	} {
		_, err := os.Stat(filepath.Join(c.Dir, name))
		if exists := err == nil; exists == gone {
			t.Errorf("%s: exists %v after a write, want %v", name, exists, !gone)
		}
	}
}

// TestFetchFileBytesV1StreamUnavailable: a server whose v1 reflection
// stream ends as Unavailable (some do, for a service they do not know, as
// grpcurl issue 434 has it) is asked over v1alpha, as the reflection
// client does.
func TestFetchFileBytesV1StreamUnavailable(t *testing.T) {
	t.Parallel()
	s := grpc.NewServer(testserver.ServerOptions(testserver.Options{})...)
	testserver.Register(s, testserver.NewService(), testserver.Options{OnlyV1Alpha: true})
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "grpc.reflection.v1.ServerReflection",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{StreamName: "ServerReflectionInfo", ServerStreams: true, ClientStreams: true,
			Handler: func(any, grpc.ServerStream) error { return status.Error(codes.Unavailable, "stream closed") }}},
	}, struct{}{})
	cc := testutil.Dial(t, testutil.Serve(t, "127.0.0.1:0", s))
	raw, err := descsource.FetchFileBytes(t.Context(), cc, "grpcx.test.v1.TestService")
	if err != nil || len(raw) == 0 {
		t.Fatalf("FetchFileBytes = %d files, %v; want the service's files over v1alpha", len(raw), err)
	}
}

func TestFileClosure(t *testing.T) {
	files := descsource.FileClosure(testpb.File_grpcx_test_v1_test_proto.Services().Get(0), (&testpb.EchoRequest{}).ProtoReflect().Descriptor())
	at := map[string]int{}
	for i, fd := range files {
		if _, dup := at[fd.Path()]; dup {
			t.Fatalf("%s twice", fd.Path())
		}
		at[fd.Path()] = i
	}
	for i, fd := range files {
		for j := 0; j < fd.Imports().Len(); j++ {
			imp := fd.Imports().Get(j).Path()
			if k, ok := at[imp]; !ok || k > i {
				t.Errorf("%s (at %d) imports %s, at %d (present %v)", fd.Path(), i, imp, k, ok)
			}
		}
	}
	for _, want := range []string{"grpcx/test/v1/test.proto", "google/api/http.proto", "google/protobuf/descriptor.proto"} {
		if _, ok := at[want]; !ok {
			t.Errorf("the closure lacks %s", want)
		}
	}
}

// TestDefaultCacheDirFollowsXDG: $XDG_CACHE_HOME places the cache on every
// system (os.UserCacheDir reads it on Linux only); a relative one, which
// the XDG spec calls invalid, does not.
func TestDefaultCacheDirFollowsXDG(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	if got, err := descsource.DefaultCacheDir(); err != nil || got != filepath.Join(dir, "grpcx", "descriptors") {
		t.Errorf("DefaultCacheDir() = %q, %v; want it under %s", got, err, dir)
	}
	t.Setenv("XDG_CACHE_HOME", "relative")
	if got, _ := descsource.DefaultCacheDir(); strings.HasPrefix(got, "relative") {
		t.Errorf("DefaultCacheDir() = %q for a relative $XDG_CACHE_HOME", got)
	}
}
