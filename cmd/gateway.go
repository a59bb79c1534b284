package cmd

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/gateway"
	"github.com/grpcx/grpcx/invoke"
)

// GatewayOptions are the inputs of the gateway verb.
type GatewayOptions struct {
	IO          *IOStreams
	Conn        connOptions
	Listen      string
	ListenCert  string
	ListenKey   string
	CORSOrigins []string
	Services    []string
	Quiet       bool

	// hangup delivers reload requests; nil means SIGHUP. Tests send here.
	hangup <-chan os.Signal
}

// NewCmdGateway returns the gateway verb. runF replaces runGateway in tests.
func NewCmdGateway(f *Factory, runF func(context.Context, *GatewayOptions) error) *cobra.Command {
	opts := &GatewayOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "gateway [flags] TARGET --listen ADDR",
		Short: "Serve a gRPC server as REST/JSON, gRPC-web and Connect",
		Long: `Serve the services of the gRPC server at TARGET on ADDR to clients of every
protocol, with no generated code: REST/JSON (the google.api.http annotations
of the methods: path variables, query parameters, body mapping; and
POST /pkg.Service/Method with a JSON body for every unary method), gRPC-web,
Connect, and gRPC itself, which passes through untouched (reflection too, so
grpcx can discover the services through the gateway). Calls go on to TARGET
over HTTP/2, with TLS or --plaintext as the connection flags say.

The services come from TARGET's reflection and/or --proto/--protoset files,
as for call; SIGHUP reads reflection again. Headers pass through both ways;
-H headers are added to every call sent to TARGET. A failed call's status
becomes the HTTP status and a JSON body with the details. A plaintext ADDR
accepts HTTP/1.1 and HTTP/2 without TLS (h2c); --listen-cert and
--listen-key serve TLS. --cors-origin lets browser pages from those origins
call the gateway. Each request is logged on stderr: protocol, HTTP method
and path, the gRPC method, its status and the latency (--quiet: none).`,
		Example: `  grpcx gateway --plaintext localhost:50051 --listen 127.0.0.1:8080
  curl http://127.0.0.1:8080/v1/echo/hello?number=3
  curl -H 'content-type: application/json' -d '{"message": "hi"}' http://127.0.0.1:8080/grpcx.test.v1.TestService/Unary
  grpcx call --protocol grpc-web http://127.0.0.1:8080 grpcx.test.v1.TestService/ServerStream -d '{"count": 2}'
  grpcx gateway --plaintext localhost:50051 --listen :8080 --cors-origin https://app.example.com --services grpcx.test.v1.TestService
  grpcx gateway --cacert ca.pem -H 'authorization: Bearer TOKEN' api.internal:443 --listen :8443 --listen-cert gw.pem --listen-key gw-key.pem`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Conn.Target, args = splitTarget(args)
			if opts.Conn.Target == "" || len(args) > 0 {
				return usagef(errors.New("gateway takes one TARGET: the gRPC server (host:port or unix:///path)"))
			}
			if err := opts.Conn.check(); err != nil {
				return err
			}
			if (opts.ListenCert == "") != (opts.ListenKey == "") {
				return usagef(errors.New("--listen-cert and --listen-key go together"))
			}
			if opts.Conn.MaxTime > 0 {
				return usagef(errors.New("--max-time bounds one operation; the gateway's calls take their deadlines from their clients (grpc-timeout, X-Server-Timeout, Connect-Timeout-Ms)"))
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runGateway(c.Context(), opts) })
		},
	}
	opts.Conn.addFlags(cmd.Flags())
	opts.Conn.proxiesHeaders = true
	cmd.Flags().Lookup("max-msg-sz").Usage = "largest REST or Connect message buffered to transcode it, in `BYTES` (default 4 MiB); gRPC-web and gRPC stream through"
	opts.Conn.headerHints["grpc-timeout"] = "the gateway's calls take their deadlines from their clients"
	_ = cmd.Flags().MarkHidden("max-time") // refused: calls take their clients' deadlines
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:8080", "`ADDR` to serve on (host:port; port 0 picks one)")
	fl.StringVar(&opts.ListenCert, "listen-cert", "", "PEM certificate `FILE` to serve TLS with (with --listen-key)")
	fl.StringVar(&opts.ListenKey, "listen-key", "", "PEM key `FILE` for --listen-cert")
	fl.StringArrayVar(&opts.CORSOrigins, "cors-origin", nil, "let browser pages from `ORIGIN` (https://app.example.com) call the gateway (repeatable; * for any)")
	fl.StringSliceVar(&opts.Services, "services", nil, "expose only these `SERVICES` (full names, comma-separated or repeated)")
	fl.BoolVar(&opts.Quiet, "quiet", false, "do not log each request on stderr")
	return cmd
}

