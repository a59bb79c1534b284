// Command stubclient is the reference limit for grpcx's performance: it does
// what `grpcx call --plaintext` does for the TestService call shapes, but
// with the generated testpb client instead of reflection and dynamicpb.
//
// It reads whitespace-separated JSON requests from standard input, sends
// each as soon as it is parsed, and prints each response exactly as grpcx
// does (-o json: two-space indented; -o jsonl: one line). The benchmark
// runner in bench/runner times it against grpcx.
//
//	stubclient -addr 127.0.0.1:50051 -method Bidi -o jsonl < requests.jsonl
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/grpcx/grpcx/testserver/testpb"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit code: 0 on success, 2 for
// misuse, 64 + the gRPC status code for a failed call and 1 otherwise.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stubclient", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:50051", "server `host:port` (plaintext)")
	method := fs.String("method", "Unary", "Unary, ServerStream, ClientStream, Bidi or Payload (or the full method name)")
	output := fs.String("o", "json", "response format: json (indented) or jsonl (one line each)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *output != "json" && *output != "jsonl" {
		fmt.Fprintf(stderr, "stubclient: -o %q: want json or jsonl\n", *output)
		return 2
	}
	conn, err := grpc.NewClient("passthrough:///"+*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(stderr, "stubclient: %v\n", err)
		return 1
	}
	defer conn.Close()
	out := &printer{w: bufio.NewWriterSize(stdout, 64<<10), indent: *output == "json"}
	err = call(ctx, testpb.NewTestServiceClient(conn), shortName(*method), json.NewDecoder(stdin), out)
	if ferr := out.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write responses: %w", ferr)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "stubclient: %v\n", err)
	if st, ok := status.FromError(err); ok {
		return 64 + int(st.Code())
	}
	return 1
}

// shortName takes the method name off a full name such as
// grpcx.test.v1.TestService/Unary.
func shortName(method string) string {
	return method[strings.LastIndexAny(method, "/.")+1:]
}

// call makes one call of the named method, reading requests from dec and
// printing responses to out.
func call(ctx context.Context, c testpb.TestServiceClient, method string, dec *json.Decoder, out *printer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	switch method {
	case "Unary":
		req := &testpb.EchoRequest{}
		if err := single(dec, req); err != nil {
			return err
		}
		return out.unary(c.Unary(ctx, req))
	case "Payload":
		req := &testpb.PayloadRequest{}
		if err := single(dec, req); err != nil {
			return err
		}
		return out.unary(c.Payload(ctx, req))
	case "ServerStream":
		req := &testpb.StreamRequest{}
		if err := single(dec, req); err != nil {
			return err
		}
		stream, err := c.ServerStream(ctx, req)
		if err != nil {
			return err
		}
		return out.stream(cancel, stream.Recv)
	case "ClientStream":
		return clientStream(ctx, c, dec, out)
	case "Bidi":
		return bidi(ctx, cancel, c, dec, out)
	}
	return fmt.Errorf("unknown method %q (want Unary, ServerStream, ClientStream, Bidi or Payload)", method)
}

// clientStream sends every request as it is parsed, then prints the one response.
func clientStream(ctx context.Context, c testpb.TestServiceClient, dec *json.Decoder, out *printer) error {
	stream, err := c.ClientStream(ctx)
	if err != nil {
		return err
	}
	// io.EOF from Send means the server has ended the call; CloseAndRecv
	// returns its status.
	if err := each(dec, stream.Send); err != nil && err != io.EOF {
		return err
	}
	return out.unary(stream.CloseAndRecv())
}

