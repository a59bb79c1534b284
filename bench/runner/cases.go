package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// service is the full name of the bundled test service every case calls.
const service = "grpcx.test.v1.TestService"

// grpcxCall is grpcx's command line for one call: the one place to edit to
// benchmark other grpcx flags.
func grpcxCall(grpcx, addr, method string) []string {
	return []string{grpcx, "call", "--plaintext", addr, service + "/" + method}
}

// stubCall is the stub client's command line for one call.
func stubCall(stub, addr, method string) []string {
	return []string{stub, "-addr", addr, "-method", method}
}

// otherCall is the command line of another client that takes grpcurl's
// arguments, given as a command prefix such as "grpcurl -plaintext".
func otherCall(prefix []string, addr, method string) []string {
	return append(slices.Clone(prefix), "-d", "@", addr, service+"/"+method)
}

// A benchCase is one workload: a method and the requests fed to it on
// standard input.
type benchCase struct {
	name   string
	method string
	input  string
	goal   float64 // largest acceptable grpcx/stub wall-time ratio; 0: none
	// minRounds is the fewest rounds the case runs, whatever -rounds
	// says: a one-call case takes milliseconds, so its median needs more
	// rounds to settle and they cost little.
	minRounds int
}

// oneCallRounds is the fewest rounds of the one-call cases.
const oneCallRounds = 101

// streamRounds is the fewest rounds of the 100k stream cases, whose times
// move by a tenth or more from one round to the next on a small machine.
const streamRounds = 11

// The memory check compares grpcx's peak RSS on two lengths of the same
// server stream: streaming should not hold on to what it has printed.
const (
	memorySmall = "memory-10k"
	memoryLarge = "memory-1M"
	memoryGoal  = 1.2 // largest acceptable large/small peak RSS ratio
)

// allCases returns every case, in the order they run.
func allCases() []benchCase {
	return []benchCase{
		{name: "unary", method: "Unary", input: `{"message":"hi"}`, goal: 1.3, minRounds: oneCallRounds},
		{name: "unary-1MiB", method: "Payload", input: `{"size":1048576}`, goal: 1.3, minRounds: oneCallRounds},
		{name: "server-stream-100k", method: "ServerStream", input: `{"count":100000,"message":"m"}`, goal: 1.1, minRounds: streamRounds},
		{name: "client-stream-100k", method: "ClientStream", input: echoLines(100_000), goal: 1.1, minRounds: streamRounds},
		{name: "bidi-100k", method: "Bidi", input: echoLines(100_000), goal: 1.1, minRounds: streamRounds},
		{name: memorySmall, method: "ServerStream", input: `{"count":10000,"message":"m"}`},
		{name: memoryLarge, method: "ServerStream", input: `{"count":1000000,"message":"m"}`},
	}
}

// echoLines returns n EchoRequest values, one a line.
func echoLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"message\":\"m\",\"number\":%d}\n", i)
	}
	return b.String()
}

// selectCases returns the cases named in the comma-separated list, all of
// them when it is empty. "memory" names both memory cases.
func selectCases(list string) ([]benchCase, error) {
	all := allCases()
	if list == "" {
		return all, nil
	}
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		if name == "memory" {
			want[memorySmall], want[memoryLarge] = true, true
			continue
		}
		if !slices.ContainsFunc(all, func(c benchCase) bool { return c.name == name }) {
			return nil, fmt.Errorf("unknown case %q (want a comma-separated list of unary, unary-1MiB, server-stream-100k, client-stream-100k, bidi-100k, memory)", name)
		}
		want[name] = true
	}
	return slices.DeleteFunc(all, func(c benchCase) bool { return !want[c.name] }), nil
}

// writeInputs writes each case's input to a file in dir and returns the
// paths, by case name.
func writeInputs(dir string, cases []benchCase) (map[string]string, error) {
	paths := map[string]string{}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".json")
		if err := os.WriteFile(path, []byte(c.input), 0o644); err != nil {
			return nil, err
		}
		paths[c.name] = path
	}
	return paths, nil
}
