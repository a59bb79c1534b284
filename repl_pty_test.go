package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/grpcx/grpcx/internal/latencyproxy"
	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/testserver"
)

// terminal drives a program through a pseudo-terminal, as a person would.
type terminal struct {
	t    *testing.T
	cmd  *exec.Cmd
	pty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer // everything the program wrote
	mark int          // expect looks at the text (escape codes removed) after this
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\r`)

func startTerminal(t *testing.T, cmd *exec.Cmd) *terminal {
	t.Helper()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, cmd: cmd, pty: f}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	return term
}

func (term *terminal) typeText(s string) {
	term.t.Helper()
	if _, err := io.WriteString(term.pty, s); err != nil {
		term.t.Fatal(err)
	}
}

// text is what the program wrote, without escape codes.
func (term *terminal) text() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return ansi.ReplaceAllString(term.out.String(), "")
}

// screen is the text since the last expect.
func (term *terminal) screen() string { return term.text()[term.mark:] }

// expect waits until what the program wrote since the last expect matches
// pattern, and moves the mark past the match.
func (term *terminal) expect(pattern string) {
	term.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if loc := re.FindStringIndex(term.screen()); loc != nil {
			term.mark += loc[1]
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	term.t.Fatalf("timed out waiting for %q; the terminal shows:\n%s", pattern, term.screen())
}

// serveTestserver serves the bundled test server on a loopback port until
// the test ends and returns its address.
func serveTestserver(t *testing.T) string {
	t.Helper()
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go testserver.Serve(ctx, lis, testserver.Options{})
	return lis.Addr().String()
}

// startREPL runs grpcx repl with args in a pseudo-terminal, its history
// kept under state, and waits for its first prompt.
func startREPL(t *testing.T, state string, args ...string) *terminal {
	t.Helper()
	grpcx, err := exec.LookPath("grpcx") // the test binary, set up by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(grpcx, append([]string{"repl"}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state, "TERM=xterm")
	return startTerminal(t, cmd)
}

// waitExit waits for the program to exit, successfully, within 10 s.
func (term *terminal) waitExit(after string) {
	term.t.Helper()
	done := make(chan error, 1)
	go func() { done <- term.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			term.t.Fatalf("repl exited with %v after %s; the terminal shows:\n%s", err, after, term.screen())
		}
	case <-time.After(10 * time.Second):
		term.t.Fatalf("repl did not exit after %s; the terminal shows:\n%s", after, term.screen())
	}
}

// TestREPLInTerminal types a session into a real pseudo-terminal: tab
// completion of a method and of a JSON key, a bidi exchange whose responses
// arrive while the next request is being typed, Ctrl-C cancelling a call
// without leaving the REPL, and a history file with secrets masked.
func TestREPLInTerminal(t *testing.T) {
	// Responses take 300 ms each way, so they arrive while the next
	// request is being typed.
	proxy, err := latencyproxy.Start(serveTestserver(t), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	state := t.TempDir()
	term := startREPL(t, state, "--plaintext", "-o", "jsonl", proxy.Addr)
	term.expect(regexp.QuoteMeta(proxy.Addr) + "> ")

	term.typeText("use grpcx.test.v1.TestService\r")
	term.expect(`TestService> `)
	term.typeText("header authorization Bearer topsecret\r")
	term.expect(`TestService> `)

	// Tab completes the method name, then the request's JSON key.
	term.typeText("Bi\t")
	term.expect(`Bidi `)
	term.typeText(`{"mes` + "\t")
	term.expect(`\{"message": `)
	term.typeText(`"one"}` + "\r")
	term.expect(`Bidi \(EchoRequest, empty line to end\)> `)

	// Type half of the next request before the first response is back: the
	// response prints above the line, which is redrawn intact.
	term.typeText(`{"message": "tw`)
	term.expect(`\{"message":"one"\}\n.*\{"message": "tw`)
	term.typeText(`o"}` + "\r")
	term.expect(`\{"message":"two","index":1\}`)

	// Ctrl-C cancels the stream and returns to the prompt.
	term.typeText("\x03")
	term.expect(`call cancelled`)
	term.expect(`TestService> `)

	// Ctrl-C also stops a server stream that is printing.
	term.typeText(`ServerStream {"count": 100, "interval": "0.2s", "message": "tick"}` + "\r")
	term.expect(`"message":"tick"`)
	term.typeText("\x03")
	term.expect(`Code: Canceled`)
	term.expect(`TestService> `)

	// The session goes on.
	term.typeText(`Unary {"message": "still here"}` + "\r")
	term.expect(`\{"message":"still here"\}`)
	term.expect(`TestService> `)

	// Ctrl-D at an empty prompt leaves.
	term.typeText("\x04")
	term.waitExit("Ctrl-D")

	history, err := os.ReadFile(filepath.Join(state, "grpcx", "history"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(history), "use grpcx.test.v1.TestService") ||
		!strings.Contains(string(history), "header authorization Bearer ***") ||
		strings.Contains(string(history), "topsecret") {
		t.Errorf("history file does not hold the session with the token masked:\n%s", history)
	}
}

// TestREPLCtrlDDuringCall: Ctrl-D pressed while a call prints (the
// terminal is not in the line editor's hands then) ends the session once
// the call is over, and grpcx exits rather than waiting on a read of the
// terminal that nothing can interrupt.
func TestREPLCtrlDDuringCall(t *testing.T) {
	term := startREPL(t, t.TempDir(), "--plaintext", "-o", "jsonl", serveTestserver(t))
	term.expect(`> `)
	term.typeText(`call grpcx.test.v1.TestService/ServerStream {"count": 4, "interval": "0.3s", "message": "tick"}` + "\r")
	term.expect(`"message":"tick"`)
	term.typeText("\x04")
	term.waitExit("Ctrl-D during a call")
}

// TestREPLCtrlCWhileConnecting: Ctrl-C outside a call (here, waiting for a
// server that accepts but never speaks) cancels the command, not the
// session.
func TestREPLCtrlCWhileConnecting(t *testing.T) {
	silent := testutil.SilentListener(t)
	// A connect timeout past expect's wait: only Ctrl-C can bring the
	// prompt back in time.
	term := startREPL(t, t.TempDir(), "--plaintext", "--connect-timeout", "60")
	term.expect(`> `)
	term.typeText("connect " + silent + "\r")
	time.Sleep(300 * time.Millisecond) // connecting
	term.typeText("\x03")
	term.expect(`> `)
	term.typeText("help\r")
	term.expect(`connect TARGET`)
	term.typeText("exit\r")
	term.waitExit("exit")
}

// startREPLInTestService starts a REPL on a test server of its own, with
// TestService in use, and waits for its prompt.
func startREPLInTestService(t *testing.T) *terminal {
	t.Helper()
	term := startREPL(t, t.TempDir(), "--plaintext", "-o", "jsonl", serveTestserver(t))
	term.expect(`> `)
	term.typeText("use grpcx.test.v1.TestService\r")
	term.expect(`TestService> `)
	return term
}

// TestREPLStreamEndsWhileTyping: when the server ends a stream while the
// next entry is being asked for, the prompt becomes the command prompt, as
// the line is now a command's: a stale stream prompt would make Ctrl-D,
// which ends a stream, end the session instead.
func TestREPLStreamEndsWhileTyping(t *testing.T) {
	term := startREPLInTestService(t)
	term.typeText(`ClientStream {"number": 1}` + "\r")
	term.expect(`ClientStream \(EchoRequest, empty line to end\)> `)
	term.typeText(`{"message": "abort"}` + "\r") // the server ends the call with ABORTED
	term.expect(`Code: Aborted`)
	term.expect(`TestService> [ \x08]*$`) // redrawn: no stream prompt left
	term.typeText("ls\r")
	term.expect(`grpcx.test.v1.TestService.Unary`)
	term.expect(`TestService> `)
	term.typeText("exit\r")
	term.waitExit("exit")
}

// TestREPLCtrlCAfterCompletionList: Ctrl-C with completions listed (Tab
// twice) abandons the line at once, as it does without the list: the next
// line typed is a new one, not the old one's continuation.
func TestREPLCtrlCAfterCompletionList(t *testing.T) {
	term := startREPLInTestService(t)
	term.typeText("s\t\t") // "set", "show" and more: a list
	term.expect(`show`)
	term.typeText("\x03")
	time.Sleep(200 * time.Millisecond)
	term.typeText("ls\r")
	term.expect(`grpcx.test.v1.TestService.Unary`)
	if strings.Contains(term.screen(), "unknown command") || strings.Contains(term.text(), `unknown command "sls"`) {
		t.Errorf("the line after Ctrl-C went on with the old one:\n%s", term.text())
	}
	term.typeText("exit\r")
	term.waitExit("exit")
}

// TestREPLDeadlineExcludesTyping: a call asked field by field is filled
// before it starts, so its deadline does not run while the user types.
func TestREPLDeadlineExcludesTyping(t *testing.T) {
	term := startREPLInTestService(t)
	term.typeText("set deadline 500ms\r")
	term.expect(`TestService> `)
	term.typeText("call Unary\r")
	term.expect(`message \(string\)> `)
	time.Sleep(800 * time.Millisecond) // longer than the deadline
	term.typeText("slow typist\r")
	term.expect(`number \(int32\)> `)
	term.typeText("\r")
	term.expect(`\{"message":"slow typist"\}`)
	term.typeText("exit\r")
	term.waitExit("exit")
}