// bidi sends on its own goroutine while this one receives and prints.
func bidi(ctx context.Context, cancel context.CancelFunc, c testpb.TestServiceClient, dec *json.Decoder, out *printer) error {
	stream, err := c.Bidi(ctx)
	if err != nil {
		return err
	}
	sendErr := make(chan error, 1)
	go func() {
		err := each(dec, stream.Send)
		if err == nil {
			err = stream.CloseSend()
		}
		// Report before cancelling, so the receiver, woken by the
		// cancellation, finds the input error waiting.
		sendErr <- err
		if err != nil && err != io.EOF {
			cancel()
		}
	}()
	recvErr := out.stream(cancel, stream.Recv)
	select {
	case err := <-sendErr:
		if err != nil && err != io.EOF {
			return err
		}
	default: // the call is over while the sender still waits for input
	}
	return recvErr
}

// single reads the one request of a unary or server-streaming call into
// req; no input leaves req empty, more than one value is an error.
func single(dec *json.Decoder, req proto.Message) error {
	if err := next(dec, req); err != nil && err != io.EOF {
		return err
	}
	if err := next(dec, &testpb.EchoRequest{}); err != io.EOF {
		return errors.New("this method takes exactly one request message, but the input holds more")
	}
	return nil
}

// each sends every request on dec, as soon as it is parsed, and returns nil
// at the end of the input. An io.EOF it returns comes from send.
func each(dec *json.Decoder, send func(*testpb.EchoRequest) error) error {
	for {
		req := &testpb.EchoRequest{}
		if err := next(dec, req); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := send(req); err != nil {
			return err
		}
	}
}

// next fills msg with the next JSON value of dec, or returns io.EOF.
func next(dec *json.Decoder, msg proto.Message) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err == io.EOF {
		return io.EOF
	} else if err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	if err := protojson.Unmarshal(raw, msg); err != nil {
		return fmt.Errorf("parse request: %w", err)
	}
	return nil
}

// printer writes responses as grpcx does, buffered: it flushes when a
// stream ends or has nothing more waiting, so a slow stream still shows each
// message as it arrives.
type printer struct {
	w       *bufio.Writer
	indent  bool
	scratch []byte
	buf     bytes.Buffer
}

// write buffers msg's rendering: compact protojson re-spaced by
// encoding/json, since protojson varies its white space on purpose.
func (p *printer) write(msg proto.Message) error {
	var err error
	if p.scratch, err = (protojson.MarshalOptions{}).MarshalAppend(p.scratch[:0], msg); err != nil {
		return fmt.Errorf("format response: %w", err)
	}
	p.buf.Reset()
	if p.indent {
		err = json.Indent(&p.buf, p.scratch, "", "  ")
	} else {
		err = json.Compact(&p.buf, p.scratch)
	}
	if err != nil {
		return fmt.Errorf("format response: %w", err)
	}
	p.buf.WriteByte('\n')
	if _, err := p.w.Write(p.buf.Bytes()); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}

// unary prints the single response of a call, or returns the call's error.
func (p *printer) unary(msg proto.Message, err error) error {
	if err != nil {
		return err
	}
	return p.write(msg)
}

// stream prints the responses recv returns until the stream ends. A
// goroutine receives while this one prints, so the printer can tell whether
// another message is already waiting and flush only when none is. After a
// write error it cancels the call and drains what is in flight.
func (p *printer) stream(cancel context.CancelFunc, recv func() (*testpb.EchoResponse, error)) error {
	msgs := make(chan *testpb.EchoResponse, 256)
	var recvErr error
	go func() {
		defer close(msgs)
		for {
			msg, err := recv()
			if err != nil {
				recvErr = err // read after msgs is closed
				return
			}
			msgs <- msg
		}
	}()
	var writeErr error
	for msg := range msgs {
		if writeErr != nil {
			continue
		}
		writeErr = p.write(msg)
		if writeErr == nil && len(msgs) == 0 {
			if err := p.w.Flush(); err != nil {
				writeErr = fmt.Errorf("write response: %w", err)
			}
		}
		if writeErr != nil {
			cancel()
		}
	}
	if writeErr != nil {
		return writeErr
	}
	if recvErr != io.EOF {
		return recvErr
	}
	return nil
}
