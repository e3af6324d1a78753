package vsockwatch

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/mdlayher/vsock"
)

// PingCommand runs `probe vsock-ping`: inside a VM, dial the probe's beacon
// on the node (CID 2, the host) and print each round trip. args excludes the
// command name. It returns the exit code: 0 when every ping was answered, 1
// when one failed, 2 for a usage error.
func PingCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return pingCommand(ctx, args, stdout, stderr, DialVSOCK)
}

// pingCommand is PingCommand with the dialer as a parameter, so tests can
// ping a beacon over TCP loopback.
func pingCommand(ctx context.Context, args []string, stdout, stderr io.Writer, dialer func(cid, port uint32) DialFunc) int {
	fs := flag.NewFlagSet("vsock-ping", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: probe vsock-ping --port P [--cid 2] [--count N] [--interval D] [--timeout D]")
		fmt.Fprintln(stderr, "Run inside a VM: dial the sensorprobe beacon (the daemon's --vsock.listen-port) on the node and print the round trip.")
		fs.PrintDefaults()
	}
	cid := fs.Uint("cid", vsock.Host, "context ID to dial; 2 is the host the VM runs on")
	port := fs.Uint("port", 0, "VSOCK port of the beacon (the daemon's --vsock.listen-port); required")
	count := fs.Int("count", 1, "number of pings")
	interval := fs.Duration("interval", time.Second, "time between two pings")
	timeout := fs.Duration("timeout", 3*time.Second, "time allowed for one ping, connect and greeting")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if *port == 0 || *port >= math.MaxUint32 {
		errs = append(errs, fmt.Errorf("--port=%d: want the beacon's VSOCK port, 1 to 4294967294", *port))
	}
	if *cid > math.MaxUint32 {
		errs = append(errs, fmt.Errorf("--cid=%d: want a 32-bit context ID", *cid))
	}
	if *count < 1 {
		errs = append(errs, fmt.Errorf("--count=%d: want at least 1", *count))
	}
	if *timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout=%s: want more than 0", *timeout))
	}
	if *interval < 0 {
		errs = append(errs, fmt.Errorf("--interval=%s: want 0 or more", *interval))
	}
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(stderr, "vsock-ping:", err)
		}
		return 2
	}
	dial := dialer(uint32(*cid), uint32(*port))
	target := (&vsock.Addr{ContextID: uint32(*cid), Port: uint32(*port)}).String()
	failed := 0
	for i := range *count {
		if i > 0 {
			t := time.NewTimer(*interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return 1
			case <-t.C:
			}
		}
		pctx, cancel := context.WithTimeout(ctx, *timeout)
		res, err := Ping(pctx, dial)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "vsock-ping %s: seq=%d failed: %v\n", target, i+1, err)
			continue
		}
		fmt.Fprintf(stdout, "vsock-ping %s: seq=%d connect=%s rtt=%s greeting=%q\n",
			target, i+1, fmtMillis(res.Connect), fmtMillis(res.RoundTrip), res.Greeting)
	}
	if *count > 1 {
		fmt.Fprintf(stdout, "%d sent, %d answered, %d failed\n", *count, *count-failed, failed)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// fmtMillis prints d in milliseconds with microsecond precision.
func fmtMillis(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
