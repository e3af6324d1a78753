package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/mdlayher/vsock"

	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// VSOCKPingConfig configures `probe vsock-ping`.
type VSOCKPingConfig struct {
	// CID and Port are the beacon's address; CID 2 is the host the VM runs on.
	CID, Port uint32
	// Count is the number of pings, Interval the time between two.
	Count    int
	Interval time.Duration
	// Timeout bounds one ping: connect and greeting.
	Timeout time.Duration
}

const vsockPingUsage = `Usage: probe vsock-ping --port P [--cid 2] [--count N] [--interval D] [--timeout D]

Run inside a VM: dial the sensorprobe beacon (the daemon's --vsock.listen-port)
on the node and print each round trip. Exit 0 when every ping was answered, 1
when one failed, 2 on a usage error.

Flags:
`

// ParseVSOCKPing parses the flags of `probe vsock-ping`. Every problem is
// reported at once, one per line.
func ParseVSOCKPing(args []string, stdout io.Writer) (*VSOCKPingConfig, error) {
	fs := newFlagSet("probe vsock-ping", stdout, vsockPingUsage)
	cid := fs.Uint64("cid", vsock.Host, "context ID to dial; 2 is the host the VM runs on")
	port := fs.Uint64("port", 0, "VSOCK port of the beacon (the daemon's --vsock.listen-port); required")
	count := fs.Int("count", 1, "number of pings")
	var interval, timeout durationFlag
	fs.Var(&interval, "interval", "time between two pings (default 1s)")
	fs.Var(&timeout, "timeout", "time allowed for one ping, connect and greeting (default 3s)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var p problems
	cfg := &VSOCKPingConfig{Count: *count}
	if *port == 0 || *port >= math.MaxUint32 {
		p.add("--port: %d: want the beacon's VSOCK port, 1 to 4294967294", *port)
	}
	if *cid > math.MaxUint32 {
		p.add("--cid: %d: want a 32-bit context ID", *cid)
	}
	if *count < 1 {
		p.add("--count: %d: want at least 1", *count)
	}
	cfg.CID, cfg.Port = uint32(*cid), uint32(*port) // #nosec G115 -- both checked against MaxUint32 above
	cfg.Interval = interval.resolve(&p, "interval", time.Second, false)
	if cfg.Interval < 0 {
		p.add("--interval: must not be negative, got %v", cfg.Interval)
	}
	cfg.Timeout = timeout.resolve(&p, "timeout", 3*time.Second, true)
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

// RunVSOCKPing pings the beacon cfg names through dialer (vsockwatch.DialVSOCK
// in the binary) and prints each round trip on stdout. It reports whether
// every ping was answered.
func RunVSOCKPing(ctx context.Context, cfg *VSOCKPingConfig, stdout io.Writer, dialer func(cid, port uint32) vsockwatch.DialFunc) (bool, error) {
	dial := dialer(cfg.CID, cfg.Port)
	target := (&vsock.Addr{ContextID: cfg.CID, Port: cfg.Port}).String()
	failed := 0
	for i := range cfg.Count {
		if i > 0 {
			t := time.NewTimer(cfg.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return false, ctx.Err()
			case <-t.C:
			}
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		res, err := vsockwatch.Ping(pctx, dial)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "vsock-ping %s: seq=%d failed: %v\n", target, i+1, err)
			continue
		}
		fmt.Fprintf(stdout, "vsock-ping %s: seq=%d connect=%s rtt=%s greeting=%q\n",
			target, i+1, fmtMillis(res.Connect), fmtMillis(res.RoundTrip), res.Greeting)
	}
	if cfg.Count > 1 {
		fmt.Fprintf(stdout, "%d sent, %d answered, %d failed\n", cfg.Count, cfg.Count-failed, failed)
	}
	return failed == 0, nil
}

// fmtMillis prints d in milliseconds with microsecond precision.
func fmtMillis(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
