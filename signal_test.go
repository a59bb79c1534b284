//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grpcx/grpcx/testserver"
)

// TestGatewayHangupWhileStarting sends SIGHUP while the gateway's first
// discovery waits on a server that never answers: the gateway must not die
// of it, and end as the failed start-up says, with its message.
func TestGatewayHangupWhileStarting(t *testing.T) {
	grpcx, err := exec.LookPath("grpcx") // the test binary, set up by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	// A server that never speaks, and says when the gateway has connected:
	// by then the gateway is discovering, its handler set up first.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	connected := make(chan net.Conn, 1)
	go func() {
		if c, err := lis.Accept(); err == nil {
			connected <- c
		}
	}()
	cmd := exec.Command(grpcx, "gateway", "--plaintext", "--connect-timeout", "2", "--listen", "127.0.0.1:0", lis.Addr().String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case c := <-connected:
		defer c.Close()
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the gateway did not connect to its backend")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var werr error
	select {
	case werr = <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the gateway did not end after its connect timeout")
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) {
		t.Fatalf("gateway exited with %v, want the exit code of a failed connection; stderr:\n%s", werr, &stderr)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("the gateway was killed by %v; stderr:\n%s", ws.Signal(), &stderr)
	}
	if ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "cannot connect") {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1 and the connection error", ee.ExitCode(), &stderr)
	}
}

// TestDemoInterrupted: Ctrl-C during the tour stops it with a word to that
// effect, not an error message about a cancelled context.
func TestDemoInterrupted(t *testing.T) {
	grpcx, err := exec.LookPath("grpcx")
	if err != nil {
		t.Fatal(err)
	}
	// The server stream step sends a message every 0.2 s: interrupt it.
	out, stderr, err := interruptAtLine(t, `"message":"tick"`, grpcx, "demo")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("demo after Ctrl-C: %v, want exit code 1", err)
	}
	if !strings.Contains(out, "# Interrupted: the tour stops here.") || strings.Contains(out, "A client stream") {
		t.Errorf("stdout:\n%s\nwant the tour to stop at the server stream, saying so", out)
	}
	if strings.Contains(stderr.String(), "context canceled") {
		t.Errorf("stderr: %s", stderr)
	}
}

// TestTerminateLikeInterrupt: SIGTERM, which timeout(1), CI runners and
// container engines send, ends a call or a bench run as Ctrl-C does: the
// responses that arrived are printed and bench reports what completed,
// rather than the process dying with its buffered output.
func TestTerminateLikeInterrupt(t *testing.T) {
	grpcx, err := exec.LookPath("grpcx")
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, "127.0.0.1:0", testserver.Options{})
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
	}{
		{"call", []string{"call", "--plaintext", "-o", "jsonl", addr, "grpcx.test.v1.TestService/ServerStream", "-d", `{"count": 100, "interval": "0.2s", "message": "t"}`},
			65, `{"message":"t","number":1,"index":1}`},
		{"bench", []string{"bench", "--plaintext", "-z", "1m", "-c", "2", addr, "grpcx.test.v1.TestService/Unary"},
			1, "Interrupted: this report covers the"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(grpcx, tc.args...)
			cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			time.Sleep(1500 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Errorf("after SIGTERM: %v, want exit code %d; stderr:\n%s", err, tc.code, &stderr)
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout:\n%s\nwant %q", &stdout, tc.stdout)
			}
		})
	}
}

// TestInterruptEarlyInAStream: a stream has its Ctrl-C handling from its
// start, not after the grace a one-shot call gets: interrupted at its
// first response, a few milliseconds in, it still prints what arrived and
// ends Canceled (exit 65), rather than dying of the signal.
func TestInterruptEarlyInAStream(t *testing.T) {
	grpcx, err := exec.LookPath("grpcx")
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, "127.0.0.1:0", testserver.Options{})
	for _, output := range []string{"jsonl", "envelope"} {
		out, stderr, err := interruptAtLine(t, `"e"`, grpcx, "call", "--plaintext", "-o", output, addr, "grpcx.test.v1.TestService/ServerStream",
			"-d", `{"count": 100000, "interval": "0.001s", "message": "e"}`)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 65 {
			t.Errorf("-o %s, Ctrl-C at the first response: %v, want exit code 65; stderr:\n%s", output, err, stderr)
		}
		if output == "envelope" && !strings.Contains(out, `"name": "Canceled"`) {
			t.Errorf("-o envelope, Ctrl-C at the first response: the envelope is not finished:\n%s", out)
		}
	}
}

// interruptAtLine runs argv with a cache of its own, reads its stdout up
// to the first line holding marker, sends Ctrl-C, and returns all of
// stdout, stderr and how the process ended.
func interruptAtLine(t *testing.T, marker string, argv ...string) (string, *bytes.Buffer, error) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), marker) {
			break
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	return out.String(), stderr, cmd.Wait()
}
