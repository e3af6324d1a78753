package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/sensorprobe/sensorprobe/internal/web"
)

// Serve must leave no goroutine behind once it has returned.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds waits on things that should happen promptly; it is a
// deadlock guard, not a timing assertion.
const guard = 10 * time.Second

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// registry returns a registry holding one gauge, sensorprobe_test_value 42.
func registry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sensorprobe_test_value", Help: "A test gauge."})
	g.Set(42)
	reg.MustRegister(g)
	return reg
}

// statusStub stands in for status.Handler: it answers with the path it was asked for.
var statusStub = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "status stub %s %s", r.Method, r.URL.Path)
})

// client returns an HTTP client that uses no proxy and closes its idle
// connections when the test ends.
func client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: guard}
}

type response struct {
	Code        int
	ContentType string
	Body        string
}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", req.URL, err)
	}
	return response{Code: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(b)}
}

func get(t *testing.T, c *http.Client, url string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

func TestHandler(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(web.Handler(web.Options{
		Gatherer: registry(t),
		Ready:    ready.Load,
		Status:   statusStub,
		Logger:   discard(),
	}))
	defer srv.Close()
	c := client(t)

	tests := []struct {
		name     string
		method   string
		path     string
		wantCode int
		wantBody string // exact body; "" skips the check
	}{
		{name: "healthz", method: http.MethodGet, path: "/healthz", wantCode: http.StatusOK, wantBody: "ok\n"},
		{name: "status page delegated", method: http.MethodGet, path: "/", wantCode: http.StatusOK, wantBody: "status stub GET /"},
		{name: "status JSON delegated", method: http.MethodGet, path: "/status", wantCode: http.StatusOK, wantBody: "status stub GET /status"},
		{name: "HEAD of the status page", method: http.MethodHead, path: "/", wantCode: http.StatusOK},
		{name: "unknown path", method: http.MethodGet, path: "/nope", wantCode: http.StatusNotFound},
		{name: "below the status page", method: http.MethodGet, path: "/index.html", wantCode: http.StatusNotFound},
		{name: "below metrics", method: http.MethodGet, path: "/metrics/extra", wantCode: http.StatusNotFound},
		{name: "below status", method: http.MethodGet, path: "/status/x", wantCode: http.StatusNotFound},
		{name: "no pprof", method: http.MethodGet, path: "/debug/pprof/", wantCode: http.StatusNotFound},
		{name: "no expvar", method: http.MethodGet, path: "/debug/vars", wantCode: http.StatusNotFound},
		{name: "PUT page", method: http.MethodPut, path: "/", wantCode: http.StatusMethodNotAllowed},
		{name: "OPTIONS metrics", method: http.MethodOptions, path: "/metrics", wantCode: http.StatusMethodNotAllowed},
		{name: "POST metrics", method: http.MethodPost, path: "/metrics", wantCode: http.StatusMethodNotAllowed},
		{name: "DELETE healthz", method: http.MethodDelete, path: "/healthz", wantCode: http.StatusMethodNotAllowed},
		{name: "POST status", method: http.MethodPost, path: "/status", wantCode: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			got := do(t, c, req)
			if got.Code != tt.wantCode {
				t.Errorf("%s %s: status %d, want %d; body %q", tt.method, tt.path, got.Code, tt.wantCode, got.Body)
			}
			if tt.wantBody != "" && got.Body != tt.wantBody {
				t.Errorf("%s %s: body %q, want %q", tt.method, tt.path, got.Body, tt.wantBody)
			}
		})
	}
}

func TestHandlerMetrics(t *testing.T) {
	srv := httptest.NewServer(web.Handler(web.Options{
		Gatherer: registry(t),
		Ready:    func() bool { return true },
		Logger:   discard(),
	}))
	defer srv.Close()

	got := get(t, client(t), srv.URL+"/metrics")
	if got.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, body %q", got.Code, got.Body)
	}
	if ct, _, _ := strings.Cut(got.ContentType, ";"); ct != "text/plain" {
		t.Errorf("Content-Type = %q, want the text exposition format", got.ContentType)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(got.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, got.Body)
	}
	values := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			values[name] = m.GetGauge().GetValue()
		}
	}
	if diff := cmp.Diff(map[string]float64{"sensorprobe_test_value": 42}, values); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestHandlerReadyz(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(web.Handler(web.Options{
		Gatherer: registry(t),
		Ready:    ready.Load,
		Logger:   discard(),
	}))
	defer srv.Close()
	c := client(t)

	steps := []struct {
		name     string
		ready    bool
		wantCode int
	}{
		{"before the first round", false, http.StatusServiceUnavailable},
		{"after the first round", true, http.StatusOK},
		{"not ready again", false, http.StatusServiceUnavailable},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ready.Store(st.ready)
			if got := get(t, c, srv.URL+"/readyz"); got.Code != st.wantCode {
				t.Errorf("GET /readyz with Ready() = %v: status %d, want %d; body %q", st.ready, got.Code, st.wantCode, got.Body)
			}
		})
	}
}

