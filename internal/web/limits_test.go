package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sensorprobe/sensorprobe/internal/web"
)

// serveWith runs web.ServeWith on a fresh loopback listener until the test
// ends and returns the listener's address and Serve's result channel, and
// a function cancelling Serve's context.
func serveWith(t *testing.T, h http.Handler, o web.ServerOptions) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	o.Logger = discard()
	return serveOn(t, "ServeWith", func(ctx context.Context, ln net.Listener) error { return web.ServeWith(ctx, ln, h, o) })
}

// serveOn runs serve (named name in failures) on a fresh loopback listener
// until the test ends, checks that it returns once its context is cancelled,
// and returns the listener's address, the cancel function and serve's result.
func serveOn(t *testing.T, name string, serve func(context.Context, net.Listener) error) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ln, err := web.Listen(t.Context(), "127.0.0.1:0", "--web.listen-address")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		errc <- serve(ctx, ln)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(guard):
			t.Errorf("%s did not return after its context was cancelled", name)
		}
		ln.Close()
	})
	return ln.Addr().String(), cancel, errc
}

// fdBudget returns how many slow clients (two descriptors each, client and
// server side, in this process) fit under RLIMIT_NOFILE, at most want,
// raising the soft limit towards the hard one when that is needed.
func fdBudget(t *testing.T, want int) int {
	t.Helper()
	const reserve = 256 // the test binary, the listener, the scrapers
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if need := uint64(2*want + reserve); lim.Cur < need && lim.Max > lim.Cur {
		lim.Cur = min(need, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Logf("raise RLIMIT_NOFILE: %v", err)
		}
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	n := min(want, int((int64(lim.Cur)-reserve)/2))
	if n < 200 {
		t.Fatalf("RLIMIT_NOFILE %d/%d leaves room for %d slow clients; the test needs at least 200 (ulimit -n 1024)", lim.Cur, lim.Max, n)
	}
	return n
}

// slowRequest is what a slow client trickles, one byte a second; it never
// gets to the blank line that ends the headers.
const slowRequest = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: " +
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// trickle connects to addr and sends slowRequest a byte a second until the
// server closes the connection or stop is closed. It signals started after
// the first byte is sent and reports whether the server closed the connection.
func trickle(addr string, started func(error), stop <-chan struct{}) (closedByServer bool) {
	conn, err := net.DialTimeout("tcp", addr, guard)
	if err != nil {
		started(err)
		return false
	}
	defer conn.Close()
	buf := make([]byte, 512)
	for i := 0; ; i++ {
		_, err := conn.Write([]byte{slowRequest[i%len(slowRequest)]})
		if i == 0 {
			started(err)
		}
		if err != nil {
			return true // the server closed it and the kernel said so
		}
		// Wait a second for the server to say anything: a read that times
		// out is the pause between two bytes.
		conn.SetReadDeadline(time.Now().Add(time.Second))
		_, err = conn.Read(buf)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			return true // EOF, a reset, or an answer (408): closed by the server
		}
		select {
		case <-stop:
			return false
		default:
		}
	}
}

