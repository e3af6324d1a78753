package vsockwatch

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"
)

// benchSockets returns n sockets as a busy hypervisor node might hold them:
// the relay's listener, a fifth of the rest connected to the relay from
// distinct VMs, the others on other ports.
func benchSockets(n int) []Socket {
	out := make([]Socket, 0, n)
	out = append(out, relayListener)
	for i := 1; i < n; i++ {
		s := Socket{Type: SockStream, State: StateEstablished, SrcCID: 2, SrcPort: 818,
			DstCID: uint32(3 + i), DstPort: uint32(1024 + i), Inode: uint32(1000 + i), Cookie: uint64(1000 + i)}
		if i%5 != 0 {
			s.SrcPort = uint32(2000 + i%50)
		}
		out = append(out, s)
	}
	return out
}

// BenchmarkDump measures one sock_diag dump of 1,000 AF_VSOCK sockets over a
// fake netlink conversation (nltest, so no kernel time is counted): the
// request, the multi-part reply read back, parsing and folding into the
// Watcher's state. Run: go test -run XXX -bench Dump -benchmem ./internal/vsockwatch
func BenchmarkDump(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			socks := benchSockets(n)
			w := New(Config{
				Dial:      conversation(b, reply{sockets: socks}),
				ContextID: func() (uint32, error) { return 2, nil },
				Now:       func() time.Time { return time.Unix(1795000000, 0) },
			}, slog.New(slog.DiscardHandler))
			defer w.dumper.Close()
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				w.DumpOnce(ctx)
			}
			// The process's user+system CPU, garbage collection included,
			// per dump: the figure docs/performance.md records.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			if s := w.Snapshot(); s.Diag.Dumps == 0 || !s.RelayListening {
				b.Fatalf("dumps did not work: %+v", s.Diag)
			}
		})
	}
}

// BenchmarkParseSocket measures decoding one vsock_diag_msg.
func BenchmarkParseSocket(b *testing.B) {
	msg := marshalSocket(vm3001)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSocket(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// processCPU returns the process's user+system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
