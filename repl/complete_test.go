package repl

import (
	"context"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

func testSession(t *testing.T) *Session {
	t.Helper()
	src, err := descsource.FromProtosets([]string{filepath.Join("..", "testserver", "proto", "testserver.protoset")})
	if err != nil {
		t.Fatal(err)
	}
	return &Session{
		cfg:     Config{Files: src},
		headers: metadata.Pairs("x-trace", "1"),
		format:  format.Options{Output: format.JSON},
		history: []string{"header authorization Bearer ***"},
	}
}

// complete returns the completed words for line, as the user would see
// them after Tab.
func complete(s *Session, line string) []string {
	cands, n := (&completer{s: s}).Do([]rune(line), len([]rune(line)))
	prefix := line[len(line)-n:]
	var out []string
	for _, c := range cands {
		out = append(out, strings.TrimSpace(prefix+string(c)))
	}
	sort.Strings(out)
	return out
}

func TestCompleter(t *testing.T) {
	s := testSession(t)
	svc, err := descsource.FindService(s.cfg.Files, "grpcx.test.v1.TestService")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, line string
		inService  bool
		want       []string
	}{
		{"commands", "he", false, []string{"header", "help"}},
		{"services", "use grpcx.test.v1.A", false, []string{"grpcx.test.v1.AuthService"}},
		{"full method names", "call grpcx.test.v1.TestService/Se", false, []string{"grpcx.test.v1.TestService/ServerStream"}},
		{"short method names in a service", "call Cl", true, []string{"ClientStream"}},
		{"shorthand at the start", "Bi", true, []string{"Bidi"}},
		{"call --fill", "call --fill Ech", true, []string{"EchoMetadata", "EchoTypes"}},
		{"message names", "template grpcx.test.v1.AllTypes.N", false, []string{"grpcx.test.v1.AllTypes.Nested"}},
		{"header names used", "header -d ", false, []string{"authorization", "x-trace"}},
		{"settings", "set e", false, []string{"emit-defaults"}},
		{"setting values", "set output j", false, []string{"json", "jsonl"}},
		{"JSON keys of the request", `Unary {"message": "x", "n`, true, []string{`"number":`}},
		{"JSON keys after call", `call grpcx.test.v1.TestService/ServerStream {`, false, []string{`"count":`, `"emptyEvery":`, `"failAfter":`, `"interval":`, `"message":`}},
		{"JSON keys of a nested message", `EchoTypes {"fInt32": 1, "nested": {"`, true, []string{`"child":`, `"name":`, `"values":`}},
		{"JSON keys deeper, by .proto name too", `EchoTypes {"nested": {"name": "a", "child": {"va`, true, []string{`"values":`}},
		{"JSON keys of a list's messages", `EchoTypes {"items": [{"name": "a"}, {"ch`, true, []string{`"child":`}},
		{"JSON keys of a map's values", `EchoTypes {"byId": {"7": {"na`, true, []string{`"name":`}},
		{"JSON keys after a closed object", `EchoTypes {"nested": {"name": "a"}, "fInt6`, true, []string{`"fInt64":`}},
		{"no keys inside a value", `EchoTypes {"fString": "a, b`, true, nil},
		{"no keys for a map's own object", `EchoTypes {"counts": {"`, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.service = nil
			if tc.inService {
				s.service = svc
			}
			if diff := cmp.Diff(tc.want, complete(s, tc.line)); diff != "" {
				t.Errorf("completing %q (-want +got):\n%s", tc.line, diff)
			}
		})
	}
}

func TestCompleterFieldPrompt(t *testing.T) {
	s := testSession(t)
	s.setReading(lineKind{choices: []string{"COLOR_RED", "COLOR_GREEN", "COLOR_BLUE"}})
	if diff := cmp.Diff([]string{"COLOR_GREEN"}, complete(s, "COLOR_G")); diff != "" {
		t.Errorf("enum completion in a field prompt (-want +got):\n%s", diff)
	}
	// A field with nothing to choose from completes nothing: not commands.
	s.setReading(lineKind{choices: []string{}})
	if got := complete(s, "he"); len(got) != 0 {
		t.Errorf("a string field's prompt completes %q", got)
	}
}

// TestCompleterStreamEntry: a stream's entry is a JSON request of its
// method: keys complete, commands do not.
func TestCompleterStreamEntry(t *testing.T) {
	s := testSession(t)
	s.setReading(lineKind{entryOf: "grpcx.test.v1.TestService/Bidi"})
	if diff := cmp.Diff([]string{`"message":`}, complete(s, `{"me`)); diff != "" {
		t.Errorf("a stream entry's keys (-want +got):\n%s", diff)
	}
	if got := complete(s, "he"); len(got) != 0 {
		t.Errorf("a stream entry completes %q", got)
	}
}

func TestMaskSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"header authorization Bearer abc": "header authorization Bearer ***",
		"header x-api-token t0k":          "header x-api-token ***",
		"header x-trace 42":               "header x-trace 42",
		"Unary {}":                        "Unary {}",
	} {
		if got := maskSecrets(in); got != want {
			t.Errorf("maskSecrets(%q) = %q, want %q", in, got, want)
		}
	}
}

// silentSource is a descriptor source whose server never answers.
type silentSource struct {
	descsource.Source
	release chan struct{}
}

func (s silentSource) ListServices() ([]protoreflect.FullName, error) {
	<-s.release
	return nil, nil
}