// A few hundred clients trickling their headers a byte a second hold a
// connection each, yet a normal scrape is served within 100 ms while they
// do, and each of them is disconnected once ReadHeaderTimeout has passed.
//
// Slow clients that blocked scrapes would make every scrape slow or fail;
// a busy machine (go test runs packages in parallel, some of them
// compiling) can delay a request now and then. So every scrape must be
// served, and 90% of them (18 of 20) within 100 ms.
func TestSlowHeaderClientsDoNotBlockScrapes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: opens a few hundred loopback connections for several seconds")
	}
	const (
		readHeaderTimeout = 5 * time.Second
		scrapes           = 20
		bound             = 100 * time.Millisecond // the "served within 100 ms"
	)
	n := fdBudget(t, 300)
	h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Logger: discard()})
	addr, _, _ := serveWith(t, h, web.ServerOptions{ReadHeaderTimeout: readHeaderTimeout})
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: guard}
	// One scrape before the slow clients, so that nothing measured below
	// is a first-use cost (the client's and the server's).
	if got := get(t, c, "http://"+addr+"/metrics"); got.Code != http.StatusOK {
		t.Fatalf("scrape without slow clients: status %d", got.Code)
	}

	stop := make(chan struct{})
	var (
		startWG sync.WaitGroup
		doneWG  sync.WaitGroup
		closed  atomic.Int64
		dialErr atomic.Value
	)
	defer func() { close(stop); doneWG.Wait() }()
	startWG.Add(n)
	for i := range n {
		doneWG.Go(func() {
			// Spread the clients over one second, so that their bytes do
			// not all arrive in the same instant every second.
			time.Sleep(time.Duration(i) * time.Second / time.Duration(n))
			once := sync.OnceFunc(startWG.Done)
			if trickle(addr, func(err error) {
				if err != nil {
					dialErr.CompareAndSwap(nil, err)
				}
				once()
			}, stop) {
				closed.Add(1)
			}
		})
	}
	startWG.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		t.Fatalf("slow client: %v", err)
	}

	// Scrape, each time over a new connection as a fresh Prometheus would.
	var worst time.Duration
	var slow []string
	for i := range scrapes {
		begin := time.Now()
		got := get(t, c, "http://"+addr+"/metrics")
		took := time.Since(begin)
		worst = max(worst, took)
		if got.Code != http.StatusOK || !strings.Contains(got.Body, "sensorprobe_test_value 42") {
			t.Fatalf("scrape %d beside %d slow clients: status %d, body %q", i, n, got.Code, got.Body)
		}
		if took > bound {
			slow = append(slow, fmt.Sprintf("scrape %d took %v", i, took))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The scrapes happened while every slow client still held its connection.
	if got := closed.Load(); got != 0 {
		t.Fatalf("%d of %d slow clients were disconnected before the scrapes ended; the test did not measure what it claims (scrapes too slow?)", got, n)
	}
	t.Logf("%d scrapes beside %d slow-header clients: slowest %v", scrapes, n, worst)
	if len(slow) > scrapes/10 {
		t.Errorf("%d of %d scrapes beside %d slow clients took longer than %v, want at most %d: %s", len(slow), scrapes, n, bound, scrapes/10, strings.Join(slow, ", "))
	}

	// Then ReadHeaderTimeout disconnects every slow client.
	deadline := time.Now().Add(readHeaderTimeout + guard)
	for closed.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := closed.Load(); got != int64(n) {
		t.Errorf("%d of %d slow clients disconnected by the server, want all (ReadHeaderTimeout %v)", got, n, readHeaderTimeout)
	}
}

// blockingGatherer counts the Gather calls running at once; each waits for
// release to be closed.
type blockingGatherer struct {
	prometheus.Gatherer
	release chan struct{}

	mu               sync.Mutex
	running, maxSeen int
	calls            int
	entered          chan struct{}
}

func newBlockingGatherer(t *testing.T) *blockingGatherer {
	return &blockingGatherer{Gatherer: registry(t), release: make(chan struct{}), entered: make(chan struct{}, 1000)}
}

func (g *blockingGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.mu.Lock()
	g.running++
	g.calls++
	g.maxSeen = max(g.maxSeen, g.running)
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	g.mu.Lock()
	g.running--
	g.mu.Unlock()
	return g.Gatherer.Gather()
}

func (g *blockingGatherer) stats() (running, maxSeen, calls int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running, g.maxSeen, g.calls
}

// Fifty scrapers at once are all served, no more than MaxRequestsInFlight
// of them gathering at the same time.
func TestConcurrentScrapersServed(t *testing.T) {
	const (
		scrapers = 50
		inFlight = 4
	)
	g := newBlockingGatherer(t)
	releaseOnce := sync.OnceFunc(func() { close(g.release) })
	defer releaseOnce()
	h := web.Handler(web.Options{Gatherer: g, Ready: func() bool { return true }, Logger: discard(),
		MaxRequestsInFlight: inFlight, QueueWait: guard})
	addr, _, _ := serveWith(t, h, web.ServerOptions{})
	c := client(t)

	codes := make(chan int, scrapers)
	var wg sync.WaitGroup
	for range scrapers {
		wg.Go(func() {
			resp, err := c.Get("http://" + addr + "/metrics")
			if err != nil {
				t.Error(err)
				codes <- 0
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), "sensorprobe_test_value 42") {
				t.Errorf("scrape: status %d, body %q", resp.StatusCode, b)
			}
			codes <- resp.StatusCode
		})
	}
	// The first inFlight scrapes reach the gatherer; the others wait.
	for range inFlight {
		select {
		case <-g.entered:
		case <-time.After(guard):
			t.Fatal("scrapes did not reach the gatherer")
		}
	}
	select {
	case <-g.entered:
		t.Fatalf("a scrape beyond MaxRequestsInFlight=%d reached the gatherer", inFlight)
	case <-time.After(200 * time.Millisecond):
	}
	releaseOnce()
	wg.Wait()
	close(codes)
	var got []int
	for code := range codes {
		got = append(got, code)
	}
	if want := slices.Repeat([]int{http.StatusOK}, scrapers); !slices.Equal(got, want) {
		t.Errorf("status codes of %d concurrent scrapes = %v, want all 200", scrapers, got)
	}
	running, maxSeen, calls := g.stats()
	if running != 0 || maxSeen != inFlight || calls != scrapers {
		t.Errorf("gatherer: %d running, at most %d at once, %d calls; want 0, %d, %d", running, maxSeen, calls, inFlight, scrapers)
	}
}