func runGateway(ctx context.Context, opts *GatewayOptions) error {
	// SIGHUP is taken from the start: one sent while the first discovery
	// runs would otherwise end the process. It reloads once serving starts.
	hangup := opts.hangup
	if hangup == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		defer signal.Stop(ch)
		hangup = ch
	}
	dopts, err := opts.Conn.dialOptions()
	if err != nil {
		return err
	}
	rpcMD, _, err := opts.Conn.headers()
	if err != nil {
		return err
	}
	discover, closeDiscovery, err := opts.Conn.discoverer(ctx, opts.IO.ErrOut)
	if err != nil {
		return err
	}
	defer closeDiscovery()
	transport, backend, err := invoke.HTTP2Transport(opts.Conn.grpcTarget(), dopts)
	if err != nil {
		return err
	}
	defer transport.CloseIdleConnections()
	gopts := gateway.Options{
		Backend: backend, Transport: transport, Header: httpHeader(rpcMD), Discover: discover,
		Services: opts.Services, CORSOrigins: opts.CORSOrigins, MaxMessageBytes: opts.Conn.MaxMsgSize,
	}
	if !opts.Quiet {
		gopts.Log = opts.IO.ErrOut
	}
	g, err := gateway.New(ctx, gopts)
	if err != nil {
		return describeSourceError(err)
	}
	var tlsCfg *tls.Config
	if opts.ListenCert != "" {
		pair, err := tls.LoadX509KeyPair(opts.ListenCert, opts.ListenKey)
		if err != nil {
			return fmt.Errorf("load --listen-cert: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	fmt.Fprintf(opts.IO.Out, "listening on %s\n", lis.Addr())
	fmt.Fprintf(opts.IO.Out, "serving %s://%s as REST, gRPC-web, Connect and gRPC: %s\n", scheme, lis.Addr(), strings.Join(g.Services(), ", "))
	warnRESTUnserved(opts.IO.ErrOut, g)
	return serveGateway(ctx, opts, g, g.Server(tlsCfg), lis, hangup)
}

// warnRESTUnserved names the methods whose REST routes cannot work.
func warnRESTUnserved(warn io.Writer, g *gateway.Gateway) {
	for _, w := range g.RESTUnserved() {
		fmt.Fprintf(warn, "grpcx: gateway: warning: %s\n", w)
	}
}

// serveGateway serves until ctx ends (Ctrl-C), reloading the schema when
// hangup delivers (SIGHUP).
func serveGateway(ctx context.Context, opts *GatewayOptions, g *gateway.Gateway, srv *http.Server, lis net.Listener, hangup <-chan os.Signal) error {
	served := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			served <- srv.ServeTLS(lis, "", "")
		} else {
			served <- srv.Serve(lis)
		}
	}()
	for {
		select {
		case err := <-served:
			return err
		case <-hangup:
			if err := g.Reload(ctx); err != nil {
				fmt.Fprintf(opts.IO.ErrOut, "grpcx: reload: %v (still serving the previous schema)\n", err)
			} else {
				fmt.Fprintf(opts.IO.ErrOut, "grpcx: reloaded: %s\n", strings.Join(g.Services(), ", "))
				warnRESTUnserved(opts.IO.ErrOut, g)
			}
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdown); err != nil {
				srv.Close()
			}
			<-served
			return nil
		}
	}
}

// discoverer returns the gateway's schema finder: the target's reflection
// (over a gRPC connection kept for the gateway's life, closed by the
// returned func) completed by the descriptor files, or the files alone.
// Each discovery asks reflection afresh. Services that cannot be described
// are left out, with a warning on warn.
func (o *connOptions) discoverer(ctx context.Context, warn io.Writer) (gateway.Discoverer, func(), error) {
	files, err := o.fileSource(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, reflectMD, err := o.headers()
	if err != nil {
		return nil, nil, err
	}
	var cc *grpc.ClientConn
	closeAll := func() {}
	if o.Reflect {
		dopts, err := o.dialOptions()
		if err != nil {
			return nil, nil, err
		}
		if cc, err = invoke.Dial(ctx, o.grpcTarget(), dopts); err != nil {
			return nil, nil, err
		}
		closeAll = func() { cc.Close() }
	}
	discover := func(ctx context.Context) (*gateway.Schema, error) {
		if cc == nil {
			return schemaOf(files, warn)
		}
		// A server restarted for a new schema (what SIGHUP is for) may
		// fail the first attempt on the connection it closed; the
		// attempts share --connect-timeout.
		timeout := seconds(o.ConnectTimeout)
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			awaitReady(actx, cc)
			// The source lives until the gateway replaces the schema: it
			// resolves Any types lazily.
			rctx, release := context.WithCancel(metadata.NewOutgoingContext(context.WithoutCancel(ctx), reflectMD))
			// Discovery itself is bounded by the timeout (and Ctrl-C);
			// only the lazy lookups after it run without a deadline.
			stop := context.AfterFunc(actx, release)
			var schema *gateway.Schema
			schema, err = schemaOf(descsource.FromReflection(rctx, cc, files), warn)
			if !stop() && err == nil {
				err = actx.Err()
			}
			if err == nil {
				schema.Close = release
				return schema, nil
			}
			release()
			if actx.Err() != nil {
				break
			}
		}
		return nil, describeSourceError(err)
	}
	return discover, closeAll, nil
}

// awaitReady gives a connection whose server went away (restarted for a
// new schema, say) the chance to come back before reflection is asked,
// instead of failing at once.
func awaitReady(ctx context.Context, cc *grpc.ClientConn) {
	cc.ResetConnectBackoff()
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready && s != connectivity.Shutdown; s = cc.GetState() {
		if !cc.WaitForStateChange(ctx, s) {
			return
		}
	}
}

// schemaOf lists the services of src with their descriptors, leaving out,
// with a warning, those it cannot describe.
func schemaOf(src descsource.Source, warn io.Writer) (*gateway.Schema, error) {
	names, err := src.ListServices()
	if err != nil {
		return nil, err
	}
	schema := &gateway.Schema{Types: descsource.TypesOf(src)}
	for _, name := range names {
		d, err := src.FindSymbol(name)
		if err == nil {
			if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
				schema.Services = append(schema.Services, sd)
				continue
			}
			err = errors.New("not a service")
		}
		fmt.Fprintf(warn, "grpcx: gateway: leaving out %s: %v\n", name, describeSourceError(err))
	}
	if len(schema.Services) == 0 {
		return nil, errors.New("no service could be described")
	}
	return schema, nil
}

// httpHeader turns metadata into HTTP headers, -bin values in base64.
func httpHeader(md metadata.MD) http.Header {
	h := http.Header{}
	for k, vs := range md {
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				v = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			h.Add(k, v)
		}
	}
	return h
}
