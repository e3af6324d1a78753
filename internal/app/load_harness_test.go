package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/standin"
)

const loadStandInEnv = "SENSORPROBE_LOAD_STANDIN"

// TestLoadHarness is a measuring harness, not a check: it runs the daemon
// in this process at 200 attempts per second (40 paths every 200 ms, TLS +
// GET /ready) against a sensor stand-in in a child process, so that the
// test binary's CPU and heap are the daemon's alone, and prints CPU per
// attempt and the heap. With go test's -cpuprofile and -memprofile it
// profiles the daemon under load. It runs only when asked:
//
//	SENSORPROBE_LOAD=30s go test -count=1 -run TestLoadHarness -v \
//	  -cpuprofile cpu.out -memprofile mem.out ./internal/app
//	go tool pprof -top -sample_index=alloc_space app.test mem.out
func TestLoadHarness(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("SENSORPROBE_LOAD"))
	if err != nil {
		t.Skip("measuring harness: set SENSORPROBE_LOAD=30s to run it")
	}
	sensor, caFile := startLoadStandIn(t)
	addr := sensor.Info.Sensor
	args := []string{"--kube=false", "--ca-file=" + caFile, "--interval=200ms", "--timeout=200ms",
		"--web.listen-address=127.0.0.1:0", "--vsock.interval=1h"}
	const paths = 40
	for i := range paths {
		args = append(args, fmt.Sprintf("--target=p%02d=%s", i, addr))
	}
	cfg, err := ParseDaemon(args, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	go sampleLoad(ctx, d/6)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	served0, err := sensor.Requests()
	if err != nil {
		t.Fatal(err)
	}
	if err := RunDaemon(ctx, cfg, slog.New(slog.DiscardHandler)); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	served1, err := sensor.Requests()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SENSORPROBE_LOAD_AFTER") != "" {
		for _, wait := range []time.Duration{0, time.Second, 5 * time.Second} {
			time.Sleep(wait)
			runtime.GC()
			s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/sched/goroutines:goroutines"}}
			metrics.Read(s)
			fmt.Printf("after the daemon, +%v: live heap %.1f MiB, %d goroutines\n", wait, float64(s[0].Value.Uint64())/(1<<20), s[1].Value.Uint64())
			if f := os.Getenv("SENSORPROBE_LOAD_HEAP"); f != "" && wait == 0 {
				out, _ := os.Create(f)
				pprof.WriteHeapProfile(out)
				out.Close()
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	attempts := float64(served1 - served0) // one GET /ready per attempt
	fmt.Printf("\nload: %d paths every 200ms for %v, %.0f attempts\n", paths, d, attempts)
	fmt.Printf("CPU %.2f s, %.3f ms per attempt; heap in use %.1f MiB, sys %.1f MiB, %d GCs\n",
		cpu.Seconds(), cpu.Seconds()*1000/attempts, float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20), ms.NumGC)
}

// sampleLoad prints the live heap (as of the last GC), the heap in use and
// the goroutines every period until ctx ends.
func sampleLoad(ctx context.Context, period time.Duration) {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			metrics.Read(samples)
			if f := os.Getenv("SENSORPROBE_LOAD_HEAP"); f != "" {
				runtime.GC()
				if out, err := os.Create(f); err == nil {
					pprof.WriteHeapProfile(out)
					out.Close()
				}
			}
			fmt.Printf("live heap %.1f MiB, heap objects %.1f MiB, %d goroutines\n",
				float64(samples[0].Value.Uint64())/(1<<20), float64(samples[1].Value.Uint64())/(1<<20), samples[2].Value.Uint64())
		}
	}
}

// TestLoadStandIn is TestLoadHarness's child process: the stand-ins of
// standin.ServeProcess until its stdin closes. It skips unless started by
// the harness.
func TestLoadStandIn(t *testing.T) {
	if os.Getenv(loadStandInEnv) == "" {
		t.Skip("the child process of TestLoadHarness")
	}
	if err := standin.ServeProcess(os.Stdin, os.Stdout); err != nil {
		t.Fatal(err)
	}
}

// startLoadStandIn starts TestLoadStandIn in a child process and writes its
// CA where the daemon's --ca-file can read it.
func startLoadStandIn(t *testing.T) (p *standin.Process, caFile string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadStandIn$")
	cmd.Env = append(os.Environ(), loadStandInEnv+"=1")
	cmd.Stderr = os.Stderr
	p, err := standin.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, p.Info.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, caFile
}
