package invoke

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"
)

// DialOptions configures a connection.
type DialOptions struct {
	// Plaintext connects without TLS.
	Plaintext bool
	// TLS configures TLS when Plaintext is false; nil means the system
	// roots and the target's host name.
	TLS *tls.Config
	// Authority overrides the :authority pseudo-header.
	Authority string
	// UserAgent is prepended to grpc-go's own user agent.
	UserAgent string
	// ConnectTimeout bounds connecting; zero means only the context does.
	ConnectTimeout time.Duration
	// KeepaliveTime sends HTTP/2 pings after this much idle time; zero
	// means none.
	KeepaliveTime time.Duration
	// StatsHandlers see every call on the connection (grpcx's verbose
	// printer); a [WebConn] reports headers and message sizes to them too.
	StatsHandlers []stats.Handler
	// HTTP1 makes a [WebConn] use HTTP/1.1 instead of HTTP/2, for servers
	// and proxies that speak nothing else; bidi calls then fail. gRPC
	// always uses HTTP/2.
	HTTP1 bool
	// Extra are appended to the dial options grpcx builds.
	Extra []grpc.DialOption
	// Started, when set, is called with the connection as soon as it
	// exists, before [Dial] waits for it to be ready: a call started then
	// goes out the moment the connection is up. It is called on Dial's
	// goroutine and must not block (start calls on goroutines of its
	// own). If Dial then fails, it closes the connection, which ends such
	// calls.
	Started func(*grpc.ClientConn)
}

// ConnectError reports a target that could not be connected to, with the
// reason of the last attempt.
type ConnectError struct {
	Target string
	Err    error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot connect to %s: %v", e.Target, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Dial connects to target and waits until the connection is ready, so that a
// target that cannot be reached fails at once with the reason (connection
// refused, unknown host, TLS failure) instead of on the first call. target is
// host:port, [::1]:port, unix:///abs/path or unix:rel/path.
func Dial(ctx context.Context, target string, o DialOptions) (*grpc.ClientConn, error) {
	rec := &lastError{plaintext: o.Plaintext}
	creds := insecure.NewCredentials()
	var serverName string
	if !o.Plaintext {
		cfg := o.TLS
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if o.Authority != "" && cfg.ServerName != o.Authority {
			// Both given, and different: see recordingCreds. With
			// --servername alone it is the authority too, as grpc-go
			// makes it.
			serverName = cfg.ServerName
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(recordingCreds{creds, rec, serverName}),
		grpc.WithContextDialer(rec.dial),
	}
	if o.Authority != "" {
		opts = append(opts, grpc.WithAuthority(o.Authority))
	}
	if o.KeepaliveTime > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: o.KeepaliveTime, Timeout: o.KeepaliveTime}))
	}
	if o.UserAgent != "" {
		opts = append(opts, grpc.WithUserAgent(o.UserAgent))
	}
	for _, h := range o.StatsHandlers {
		opts = append(opts, grpc.WithStatsHandler(h))
	}
	opts = append(opts, o.Extra...)
	cc, err := grpc.NewClient(clientTarget(target), opts...)
	if err != nil {
		return nil, &ConnectError{Target: target, Err: err}
	}
	if o.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.ConnectTimeout, &connectTimeoutError{o.ConnectTimeout})
		defer cancel()
	}
	if o.Started != nil {
		o.Started(cc)
	}
	if err := waitReady(ctx, cc, rec); err != nil {
		cc.Close()
		return nil, &ConnectError{Target: target, Err: err}
	}
	return cc, nil
}

// clientTarget turns a user's target into a grpc-go target. host:port goes
// through the passthrough resolver, so the host is resolved by the dialer
// once, as curl would, rather than by a background DNS resolver.
func clientTarget(target string) string {
	if strings.HasPrefix(target, "unix:") || strings.Contains(target, "://") {
		return target
	}
	return "passthrough:///" + target
}

// connectTimeoutError ends a wait for a connection that took longer than
// [DialOptions.ConnectTimeout].
type connectTimeoutError struct{ after time.Duration }

func (e *connectTimeoutError) Error() string {
	return fmt.Sprintf("no connection within the connect timeout (%v; --connect-timeout sets it)", e.after)
}

func waitReady(ctx context.Context, cc *grpc.ClientConn, rec *lastError) error {
	cc.Connect()
	for {
		state := cc.GetState()
		switch state {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			if err := rec.get(); err != nil {
				return withHint(err, rec.plaintext)
			}
			if rec.plaintext {
				return errors.New("the connection closed before the server spoke HTTP/2; if the server uses TLS, drop --plaintext (or give an https:// target); a server that speaks only HTTP/1.1 cannot carry gRPC, but gRPC-web or Connect can reach it: --protocol grpc-web --http1")
			}
			return errors.New("connection failed")
		}
		if !cc.WaitForStateChange(ctx, state) {
			// The connect timeout is not a deadline of the call's: it
			// says nothing connected, not that something took too long.
			var end error = ctx.Err()
			var cte *connectTimeoutError
			if errors.As(context.Cause(ctx), &cte) {
				end = cte
			}
			if err := rec.get(); err != nil {
				return fmt.Errorf("%w (last attempt: %w)", end, err)
			}
			if errors.Is(end, context.Canceled) {
				return fmt.Errorf("stopped while waiting for the connection: %w", end)
			}
			return fmt.Errorf("timed out waiting for the connection: %w", end)
		}
	}
}

