// Package latencyproxy is a TCP proxy that delays everything it forwards,
// to make round trips visible: with a delay of d each way, every round trip
// a client waits for costs 2d, so elapsed time counts them. The descriptor
// cache's test and benchmark use it.
package latencyproxy

import (
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards connections from Addr to a target, delaying each chunk of
// data by Delay in each direction.
type Proxy struct {
	Addr  string
	Delay time.Duration

	lis    net.Listener
	target string
	wg     sync.WaitGroup
}

// Start listens on 127.0.0.1 and forwards to target.
func Start(target string, delay time.Duration) (*Proxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: lis.Addr().String(), Delay: delay, lis: lis, target: target}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Close stops accepting; open connections end when their peers close.
func (p *Proxy) Close() error { return p.lis.Close() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

// pipe copies src to dst, holding each chunk for Delay. Chunks keep their
// order: each is scheduled Delay after it was read.
func (p *Proxy) pipe(src, dst net.Conn) {
	type chunk struct {
		data []byte
		at   time.Time
	}
	queue := make(chan chunk, 1024)
	go func() {
		defer dst.Close()
		for ch := range queue {
			time.Sleep(time.Until(ch.at))
			if _, err := dst.Write(ch.data); err != nil {
				return
			}
		}
	}()
	defer close(queue)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(p.Delay)}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			return
		}
	}
}