// A request that finds every slot taken for longer than QueueWait is
// answered 503 with Retry-After; health checks are not held up.
func TestQueueFullAnswers503(t *testing.T) {
	g := newBlockingGatherer(t)
	releaseOnce := sync.OnceFunc(func() { close(g.release) })
	defer releaseOnce()
	h := web.Handler(web.Options{Gatherer: g, Ready: func() bool { return true }, Status: statusStub, Logger: discard(),
		MaxRequestsInFlight: 1, QueueWait: 50 * time.Millisecond})
	addr, _, _ := serveWith(t, h, web.ServerOptions{})
	base := "http://" + addr
	c := client(t)

	first := make(chan int, 1)
	go func() {
		resp, err := c.Get(base + "/metrics")
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	select {
	case <-g.entered:
	case <-time.After(guard):
		t.Fatal("the first scrape did not reach the gatherer")
	}

	for _, path := range []string{"/metrics", "/status", "/"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("GET %s with the only slot taken: status %d, Retry-After %q; want 503, 1", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if got := get(t, c, base+path); got.Code != http.StatusOK {
			t.Errorf("GET %s with the only slot taken: status %d, want 200 (health checks are not limited)", path, got.Code)
		}
	}
	releaseOnce()
	if code := <-first; code != http.StatusOK {
		t.Errorf("first scrape: status %d, want 200", code)
	}
	if got := get(t, c, base+"/metrics"); got.Code != http.StatusOK {
		t.Errorf("GET /metrics once the slot is free: status %d, want 200", got.Code)
	}
}

// Request headers beyond MaxHeaderBytes (plus net/http's 4 KiB slack) are
// refused with 431 before any handler runs.
func TestRequestHeaderTooLarge(t *testing.T) {
	h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Logger: discard()})
	addr, _, _ := serveWith(t, h, web.ServerOptions{})
	c := client(t)

	tests := []struct {
		name     string
		header   int
		wantCode int
	}{
		{name: "a scrape's headers", header: 200, wantCode: http.StatusOK},
		{name: "just under the bound", header: web.DefaultMaxHeaderBytes - 512, wantCode: http.StatusOK},
		{name: "far over the bound", header: 4 * web.DefaultMaxHeaderBytes, wantCode: http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Padding", strings.Repeat("p", tt.header))
			if got := do(t, c, req); got.Code != tt.wantCode {
				t.Errorf("status %d, want %d", got.Code, tt.wantCode)
			}
		})
	}
}

// Shutdown gives requests in flight ShutdownGrace, then closes what is
// still open — here a client that never finishes its headers — so the
// process exits promptly and Serve reports a clean stop.
func TestShutdownClosesSlowClientsAfterGrace(t *testing.T) {
	h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Logger: discard()})
	addr, cancel, errc := serveWith(t, h, web.ServerOptions{ReadHeaderTimeout: time.Hour, ShutdownGrace: 100 * time.Millisecond})

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /metr")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := wait(t, errc); err != nil {
		t.Errorf("ServeWith with a slow client open at shutdown = %v, want nil", err)
	}
	conn.SetReadDeadline(time.Now().Add(guard))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("slow client's read after shutdown: %v, want the connection closed by the server", err)
	}
}
