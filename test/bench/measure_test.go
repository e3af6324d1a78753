//go:build linux

package bench

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{
			name: "plain name",
			stat: "4242 (probe) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 0 0",
			want: 325 * clockTick,
		},
		{
			name: "name with spaces and parentheses",
			stat: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 0 0",
			want: 7 * clockTick,
		},
		{name: "no name", stat: "7 R 1", wantErr: true},
		{name: "too short", stat: "7 (x) R 1 2 3", wantErr: true},
		{name: "not a number", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 4 0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.stat))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tprobe\nVmHWM:\t   40000 kB\nVmRSS:\t   31416 kB\nRssAnon:\t    4244 kB\nRssFile:\t   27172 kB\nRssShmem:\t       0 kB\nThreads:\t9\n"
	got, err := parseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	want := Memory{RSS: 31416 << 10, Anon: 4244 << 10, File: 27172 << 10, HWM: 40000 << 10, Threads: 9}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if _, err := parseStatus([]byte("Name:\tx\nVmRSS:\t1 kB\n")); err == nil {
		t.Error("status without RssAnon: no error")
	}
}

// TestReadSelf reads this process's own figures: /proc is where the
// harness reads every process's CPU and memory.
func TestReadSelf(t *testing.T) {
	if _, err := CPUTime(os.Getpid()); err != nil {
		t.Error(err)
	}
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Anon <= 0 || m.Threads < 1 || m.RSS < m.Anon {
		t.Errorf("implausible memory of this process: %+v", m)
	}
}

const exposition = `# HELP sensorprobe_probe_attempts_total Attempts by outcome.
# TYPE sensorprobe_probe_attempts_total counter
sensorprobe_probe_attempts_total{path="a",reason="ok"} 90
sensorprobe_probe_attempts_total{path="a",reason="refused"} 10
sensorprobe_probe_attempts_total{path="b",reason="ok"} 5
# HELP sensorprobe_connect_duration_seconds TCP connect time of every attempt.
# TYPE sensorprobe_connect_duration_seconds histogram
sensorprobe_connect_duration_seconds_bucket{path="a",le="0.001"} 100
sensorprobe_connect_duration_seconds_bucket{path="a",le="+Inf"} 100
sensorprobe_connect_duration_seconds_sum{path="a"} 0.01
sensorprobe_connect_duration_seconds_count{path="a"} 100
sensorprobe_connect_duration_seconds_bucket{path="b",le="0.001"} 5
sensorprobe_connect_duration_seconds_bucket{path="b",le="+Inf"} 5
sensorprobe_connect_duration_seconds_sum{path="b"} 0.001
sensorprobe_connect_duration_seconds_count{path="b"} 5
# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 25
# HELP go_memstats_heap_inuse_bytes Heap in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 4.194304e+06
`

func TestExposition(t *testing.T) {
	e, err := ParseExposition([]byte(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if e.Bytes != len(exposition) || e.Series != 13 {
		t.Errorf("bytes, series = %d, %d; want %d, 13", e.Bytes, e.Series, len(exposition))
	}
	if v, src, ok := e.Attempts(); !ok || v != 105 || src != "sensorprobe_probe_attempts_total" {
		t.Errorf("Attempts() = %v, %q, %v; want 105 from the counter", v, src, ok)
	}
	if v, ok := e.Sum("sensorprobe_probe_attempts_total", "reason", "ok"); !ok || v != 95 {
		t.Errorf("ok attempts = %v, %v; want 95", v, ok)
	}
	if v, _, ok := e.HeapInUse(); !ok || v != 4<<20 {
		t.Errorf("HeapInUse() = %v, %v; want 4 MiB", v, ok)
	}
	if v, _, ok := e.Goroutines(); !ok || v != 25 {
		t.Errorf("Goroutines() = %v, %v; want 25", v, ok)
	}
}

// TestFallbacks reads heap and goroutines from the runtime/metrics names,
// and finds no attempt count where the counter is absent.
func TestFallbacks(t *testing.T) {
	e, err := ParseExposition([]byte("go_memory_classes_heap_objects_bytes 3e+06\ngo_memory_classes_heap_unused_bytes 1e+06\ngo_sched_goroutines_goroutines 17\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _, ok := e.HeapInUse(); !ok || v != 4e6 {
		t.Errorf("HeapInUse() = %v, %v; want 4e6 from the memory classes", v, ok)
	}
	if v, _, ok := e.Goroutines(); !ok || v != 17 {
		t.Errorf("Goroutines() = %v, %v; want 17", v, ok)
	}
	if _, _, ok := e.Attempts(); ok {
		t.Error("Attempts() found a count in an exposition without one")
	}
}
