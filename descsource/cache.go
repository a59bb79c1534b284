package descsource

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/runtime/protoimpl"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Cache keeps the descriptors reflection returned for a target on disk, so
// that a repeat call needs no reflection round trip before it starts. Each
// entry is a protoset file named by a hash of its key, holding the files as
// the server sent them and a checksum of them (an extra field, which
// protoset readers skip); writes go to a temporary file renamed into place,
// so concurrent grpcx processes never see a torn file (the last writer
// wins).
type Cache struct {
	// Dir holds the entries.
	Dir string
	// TTL is how long an entry is used; an older one is refetched.
	TTL time.Duration
}

// DefaultCacheDir is grpcx's directory in the user's cache directory:
// $XDG_CACHE_HOME when it is set (an absolute path, as the XDG spec wants),
// on every system, as the REPL's history follows $XDG_STATE_HOME; else the
// system's own (~/.cache on Linux, ~/Library/Caches on macOS).
func DefaultCacheDir() (string, error) {
	dir := os.Getenv("XDG_CACHE_HOME")
	if !filepath.IsAbs(dir) {
		var err error
		if dir, err = os.UserCacheDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "grpcx", "descriptors"), nil
}

// CacheKey names the entry of a target reached with the given reflection
// metadata: a server behind a gateway may show different schemas to
// different credentials, so the metadata is part of the key. extra holds any
// other connection settings that select what answers (the authority, say).
func CacheKey(target string, reflectHeaders map[string][]string, extra ...string) string {
	var b strings.Builder
	b.WriteString(target)
	for _, e := range extra {
		b.WriteString("\x00")
		b.WriteString(e)
	}
	names := make([]string, 0, len(reflectHeaders))
	for k := range reflectHeaders {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range reflectHeaders[k] {
			fmt.Fprintf(&b, "\x00%s=%s", k, v)
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:16])
}

func (c *Cache) path(key string) string { return filepath.Join(c.Dir, key+".protoset") }

// An Entry is what [Cache.Load] found under a key.
type Entry struct {
	// Files holds the entry's files as descriptors, with the well-known
	// files grpcx has compiled in.
	Files *protoregistry.Files
	// raw is each stored file's serialized FileDescriptorProto, in order.
	raw [][]byte
}

// Holds reports whether the entry has every one of the files, byte for
// byte; the files are serialized FileDescriptorProtos, as reflection sends
// them ([FetchFileBytes]). It decodes nothing, so a check that finds the
// server's files unchanged costs next to nothing. A false answer is not
// proof of a change: another encoder may write the same file differently
// (compare decoded files with [SameFiles] to know).
func (e *Entry) Holds(files [][]byte) bool {
	for _, b := range files {
		if !slices.ContainsFunc(e.raw, func(c []byte) bool { return bytes.Equal(c, b) }) {
			return false
		}
	}
	return len(files) > 0
}

// Decode returns the entry's files as FileDescriptorProtos.
func (e *Entry) Decode() (*descriptorpb.FileDescriptorSet, error) { return DecodeFiles(e.raw) }

// Fresh reports whether there is an entry under key young enough to use,
// without reading it.
func (c *Cache) Fresh(key string) bool {
	info, err := os.Stat(c.path(key))
	return err == nil && (c.TTL <= 0 || time.Since(info.ModTime()) <= c.TTL)
}

// Load returns the entry cached under key. It returns nil when there is no
// entry or the entry is older than TTL, and an error for an entry that
// cannot be used: unreadable, or not what [Cache.StoreFiles] wrote, byte
// for byte (callers treat it as a miss, and the next store replaces it).
func (c *Cache) Load(key string) (*Entry, error) {
	p := c.path(key)
	info, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c.TTL > 0 && time.Since(info.ModTime()) > c.TTL {
		return nil, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	raw, err := splitEntry(data)
	if err != nil {
		return nil, fmt.Errorf("descriptor cache %s: %w", p, err)
	}
	files, err := buildTrusted(raw)
	if err != nil {
		return nil, fmt.Errorf("descriptor cache %s: %w", p, err)
	}
	return &Entry{Files: files, raw: raw}, nil
}

// checksumField is the field of an entry, beside the set's files (field
// 1), that holds the SHA-256 of the bytes before it.
const checksumField = 15

// errChecksum reports an entry whose bytes are not the ones written.
var errChecksum = errors.New("checksum does not match: the entry was changed or damaged after it was written")

// splitEntry returns the serialized files of an entry, without decoding
// them, once its checksum shows they are the bytes [Cache.StoreFiles]
// wrote.
func splitEntry(data []byte) ([][]byte, error) {
	var raw [][]byte
	for rest := data; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		if typ != protowire.BytesType || (num != 1 && num != checksumField) {
			return nil, fmt.Errorf("unexpected field %d", num)
		}
		v, m := protowire.ConsumeBytes(rest[n:])
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		if num == checksumField {
			sum := sha256.Sum256(data[:len(data)-len(rest)])
			if !bytes.Equal(v, sum[:]) || n+m != len(rest) {
				return nil, errChecksum
			}
			return raw, nil
		}
		raw = append(raw, v)
		rest = rest[n+m:]
	}
	return nil, errChecksum
}

