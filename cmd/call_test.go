package cmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// The test server's descriptor files, relative to this package.
const (
	protoDir    = "../testserver/proto"
	testProto   = protoDir + "/grpcx/test/v1/test.proto"
	hiddenProto = protoDir + "/grpcx/hidden/v1/hidden.proto"
)

// runResult is what one run of grpcx left behind.
type runResult struct {
	code           int
	stdout, stderr string
}

// run runs grpcx in-process with args and stdin, and fails the test if it
// does not return within 20 seconds.
func run(t *testing.T, stdin io.Reader, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, args, stdin, &stdout, &stderr) }()
	select {
	case code := <-done:
		return runResult{code, stdout.String(), stderr.String()}
	case <-time.After(20 * time.Second):
		cancel()
		<-done
		t.Fatalf("grpcx %s did not return within 20s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), &stdout, &stderr)
		return runResult{}
	}
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestCallExitCodes(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // exact, when not empty
		stderrHas  []string
		stderrNone bool
	}{
		{
			name:       "ok",
			args:       []string{"call", "--plaintext", addr, "grpcx.test.v1.TestService/Unary", "-d", `{"message": "hi", "number": 3}`},
			code:       0,
			stdout:     "{\n  \"message\": \"hi\",\n  \"number\": 3\n}\n",
			stderrNone: true,
		},
		{
			name:      "unknown method",
			args:      []string{"call", "--plaintext", addr, "grpcx.test.v1.TestService/Unry", "-d", `{}`},
			code:      1,
			stderrHas: []string{`no method "Unry"`, "did you mean grpcx.test.v1.TestService.Unary"},
		},
		{
			name:      "unknown service",
			args:      []string{"call", "--plaintext", addr, "grpcx.test.v1.NoService/Unary", "-d", `{}`},
			code:      1,
			stderrHas: []string{`service "grpcx.test.v1.NoService" not found`},
		},
		{
			name:      "unknown field in the request",
			args:      []string{"call", "--plaintext", addr, "grpcx.test.v1.TestService/Unary", "-d", `{"mesage": "hi"}`},
			code:      1,
			stderrHas: []string{`unknown field "mesage"`, "--allow-unknown-fields"},
		},
		{
			name:      "connection refused",
			args:      []string{"call", "--plaintext", closedAddr(t), "grpcx.test.v1.TestService/Unary", "-d", `{}`},
			code:      1,
			stderrHas: []string{"connection refused"},
		},
		{
			name:      "bad flag",
			args:      []string{"call", "--no-such-flag", "--plaintext", addr, "grpcx.test.v1.TestService/Unary"},
			code:      2,
			stderrHas: []string{"no-such-flag", "Run 'grpcx --help'"},
		},
		{
			name:      "missing method argument",
			args:      []string{"call", "--plaintext", addr},
			code:      2,
			stderrHas: []string{"METHOD"},
		},
		{
			name: "NotFound status",
			args: []string{"call", "--plaintext", addr, "grpcx.test.v1.TestService/Fail", "-d", `{"code": 5, "message": "no such thing", "details": true}`},
			code: 69,
			stderrHas: []string{
				"Code: NotFound", "Message: no such thing",
				`"reason": "TEST_FAILURE"`,
				// Reflection hides the Secret's type: it is shown raw.
				"type.googleapis.com/grpcx.test.hidden.v1.Secret", `"@value"`,
			},
		},
		{
			name: "NotFound status with the hidden type from a .proto",
			args: []string{"call", "--plaintext", "--proto", hiddenProto, "-I", protoDir, addr,
				"grpcx.test.v1.TestService/Fail", "-d", `{"code": 5, "message": "no such thing", "details": true}`},
			code:      69,
			stderrHas: []string{"Code: NotFound", `"code": "s3cret"`, `"level": "7"`},
		},
		{
			name:      "PermissionDenied status",
			args:      []string{"call", "--plaintext", addr, "grpcx.test.v1.TestService/Fail", "-d", `{"code": 7}`},
			code:      64 + 7,
			stderrHas: []string{"Code: PermissionDenied"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, strings.NewReader(""), tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.stdout != "" && r.stdout != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, tt.stdout)
			}
			if tt.stderrNone && r.stderr != "" {
				t.Errorf("stderr:\n%s\nwant nothing", r.stderr)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}

// startNoReflectionServer serves TestService alone, without reflection,
// and returns its address.
func startNoReflectionServer(t *testing.T) string {
	t.Helper()
	s := grpc.NewServer()
	testpb.RegisterTestServiceServer(s, testserver.NewService())
	return testutil.Serve(t, "127.0.0.1:0", s)
}

// TestNoReflection checks that a server without reflection is reported as
// such, with the way around it, as an ordinary failure (exit 1): no call was
// made, so no call's status decides the exit code.
func TestNoReflection(t *testing.T) {
	addr := startNoReflectionServer(t)
	for _, args := range [][]string{
		{"list", "--plaintext", addr},
		{"describe", "--plaintext", addr, "grpcx.test.v1.TestService"},
		{"call", "--plaintext", addr, "grpcx.test.v1.TestService/Unary", "-d", "{}"},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := run(t, strings.NewReader(""), args...)
			if r.code != 1 {
				t.Errorf("exit code %d, want 1", r.code)
			}
			for _, want := range []string{"does not support the reflection API", "--proto or --protoset"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// TestCallWithoutReflectionUnknownService checks that a server without
// reflection, described by --proto, reports an unknown service as unknown
// rather than blaming the missing reflection the user has already replaced.
func TestCallWithoutReflectionUnknownService(t *testing.T) {
	addr := startNoReflectionServer(t)

	r := run(t, strings.NewReader(""), "call", "--plaintext", "--proto", testProto, "-I", protoDir, addr,
		"grpcx.test.v1.TestService/Unary", "-d", `{"message": "files"}`)
	if r.code != 0 || r.stdout != "{\n  \"message\": \"files\"\n}\n" {
		t.Fatalf("known method: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	r = run(t, strings.NewReader(""), "call", "--plaintext", "--proto", testProto, "-I", protoDir, addr,
		"grpcx.test.v1.NoService/Unary", "-d", `{}`)
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, `service "grpcx.test.v1.NoService" not found`) {
		t.Errorf("stderr does not say the service was not found:\n%s", r.stderr)
	}
}

// timedLine is one line of output and when it was read.
type timedLine struct {
	text string
	at   time.Time
}

// readLines reads r line by line, sending each line with the time it
// arrived, until r ends; then it closes the channel.
func readLines(r io.Reader) <-chan timedLine {
	lines := make(chan timedLine, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- timedLine{sc.Text(), time.Now()}
		}
	}()
	return lines
}

// TestCallServerStreamPrintsAsItArrives proves each message is printed when
// it arrives, not when the call ends: the server sends one message a second.
func TestCallServerStreamPrintsAsItArrives(t *testing.T) {
	t.Parallel()
	addr := testutil.StartServer(t, testserver.Options{})
	pr, pw := io.Pipe()
	t.Cleanup(func() { pr.Close() })
	lines := readLines(pr)

	var stderr bytes.Buffer
	code := Main(t.Context(), []string{"call", "--plaintext", "-o", "jsonl", addr, "grpcx.test.v1.TestService/ServerStream",
		"-d", `{"count": 3, "interval": "1s", "message": "tick"}`}, strings.NewReader(""), pw, &stderr)
	returned := time.Now()
	pw.Close()
	if code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", code, &stderr)
	}

	var got []timedLine
	for l := range lines {
		got = append(got, l)
	}
	want := []string{
		`{"message":"tick"}`,
		`{"message":"tick","number":1,"index":1}`,
		`{"message":"tick","number":2,"index":2}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].text != want[i] {
			t.Errorf("line %d = %s, want %s", i+1, got[i].text, want[i])
		}
	}
	if early := returned.Sub(got[0].at); early < 1500*time.Millisecond {
		t.Errorf("first message printed only %v before the call returned, want about 2s: output is held back", early)
	}
}

// TestCallBidiInteractive talks to a bidi method the way a user at a
// terminal does: each request is written only once the answer to the
// previous one has been printed.
func TestCallBidiInteractive(t *testing.T) {
	t.Parallel()
	addr := testutil.StartServer(t, testserver.Options{})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	lines := readLines(outR)

	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"call", "--plaintext", "-o", "jsonl", addr, "grpcx.test.v1.TestService/Bidi"}, inR, outW, &stderr)
		outW.Close()
	}()

	write := func(s string) {
		t.Helper()
		written := make(chan error, 1)
		go func() { _, err := io.WriteString(inW, s); written <- err }()
		select {
		case err := <-written:
			if err != nil {
				t.Fatalf("write %q: %v", s, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("grpcx did not read %q from stdin", s)
		}
	}
	expect := func(want string) {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stdout ended, want %s; stderr:\n%s", want, &stderr)
			}
			if l.text != want {
				t.Fatalf("stdout line %s, want %s", l.text, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no response %s on stdout while stdin is still open", want)
		}
	}

	write(`{"message": "one", "number": 1}` + "\n")
	expect(`{"message":"one","number":1}`)
	write("{\n  \"message\": \"two\",\n  \"number\": 2\n}\n")
	expect(`{"message":"two","number":2,"index":1}`)
	inW.Close()

	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d, stderr:\n%s", code, &stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("grpcx did not return after stdin was closed")
	}
	if l, ok := <-lines; ok {
		t.Errorf("unexpected output after the last response: %s", l.text)
	}
}

// brokenWriter fails every write, as a full disk or a closed pipe does.
type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestCallReportsWriteErrors: output that could not be written fails the
// call with exit code 1, in every output format, the envelope included.
func TestCallReportsWriteErrors(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	for _, output := range []string{"json", "jsonl", "text", "envelope"} {
		var stderr bytes.Buffer
		code := Main(t.Context(), []string{"call", "--plaintext", "-o", output, addr, "grpcx.test.v1.TestService/ServerStream", "-d", `{"count": 3}`},
			strings.NewReader(""), brokenWriter{}, &stderr)
		if code != exitFailure || !strings.Contains(stderr.String(), "write responses: no space left on device") {
			t.Errorf("-o %s: exit %d, stderr %q; want 1 and the write error", output, code, &stderr)
		}
	}
}