// Without a Status handler, / and /status are not served.
func TestHandlerWithoutStatus(t *testing.T) {
	srv := httptest.NewServer(web.Handler(web.Options{
		Gatherer: registry(t),
		Ready:    func() bool { return true },
		Logger:   discard(),
	}))
	defer srv.Close()
	c := client(t)
	for _, path := range []string{"/", "/status"} {
		if got := get(t, c, srv.URL+path); got.Code != http.StatusNotFound {
			t.Errorf("GET %s without a status handler: status %d, want 404", path, got.Code)
		}
	}
}

func TestListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()

	tests := []struct {
		name    string
		addr    string
		wantErr string // exact error text; "" for success
	}{
		{name: "free port", addr: "127.0.0.1:0"},
		{
			name:    "busy port",
			addr:    busyAddr,
			wantErr: "address " + busyAddr + " is already in use (on a hostNetwork node collector holds :9090); choose another with --web.listen-address",
		},
		{
			name:    "bad port",
			addr:    "127.0.0.1:notaport",
			wantErr: "listen on 127.0.0.1:notaport (--web.listen-address): ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := web.Listen(t.Context(), tt.addr, "--web.listen-address")
			if ln != nil {
				defer ln.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Listen(%q): %v", tt.addr, err)
			case tt.wantErr == "":
				if !strings.HasPrefix(ln.Addr().String(), "127.0.0.1:") {
					t.Errorf("listening on %s, want 127.0.0.1", ln.Addr())
				}
			case err == nil:
				t.Fatalf("Listen(%q) succeeded, want error %q", tt.addr, tt.wantErr)
			case strings.HasSuffix(tt.wantErr, ": "):
				if !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Errorf("error %q, want it to start with %q", err, tt.wantErr)
				}
			case err.Error() != tt.wantErr:
				t.Errorf("error:\n got %q\nwant %q", err, tt.wantErr)
			}
		})
	}
}

// serve runs web.Serve on a fresh loopback listener and returns its base
// URL, a function that cancels its context and the channel its result
// arrives on.
func serve(t *testing.T, h http.Handler, webConfigFile string) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	addr, cancel, errc := serveOn(t, "Serve", func(ctx context.Context, ln net.Listener) error {
		return web.Serve(ctx, ln, h, webConfigFile, discard())
	})
	return "http://" + addr, cancel, errc
}

// wait returns Serve's result.
func wait(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(guard):
		t.Fatal("Serve did not return after its context was cancelled")
		return nil
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Status: statusStub, Logger: discard()})
	url, cancel, errc := serve(t, h, "")
	c := client(t)

	if got := get(t, c, url+"/healthz"); got.Code != http.StatusOK {
		t.Fatalf("GET /healthz: status %d", got.Code)
	}
	if got := get(t, c, url+"/metrics"); got.Code != http.StatusOK || !strings.Contains(got.Body, "sensorprobe_test_value 42") {
		t.Fatalf("GET /metrics: status %d, body %q", got.Code, got.Body)
	}
	c.Transport.(*http.Transport).CloseIdleConnections()

	cancel()
	if err := wait(t, errc); err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
	// The listener is closed: nothing answers any more.
	if conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://")); err == nil {
		conn.Close()
		t.Error("the listener still accepts after Serve returned")
	}
}