// buildTrusted turns files into descriptors the way generated Go code is
// turned into them (protoimpl's builder), which reads the serialized
// descriptors directly: building them through protodesc would first decode
// them into descriptorpb messages and validate them, which costs a one-shot
// call more than the rest of its set-up. It is only for files that
// [Cache.StoreFiles] checked build the same this way as with protodesc, and
// whose checksum shows they are unchanged since. Even so, the builder takes
// its input as well formed and panics otherwise, so a panic here is an
// error; each file is fully built here rather than on first use; and what
// the builder would leave unresolved (it makes placeholders where protodesc
// fails) is an error too.
func buildTrusted(raw [][]byte) (files *protoregistry.Files, err error) {
	defer func() {
		if r := recover(); r != nil {
			files, err = nil, fmt.Errorf("malformed descriptors: %v", r)
		}
	}()
	files = new(protoregistry.Files)
	for _, b := range raw {
		if err := addWellKnownDeps(files, fileImports(b)); err != nil {
			return nil, err
		}
		fd := protoimpl.DescBuilder{RawDescriptor: b, FileRegistry: files}.Build().File
		if err := resolved(fd); err != nil {
			return nil, fmt.Errorf("%s: %w", fd.Path(), err)
		}
	}
	return files, nil
}

// resolved reports an import, field type, extendee or method type of fd
// that did not resolve, or a field of no known kind. Asking for the imports
// builds the whole file.
func resolved(fd protoreflect.FileDescriptor) error {
	imports := fd.Imports()
	for i := range imports.Len() {
		if imp := imports.Get(i); imp.IsPlaceholder() {
			return fmt.Errorf("import %s is missing", imp.Path())
		}
	}
	if err := resolvedFields(fd.Extensions()); err != nil {
		return err
	}
	if err := resolvedMessages(fd.Messages()); err != nil {
		return err
	}
	services := fd.Services()
	for i := range services.Len() {
		methods := services.Get(i).Methods()
		for j := range methods.Len() {
			m := methods.Get(j)
			if m.Input().IsPlaceholder() || m.Output().IsPlaceholder() {
				return fmt.Errorf("method %s: a type did not resolve", m.FullName())
			}
		}
	}
	return nil
}

func resolvedMessages(msgs protoreflect.MessageDescriptors) error {
	for i := range msgs.Len() {
		m := msgs.Get(i)
		if err := resolvedFields(m.Fields()); err != nil {
			return err
		}
		if err := resolvedFields(m.Extensions()); err != nil {
			return err
		}
		if err := resolvedMessages(m.Messages()); err != nil {
			return err
		}
	}
	return nil
}

// fieldList is what message fields and extensions have in common.
type fieldList interface {
	Len() int
	Get(int) protoreflect.FieldDescriptor
}

func resolvedFields(fields fieldList) error {
	for i := range fields.Len() {
		f := fields.Get(i)
		switch {
		case f.Kind() == 0:
			return fmt.Errorf("field %s has no type", f.FullName())
		case f.Message() != nil && f.Message().IsPlaceholder(),
			f.Enum() != nil && f.Enum().IsPlaceholder(),
			f.IsExtension() && f.ContainingMessage().IsPlaceholder():
			return fmt.Errorf("field %s: a type did not resolve", f.FullName())
		}
	}
	return nil
}

