package descsource_test

import (
	"testing"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/testserver"
)

// The cache-load benchmarks compare what a cached call does with an
// entry (read it, check it, build descriptors from the bytes) with
// building the same files through protodesc, as an uncached call does with
// what reflection sent. Both run warm here; in a fresh process protodesc
// also pays for setting up descriptorpb's message types first.

// testServiceFiles returns the test server's files for the test service,
// as reflection sends them.
func testServiceFiles(tb testing.TB) [][]byte {
	tb.Helper()
	raw, err := descsource.FetchFileBytes(tb.Context(), serverConn(tb, testserver.Options{}), testService)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func BenchmarkCacheLoad(b *testing.B) {
	c := &descsource.Cache{Dir: b.TempDir()}
	if err := c.StoreFiles("k", testServiceFiles(b), nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e, err := c.Load("k")
		if err != nil || e == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildFilesProtodesc(b *testing.B) {
	raw := testServiceFiles(b)
	b.ReportAllocs()
	for b.Loop() {
		set, err := descsource.DecodeFiles(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := descsource.BuildFiles(set); err != nil {
			b.Fatal(err)
		}
	}
}
