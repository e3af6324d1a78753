// Command bench-bare is the bare Go client of make bench: it does the same
// attempts as the probe (test/bareclient: connect, TLS, GET /ready or
// gRPC Health/Check) on --paths paths, each every --interval, in a process
// of its own and with nothing of sensorprobe linked in, so that its CPU and
// memory are a plain client's. Each line "count" on stdin is answered with
// "OK FAILED", the attempts so far; it stops when stdin ends.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sensorprobe/sensorprobe/test/bareclient"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-bare:", err)
		os.Exit(1)
	}
}

func run() error {
	check := flag.String("check", "http", "tcp, http or grpc")
	addr := flag.String("addr", "", "HOST:PORT of the sensor stand-in")
	caFile := flag.String("ca-file", "", "PEM CA that verifies the server")
	serverName := flag.String("server-name", "sensor.stackrox.svc", "TLS server name")
	paths := flag.Int("paths", 40, "number of paths, each attempted every --interval")
	interval := flag.Duration("interval", 200*time.Millisecond, "time between two attempts on one path")
	timeout := flag.Duration("timeout", 150*time.Millisecond, "bound on one attempt")
	flag.Parse()
	attempt, err := bareclient.ForCheck(*check)
	if err != nil {
		return err
	}
	if *addr == "" || *paths < 1 || *interval <= 0 || *timeout <= 0 {
		return errors.New("want --addr, --paths ≥ 1, positive --interval and --timeout")
	}
	pool := x509.NewCertPool()
	if *check != "tcp" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s", *caFile)
		}
	}
	conf := &tls.Config{RootCAs: pool, ServerName: *serverName}

	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	var lastErr atomic.Value
	var wg sync.WaitGroup
	for i := range *paths {
		wg.Go(func() {
			// Spread the paths over the interval, as the probe's jitter does.
			select {
			case <-ctx.Done():
				return
			case <-time.After(*interval * time.Duration(i) / time.Duration(*paths)):
			}
			tick := time.NewTicker(*interval)
			defer tick.Stop()
			for {
				actx, acancel := context.WithTimeout(ctx, *timeout)
				err := attempt(actx, *addr, conf)
				acancel()
				if err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
				} else {
					ok.Add(1)
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "count" {
			fmt.Printf("%d %d\n", ok.Load(), failed.Load())
		}
	}
	cancel()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "bench-bare: check=%s: %d of %d attempts failed, the last: %v\n", *check, n, n+ok.Load(), lastErr.Load())
	}
	return sc.Err()
}
