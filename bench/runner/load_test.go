package main

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/grpcx/grpcx/testserver/testpb"
)

func TestLoadCases(t *testing.T) {
	sizes := map[string]int{"unary-empty-1conn": 0, "unary-empty-4conn": 0, "unary-100B-4conn": 100}
	for _, c := range loadCases() {
		var req testpb.EchoRequest
		if err := protojson.Unmarshal([]byte(c.data), &req); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got, want := proto.Size(&req), sizes[c.name]; got != want {
			t.Errorf("%s: request of %d bytes, want %d", c.name, got, want)
		}
	}
}

func TestLoadArgv(t *testing.T) {
	o := options{grpcx: "grpcx", load: loadOptions{stubload: "stubload", workers: 50}}
	g, s := loadArgv(o, "127.0.0.1:1", loadCase{"x", "{}", 4}, 50000)
	want := []string{"-n", "50000", "-c", "50", "--connections", "4"}
	for _, argv := range [][]string{g, s} {
		if i := slices.Index(argv, "-n"); i < 0 || !slices.Equal(argv[i:i+len(want)], want) {
			t.Errorf("%q lacks %q", argv, want)
		}
	}
	if !slices.Contains(g, "bench") || !slices.Contains(g, "json") || g[len(g)-1] != "{}" {
		t.Errorf("grpcx argv %q", g)
	}
}
