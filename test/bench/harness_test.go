//go:build linux

package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/app"
	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// The environment the harness reads.
const (
	// modeEnv selects the run: full (minutes, the figures for the docs) or
	// short (CI: seconds, smaller counts). Unset: TestBench skips.
	modeEnv = "BENCH"
	// probeEnv is the probe binary to measure (make bench passes bin/probe,
	// built with the Makefile's flags). Unset: the harness builds one with
	// the same flags.
	probeEnv = "SENSORPROBE_BENCH_PROBE"
	// roleEnv makes the test binary a helper process: "standin" serves the
	// sensor stand-ins; "discovery" runs the idle daemon with Kubernetes
	// discovery inside a private network namespace.
	roleEnv = "SENSORPROBE_BENCH_ROLE"
	// resultEnv is the file the discovery process writes its figures to.
	resultEnv = "SENSORPROBE_BENCH_RESULT"
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "standin" {
		if err := standin.ServeProcess(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "stand-in process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// settings are the sizes of one run.
type settings struct {
	name string
	// paths --target paths at interval: paths/interval attempts per second.
	paths             int
	interval, timeout time.Duration
	// idle is how long the five-path daemons run before they are measured;
	// 0 means until every path has had an attempt, plus a second.
	idle time.Duration
	// warm is the least time a loaded daemon runs before its CPU window.
	warm, window time.Duration
	// leakFirst and leakLast are the attempt counts at which heap and
	// goroutines are read (check=http).
	leakFirst, leakLast float64
	// scrapers scrape /metrics concurrently, scrapes times each.
	scrapers, scrapes int
}

func settingsFor(mode string) (settings, error) {
	s := settings{name: mode, paths: 40, interval: 200 * time.Millisecond, scrapers: 20}
	switch mode {
	case "full":
		s.idle, s.warm, s.window = 60*time.Second, 10*time.Second, 60*time.Second
		s.leakFirst, s.leakLast, s.scrapes = 10_000, 100_000, 100
	case "short":
		s.warm, s.window = 2*time.Second, 5*time.Second
		s.leakFirst, s.leakLast, s.scrapes = 1_000, 3_000, 10
	default:
		return s, fmt.Errorf("%s=%q: want full or short", modeEnv, mode)
	}
	if v := os.Getenv("BENCH_PATHS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("BENCH_PATHS=%q: want a positive number", v)
		}
		s.paths = n
	}
	if v := os.Getenv("BENCH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("BENCH_INTERVAL=%q: want a positive duration", v)
		}
		s.interval = d
	}
	// An attempt must end before the next one on its path is due.
	s.timeout = s.interval * 3 / 4
	return s, nil
}

func (s settings) rate() float64 { return float64(s.paths) / s.interval.Seconds() }

// TestBench is the make bench harness. It is a measuring harness, not a
// check: it runs only when BENCH is set, prints one table, and fails only on
// functional problems (a process that does not start, a figure that cannot
// be read, attempts that never succeed, a failed scrape, a heap or goroutine
// count that keeps growing), never on a CPU or latency figure.
func TestBench(t *testing.T) {
	if os.Getenv(roleEnv) == "discovery" {
		discoveryProcess(t)
		return
	}
	mode := os.Getenv(modeEnv)
	if mode == "" {
		t.Skip("measuring harness: run make bench (BENCH=full) or make bench-short (BENCH=short)")
	}
	s, err := settingsFor(mode)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	// The commit now: the tree may change while the run goes on.
	rev, _ := exec.Command("git", "describe", "--always", "--dirty").Output()
	bin := probeBinary(t)
	bare := buildBare(t)
	budget := hasFlag(t, bin, "sensor-budget")

	var r report
	r.settings, r.started, r.budgetFlag = s, started.UTC(), budget
	r.commit = strings.TrimSpace(string(rev))
	r.loadBefore = loadAverage()
	r.binSize = fileSize(t, bin)

	// Idle: the five-path daemon alone, and with discovery in a private
	// network namespace, side by side (memory is per process; the CPU
	// windows come later, on an otherwise quiet machine).
	var wg sync.WaitGroup
	wg.Go(func() { r.discovery, r.discoveryErr = runDiscovery(bin, s) })
	r.idle = runIdle(t, bin, s)
	wg.Wait()
	if r.discoveryErr != nil && !errors.Is(r.discoveryErr, errNotMeasured) {
		t.Fatal(r.discoveryErr)
	}

	for _, check := range []string{"tcp", "http", "grpc"} {
		r.loads = append(r.loads, runLoad(t, bin, bare, s, check, budget, check == "http"))
	}
	r.took = time.Since(started)
	r.loadAfter = loadAverage()
	r.print(os.Stdout)
	for _, p := range r.problems() {
		t.Error(p)
	}
}

// probeBinary returns the probe binary to measure, building it like make
// build (static, stripped, -trimpath) when probeEnv is not set.
func probeBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(probeEnv); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	return goBuild(t, "probe", "../../cmd/probe")
}

