package testserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReusePortSupported reports whether [ListenShared] and [ReservePort] work
// here: SO_REUSEPORT spreads a port's connections over its listening
// sockets on Linux only.
const ReusePortSupported = true

// ListenShared listens on the TCP address addr with SO_REUSEPORT, so that
// several processes can listen on the same address and the kernel spreads
// new connections over them. Each connection stays with the process that
// accepted it.
func ListenShared(addr string) (net.Listener, error) {
	if _, isUnix, _ := unixPath(addr); isUnix {
		return nil, errors.New("listen: SO_REUSEPORT needs a TCP address, not a Unix socket")
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setReusePort(int(fd)) }); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

func setReusePort(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("set SO_REUSEPORT: %w", err)
	}
	return nil
}

// PortReservation holds a TCP port for processes that listen on it with
// [ListenShared]: a socket bound with SO_REUSEPORT that never listens, so
// it takes no connections itself but keeps the port from other programs,
// and it settles port 0 on one port for all of them.
type PortReservation struct {
	fd   int
	addr string
}

// ReservePort binds a socket to the TCP address addr (port 0 picks a free
// port) with SO_REUSEPORT, without listening. Addr gives the address with
// the port chosen.
func ReservePort(addr string) (*PortReservation, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("reserve %q: %w", addr, err)
	}
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("reserve %q: %w", addr, err)
	}
	sa, family := sockaddr(tcp)
	if tcp.Port != 0 {
		// SO_REUSEPORT would let any socket of the same user share the
		// port, another supervisor's included: first see that no one
		// holds it. The plain socket cannot be held while the
		// reservation binds (it would refuse the reservation too), so two
		// supervisors started at the same instant can still both pass.
		if err := bindOnce(family, sa); err != nil {
			return nil, fmt.Errorf("reserve %q: %w", addr, err)
		}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reserve %q: %w", addr, err)
	}
	if err := reserve(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("reserve %q: %w", addr, err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("reserve %q: %w", addr, err)
	}
	return &PortReservation{fd: fd, addr: net.JoinHostPort(host, strconv.Itoa(port(bound)))}, nil
}

// bindOnce binds a plain socket to sa and closes it: it fails with
// EADDRINUSE when any socket holds the address.
func bindOnce(family int, sa unix.Sockaddr) error {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	return unix.Bind(fd, sa)
}

func reserve(fd int, sa unix.Sockaddr) error {
	if err := setReusePort(fd); err != nil {
		return err
	}
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		// Like Go's listeners on an unspecified address: IPv4 too.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	return unix.Bind(fd, sa)
}

// sockaddr returns the socket address of a, an unspecified host being
// IPv6's, which covers IPv4 as well, as Go's listeners do.
func sockaddr(a *net.TCPAddr) (unix.Sockaddr, int) {
	if ip4 := a.IP.To4(); ip4 != nil {
		return &unix.SockaddrInet4{Port: a.Port, Addr: [4]byte(ip4)}, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	if a.IP != nil {
		sa.Addr = [16]byte(a.IP.To16())
	}
	return sa, unix.AF_INET6
}

func port(sa unix.Sockaddr) int {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port
	case *unix.SockaddrInet6:
		return sa.Port
	}
	return 0
}

// Addr returns the reserved address, host:port, with the host as given.
func (r *PortReservation) Addr() string { return r.addr }

// Close releases the port.
func (r *PortReservation) Close() error { return unix.Close(r.fd) }