// BuildFiles turns a set into descriptors with protodesc, validating them.
// The set's files may come in any order (reflection sends a file before
// the files it imports); each is built after the files of the set it
// imports. The well-known files ([IsWellKnownFile]: descriptor.proto and
// the other google/protobuf files, and the google.api annotations) are
// taken from those compiled into grpcx, which are the same files, whether
// or not the set holds them.
func BuildFiles(set *descriptorpb.FileDescriptorSet) (*protoregistry.Files, error) {
	byName := map[string]*descriptorpb.FileDescriptorProto{}
	for _, fdp := range set.GetFile() {
		byName[fdp.GetName()] = fdp
	}
	files := new(protoregistry.Files)
	visiting := map[string]bool{}
	var build func(fdp *descriptorpb.FileDescriptorProto) error
	build = func(fdp *descriptorpb.FileDescriptorProto) error {
		name := fdp.GetName()
		if _, err := files.FindFileByPath(name); err == nil || IsWellKnownFile(name) {
			return nil
		}
		if visiting[name] {
			return fmt.Errorf("%s: imports itself through the files it imports", name)
		}
		visiting[name] = true
		for _, dep := range fdp.GetDependency() {
			if d, ok := byName[dep]; ok {
				if err := build(d); err != nil {
					return err
				}
			}
		}
		if err := addWellKnownDeps(files, fdp.GetDependency()); err != nil {
			return err
		}
		fd, err := protodesc.NewFile(fdp, files)
		if err != nil {
			return err
		}
		return files.RegisterFile(fd)
	}
	for _, fdp := range set.GetFile() {
		if err := build(fdp); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// addWellKnownDeps registers in files the compiled-in well-known files
// among deps that it does not hold yet. Their own imports are left out:
// a file's types resolve through the files it imports directly (the
// well-known files import none publicly), and asking a compiled-in file
// for its imports builds the whole of it, a cost on a cached call's
// critical path.
func addWellKnownDeps(files *protoregistry.Files, deps []string) error {
	for _, dep := range deps {
		if _, err := files.FindFileByPath(dep); err == nil || !IsWellKnownFile(dep) {
			continue
		}
		if fd, err := protoregistry.GlobalFiles.FindFileByPath(dep); err == nil {
			if err := files.RegisterFile(fd); err != nil {
				return fmt.Errorf("register %s: %w", dep, err)
			}
		}
	}
	return nil
}

// fileImports reads the imports (field 3) of a serialized
// FileDescriptorProto without decoding the rest.
func fileImports(b []byte) []string {
	var deps []string
	_ = rangeFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == 3 && typ == protowire.BytesType {
			deps = append(deps, string(v))
		}
		return nil
	})
	return deps
}

// IsWellKnownFile reports whether a file is one grpcx has compiled in and
// takes as given: a well-known type's file (google/protobuf/) or a
// google.api file (google/api/), such as the annotations, that grpcx
// links. Any other file under those names, such as a google/api file that
// grpcx does not link, is the server's to describe, like the rest.
func IsWellKnownFile(name string) bool {
	if !strings.HasPrefix(name, "google/protobuf/") && !strings.HasPrefix(name, "google/api/") {
		return false
	}
	_, err := protoregistry.GlobalFiles.FindFileByPath(name)
	return err == nil
}

// StoreFiles writes serialized files (FileDescriptorProtos, as reflection
// sends them or [EncodeFiles] writes them) under key, atomically, without
// the well-known files; older's files that files lacks (by name) are kept,
// so that the entry keeps the other methods it holds, unless they no longer
// build with files. Stored as they came,
// the files pass [Entry.Holds] when the server next sends the same ones.
// Files are stored only when they build, each after the files it imports,
// into the same descriptors the way [Cache.Load] builds them as with
// protodesc, which validates them: Load trusts what it reads.
func (c *Cache) StoreFiles(key string, files [][]byte, older *Entry) error {
	have := map[string]bool{}
	for _, b := range files {
		have[fileName(b)] = true
	}
	var all [][]byte
	if older != nil {
		for _, b := range older.raw {
			if !have[fileName(b)] {
				all = append(all, b)
			}
		}
	}
	kept := len(all)
	all = dependencyOrder(append(all, files...))
	err := buildsAlike(all)
	if err != nil && kept > 0 {
		// older's files do not fit with the new ones (a type moved to
		// another file, say): the new ones alone, rather than neither.
		all = dependencyOrder(files)
		err = buildsAlike(all)
	}
	if err != nil {
		return fmt.Errorf("descriptor cache: not storing files it could not load as checked: %w", err)
	}
	var data []byte
	for _, b := range all {
		data = protowire.AppendTag(data, 1, protowire.BytesType)
		data = protowire.AppendBytes(data, b)
	}
	sum := sha256.Sum256(data)
	data = protowire.AppendTag(data, checksumField, protowire.BytesType)
	data = protowire.AppendBytes(data, sum[:])
	return c.write(key, data)
}

// dependencyOrder returns files without the well-known ones, each after
// the files of the list it imports, otherwise in the order given.
func dependencyOrder(files [][]byte) [][]byte {
	byName := map[string][]byte{}
	for _, b := range files {
		byName[fileName(b)] = b
	}
	var out [][]byte
	done := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		b, ok := byName[name]
		if !ok || done[name] || IsWellKnownFile(name) {
			return
		}
		done[name] = true
		for _, dep := range fileImports(b) {
			visit(dep)
		}
		out = append(out, b)
	}
	for _, b := range files {
		visit(fileName(b))
	}
	return out
}

