package standin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// SensorConfig configures a sensor stand-in.
type SensorConfig struct {
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// Cert is the serving certificate (typically issued for SensorSANs).
	Cert tls.Certificate
	// ClientCAs verifies client certificates when a client offers one,
	// as sensor does (tls.VerifyClientCertIfGiven). Nil accepts any client.
	ClientCAs *x509.CertPool
	// RegisterHealth registers grpc.health.v1.Health. Sensor does not, so
	// the default answers Unimplemented, as the real one does.
	RegisterHealth bool
}

// Sensor is a TLS server that answers like sensor's api port: GET /ready
// gives 200 "{}", other methods 405, and gRPC requests reach a gRPC server.
// Close stops it.
type Sensor struct {
	ln          net.Listener
	srv         *http.Server
	grpc        *grpc.Server
	readyStatus atomic.Int32
	requests    atomic.Int64
	accepts     atomic.Int64
	handshakes  atomic.Int64
	resumed     atomic.Int64

	mu    sync.Mutex
	extra map[string]net.Listener
}

// Stats counts what a sensor stand-in has served since it started.
type Stats struct {
	// Accepts counts TCP connections accepted, on every listener.
	Accepts int64
	// Handshakes counts TLS handshakes begun (ClientHellos received),
	// resumed ones included.
	Handshakes int64
	// Resumed counts handshakes completed by resuming a session.
	Resumed int64
}

// NewSensor starts a sensor stand-in. The caller must Close it.
func NewSensor(cfg SensorConfig) (*Sensor, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s := &Sensor{grpc: grpc.NewServer(), extra: map[string]net.Listener{}}
	tcfg := &tls.Config{
		Certificates: []tls.Certificate{cfg.Cert},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
		// Count every ClientHello; nil keeps this configuration.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s.handshakes.Add(1)
			return nil, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if cs.DidResume {
				s.resumed.Add(1)
			}
			return nil
		},
	}
	if cfg.ClientCAs != nil {
		tcfg.ClientAuth = tls.VerifyClientCertIfGiven
		tcfg.ClientCAs = cfg.ClientCAs
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	s.ln = &countingListener{Listener: ln, n: &s.accepts}
	s.readyStatus.Store(http.StatusOK)
	if cfg.RegisterHealth {
		healthpb.RegisterHealthServer(s.grpc, health.NewServer())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(s.readyStatus.Load()))
		_, _ = io.WriteString(w, "{}\n")
	})
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.requests.Add(1)
			if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
				s.grpc.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		}),
		TLSConfig:         tcfg,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.srv.SetKeepAlivesEnabled(false)
	go func() { _ = s.srv.ServeTLS(s.ln, "", "") }() // ends with ErrServerClosed on Close
	return s, nil
}

// Listen adds a listener on addr (e.g. "127.0.0.1:0") serving the same
// sensor, and returns its address. Several listeners let one stand-in play
// several paths; CloseListener takes one away.
func (s *Sensor) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen %s: %w", addr, err)
	}
	pl := newPeekListener(&countingListener{Listener: ln, n: &s.accepts})
	s.mu.Lock()
	s.extra[ln.Addr().String()] = pl
	s.mu.Unlock()
	go func() { _ = s.srv.ServeTLS(pl, "", "") }() // ends when the listener or the server closes
	return ln.Addr().String(), nil
}

// peekListener hands the HTTP server only the connections that send a
// byte: a connection closed at once (a connect-tier attempt) is counted and
// closed without the server's per-connection buffers and TLS state, so
// that thousands of them per second cost the stand-in little.
type peekListener struct {
	net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPeekListener(ln net.Listener) *peekListener {
	l := &peekListener{Listener: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	go func() {
		defer l.Close()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go l.peek(c)
		}
	}()
	return l
}

func (l *peekListener) peek(c net.Conn) {
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _ := c.Read(b[:]); n == 0 {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	select {
	case l.conns <- &prefixConn{Conn: c, prefix: b[:]}:
	case <-l.done:
		c.Close()
	}
}

func (l *peekListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *peekListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseListener closes a listener added by Listen; connections it accepted
// go on. Its port is free again, e.g. for a Blackhole (NewBlackholeAt).
func (s *Sensor) CloseListener(addr string) error {
	s.mu.Lock()
	ln, ok := s.extra[addr]
	delete(s.extra, addr)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no listener on %s", addr)
	}
	return ln.Close()
}

// Stats returns what the stand-in has served so far.
func (s *Sensor) Stats() Stats {
	return Stats{Accepts: s.accepts.Load(), Handshakes: s.handshakes.Load(), Resumed: s.resumed.Load()}
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// Addr returns the address the stand-in listens on.
func (s *Sensor) Addr() string { return s.ln.Addr().String() }

// SetReadyStatus changes the HTTP status /ready answers with.
func (s *Sensor) SetReadyStatus(code int) { s.readyStatus.Store(int32(code)) }

// Requests returns how many HTTP and gRPC requests the stand-in has served.
func (s *Sensor) Requests() int64 { return s.requests.Load() }

// Close stops the server and closes its connections.
func (s *Sensor) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.grpc.Stop()
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	return err
}
