package testserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"
)

// WebHandler returns a handler that serves s to clients of every protocol:
// gRPC, gRPC-web, Connect, and REST for the methods with google.api.http
// annotations. It puts a vanguard transcoder in front of s, so each call is
// still handled by s's services, interceptors included. s must have its
// services registered first.
func WebHandler(s *grpc.Server) (http.Handler, error) {
	h, err := vanguardgrpc.NewTranscoder(s)
	if err != nil {
		return nil, fmt.Errorf("web handler: %w", err)
	}
	return h, nil
}

// NewWebServer returns an HTTP server for [WebHandler] of a [NewServer]
// server. In plaintext it accepts HTTP/1.1 and HTTP/2 without TLS (prior
// knowledge, which is how gRPC clients speak h2c); with opts.TLS it
// offers both through ALPN.
func NewWebServer(opts Options) (*http.Server, error) {
	grpcOpts := opts
	grpcOpts.TLS = nil // the HTTP server's business here, not grpc-go's
	h, err := WebHandler(NewServer(grpcOpts))
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	if opts.TLS != nil {
		srv.TLSConfig = opts.TLS.Clone()
		srv.Protocols.SetHTTP2(true)
	} else {
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	return srv, nil
}

// serveWeb is [Serve] for opts.Web.
func serveWeb(ctx context.Context, lis net.Listener, opts Options) error {
	srv, err := NewWebServer(opts)
	if err != nil {
		lis.Close()
		return err
	}
	served := make(chan error, 1)
	go func() {
		if opts.TLS != nil {
			served <- srv.ServeTLS(lis, "", "")
		} else {
			served <- srv.Serve(lis)
		}
	}()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
