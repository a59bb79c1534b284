package invoke

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles names the files and settings of a TLS client configuration.
type TLSFiles struct {
	// CACert is a PEM file of roots to verify the server with; empty means
	// the system roots.
	CACert string
	// Cert and Key are the client's PEM certificate and key, for mutual TLS.
	Cert, Key string
	// ServerName is the name sent for SNI and verified in the server's
	// certificate; empty means the target's host.
	ServerName string
	// Insecure skips verification of the server's certificate.
	Insecure bool
}

// TLSConfig builds a client TLS configuration from files.
func TLSConfig(f TLSFiles) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: f.ServerName, InsecureSkipVerify: f.Insecure, MinVersion: tls.VersionTLS12}
	if f.CACert != "" {
		pem, err := os.ReadFile(f.CACert)
		if err != nil {
			return nil, fmt.Errorf("read CA certificates: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate found in %s", f.CACert)
		}
		cfg.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("a client certificate needs both --cert and --key")
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