// lastError keeps the most recent dial or handshake failure, which grpc-go
// does not expose through the connection state.
type lastError struct {
	mu        sync.Mutex
	err       error
	plaintext bool
}

func (l *lastError) set(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

func (l *lastError) get() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *lastError) dial(ctx context.Context, addr string) (net.Conn, error) {
	network := "tcp"
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", strings.TrimPrefix(path, "//")
	}
	d := &net.Dialer{}
	var conn net.Conn
	var err error
	if proxy, perr := proxyFor(addr); network == "tcp" && perr == nil && proxy != nil {
		conn, err = dialProxy(ctx, d, proxy, addr)
	} else {
		conn, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		l.set(err)
		return nil, err
	}
	return &watchedConn{Conn: conn, rec: l}, nil
}

// watchedConn notices a TLS server answering a plaintext client (its first
// byte is a TLS alert record) and read errors while connecting, such as a
// server rejecting the client certificate after the TLS 1.3 handshake.
type watchedConn struct {
	net.Conn
	rec     *lastError
	started bool
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.started && n > 0 {
		c.started = true
		if c.rec.plaintext && b[0] == 0x15 {
			c.rec.set(errTLSServer)
		}
	}
	return n, err
}

var errTLSServer = errors.New("the server answered with TLS")

// withHint adds the flag that fixes a common connection failure.
func withHint(err error, plaintext bool) error {
	msg := err.Error()
	switch {
	case errors.Is(err, errTLSServer):
		return fmt.Errorf("%w; it needs TLS: drop --plaintext, or give an https:// target (add --cacert or --insecure for a private certificate)", err)
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return fmt.Errorf("%w; the server does not speak TLS: add --plaintext (or give an http:// target)", err)
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return fmt.Errorf("%w; give the server's CA with --cacert, or skip verification with --insecure", err)
	case strings.Contains(msg, "certificate is valid for"), strings.Contains(msg, "doesn't contain any IP SANs"):
		return fmt.Errorf("%w; set the name to verify with --servername", err)
	case strings.Contains(msg, "certificate required"):
		return fmt.Errorf("%w; the server wants a client certificate: add --cert and --key", err)
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"):
		return fmt.Errorf("%w; the server rejected the client certificate given with --cert", err)
	}
	return err
}

var noDeadline time.Time

// recordingCreds wraps transport credentials to remember handshake errors,
// and to keep the TLS server name and the authority apart.
type recordingCreds struct {
	credentials.TransportCredentials
	rec *lastError
	// serverName, when set, is the name the handshake sends and verifies
	// (--servername), where the connection's authority is another
	// (--authority): grpc-go takes a TLS configuration's name for the
	// authority, refuses an authority that differs from it, and hands the
	// handshake the authority.
	serverName string
}

func (c recordingCreds) Info() credentials.ProtocolInfo {
	info := c.TransportCredentials.Info()
	if c.serverName != "" {
		info.ServerName = "" // the authority is the target's, or --authority
	}
	return info
}

func (c recordingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c.serverName != "" {
		authority = c.serverName
	}
	out, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		if !errors.Is(c.rec.get(), errTLSServer) {
			c.rec.set(fmt.Errorf("TLS handshake: %w", err))
		}
		return out, info, err
	}
	if c.rec.plaintext {
		return out, info, nil
	}
	return &tlsWatchedConn{Conn: out, rec: c.rec}, info, nil
}

func (c recordingCreds) Clone() credentials.TransportCredentials {
	return recordingCreds{c.TransportCredentials.Clone(), c.rec, c.serverName}
}

// tlsWatchedConn records read errors on an established TLS connection while
// grpc-go waits for the server's HTTP/2 preface: with TLS 1.3 a rejected
// client certificate is only reported then.
type tlsWatchedConn struct {
	net.Conn
	rec *lastError
}

func (c *tlsWatchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.rec.set(fmt.Errorf("TLS: %w", err))
	}
	return n, err
}

// Write records a failure to send the HTTP/2 preface. When the server has
// closed the connection with an alert, the alert is the reason: it is read,
// briefly, so that the error names it rather than a broken pipe.
func (c *tlsWatchedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.Conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, rerr := c.Conn.Read(make([]byte, 1)); rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
			err = rerr
		}
		c.rec.set(fmt.Errorf("TLS: %w", err))
	}
	return n, err
}