// buildBare builds the bare client program with the same flags.
func buildBare(t *testing.T) string {
	t.Helper()
	return goBuild(t, "bench-bare", "./cmd/bench-bare")
}

func goBuild(t *testing.T, name, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// hasFlag reports whether the probe's --help lists --name. Flags come and
// go with other changes; the harness uses what the binary has.
func hasFlag(t *testing.T, bin, name string) bool {
	t.Helper()
	out, _ := exec.Command(bin, "--help").CombinedOutput() // --help may exit non-zero
	if !strings.Contains(string(out), "-interval") {
		t.Fatalf("%s --help does not look like the probe's help:\n%s", bin, out)
	}
	return strings.Contains(string(out), "-"+name+" ")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// standinProcess starts the stand-ins in a child process (this test binary
// in the standin role) and stops it at the end of the test.
func standinProcess(t *testing.T) *standin.Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=standin")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := standin.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func writeCA(t *testing.T, pem []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fivePaths are the idle daemon's paths, as on a broken node: three answer
// over verified TLS, two time out against a blackhole.
func fivePaths(sensor, hole, caFile string) []string {
	return []string{"--ca-file=" + caFile,
		"--target=hostport=" + sensor, "--target=podip=" + sensor, "--target=webhook=" + sensor,
		"--target=clusterip=" + hole, "--target=dns=" + hole}
}

// idleResult is what an idle daemon measured.
type idleResult struct {
	Mem      Memory
	CPU      time.Duration
	Ran      time.Duration
	Bytes    int
	Series   int
	Attempts float64
}

func runIdle(t *testing.T, bin string, s settings) idleResult {
	t.Helper()
	sp := standinProcess(t)
	args := append([]string{"--kube=false"}, fivePaths(sp.Info.Sensor, sp.Info.Blackhole, writeCA(t, sp.Info.CAPEM))...)
	r, err := measureIdle(bin, s, args)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// measureIdle runs the probe with args at its default interval and reads
// its memory, CPU and /metrics once every path has had an attempt (or
// after s.idle).
func measureIdle(bin string, s settings, args []string) (idleResult, error) {
	d, err := startDaemon(bin, args...)
	if err != nil {
		return idleResult{}, err
	}
	defer d.stop()
	if err := d.waitAttempts(5, 60*time.Second); err != nil {
		return idleResult{}, err
	}
	if wait := s.idle - time.Since(d.started); wait > 0 {
		time.Sleep(wait)
	} else {
		time.Sleep(time.Second)
	}
	var r idleResult
	r.Ran = time.Since(d.started)
	if r.Mem, err = ReadMemory(d.pid()); err != nil {
		return r, err
	}
	if r.CPU, err = CPUTime(d.pid()); err != nil {
		return r, err
	}
	e, err := d.scrape()
	if err != nil {
		return r, err
	}
	r.Bytes, r.Series = e.Bytes, e.Series
	r.Attempts, _, _ = e.Attempts()
	return r, d.alive()
}

// loadResult is what one check mode measured at the load rate.
type loadResult struct {
	check  string
	window time.Duration
	// probe and bare are the two clients' figures over the same window.
	probe, bare clientFigures
	source      string // where the probe's attempts were counted
	// leak: heap and goroutines at two attempt counts (check=http).
	leak *leakFigures
}

type clientFigures struct {
	cpu      time.Duration // in the window
	attempts float64       // in the window
	ok       float64       // successful attempts in the window; -1 when unknown
	mem      Memory        // at the end of the window
}

func (c clientFigures) perAttempt() time.Duration {
	if c.attempts <= 0 {
		return 0
	}
	return time.Duration(float64(c.cpu) / c.attempts)
}

type leakFigures struct {
	at                 [2]float64 // attempts when read
	heap, goroutines   [2]float64
	heapSrc, goroutSrc string
	scrapes            []time.Duration
	scrapeErrs         []error
	scrapeBytes        int // gzip bytes of the last scrape
	// loadedSeries and loadedBytes describe the loaded daemon's /metrics
	// (s.paths paths), uncompressed.
	loadedSeries, loadedBytes int
}

// checkpoint is one reading of heap and goroutines.
type checkpoint struct {
	attempts, heap, goroutines float64
	heapSrc, goroutSrc         string
}

func runLoad(t *testing.T, bin, bareBin string, s settings, check string, budget, leak bool) loadResult {
	t.Helper()
	sp := standinProcess(t)
	caFile := writeCA(t, sp.Info.CAPEM)
	args := []string{"--kube=false", "--ca-file=" + caFile, "--check=" + check,
		"--interval=" + s.interval.String(), "--timeout=" + s.timeout.String()}
	if budget {
		// No sensor budget: every attempt is a full one, like the bare client's.
		args = append(args, "--sensor-budget=0")
	}
	for i := range s.paths {
		args = append(args, fmt.Sprintf("--target=p%02d=%s", i, sp.Info.Sensor))
	}
	d, err := startDaemon(bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	b, err := startBare(bareBin, check, sp.Info.Sensor, caFile, s)
	if err != nil {
		t.Fatal(err)
	}
	defer b.stop()

	r := loadResult{check: check}
	var cps []checkpoint
	if leak {
		if err := d.waitAttempts(s.leakFirst, time.Duration(s.leakFirst/s.rate()*3)*time.Second+30*time.Second); err != nil {
			t.Fatal(err)
		}
		cps = append(cps, d.checkpoint(t))
	}
	if wait := s.warm - time.Since(d.started); wait > 0 {
		time.Sleep(wait)
	}

	// The window: attempts are read just outside the CPU readings so that
	// the scrapes' own CPU is not counted.
	e0 := d.mustScrape(t)
	p0, src := attempts(t, e0, sp, b, check)
	pok0 := okAttempts(e0, src)
	c0 := cpuOf(t, d.pid())
	bok0, bfail0 := b.count(t)
	bc0 := cpuOf(t, b.pid())
	start := time.Now()
	time.Sleep(s.window)
	bc1 := cpuOf(t, b.pid())
	bok1, bfail1 := b.count(t)
	c1 := cpuOf(t, d.pid())
	r.window = time.Since(start)
	e1 := d.mustScrape(t)
	p1, _ := attempts(t, e1, sp, b, check)
	pok1 := okAttempts(e1, src)
	r.source = src
	r.probe = clientFigures{cpu: c1 - c0, attempts: p1 - p0, ok: -1, mem: memOf(t, d.pid())}
	if pok0 >= 0 && pok1 >= 0 {
		r.probe.ok = pok1 - pok0
	}
	r.bare = clientFigures{cpu: bc1 - bc0, attempts: float64(bok1 + bfail1 - bok0 - bfail0), ok: float64(bok1 - bok0), mem: memOf(t, b.pid())}
	if r.probe.attempts <= 0 || r.bare.attempts <= 0 {
		t.Fatalf("check=%s: no attempts in the %v window (probe %v, bare %v)", check, r.window, r.probe.attempts, r.bare.attempts)
	}
	b.stop()

	if leak {
		if err := d.waitAttempts(s.leakLast, time.Duration((s.leakLast-s.leakFirst)/s.rate()*3)*time.Second+60*time.Second); err != nil {
			t.Fatal(err)
		}
		cps = append(cps, d.checkpoint(t))
		lf := &leakFigures{heapSrc: cps[0].heapSrc, goroutSrc: cps[0].goroutSrc}
		for i, c := range cps {
			lf.at[i], lf.heap[i], lf.goroutines[i] = c.attempts, c.heap, c.goroutines
		}
		e := d.mustScrape(t)
		lf.loadedSeries, lf.loadedBytes = e.Series, e.Bytes
		lf.scrapes, lf.scrapeErrs, lf.scrapeBytes = d.scrapeLatency(s.scrapers, s.scrapes)
		r.leak = lf
	}
	if err := d.alive(); err != nil {
		t.Fatal(err)
	}
	return r
}

// attempts reads the probe's attempt count from /metrics; when no metric
// counts attempts, it falls back to the stand-in's request count less the
// bare client's successful attempts (check=http and grpc only).
func attempts(t *testing.T, e *Exposition, sp *standin.Process, b *bareProc, check string) (float64, string) {
	t.Helper()
	if v, src, ok := e.Attempts(); ok {
		return v, src
	}
	if check == "tcp" {
		t.Fatal("check=tcp: /metrics has no sensorprobe_probe_attempts_total and the stand-in cannot count bare connects")
	}
	n, err := sp.Requests()
	if err != nil {
		t.Fatal(err)
	}
	ok, _ := b.count(t)
	return float64(n - ok), "stand-in requests less the bare client's"
}

// okAttempts returns the successful attempts when the attempt counter has a
// reason label, else -1.
func okAttempts(e *Exposition, src string) float64 {
	if v, ok := e.Sum(src, "reason", "ok"); ok {
		return v
	}
	return -1
}

func cpuOf(t *testing.T, pid int) time.Duration {
	t.Helper()
	c, err := CPUTime(pid)
	if err != nil {
		t.Fatalf("CPU of process %d: %v", pid, err)
	}
	return c
}

func memOf(t *testing.T, pid int) Memory {
	t.Helper()
	m, err := ReadMemory(pid)
	if err != nil {
		t.Fatalf("memory of process %d: %v", pid, err)
	}
	return m
}

// bareProc is a running bench-bare.
type bareProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	once  sync.Once
}

func startBare(bin, check, addr, caFile string, s settings) (*bareProc, error) {
	cmd := exec.Command(bin, "--check="+check, "--addr="+addr, "--ca-file="+caFile,
		"--paths="+strconv.Itoa(s.paths), "--interval="+s.interval.String(), "--timeout="+s.timeout.String())
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bare client: %w", err)
	}
	return &bareProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}, nil
}

func (b *bareProc) pid() int { return b.cmd.Process.Pid }

// count returns the bare client's successful and failed attempts so far.
func (b *bareProc) count(t *testing.T) (ok, failed int64) {
	t.Helper()
	if _, err := io.WriteString(b.stdin, "count\n"); err != nil {
		t.Fatalf("bare client: %v", err)
	}
	if !b.out.Scan() {
		t.Fatalf("bare client ended: %v", b.out.Err())
	}
	if _, err := fmt.Sscan(b.out.Text(), &ok, &failed); err != nil {
		t.Fatalf("bare client said %q: %v", b.out.Text(), err)
	}
	return ok, failed
}

func (b *bareProc) stop() {
	b.once.Do(func() {
		b.stdin.Close()
		_ = b.cmd.Wait()
	})
}

// report is everything one run measured.
type report struct {
	settings settings
	started  time.Time
	took     time.Duration
	binSize  int64
	commit   string
	// loadBefore and loadAfter are the machine's 1-minute load average.
	loadBefore, loadAfter string
	budgetFlag            bool
	idle                  idleResult
	discovery             idleResult
	discoveryErr          error
	loads                 []loadResult
}

// Leak criteria: generous, so that only growth without bound fails a run.
const (
	heapFactor  = 3       // heap in use at the last checkpoint ≤ 3 × the first …
	heapFloor   = 4 << 20 // … taking the first as at least 4 MiB
	goroutSlack = 2       // goroutines at the last checkpoint ≤ 2 × the first + 20
)

// problems lists the functional failures in r.
func (r *report) problems() []string {
	var ps []string
	for _, l := range r.loads {
		if l.probe.ok == 0 {
			ps = append(ps, fmt.Sprintf("check=%s: none of the probe's %v attempts in the window succeeded against the stand-in", l.check, l.probe.attempts))
		}
		if l.bare.ok == 0 {
			ps = append(ps, fmt.Sprintf("check=%s: none of the bare client's %v attempts succeeded", l.check, l.bare.attempts))
		}
		lf := l.leak
		if lf == nil {
			continue
		}
		if lf.heap[1] > heapFactor*max(lf.heap[0], heapFloor) {
			ps = append(ps, fmt.Sprintf("heap in use grew from %s after %.0f attempts to %s after %.0f (more than %d× the first, taken as at least %s): a leak",
				MiB(lf.heap[0]), lf.at[0], MiB(lf.heap[1]), lf.at[1], heapFactor, MiB(heapFloor)))
		}
		if lf.goroutines[1] > goroutSlack*lf.goroutines[0]+20 {
			ps = append(ps, fmt.Sprintf("goroutines grew from %.0f after %.0f attempts to %.0f after %.0f (more than %d× the first + 20): a leak",
				lf.goroutines[0], lf.at[0], lf.goroutines[1], lf.at[1], goroutSlack))
		}
		if len(lf.scrapeErrs) > 0 {
			ps = append(ps, fmt.Sprintf("%d of %d scrapes of the loaded daemon failed, the first: %v", len(lf.scrapeErrs), len(lf.scrapeErrs)+len(lf.scrapes), lf.scrapeErrs[0]))
		}
	}
	return ps
}

func (r *report) print(w io.Writer) {
	s := r.settings
	fmt.Fprintf(w, "\nmake bench (BENCH=%s), %s, commit %s, %s, %d CPUs, load average %s before, %s after, probe binary %.1f MB, took %v\n\n",
		s.name, r.started.Format("2006-01-02 15:04 MST"), r.commit, runtime.Version(), runtime.NumCPU(),
		r.loadBefore, r.loadAfter, float64(r.binSize)/1e6, r.took.Round(time.Second))
	rows := [][4]string{{"figure", "sensorprobe", "bare Go client", "ratio"}}
	add := func(cells ...string) {
		var row [4]string
		copy(row[:], cells)
		rows = append(rows, row)
	}
	rate := fmt.Sprintf("%d paths, %.0f/s", s.paths, s.rate())
	for _, l := range r.loads {
		ratio := ""
		if bp := l.bare.perAttempt(); bp > 0 {
			ratio = fmt.Sprintf("%.2f×", float64(l.probe.perAttempt())/float64(bp))
		}
		add(fmt.Sprintf("CPU per attempt, check=%s (%s)", l.check, rate), l.probe.perAttemptText(l.window), l.bare.perAttemptText(l.window), ratio)
	}
	for _, l := range r.loads {
		add(fmt.Sprintf("RSS at %.0f/s, check=%s", s.rate(), l.check), memText(l.probe.mem), memText(l.bare.mem))
	}
	add(fmt.Sprintf("RSS idle, 5 paths, --kube=false (%s)", idleFor(r.idle)), memText(r.idle.Mem))
	if r.discoveryErr != nil {
		add("RSS idle, 5 paths, discovery", "not measured: "+r.discoveryErr.Error())
	} else {
		add(fmt.Sprintf("RSS idle, 5 paths, discovery (%s)", idleFor(r.discovery)), memText(r.discovery.Mem))
	}
	add("CPU idle, 5 paths, --kube=false", cpuShare(r.idle))
	if r.discoveryErr == nil {
		add("CPU idle, 5 paths, discovery", cpuShare(r.discovery))
	}
	for _, l := range r.loads {
		if lf := l.leak; lf != nil {
			add(fmt.Sprintf("heap in use after %.0f / %.0f attempts", lf.at[0], lf.at[1]), MiB(lf.heap[0])+" / "+MiB(lf.heap[1]))
			add(fmt.Sprintf("goroutines after %.0f / %.0f attempts", lf.at[0], lf.at[1]), fmt.Sprintf("%.0f / %.0f", lf.goroutines[0], lf.goroutines[1]))
		}
	}
	add("/metrics, 5 paths, --kube=false", expoText(r.idle))
	if r.discoveryErr == nil {
		add("/metrics, 5 paths, discovery", expoText(r.discovery))
	}
	for _, l := range r.loads {
		if lf := l.leak; lf != nil && len(lf.scrapes) > 0 {
			add(fmt.Sprintf("/metrics, %d paths, loaded", s.paths), fmt.Sprintf("%d series, %.1f KiB", lf.loadedSeries, float64(lf.loadedBytes)/1024))
			add(fmt.Sprintf("scrape p50 / p99, %d scrapers, at %.0f/s", s.scrapers, s.rate()),
				fmt.Sprintf("%s / %s", ms(app.Quantile(lf.scrapes, 0.50)), ms(app.Quantile(lf.scrapes, 0.99))))
		}
	}
	var width [4]int
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for i, row := range rows {
		fmt.Fprintf(w, "%-*s  %-*s  %-*s  %s\n", width[0], row[0], width[1], row[1], width[2], row[2], row[3])
		if i == 0 {
			fmt.Fprintln(w, strings.Repeat("-", width[0]+width[1]+width[2]+width[3]+6))
		}
	}
	r.footer(w)
}

func (r *report) footer(w io.Writer) {
	s := r.settings
	src, heapSrc, goroutSrc, scrapeBytes := "", "", "", 0
	var at [2]float64
	for _, l := range r.loads {
		src = l.source
		if l.leak != nil {
			heapSrc, goroutSrc, at, scrapeBytes = l.leak.heapSrc, l.leak.goroutSrc, l.leak.at, l.leak.scrapeBytes
		}
	}
	budget := "the probe has no --sensor-budget flag: every attempt is a full one"
	if r.budgetFlag {
		budget = "--sensor-budget=0: every attempt is a full one"
	}
	fmt.Fprintf(w, `
How each figure was measured (test/bench, docs/performance.md):
- Every process is separate: the probe binary (static, stripped, -trimpath, as make build),
  the sensor stand-ins (internal/standin: TLS with sensor's SANs, /ready, gRPC; a blackhole)
  and the bare Go client (test/bench/cmd/bench-bare: test/bareclient, same build flags).
- CPU per attempt: utime+stime from /proc/PID/stat (10 ms ticks) over a %v window after at
  least %v of warm-up, divided by the attempts in the window. The probe runs
  --kube=false --check=C --interval=%v --timeout=%v with %d --target paths on one stand-in
  (%s); its attempts come from %s.
  The bare client does the same attempts at the same rate at the same time, against the same
  stand-in: tcp net.Dialer; http a fresh http.Transport and GET /ready over TLS verified
  against the CA; grpc grpc.NewClient and Health/Check (Unimplemented counts as reachable).
  In brackets: attempts per second achieved and the share that succeeded.
- RSS: VmRSS, RssAnon and RssFile from /proc/PID/status. Loaded: at the end of the CPU
  window. Idle: 5 paths at the default interval (10 s), 3 answering over verified TLS and 2
  timing out against a blackhole, read after the time given (at least one attempt per path).
  Discovery: the same paths plus Kubernetes discovery against a real kube-apiserver and etcd
  (internal/kube/kubetest, the sensor Services, pod, EndpointSlice and collector DaemonSet of
  the end-to-end test), all in a private network namespace with only loopback, so no dial
  leaves the machine.
- Heap and goroutines: from the daemon's /metrics (%s, %s), the lowest of three reads 1 s
  apart, once the check=http daemon had counted %.0f and %.0f attempts. A run fails when the
  heap at the last reading exceeds %d× the first (taken as at least %s), or goroutines exceed
  %d× the first + 20.
- /metrics: one scrape of each idle daemon and of the loaded one, uncompressed text format 0.0.4; series = sample
  lines (each histogram bucket, _sum and _count counts).
- Scrape latency: %d concurrent scrapers, %d scrapes each back to back, each over its own
  keep-alive connection with Prometheus' Accept and Accept-Encoding: gzip (%d bytes gzipped),
  against the loaded check=http daemon at %.0f attempts/s; time to the last byte.
`, s.window, s.warm, s.interval, s.timeout, s.paths, budget, src,
		heapSrc, goroutSrc, at[0], at[1], heapFactor, MiB(heapFloor), goroutSlack,
		s.scrapers, s.scrapes, scrapeBytes, s.rate())
}

func (c clientFigures) perAttemptText(window time.Duration) string {
	okShare := "?"
	if c.ok >= 0 && c.attempts > 0 {
		okShare = fmt.Sprintf("%.0f %%", 100*c.ok/c.attempts)
	}
	return fmt.Sprintf("%s (%.0f/s, %s ok)", PerAttempt(c.perAttempt()), c.attempts/window.Seconds(), okShare)
}

func memText(m Memory) string {
	return fmt.Sprintf("%s (anon %.1f, file %.1f)", MiB(float64(m.RSS)), float64(m.Anon)/(1<<20), float64(m.File)/(1<<20))
}

func idleFor(r idleResult) string { return "after " + r.Ran.Round(time.Second).String() }

func cpuShare(r idleResult) string {
	return fmt.Sprintf("%.2f s in %v (%.2f %% of a core)", r.CPU.Seconds(), r.Ran.Round(time.Second), 100*r.CPU.Seconds()/r.Ran.Seconds())
}

func expoText(r idleResult) string {
	return fmt.Sprintf("%d series, %.1f KiB", r.Series, float64(r.Bytes)/1024)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// errNotMeasured marks a figure the machine cannot measure (no root, no
// kube-apiserver); under CI it is a failure instead.
var errNotMeasured = errors.New("not measured")

// runDiscovery runs this test binary in the discovery role in a new network
// namespace (root only) and returns what it measured.
func runDiscovery(bin string, s settings) (idleResult, error) {
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (a private network namespace keeps discovered paths off the network)"
	} else if missing := missingAssets(); missing != "" {
		why = missing
	}
	if why != "" {
		if os.Getenv("CI") != "" {
			return idleResult{}, fmt.Errorf("CI is set and discovery cannot be measured: %s", why)
		}
		return idleResult{}, fmt.Errorf("%w: %s", errNotMeasured, why)
	}
	dir, err := os.MkdirTemp("", "sensorprobe-bench-")
	if err != nil {
		return idleResult{}, err
	}
	defer os.RemoveAll(dir)
	result := filepath.Join(dir, "result.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBench$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), roleEnv+"=discovery", resultEnv+"="+result, probeEnv+"="+bin,
		"SENSORPROBE_BENCH_IDLE="+s.idle.String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return idleResult{}, fmt.Errorf("discovery process: %w\n%s", err, tail(string(out), 8000))
	}
	b, err := os.ReadFile(result)
	if err != nil {
		return idleResult{}, fmt.Errorf("discovery process left no result: %w\n%s", err, tail(string(out), 8000))
	}
	var r idleResult
	if err := json.Unmarshal(b, &r); err != nil {
		return idleResult{}, fmt.Errorf("discovery result: %w", err)
	}
	return r, nil
}

// loadAverage returns the 1-minute load average from /proc/loadavg: other
// work on the machine shows in every figure.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
