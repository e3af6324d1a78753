package dial_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/standin"
)

const benchServerEnv = "SENSORPROBE_BENCH_SERVER"

// benchServer is what the server process tells the benchmark.
type benchServer struct {
	Addr  string `json:"addr"`
	CAPEM []byte `json:"ca_pem"`
}

// serveBench runs a sensor stand-in until stdin closes. It runs in its own
// process so that the benchmarks' CPU figures are the client's alone.
func serveBench() int {
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cert, err := ca.Issue(standin.LeafOptions{DNSNames: standin.SensorSANs("stackrox")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := standin.NewSensor(standin.SensorConfig{Cert: cert, ClientCAs: ca.Pool()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	json.NewEncoder(os.Stdout).Encode(benchServer{Addr: s.Addr(), CAPEM: ca.PEM()})
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startBenchServer starts the stand-in in a child process.
func startBenchServer(b *testing.B) (string, *x509.CertPool) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var bs benchServer
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&bs); err != nil {
		b.Fatalf("bench server: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bs.CAPEM)
	return bs.Addr, pool
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
	b.Run("check=tcp/client=bare", func(b *testing.B) {
		// Bounded like every probe attempt: an unbounded dial is not the same job.
		measure(b, func() error {
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var d net.Dialer
			c, err := d.DialContext(dctx, "tcp", addr)
			if err != nil {
				return err
			}
			return c.Close()
		})
	})

	b.Run("check=http/client=sensorprobe", func(b *testing.B) { measure(b, probe(dial.CheckHTTP)) })
	b.Run("check=http/client=bare", func(b *testing.B) {
		// A fresh transport per attempt: a new connection and handshake each
		// time, as the probe does, HTTP/2 as negotiated with sensor.
		measure(b, func() error {
			tr := &http.Transport{TLSClientConfig: tlsConf.Clone(), ForceAttemptHTTP2: true, DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/ready")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				return fmt.Errorf("%s %d", resp.Proto, resp.StatusCode)
			}
			return nil
		})
	})

	b.Run("check=grpc/client=sensorprobe", func(b *testing.B) { measure(b, probe(dial.CheckGRPC)) })
	b.Run("check=grpc/client=bare", func(b *testing.B) {
		measure(b, func() error {
			cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConf.Clone())))
			if err != nil {
				return err
			}
			defer cc.Close()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err = healthpb.NewHealthClient(cc).Check(cctx, &healthpb.HealthCheckRequest{})
			if s, ok := grpcStatus(err); ok && s == "Unimplemented" {
				return nil
			}
			return err
		})
	})
}

func grpcStatus(err error) (string, bool) {
	type coder interface{ GRPCStatus() *grpcstatus.Status }
	if c, ok := err.(coder); ok {
		return c.GRPCStatus().Code().String(), true
	}
	return "", false
}