// buildsAlike checks that files build with protodesc, and into the same
// descriptors with [buildTrusted].
func buildsAlike(files [][]byte) error {
	set, err := DecodeFiles(files)
	if err != nil {
		return err
	}
	checked, err := BuildFiles(set)
	if err != nil {
		return err
	}
	trusted, err := buildTrusted(files)
	if err != nil {
		return err
	}
	for _, f := range set.GetFile() {
		want, err1 := checked.FindFileByPath(f.GetName())
		got, err2 := trusted.FindFileByPath(f.GetName())
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if !proto.Equal(protodesc.ToFileDescriptorProto(got), protodesc.ToFileDescriptorProto(want)) {
			return fmt.Errorf("%s builds differently without protodesc", f.GetName())
		}
	}
	return nil
}

// write puts data in place under key: a temporary file renamed into place,
// so that a reader sees the old entry or the new one, never a mixture.
func (c *Cache) write(key string, data []byte) error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("descriptor cache: %w", err)
	}
	tmp, err := os.CreateTemp(c.Dir, key+".*.tmp")
	if err != nil {
		return fmt.Errorf("descriptor cache: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("descriptor cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path(key)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("descriptor cache: %w", err)
	}
	c.prune(time.Now())
	return nil
}

// Entries not written for pruneAge (the cache keeps one per target and
// reflection headers, and nothing else removes them), and temporary files
// a writer left behind for over an hour, are removed when an entry is
// written.
const (
	pruneAge    = 30 * 24 * time.Hour
	pruneTmpAge = time.Hour
)

// prune removes old entries and abandoned temporary files from c.Dir.
// Entries still in use are rewritten when their TTL runs out, so an entry
// is this old only if no call has used it for as long; with a TTL longer
// than pruneAge, entries are kept for the TTL.
func (c *Cache) prune(now time.Time) {
	dirEntries, err := os.ReadDir(c.Dir)
	if err != nil {
		return
	}
	entryAge := max(pruneAge, c.TTL)
	for _, de := range dirEntries {
		maxAge := entryAge
		switch name := de.Name(); {
		case strings.HasSuffix(name, ".tmp"):
			maxAge = pruneTmpAge
		case !strings.HasSuffix(name, ".protoset"):
			continue // not ours
		}
		if info, err := de.Info(); err == nil && info.Mode().IsRegular() && now.Sub(info.ModTime()) > maxAge {
			os.Remove(filepath.Join(c.Dir, de.Name()))
		}
	}
}

// EncodeFiles serializes every file of files but the well-known ones,
// dependencies before the files that import them, for [Cache.StoreFiles].
func EncodeFiles(files *protoregistry.Files) ([][]byte, error) {
	var out [][]byte
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor) error
	add = func(fd protoreflect.FileDescriptor) error {
		if seen[fd.Path()] || IsWellKnownFile(fd.Path()) {
			return nil // grpcx has the well-known files compiled in
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			if err := add(imports.Get(i).FileDescriptor); err != nil {
				return err
			}
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(protodesc.ToFileDescriptorProto(fd))
		out = append(out, b)
		return err
	}
	var err error
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		err = add(fd)
		return err == nil
	})
	return out, err
}

// FromFiles returns a source over a set of files, such as a cache entry.
func FromFiles(files *protoregistry.Files) Source { return newFileSource(files) }

// Collect returns a registry holding the files that define ds and every
// file they import, for storing in a [Cache].
func Collect(ds ...protoreflect.Descriptor) (*protoregistry.Files, error) {
	files := new(protoregistry.Files)
	for _, d := range ds {
		if err := registerWithDeps(files, d.ParentFile()); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// FileClosure returns the files that define ds and every file they import,
// well-known ones included, each after the files it imports: a set that
// stands alone, as a protoset for other tools should.
func FileClosure(ds ...protoreflect.Descriptor) []protoreflect.FileDescriptor {
	var out []protoreflect.FileDescriptor
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		out = append(out, fd)
	}
	for _, d := range ds {
		add(d.ParentFile())
	}
	return out
}

// SameFiles reports whether every file of fetched is in cached, equal.
func SameFiles(fetched, cached *descriptorpb.FileDescriptorSet) bool {
	byName := make(map[string]*descriptorpb.FileDescriptorProto, len(cached.GetFile()))
	for _, f := range cached.GetFile() {
		byName[f.GetName()] = f
	}
	for _, f := range fetched.GetFile() {
		if c, ok := byName[f.GetName()]; !ok || !proto.Equal(c, f) {
			return false
		}
	}
	return len(fetched.GetFile()) > 0
}
