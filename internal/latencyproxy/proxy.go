// Package latencyproxy is a TCP proxy that delays everything it forwards,
// to make round trips visible: the descriptor cache's test and benchmark use
// it to count the round trips a call makes.
package latencyproxy

import (
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards connections from Addr to a target, delaying each chunk of
// data by Delay in each direction. It counts turns: how many times the
// traffic switched from the client talking to the server answering, which is
// the number of round trips the client waited for.
type Proxy struct {
	Addr  string
	Delay time.Duration

	lis    net.Listener
	target string
	mu     sync.Mutex
	turns  int
	last   direction
	wg     sync.WaitGroup
}

type direction int

const (
	none direction = iota
	up             // client to server
	down           // server to client
)

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

// Turns returns the round trips counted since the last Reset.
func (p *Proxy) Turns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.turns
}

// Reset zeroes the count.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.turns, p.last = 0, none
	p.mu.Unlock()
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
		go p.pipe(c, s, up)
		go p.pipe(s, c, down)
	}
}

// pipe copies src to dst, holding each chunk for Delay. Chunks keep their
// order: each is scheduled Delay after it was read.
func (p *Proxy) pipe(src, dst net.Conn, dir direction) {
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
			p.note(dir)
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

func (p *Proxy) note(dir direction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if dir == down && p.last == up {
		p.turns++
	}
	p.last = dir
}
