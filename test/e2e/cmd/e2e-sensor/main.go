// Command e2e-sensor is the end-to-end harness's sensor: the stand-ins of
// internal/standin as a real process, run in the harness's sensor pod network
// namespace. It serves sensor's api port (TLS, GET /ready, gRPC) and webhook
// port with the certificate it is given, or, with --stall, accepts
// connections on both and never says a word (a handshake that stalls).
// --ready-status makes /ready answer another status, as a sensor whose
// readiness probe fails.
//
//	e2e-sensor --cert sensor.pem --key sensor-key.pem [--api-addr :8443] [--webhook-addr :9443] [--stall] [--ready-status 503]
//
// It prints "ready" once both ports listen and runs until SIGTERM or SIGINT.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/sensorprobe/sensorprobe/internal/standin"
)

func main() {
	apiAddr := flag.String("api-addr", ":8443", "address of sensor's api port")
	webhookAddr := flag.String("webhook-addr", ":9443", "address of sensor's webhook port")
	certFile := flag.String("cert", "", "serving certificate (PEM)")
	keyFile := flag.String("key", "", "key of --cert (PEM)")
	stall := flag.Bool("stall", false, "accept connections and never answer")
	readyStatus := flag.Int("ready-status", 200, "HTTP status of GET /ready")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, *apiAddr, *webhookAddr, *certFile, *keyFile, *stall, *readyStatus); err != nil {
		fmt.Fprintln(os.Stderr, "e2e-sensor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, apiAddr, webhookAddr, certFile, keyFile string, stall bool, readyStatus int) error {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c() // shutting down; nothing to do about a close error
		}
	}()
	for _, addr := range []string{apiAddr, webhookAddr} {
		if stall {
			s, err := listenStaller(addr)
			if err != nil {
				return err
			}
			closers = append(closers, s.Close)
			continue
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("load --cert and --key: %w", err)
		}
		s, err := standin.NewSensor(standin.SensorConfig{Addr: addr, Cert: cert})
		if err != nil {
			return err
		}
		s.SetReadyStatus(readyStatus)
		closers = append(closers, s.Close)
	}
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}

// staller accepts TCP connections and never writes a byte; it reads and
// discards what the client sends and closes a connection when the client does.
type staller struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func listenStaller(addr string) (*staller, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &staller{ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Go(func() {
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			})
		}
	})
	return s, nil
}

// Close stops accepting, closes every held connection and waits.
func (s *staller) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