// A request in flight when the context is cancelled is answered before
// Serve returns.
func TestServeGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce() // never leave the handler blocked, even when the test fails
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		fmt.Fprint(w, "finished")
	})
	url, cancel, errc := serve(t, mux, "")
	c := client(t)

	type answer struct {
		resp response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := c.Get(url + "/slow")
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{resp: response{Code: resp.StatusCode, Body: string(b)}, err: err}
	}()
	select {
	case <-entered:
	case <-time.After(guard):
		t.Fatal("the request did not reach the handler")
	}

	cancel()
	// Shutdown starts by closing the listener; wait for that, so the
	// request is released only once shutting down is under way.
	addr := strings.TrimPrefix(url, "http://")
	deadline := time.Now().Add(guard)
	for {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after the context was cancelled")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-errc:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	default:
	}
	releaseOnce()

	var a answer
	select {
	case a = <-answered:
	case <-time.After(guard):
		t.Fatal("the in-flight request was not answered")
	}
	if a.err != nil {
		t.Fatalf("in-flight request: %v", a.err)
	}
	if diff := cmp.Diff(response{Code: http.StatusOK, Body: "finished"}, a.resp); diff != "" {
		t.Errorf("in-flight response (-want +got):\n%s", diff)
	}
	if err := wait(t, errc); err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
}

// writeWebConfig writes an exporter-toolkit web configuration enabling basic
// auth for user with password, and returns its path.
func writeWebConfig(t *testing.T, user, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "web-config.yml")
	cfg := fmt.Sprintf("basic_auth_users:\n  %s: %s\n", user, hash)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeBasicAuth(t *testing.T) {
	h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Status: statusStub, Logger: discard()})
	url, cancel, errc := serve(t, h, writeWebConfig(t, "prometheus", "s3cret"))
	c := client(t)

	tests := []struct {
		name     string
		user     string
		password string
		auth     bool
		wantCode int
	}{
		{name: "no credentials", wantCode: http.StatusUnauthorized},
		{name: "wrong password", user: "prometheus", password: "guess", auth: true, wantCode: http.StatusUnauthorized},
		{name: "unknown user", user: "someone", password: "s3cret", auth: true, wantCode: http.StatusUnauthorized},
		{name: "right credentials", user: "prometheus", password: "s3cret", auth: true, wantCode: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth {
				req.SetBasicAuth(tt.user, tt.password)
			}
			got := do(t, c, req)
			if got.Code != tt.wantCode {
				t.Errorf("GET /metrics: status %d, want %d; body %q", got.Code, tt.wantCode, got.Body)
			}
			if tt.wantCode == http.StatusOK && !strings.Contains(got.Body, "sensorprobe_test_value 42") {
				t.Errorf("GET /metrics with credentials: body %q lacks the test gauge", got.Body)
			}
		})
	}

	c.Transport.(*http.Transport).CloseIdleConnections()
	cancel()
	if err := wait(t, errc); err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
}

// A web configuration that cannot be used is an error from Serve, naming
// the address, rather than a server without the configured protection.
func TestServeBadWebConfig(t *testing.T) {
	tests := []struct {
		name   string
		config string // file content; "-" for a file that does not exist
	}{
		{name: "missing file", config: "-"},
		{name: "not YAML", config: "basic_auth_users: [\n"},
		{name: "password not hashed", config: "basic_auth_users:\n  prometheus: s3cret\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "web-config.yml")
			if tt.config != "-" {
				if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Logger: discard()})
			url, _, errc := serve(t, h, path)
			err := wait(t, errc)
			if err == nil {
				t.Fatal("Serve with an unusable web config returned nil")
			}
			if want := "serve " + strings.TrimPrefix(url, "http://") + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want it to start with %q", err, want)
			}
			if errors.Is(err, http.ErrServerClosed) {
				t.Errorf("error %v is ErrServerClosed, want the configuration error", err)
			}
		})
	}
}

// A context cancelled before Serve starts (another part of the daemon failed
// at start-up) makes Serve return nil promptly, with or without a web config.
func TestServeCancelledBeforeStart(t *testing.T) {
	tests := []struct {
		name      string
		webConfig func(t *testing.T) string
	}{
		{name: "plain HTTP", webConfig: func(*testing.T) string { return "" }},
		{name: "basic auth", webConfig: func(t *testing.T) string { return writeWebConfig(t, "prometheus", "s3cret") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := web.Listen(t.Context(), "127.0.0.1:0", "--web.listen-address")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Logger: discard()})
			cfg := tt.webConfig(t)
			errc := make(chan error, 1)
			go func() { errc <- web.Serve(ctx, ln, h, cfg, discard()) }()
			if err := wait(t, errc); err != nil {
				t.Errorf("Serve with a cancelled context = %v, want nil", err)
			}
		})
	}
}
