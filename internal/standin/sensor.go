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
}

// NewSensor starts a sensor stand-in. The caller must Close it.
func NewSensor(cfg SensorConfig) (*Sensor, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	tcfg := &tls.Config{
		Certificates: []tls.Certificate{cfg.Cert},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
	if cfg.ClientCAs != nil {
		tcfg.ClientAuth = tls.VerifyClientCertIfGiven
		tcfg.ClientCAs = cfg.ClientCAs
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	s := &Sensor{ln: ln, grpc: grpc.NewServer()}
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
	go func() { _ = s.srv.ServeTLS(ln, "", "") }() // ends with ErrServerClosed on Close
	return s, nil
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
