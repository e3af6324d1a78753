//go:build linux

// Package bench is the make bench harness: it runs the real probe binary
// against sensor stand-ins in other processes and prints one table of what
// the daemon costs (CPU per attempt beside a bare Go client, memory idle and
// loaded, heap and goroutines over many attempts, /metrics size and scrape
// latency). The harness itself is TestBench (harness_test.go), run by make
// bench; this file holds what it measures with, tested on its own.
package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// CPUTime returns the user plus system CPU time of process pid, all its
// threads, from /proc/PID/stat.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)) //nolint:gosec // a process ID, not a user path
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (time.Duration, error) {
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no ')' in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/PID/stat: %w", err)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// Memory is what /proc/PID/status says about a process's memory, in bytes,
// and its thread count.
type Memory struct {
	RSS, Anon, File, HWM int64
	Threads              int
}

// ReadMemory reads /proc/PID/status.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)) //nolint:gosec // a process ID, not a user path
	if err != nil {
		return Memory{}, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Memory, error) {
	var m Memory
	seen := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		key := strings.TrimSuffix(f[0], ":")
		switch key {
		case "VmRSS":
			m.RSS = n << 10
		case "RssAnon":
			m.Anon = n << 10
		case "RssFile":
			m.File = n << 10
		case "VmHWM":
			m.HWM = n << 10
		case "Threads":
			m.Threads = int(n)
		default:
			continue
		}
		seen[key] = true
	}
	for _, k := range []string{"VmRSS", "RssAnon", "RssFile", "Threads"} {
		if !seen[k] {
			return m, fmt.Errorf("/proc/PID/status: no %s", k)
		}
	}
	return m, nil
}

// Exposition is one scrape of /metrics: its size, its series and every
// sample by metric name (testsupport.Exposition, with its Sum and Value).
type Exposition struct {
	// Bytes is the size of the uncompressed text exposition.
	Bytes int
	// Series is the number of samples (a classic histogram counts one per
	// bucket, plus _sum and _count), what Prometheus stores per scrape.
	Series int
	testsupport.Exposition
}

// Scrape fetches url in the classic text format, uncompressed.
func Scrape(c *http.Client, url string) (*Exposition, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil) //nolint:gosec // the harness's own daemon on loopback
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.Do(req) //nolint:gosec // the harness's own daemon on loopback
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return ParseExposition(b)
}

// ParseExposition parses a text exposition and counts its size and series.
func ParseExposition(b []byte) (*Exposition, error) {
	samples, err := testsupport.ReadExposition(string(b))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	e := &Exposition{Bytes: len(b), Exposition: samples}
	for line := range bytes.Lines(b) {
		if line = bytes.TrimSpace(line); len(line) > 0 && line[0] != '#' {
			e.Series++
		}
	}
	return e, nil
}

// Attempts returns the number of probe attempts the daemon has counted
// (sensorprobe_probe_attempts_total, every reason and tier) and the metric
// it was read from.
func (e *Exposition) Attempts() (float64, string, bool) {
	const name = "sensorprobe_probe_attempts_total"
	v, ok := e.Sum(name)
	return v, name, ok
}

// HeapInUse returns the Go heap in use, in bytes, and the metric it was
// read from: go_memstats_heap_inuse_bytes, or the runtime/metrics classes
// of heap objects plus unused heap when the collector exports those instead.
func (e *Exposition) HeapInUse() (float64, string, bool) {
	if v, ok := e.Sum("go_memstats_heap_inuse_bytes"); ok {
		return v, "go_memstats_heap_inuse_bytes", true
	}
	obj, ok1 := e.Sum("go_memory_classes_heap_objects_bytes")
	unused, ok2 := e.Sum("go_memory_classes_heap_unused_bytes")
	if ok1 && ok2 {
		return obj + unused, "go_memory_classes_heap_{objects,unused}_bytes", true
	}
	return 0, "", false
}

// Goroutines returns the number of goroutines and the metric it was read
// from: go_goroutines or the runtime/metrics name.
func (e *Exposition) Goroutines() (float64, string, bool) {
	for _, n := range []string{"go_goroutines", "go_sched_goroutines_goroutines"} {
		if v, ok := e.Sum(n); ok {
			return v, n, true
		}
	}
	return 0, "", false
}

// MiB formats bytes in MiB with one decimal.
func MiB(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// PerAttempt formats a CPU time per attempt in µs or ms.
func PerAttempt(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
