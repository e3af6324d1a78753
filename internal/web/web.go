// Package web serves the probe's HTTP endpoints: /metrics, /healthz,
// /readyz, the status page at / and its JSON at /status.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// Options says what the handler serves.
type Options struct {
	// Gatherer is scraped at /metrics.
	Gatherer prometheus.Gatherer
	// Ready reports whether /readyz answers 200 (after the first round).
	Ready func() bool
	// Status serves / and /status; nil leaves them out.
	Status http.Handler
	// Logger receives promhttp errors.
	Logger *slog.Logger
}

// Handler returns the probe's HTTP handler.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !o.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: the first round of attempts has not finished")
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if o.Status != nil {
		mux.Handle("GET /{$}", o.Status)
		mux.Handle("GET /status", o.Status)
	}
	return mux
}

// Listen binds addr. When the address is taken — collector binds host port
// 9090 when it runs with hostNetwork — the error says which address is busy
// and which flag changes it.
func Listen(ctx context.Context, addr, flag string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("address %s is already in use (on a hostNetwork node collector holds :9090); choose another with %s", addr, flag)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s (%s): %w", addr, flag, err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx ends, then shuts down gracefully. A
// non-empty webConfigFile enables TLS and authentication as in every
// Prometheus exporter (exporter-toolkit's web configuration file).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, webConfigFile string, logger *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		errc <- web.Serve(ln, srv, &web.FlagConfig{
			WebListenAddresses: &[]string{ln.Addr().String()},
			WebConfigFile:      &webConfigFile,
		}, logger)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down %s: %w", ln.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
