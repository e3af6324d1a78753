package dial_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/test/bareclient"
)

const benchServerEnv = "SENSORPROBE_BENCH_SERVER"

// serveBench runs the stand-ins until stdin closes. It runs in its own
// process so that the benchmarks' CPU figures are the client's alone.
func serveBench() int {
	if err := standin.ServeProcess(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startBenchServer starts the stand-in in a child process.
func startBenchServer(b *testing.B) (string, *x509.CertPool) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	cmd.Stderr = os.Stderr
	p, err := standin.StartProcess(cmd)
	if err != nil {
		b.Fatalf("bench server: %v", err)
	}
	b.Cleanup(func() { p.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.Info.CAPEM)
	return p.Info.Sensor, pool
}

// cpuTime returns this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs attempt b.N times and reports client CPU per attempt.
func measure(b *testing.B, attempt func() error) {
	b.ReportAllocs()
	if err := attempt(); err != nil { // warm up and check once
		b.Fatal(err)
	}
	start := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if err := attempt(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkAttempt measures one sensorprobe attempt per check mode beside a
// bare Go client doing the same connect, handshake and request.
func BenchmarkAttempt(b *testing.B) {
	addr, pool := startBenchServer(b)
	ctx := context.Background()
	probe := func(mode dial.CheckMode) func() error {
		p, err := dial.New(dial.Config{Timeout: 5 * time.Second, RootCAs: pool, Check: mode})
		if err != nil {
			b.Fatal(err)
		}
		return func() error {
			if r := p.Probe(ctx, dial.Target{Name: "bench", Addr: addr}); !r.OK() {
				return r.Err
			}
			return nil
		}
	}
	tlsConf := &tls.Config{RootCAs: pool, ServerName: dial.DefaultServerName}

	b.Run("check=tcp/client=sensorprobe", func(b *testing.B) { measure(b, probe(dial.CheckTCP)) })
	bare := func(f bareclient.Func) func() error {
		// Bounded like every probe attempt: an unbounded dial is not the same job.
		return func() error {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return f(actx, addr, tlsConf)
		}
	}
	b.Run("check=tcp/client=bare", func(b *testing.B) { measure(b, bare(bareclient.TCP)) })
	b.Run("check=http/client=sensorprobe", func(b *testing.B) { measure(b, probe(dial.CheckHTTP)) })
	b.Run("check=http/client=bare", func(b *testing.B) { measure(b, bare(bareclient.HTTP)) })
	b.Run("check=grpc/client=sensorprobe", func(b *testing.B) { measure(b, probe(dial.CheckGRPC)) })
	b.Run("check=grpc/client=bare", func(b *testing.B) { measure(b, bare(bareclient.GRPC)) })
}
