//go:build linux

package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is a running probe binary.
type daemon struct {
	cmd     *exec.Cmd
	base    string // http://HOST:PORT of its web listener
	client  *http.Client
	started time.Time
	exited  chan struct{}
	logMu   sync.Mutex
	log     []byte // the tail of its stderr
	once    sync.Once
}

// logTail bounds the stderr kept for failure messages.
const logTail = 64 << 10

// startDaemon runs the probe with args, a loopback listener on a free port
// and JSON logs, and waits until /readyz answers 200. The caller must stop it.
func startDaemon(bin string, args ...string) (*daemon, error) {
	cmd := exec.Command(bin, append(args, "--web.listen-address=127.0.0.1:0", "--log.format=json")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, client: &http.Client{Timeout: 10 * time.Second}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	d.started = time.Now()
	listen := make(chan string, 1)
	go d.readLog(stderr, listen)
	go func() { _ = cmd.Wait(); close(d.exited) }()
	select {
	case addr := <-listen:
		d.base = "http://" + addr
	case <-d.exited:
		return nil, fmt.Errorf("the probe exited at start (%v):\n%s", cmd.ProcessState, d.logText())
	case <-time.After(30 * time.Second):
		d.stop()
		return nil, fmt.Errorf("the probe logged no listen address in 30 s:\n%s", d.logText())
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := d.client.Get(d.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
			err = errors.New(resp.Status)
		}
		if err := d.alive(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("the probe's /readyz after 60 s: %w:\n%s", err, d.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readLog keeps the tail of the log and sends the first "listen" address
// (the start-up line) to listen.
func (d *daemon) readLog(r io.Reader, listen chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		d.logMu.Lock()
		d.log = append(d.log, line...)
		d.log = append(d.log, '\n')
		if len(d.log) > 2*logTail {
			d.log = slices.Clone(d.log[len(d.log)-logTail:])
		}
		d.logMu.Unlock()
		if sent {
			continue
		}
		var rec struct {
			Listen string `json:"listen"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Listen != "" {
			listen <- rec.Listen
			sent = true
		}
	}
}

func (d *daemon) logText() string {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return tail(string(d.log), 8000)
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// alive returns an error when the daemon has exited.
func (d *daemon) alive() error {
	select {
	case <-d.exited:
		return fmt.Errorf("the probe exited (%v):\n%s", d.cmd.ProcessState, d.logText())
	default:
		return nil
	}
}

// stop sends SIGTERM, then SIGKILL after 10 s, and waits.
func (d *daemon) stop() {
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
}

func (d *daemon) scrape() (*Exposition, error) {
	e, err := Scrape(d.client, d.base+"/metrics")
	if err != nil {
		return nil, errors.Join(err, d.alive())
	}
	return e, nil
}

func (d *daemon) mustScrape(t *testing.T) *Exposition {
	t.Helper()
	e, err := d.scrape()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// waitAttempts polls /metrics every second until the daemon has counted n
// attempts.
func (d *daemon) waitAttempts(n float64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		e, err := d.scrape()
		if err != nil {
			return err
		}
		got, src, ok := e.Attempts()
		if !ok {
			return fmt.Errorf("/metrics has no sensorprobe_probe_attempts_total")
		}
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is %.0f after %v, want %.0f:\n%s", src, got, limit, n, d.logText())
		}
		time.Sleep(time.Second)
	}
}

// checkpoint reads heap in use and goroutines three times a second apart
// and keeps the lowest of each: the heap between two collections holds
// garbage, and goroutines include attempts in flight. Without the metrics it
// falls back to RssAnon and the thread count from /proc.
func (d *daemon) checkpoint(t *testing.T) checkpoint {
	t.Helper()
	var c checkpoint
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		e := d.mustScrape(t)
		if i == 0 {
			c.attempts, _, _ = e.Attempts()
		}
		heap, hsrc, hok := e.HeapInUse()
		gr, gsrc, gok := e.Goroutines()
		if !hok || !gok {
			m := memOf(t, d.pid())
			if !hok {
				heap, hsrc = float64(m.Anon), "RssAnon from /proc (no heap metric on /metrics)"
			}
			if !gok {
				gr, gsrc = float64(m.Threads), "threads from /proc (no goroutine metric on /metrics)"
			}
		}
		if i == 0 || heap < c.heap {
			c.heap = heap
		}
		if i == 0 || gr < c.goroutines {
			c.goroutines = gr
		}
		c.heapSrc, c.goroutSrc = hsrc, gsrc
	}
	return c
}

// scrapeLatency runs scrapers concurrent scrapers, each scraping n times
// back to back over its own keep-alive connection as Prometheus does
// (gzip, the content types Prometheus accepts), and returns the time to the
// last byte of every successful scrape, the errors, and the gzipped size.
func (d *daemon) scrapeLatency(scrapers, n int) ([]time.Duration, []error, int) {
	var mu sync.Mutex
	var durations []time.Duration
	var errs []error
	size := 0
	var wg sync.WaitGroup
	for range scrapers {
		wg.Go(func() {
			tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for range n {
				start := time.Now()
				b, err := scrapeOnce(c, d.base+"/metrics")
				took := time.Since(start)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					durations = append(durations, took)
					size = b
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return durations, errs, size
}

func scrapeOnce(c *http.Client, url string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	// OpenMetrics first, then the text format, as Prometheus asks.
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return int(n), nil
}
