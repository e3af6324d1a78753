// Package web serves the probe's HTTP endpoints: /metrics, /healthz,
// /readyz, the status page at / and its JSON at /status.
//
// The probe runs in every node's network namespace, so its listener is
// reachable by anything on the node network. The server is therefore locked
// down: only those five paths are served (404 for any other path, 405 for a
// method other than GET or HEAD), request headers are bounded in time and
// size, the expensive handlers run a bounded number at a time, and TLS, client
// certificates and basic auth are available through an exporter-toolkit web
// configuration file, validated before the daemon starts. docs/security.md
// explains what each protection is for.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// Defaults of Options and ServerOptions.
const (
	// DefaultMaxRequestsInFlight bounds the /metrics, / and /status requests
	// handled at once (health checks are not counted).
	DefaultMaxRequestsInFlight = 10
	// DefaultQueueWait is how long a request beyond the bound waits for a
	// slot before it is answered 503.
	DefaultQueueWait = 2 * time.Second

	// DefaultReadHeaderTimeout bounds the time a client may take to send its
	// request line and headers; a scrape sends them in one packet.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds the time to read a whole request.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds the time from the end of the request headers
	// to the end of the response; above Prometheus' default scrape timeout.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout bounds how long a kept-alive connection may wait
	// for its next request; above the PodMonitor's 30 s interval, so that
	// Prometheus reuses its connection.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxHeaderBytes bounds the request line and headers (net/http
	// allows 4 KiB of slack on top). A scrape's headers take a few hundred bytes.
	DefaultMaxHeaderBytes = 8 << 10
	// DefaultShutdownGrace is how long requests in flight may take to finish
	// once shutdown begins, before their connections are closed. Together
	// with the cancelled attempts it keeps the exit after SIGTERM within 2 s.
	DefaultShutdownGrace = time.Second
)

// Options says what the handler serves.
type Options struct {
	// Gatherer is scraped at /metrics.
	Gatherer prometheus.Gatherer
	// Ready reports whether /readyz answers 200 (after the first round).
	Ready func() bool
	// Status serves / and /status; nil leaves them out (404), as
	// --web.status=false does.
	Status http.Handler
	// Logger receives promhttp errors.
	Logger *slog.Logger
	// MaxRequestsInFlight bounds how many /metrics, / and /status requests
	// are handled at once. Default DefaultMaxRequestsInFlight.
	MaxRequestsInFlight int
	// QueueWait is how long a request waits for one of those slots before
	// it is answered 503 Service Unavailable. Default DefaultQueueWait.
	QueueWait time.Duration
}

// Handler returns the probe's HTTP handler. It serves GET (and HEAD) of
// /metrics, /healthz, /readyz and, when o.Status is set, / and /status;
// every other path is 404 and every other method 405.
func Handler(o Options) http.Handler {
	if o.MaxRequestsInFlight <= 0 {
		o.MaxRequestsInFlight = DefaultMaxRequestsInFlight
	}
	if o.QueueWait <= 0 {
		o.QueueWait = DefaultQueueWait
	}
	lim := &limiter{slots: make(chan struct{}, o.MaxRequestsInFlight), wait: o.QueueWait}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", lim.wrap(promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	})))
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
		st := lim.wrap(o.Status)
		mux.Handle("GET /{$}", st)
		mux.Handle("GET /status", st)
	}
	return mux
}

// limiter runs at most cap(slots) handlers at once; a request beyond that
// waits up to wait for a slot.
type limiter struct {
	slots chan struct{}
	wait  time.Duration
}

func (l *limiter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case l.slots <- struct{}{}:
		default:
			t := time.NewTimer(l.wait)
			defer t.Stop()
			select {
			case l.slots <- struct{}{}:
			case <-t.C:
				w.Header().Set("Retry-After", "1")
				http.Error(w, "too many requests in flight; try again", http.StatusServiceUnavailable)
				return
			case <-r.Context().Done():
				return
			}
		}
		defer func() { <-l.slots }()
		h.ServeHTTP(w, r)
	})
}

// ValidateConfig checks an exporter-toolkit web configuration file with the
// toolkit's own validation — YAML syntax and known keys, bcrypt hashes of
// the basic-auth passwords, the TLS key pair and client CA files, the client
// authentication policy — as Serve would find it. An empty path is valid
// (plain HTTP, no authentication). The error is one line.
func ValidateConfig(path string) error {
	if path == "" {
		return nil
	}
	if err := web.Validate(path); err != nil {
		return errors.New(oneLine(err.Error()))
	}
	return nil
}

// oneLine joins a multi-line error text (YAML errors list one problem per
// line) into one line, so that each configuration problem stays one line.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, " ")
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

// ServerOptions configures the HTTP server of ServeWith. Zero values take
// the defaults.
type ServerOptions struct {
	// WebConfigFile, when not empty, is an exporter-toolkit web configuration
	// file enabling TLS, client certificates and basic auth.
	WebConfigFile string
	// Logger receives the server's and the toolkit's log lines.
	Logger *slog.Logger

	// ReadHeaderTimeout, default DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout, default DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout, default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout, default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes, default DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ShutdownGrace, default DefaultShutdownGrace.
	ShutdownGrace time.Duration
}

func (o *ServerOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	def(&o.ShutdownGrace, DefaultShutdownGrace)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Serve is ServeWith with the default limits.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, webConfigFile string, logger *slog.Logger) error {
	return ServeWith(ctx, ln, h, ServerOptions{WebConfigFile: webConfigFile, Logger: logger})
}

// ServeWith serves h on ln until ctx ends, then shuts down: from that moment
// /readyz answers 503, the listener is closed, and requests in flight get
// o.ShutdownGrace to finish before their connections are closed. It returns
// nil after a shutdown, or the error that stopped the server (an unusable
// web configuration file among them). The caller closes ln.
func ServeWith(ctx context.Context, ln net.Listener, h http.Handler, o ServerOptions) error {
	o.defaults()
	srv := &http.Server{
		Handler:           notReadyWhenDone(ctx, h),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() {
		errc <- web.Serve(ln, srv, &web.FlagConfig{
			WebListenAddresses: &[]string{ln.Addr().String()},
			WebConfigFile:      &o.WebConfigFile,
		}, o.Logger)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still in flight (or clients still sending their
		// headers) after the grace period: cut them off.
		o.Logger.WarnContext(ctx, "closing connections still open after the shutdown grace period", "grace", o.ShutdownGrace.String(), "err", err)
		if err := srv.Close(); err != nil {
			return fmt.Errorf("close %s: %w", ln.Addr(), err)
		}
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// notReadyWhenDone answers /readyz with 503 once ctx has ended, whatever h
// would say: a process that is shutting down takes no new work.
func notReadyWhenDone(ctx context.Context, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		if get && r.URL.Path == "/readyz" && ctx.Err() != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: shutting down")
			return
		}
		h.ServeHTTP(w, r)
	})
}