func (s silentSource) FindSymbol(protoreflect.FullName) (protoreflect.Descriptor, error) {
	<-s.release
	return nil, descsource.ErrNotFound
}

// TestCompleteSilentServer: Tab against a server that does not answer
// gives up after completeWait rather than freezing the line editor.
func TestCompleteSilentServer(t *testing.T) {
	s := testSession(t)
	src := silentSource{Source: s.cfg.Files, release: make(chan struct{})}
	defer close(src.release)
	s.cfg.Files = src
	for _, line := range []string{"use ", `call grpcx.test.v1.TestService/Unary {"`} {
		done := make(chan []string, 1)
		go func() { done <- complete(s, line) }()
		select {
		case got := <-done:
			if len(got) > 1 { // ".." only
				t.Errorf("%s: candidates %q from a silent server", line, got)
			}
		case <-time.After(completeWait + 5*time.Second):
			t.Fatalf("%s: Tab waited on a silent server", line)
		}
	}
}

// TestRelativeNames: with a service in use, names are relative to it and to
// its package, dotted and slashed ones included.
func TestRelativeNames(t *testing.T) {
	s := testSession(t)
	ctx := t.Context()
	if err := s.cmdUse(ctx, "grpcx.test.v1.TestService"); err != nil {
		t.Fatal(err)
	}
	src, _ := s.source()
	for name, want := range map[string]protoreflect.FullName{
		"Unary":               "grpcx.test.v1.TestService.Unary",
		"EchoRequest":         "grpcx.test.v1.EchoRequest",
		"EchoRequest.message": "grpcx.test.v1.EchoRequest.message",
		"AuthService":         "grpcx.test.v1.AuthService",
		"TestService/Unary":   "grpcx.test.v1.TestService.Unary",
		"grpcx.test.v1.Color": "grpcx.test.v1.Color",
	} {
		if d, err := s.findSymbol(src, name); err != nil || d.FullName() != want {
			t.Errorf("findSymbol(%s) = %v, %v; want %s", name, d, err, want)
		}
	}
	if m, err := s.findMethod("TestService/Unary"); err != nil || m.FullName() != "grpcx.test.v1.TestService.Unary" {
		t.Errorf("findMethod(TestService/Unary) = %v, %v", m, err)
	}
	var out strings.Builder
	s.out = &out
	if err := s.cmdList(ctx, "TestService"); err != nil || !strings.Contains(out.String(), "grpcx.test.v1.TestService.Unary") {
		t.Errorf("ls TestService: %v\n%s", err, out.String())
	}
	if err := s.cmdUse(ctx, "AuthService"); err != nil || s.service.FullName() != "grpcx.test.v1.AuthService" {
		t.Errorf("use AuthService: %v, in use %v", err, s.service)
	}
}

// TestSetDeadlineAndHeaderUsage: set deadline takes seconds as --max-time
// does, and header -d takes one name, not a value.
func TestSetDeadlineAndHeaderUsage(t *testing.T) {
	s := testSession(t)
	ctx := t.Context()
	for value, want := range map[string]time.Duration{"1": time.Second, "0.25": 250 * time.Millisecond, "2s": 2 * time.Second, "off": 0} {
		if err := s.cmdSet(ctx, "deadline "+value); err != nil || s.deadline != want {
			t.Errorf("set deadline %s: %v, deadline %v; want %v", value, err, s.deadline, want)
		}
	}
	if err := s.cmdSet(ctx, "deadline soon"); err == nil {
		t.Error("set deadline soon succeeded")
	}
	if err := s.cmdHeader(ctx, "-d foo bar"); err == nil || s.headers.Get("-d") != nil {
		t.Errorf("header -d foo bar: %v, headers %v", err, s.headers)
	}
}

// gatedLines is a LineReader whose next line waits for the gate.
type gatedLines struct {
	gate  chan struct{}
	lines []string
}

func (l *gatedLines) ReadLine(string) (string, error) {
	<-l.gate
	if len(l.lines) == 0 {
		return "", io.EOF
	}
	line := l.lines[0]
	l.lines = l.lines[1:]
	return line, nil
}
func (l *gatedLines) Output() (io.Writer, io.Writer) { return io.Discard, io.Discard }

// TestLineSourceEndedReader: a reader whose context has ended (a call's
// request supplier, left behind) never takes a line, even one already
// read; the next reader does.
func TestLineSourceEndedReader(t *testing.T) {
	for range 100 {
		r := &gatedLines{gate: make(chan struct{}), lines: []string{"one"}}
		src := newLineSource(r)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { _, err := src.read(ctx, ""); done <- err }()
		time.Sleep(time.Millisecond)
		cancel() // the call ends while its read waits
		if err := <-done; err == nil {
			t.Fatal("the ended read returned a line")
		}
		close(r.gate) // the read under way finishes: its line is held
		time.Sleep(time.Millisecond)
		if line, err := src.read(ctx, ""); err == nil {
			t.Fatalf("a read with an ended context took %q", line)
		}
		if line, err := src.read(t.Context(), ""); err != nil || line != "one" {
			t.Fatalf("the next reader got %q, %v; want one", line, err)
		}
	}
}

func TestFirstSentence(t *testing.T) {
	for in, want := range map[string]string{
		"make SERVICE the context; .. leaves it": "make SERVICE the context; .. leaves it",
		"call a method. More detail.":            "call a method",
		"no dot at all":                          "no dot at all",
	} {
		if got := firstSentence(in); got != want {
			t.Errorf("firstSentence(%q) = %q, want %q", in, got, want)
		}
	}
}
