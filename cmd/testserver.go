package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/grpcx/grpcx/testserver"
)

// TestserverOptions are the inputs of the testserver verb.
type TestserverOptions struct {
	IO             *IOStreams
	Listen         string
	OnlyV1Alpha    bool
	TLS            bool
	TLSDir         string
	TLSCert        string
	TLSKey         string
	ClientCA       string
	MTLS           bool
	MaxRecvMsgSize int
	AuthToken      string
	Web            bool
	// Procs is the number of server processes (--procs); see superviseProcs.
	Procs      int
	procsChild bool
	childFlags []string // the flags every --procs child gets
}

// NewCmdTestserver returns the testserver verb. runF replaces runTestserver in tests.
func NewCmdTestserver(f *Factory, runF func(context.Context, *TestserverOptions) error) *cobra.Command {
	opts := &TestserverOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "testserver [--listen ADDR]",
		Short: "Run the bundled test server",
		Long: `Run the bundled test server (grpcx.test.v1.TestService, AuthService, health and
reflection) until interrupted. It prints the address it listens on, which tells
the port when --listen asks for port 0.

--tls generates a private CA, a server certificate for localhost, 127.0.0.1
and ::1, and a client certificate, writes them to --tls-dir (or a new
temporary directory) and prints their paths; --tls-cert/--tls-key serve your
own. --mtls (or --client-ca) requires client certificates.

--procs N (Linux) runs N server processes on one address with SO_REUSEPORT,
under this one, which prints the address and the processes' IDs, replaces a
process that dies, and stops them all on SIGINT or SIGTERM. The kernel spreads
connections over the processes; the calls of one connection all go to one.
Every response carries the serving process's ID in its x-server-pid header.

--web serves gRPC-web, Connect and REST (the google.api.http annotations of
TestService) on the same address as gRPC: HTTP/1.1 and HTTP/2, h2c in
plaintext.`,
		Example: `  grpcx testserver
  grpcx testserver --listen 127.0.0.1:0
  grpcx testserver --listen unix:///tmp/grpcx.sock --v1alpha-only
  grpcx testserver --tls --tls-dir /tmp/grpcx-certs --mtls
  grpcx testserver --web --listen 127.0.0.1:8080
  grpcx testserver --procs 4 --listen 127.0.0.1:0`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if opts.TLS && (opts.TLSCert != "" || opts.TLSKey != "") {
				return usagef(errors.New("--tls generates certificates; --tls-cert/--tls-key serve given ones: use one or the other"))
			}
			if (opts.TLSCert == "") != (opts.TLSKey == "") {
				return usagef(errors.New("--tls-cert and --tls-key go together"))
			}
			// Without TLS these would be ignored, and the server would
			// serve plaintext to a user who asked for client certificates.
			if opts.MTLS && !opts.TLS {
				return usagef(errors.New("--mtls needs --tls (it requires client certificates signed by the CA --tls generates)"))
			}
			if opts.ClientCA != "" && !opts.TLS && opts.TLSCert == "" {
				return usagef(errors.New("--client-ca needs --tls or --tls-cert: client certificates are checked only over TLS"))
			}
			if err := opts.checkProcs(c.Flags()); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runE(func() error { return runTestserver(c.Context(), opts) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:50051", "`ADDR` to listen on: host:port, or unix:///path for a Unix socket")
	fl.BoolVar(&opts.OnlyV1Alpha, "v1alpha-only", false, "serve only the v1alpha reflection service, like older servers")
	fl.BoolVar(&opts.TLS, "tls", false, "serve TLS with freshly generated test certificates")
	fl.StringVar(&opts.TLSDir, "tls-dir", "", "`DIR` to write the generated certificates to (default: a new temporary directory)")
	fl.StringVar(&opts.TLSCert, "tls-cert", "", "PEM server certificate `FILE` to serve TLS with")
	fl.StringVar(&opts.TLSKey, "tls-key", "", "PEM server key `FILE`")
	fl.StringVar(&opts.ClientCA, "client-ca", "", "PEM `FILE` of CAs whose client certificates are required (mutual TLS)")
	fl.BoolVar(&opts.MTLS, "mtls", false, "with --tls, require client certificates signed by the generated CA")
	fl.IntVar(&opts.MaxRecvMsgSize, "max-recv-msg-size", 0, "largest request accepted, in `BYTES` (default 4 MiB)")
	fl.BoolVar(&opts.Web, "web", false, "also serve gRPC-web, Connect and REST, through an HTTP server")
	opts.addProcsFlags(fl)
	fl.StringVar(&opts.AuthToken, "auth-token", "", "bearer `TOKEN` AuthService requires (default "+testserver.DefaultAuthToken+")")
	return cmd
}

func runTestserver(ctx context.Context, opts *TestserverOptions) error {
	sopts := testserver.Options{OnlyV1Alpha: opts.OnlyV1Alpha, MaxRecvMsgSize: opts.MaxRecvMsgSize, AuthToken: opts.AuthToken, Web: opts.Web}
	cert, key, clientCA := opts.TLSCert, opts.TLSKey, opts.ClientCA
	if opts.TLS {
		files, err := opts.generateCerts()
		if err != nil {
			return err
		}
		cert, key = files.ServerCert, files.ServerKey
		if opts.MTLS {
			clientCA = files.CA
		}
	}
	if cert != "" {
		cfg, err := testserver.ServerTLSConfig(cert, key, clientCA, clientCA != "")
		if err != nil {
			return err
		}
		sopts.TLS = cfg
	}
	if opts.supervising() {
		return opts.superviseProcs(ctx, cert, key, clientCA)
	}
	lis, err := opts.listener()
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "listening on %s\n", listenAddr(lis))
	return testserver.Serve(ctx, lis, sopts)
}

func (o *TestserverOptions) generateCerts() (*testserver.CertFiles, error) {
	dir := o.TLSDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "grpcx-certs-"); err != nil {
			return nil, err
		}
	}
	files, err := testserver.GenerateCerts(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.IO.Out, "CA certificate: %s (pass it to grpcx with --cacert)\n", files.CA)
	if o.MTLS {
		fmt.Fprintf(o.IO.Out, "client certificate: --cert %s --key %s\n", files.ClientCert, files.ClientKey)
	}
	return files, nil
}

// listenAddr is a listener's address written as a grpcx target: unix:path
// for a relative socket path, since unix://rel.sock would read as a host.
func listenAddr(lis net.Listener) string {
	if lis.Addr().Network() != "unix" {
		return lis.Addr().String()
	}
	if path := lis.Addr().String(); !strings.HasPrefix(path, "/") {
		return "unix:" + path
	}
	return "unix://" + lis.Addr().String()
}
