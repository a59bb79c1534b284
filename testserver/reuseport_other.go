//go:build !linux

package testserver

import (
	"errors"
	"net"
)

// ReusePortSupported reports whether [ListenShared] and [ReservePort] work
// here: SO_REUSEPORT spreads a port's connections over its listening
// sockets on Linux only.
const ReusePortSupported = false

var errReusePort = errors.New("several server processes on one port need SO_REUSEPORT as Linux has it")

// ListenShared fails: see [ReusePortSupported].
func ListenShared(string) (net.Listener, error) { return nil, errReusePort }

// PortReservation holds a TCP port on Linux; see [ReservePort].
type PortReservation struct{}

// ReservePort fails: see [ReusePortSupported].
func ReservePort(string) (*PortReservation, error) { return nil, errReusePort }

// Addr returns the reserved address.
func (r *PortReservation) Addr() string { return "" }

// Close releases the port.
func (r *PortReservation) Close() error { return nil }
