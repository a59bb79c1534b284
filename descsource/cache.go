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
	"google.golang.org/protobuf/types/descriptorpb"
)

// Cache keeps the descriptors reflection returned for a target on disk, so
// that a repeat call needs no reflection round trip before it starts. Each
// entry is a protoset file named by a hash of its key; writes go to a
// temporary file renamed into place, so concurrent grpcx processes never
// see a torn file (the last writer wins).
type Cache struct {
	// Dir holds the entries.
	Dir string
	// TTL is how long an entry is used; an older one is refetched.
	TTL time.Duration
}

// DefaultCacheDir is grpcx's directory in the user's cache directory
// ($XDG_CACHE_HOME, else ~/.cache, on Linux).
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
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
	// Set holds the files as stored.
	Set *descriptorpb.FileDescriptorSet
	// Files holds them as descriptors, with the well-known files grpcx
	// has compiled in.
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

// Fresh reports whether there is an entry under key young enough to use,
// without reading it.
func (c *Cache) Fresh(key string) bool {
	info, err := os.Stat(c.path(key))
	return err == nil && (c.TTL <= 0 || time.Since(info.ModTime()) <= c.TTL)
}

// Load returns the entry cached under key. It returns nil when there is no
// entry or the entry is older than TTL, and an error only for an entry that
// cannot be read or parsed (which callers treat as a miss).
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
	set := new(descriptorpb.FileDescriptorSet)
	if err := proto.Unmarshal(data, set); err != nil {
		return nil, fmt.Errorf("descriptor cache %s: %w", p, err)
	}
	raw, err := splitSet(data)
	if err != nil {
		return nil, fmt.Errorf("descriptor cache %s: %w", p, err)
	}
	files, err := BuildFiles(set)
	if err != nil {
		return nil, fmt.Errorf("descriptor cache %s: %w", p, err)
	}
	return &Entry{Set: set, Files: files, raw: raw}, nil
}

// splitSet returns the serialized files (field 1) of a serialized
// FileDescriptorSet, without decoding them.
func splitSet(data []byte) ([][]byte, error) {
	var raw [][]byte
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		data = data[n:]
		if num != 1 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, data)
		} else {
			var b []byte
			b, n = protowire.ConsumeBytes(data)
			raw = append(raw, b)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		data = data[n:]
	}
	return raw, nil
}

// BuildFiles turns a set into descriptors, dependencies first. The
// well-known types (google/protobuf/*.proto, descriptor.proto among them)
// and the google.api annotations are taken from those compiled into grpcx,
// which are the same files, whether or not the set holds them: a cached call
// should cost as little as the call itself.
func BuildFiles(set *descriptorpb.FileDescriptorSet) (*protoregistry.Files, error) {
	files := new(protoregistry.Files)
	for _, fdp := range set.GetFile() {
		if IsWellKnownFile(fdp.GetName()) {
			continue
		}
		for _, dep := range fdp.GetDependency() {
			if _, err := files.FindFileByPath(dep); err == nil || !IsWellKnownFile(dep) {
				continue
			}
			if fd, err := protoregistry.GlobalFiles.FindFileByPath(dep); err == nil {
				if err := registerWithDeps(files, fd); err != nil {
					return nil, err
				}
			}
		}
		fd, err := protodesc.NewFile(fdp, files)
		if err != nil {
			return nil, err
		}
		if err := files.RegisterFile(fd); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// IsWellKnownFile reports whether a file is one grpcx has compiled in and
// takes as given: the well-known types and the google.api annotations.
func IsWellKnownFile(name string) bool {
	return strings.HasPrefix(name, "google/protobuf/") || strings.HasPrefix(name, "google/api/")
}

// withoutWellKnown drops the files [BuildFiles] takes from grpcx itself.
func withoutWellKnown(set *descriptorpb.FileDescriptorSet) *descriptorpb.FileDescriptorSet {
	out := &descriptorpb.FileDescriptorSet{}
	for _, f := range set.GetFile() {
		if !IsWellKnownFile(f.GetName()) {
			out.File = append(out.File, f)
		}
	}
	return out
}

// Store writes a set of files under key, atomically, without the
// well-known files, which grpcx has compiled in.
func (c *Cache) Store(key string, set *descriptorpb.FileDescriptorSet) error {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(withoutWellKnown(set))
	if err != nil {
		return err
	}
	return c.write(key, data)
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
	return nil
}

// StoreFiles writes serialized files (FileDescriptorProtos, as reflection
// sends them) under key, as they are, atomically; older's files that files
// lacks (by name) are kept, so that the entry keeps the other methods it
// holds. Stored as they came, the files pass [Entry.Holds] when the server
// next sends the same ones.
func (c *Cache) StoreFiles(key string, files [][]byte, older *Entry) error {
	have := map[string]bool{}
	for _, b := range files {
		have[fileName(b)] = true
	}
	var data []byte
	add := func(b []byte) {
		if name := fileName(b); !IsWellKnownFile(name) {
			data = protowire.AppendTag(data, 1, protowire.BytesType)
			data = protowire.AppendBytes(data, b)
		}
	}
	if older != nil {
		// Older files first: newer ones may import them, never the
		// reverse, unless a newer file replaces one of them.
		for _, b := range older.raw {
			if !have[fileName(b)] {
				add(b)
			}
		}
	}
	for _, b := range files {
		add(b)
	}
	return c.write(key, data)
}

// FileSet returns every file of files as a FileDescriptorSet, dependencies
// before the files that import them.
func FileSet(files *protoregistry.Files) *descriptorpb.FileDescriptorSet {
	set := new(descriptorpb.FileDescriptorSet)
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
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		add(fd)
		return true
	})
	return set
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

// MergeSets returns the files of newer followed by those of older whose
// names newer lacks, so that an entry keeps the other methods it holds.
// The result is in dependency order when both sets are.
func MergeSets(newer, older *descriptorpb.FileDescriptorSet) *descriptorpb.FileDescriptorSet {
	have := map[string]bool{}
	out := &descriptorpb.FileDescriptorSet{}
	for _, f := range newer.GetFile() {
		have[f.GetName()] = true
	}
	// Older files first: newer ones may import them, never the reverse,
	// unless a newer file replaces one of them.
	for _, f := range older.GetFile() {
		if !have[f.GetName()] {
			out.File = append(out.File, f)
		}
	}
	out.File = append(out.File, newer.GetFile()...)
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
