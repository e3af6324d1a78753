package standin

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Blackhole is a TCP listener whose accept queue is full and that never
// accepts, so a new connection attempt gets no SYN-ACK and times out with the
// genuine "dial tcp …: i/o timeout" — the field symptom of a NetworkPolicy or
// of service routing that drops packets. No root needed. Close releases it.
type Blackhole struct {
	fd      int
	addr    *net.TCPAddr
	fillers []net.Conn
}

// NewBlackhole listens on 127.0.0.1 with a backlog of zero and fills the
// accept queue. ip may be empty for 127.0.0.1.
func NewBlackhole(ip string) (*Blackhole, error) {
	return NewBlackholeAt(ip, 0)
}

// NewBlackholeAt is NewBlackhole on a given port (0: any), with
// SO_REUSEADDR, so that it can take over the port of a listener just closed
// (Sensor.CloseListener): connections to a path that worked start to time out.
func NewBlackholeAt(ip string, port int) (*Blackhole, error) {
	if ip == "" {
		ip = "127.0.0.1"
	}
	parsed := net.ParseIP(ip).To4()
	if parsed == nil {
		return nil, fmt.Errorf("blackhole needs an IPv4 address, got %q", ip)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
	}
	sa := &syscall.SockaddrInet4{Port: port}
	copy(sa.Addr[:], parsed)
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", ip, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("listen: %w", err)
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	in4 := got.(*syscall.SockaddrInet4)
	b := &Blackhole{fd: fd, addr: &net.TCPAddr{IP: net.IP(in4.Addr[:]), Port: in4.Port}}
	// Fill the queue: connections complete until it is full, then the
	// kernel drops SYNs and a dial times out. Stop at the first timeout.
	for range 8 {
		c, err := net.DialTimeout("tcp", b.addr.String(), 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return b, nil
			}
			b.Close()
			return nil, fmt.Errorf("fill accept queue: %w", err)
		}
		b.fillers = append(b.fillers, c)
	}
	b.Close()
	return nil, errors.New("accept queue never filled")
}

// Addr returns the listener's address.
func (b *Blackhole) Addr() string { return b.addr.String() }

// Close closes the listener and the connections that filled it.
func (b *Blackhole) Close() error {
	for _, c := range b.fillers {
		c.Close()
	}
	return syscall.Close(b.fd)
}

// Staller accepts TCP connections and never says a word, so a TLS handshake
// stalls and times out with "read …: i/o timeout". Close releases it.
type Staller struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

// NewStaller listens on 127.0.0.1.
func NewStaller() (*Staller, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Staller{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// Addr returns the listener's address.
func (s *Staller) Addr() string { return s.ln.Addr().String() }

// Close closes the listener and every held connection.
func (s *Staller) Close() error {
	err := s.ln.Close()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	return err
}

// Resetter accepts TCP connections and resets each one at once (SO_LINGER 0),
// so a client in the middle of its handshake sees "connection reset by peer".
type Resetter struct {
	ln   net.Listener
	done chan struct{}
}

// NewResetter listens on 127.0.0.1.
func NewResetter() (*Resetter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Resetter{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Wait for the ClientHello so that the reset lands mid-handshake.
			buf := make([]byte, 1)
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.Read(buf)
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	return r, nil
}

// Addr returns the listener's address.
func (r *Resetter) Addr() string { return r.ln.Addr().String() }

// Close stops the listener.
func (r *Resetter) Close() error {
	err := r.ln.Close()
	<-r.done
	return err
}

// RefusedAddr returns a loopback address on which nothing listens: the port
// was bound and released, so a connection there is refused.
func RefusedAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
