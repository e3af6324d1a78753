package vsockwatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sensorprobe/sensorprobe/internal/relaylog"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newTestWatcher returns a Watcher whose dumps are answered by replies, with
// a fake clock and a log captured in the returned buffer.
func newTestWatcher(t *testing.T, replies ...reply) (*Watcher, *fakeClock, *bytes.Buffer) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	dev := t.TempDir()
	if err := os.WriteFile(filepath.Join(dev, DeviceVhostVsock), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := New(Config{
		Interval:  time.Second,
		Window:    time.Minute,
		DevDir:    dev,
		Dial:      conversation(t, replies...),
		ContextID: func() (uint32, error) { return 2, nil },
		Now:       clock.now,
	}, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { _ = w.dumper.Close() })
	return w, clock, &logs
}

// relayView is the part of a Snapshot the dump tests look at.
type relayView struct {
	Support           DiagSupport
	Known, Listening  bool
	Established       int
	Seen              uint64
	Recent            int
	Peers             []uint32
	LastActivity      time.Time
	Errors, DumpCount uint64
}

func viewOf(s Snapshot) relayView {
	return relayView{
		Support: s.Diag.Support, Known: s.RelayKnown, Listening: s.RelayListening,
		Established: s.RelayConnections, Seen: s.ConnectionsSeen, Recent: s.ConnectionsRecent,
		Peers: s.PeerCIDs, LastActivity: s.LastActivity, Errors: s.Diag.Errors, DumpCount: s.Diag.Dumps,
	}
}

func TestWatcherDumps(t *testing.T) {
	w, clock, logs := newTestWatcher(t,
		// 1: the relay listens, nothing connected; sockets elsewhere are ignored.
		reply{sockets: []Socket{relayListener, otherListener, otherConn, outgoingConn, dgramOnRelay}},
		// 2: two VMs connected.
		reply{sockets: []Socket{relayListener, vm3001, vm3002}},
		// 3: vm3001 still connected (same cookie: not counted again), vm3002's
		//    first connection gone, a second one lingering closed.
		reply{sockets: []Socket{relayListener, vm3001, vm3002Closed}},
		// 4: a truncated reply: an error, state kept.
		reply{raw: [][]byte{{afVSOCK}}},
		// 5: the relay stopped listening.
		reply{sockets: []Socket{otherListener}},
	)
	ctx := context.Background()
	t0 := clock.t
	want := []relayView{
		{Support: DiagSupported, Known: true, Listening: true, DumpCount: 1, Peers: []uint32{}},
		{Support: DiagSupported, Known: true, Listening: true, Established: 2, Seen: 2, Recent: 2, Peers: []uint32{3001, 3002}, LastActivity: t0.Add(10 * time.Second), DumpCount: 2},
		{Support: DiagSupported, Known: true, Listening: true, Established: 1, Seen: 3, Recent: 3, Peers: []uint32{3001, 3002}, LastActivity: t0.Add(20 * time.Second), DumpCount: 3},
		{Support: DiagSupported, Known: true, Listening: true, Established: 1, Seen: 3, Recent: 3, Peers: []uint32{3001, 3002}, LastActivity: t0.Add(20 * time.Second), DumpCount: 3, Errors: 1},
		{Support: DiagSupported, Known: true, Listening: false, Established: 0, Seen: 3, Recent: 3, Peers: []uint32{3001, 3002}, LastActivity: t0.Add(20 * time.Second), DumpCount: 4, Errors: 1},
	}
	for i, wv := range want {
		if i > 0 {
			clock.advance(10 * time.Second)
		}
		w.DumpOnce(ctx)
		if diff := cmp.Diff(wv, viewOf(w.Snapshot())); diff != "" {
			t.Errorf("after dump %d (-want +got):\n%s", i+1, diff)
		}
	}

	if n := strings.Count(logs.String(), "sock_diag dump failed"); n != 1 {
		t.Errorf("logged the failed dump %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "sock_diag dumps work again") {
		t.Errorf("recovery after the failed dump not logged:\n%s", logs)
	}

	// Past the window, the peers and recent connections age out; the totals stay.
	clock.advance(2 * time.Minute)
	w.DumpOnce(ctx)
	got := viewOf(w.Snapshot())
	if len(got.Peers) != 0 || got.Recent != 0 || got.Seen != 3 {
		t.Errorf("after the window: peers %v, recent %d, seen %d; want none, 0, 3", got.Peers, got.Recent, got.Seen)
	}
}

// TestWatcherWithoutDiag: on a kernel without vsock_diag the watcher says so,
// logs it once, keeps counting the rest, and notices when dumps work again.
func TestWatcherWithoutDiag(t *testing.T) {
	w, clock, logs := newTestWatcher(t,
		reply{errno: syscall.ENOENT},
		reply{errno: syscall.ENOENT},
		reply{errno: syscall.ENOENT},
		reply{sockets: []Socket{relayListener}},
	)
	ctx := context.Background()
	for range 3 {
		w.DumpOnce(ctx)
		clock.advance(time.Second)
	}
	s := w.Snapshot()
	if s.Diag.Support != DiagNoModule || s.RelayKnown || s.Diag.Errors != 0 {
		t.Errorf("without vsock_diag: support %q, relay known %v, errors %d; want %q, false, 0",
			s.Diag.Support, s.RelayKnown, s.Diag.Errors, DiagNoModule)
	}
	if !strings.Contains(s.Diag.Hint, "vsock_diag") {
		t.Errorf("hint %q does not name vsock_diag", s.Diag.Hint)
	}
	if !w.unsupported() {
		t.Error("unsupported() = false, want true (Run then waits UnsupportedRetry)")
	}
	if n := strings.Count(logs.String(), "sock_diag dumps unavailable"); n != 1 {
		t.Errorf("logged the lack of vsock_diag %d times, want once:\n%s", n, logs)
	}
	// The rest keeps working.
	w.RecordLogMatch(relaylog.Match{Event: relaylog.EventConnection, CID: 4242})
	if s := w.Snapshot(); s.ConnectionsRecent != 1 || !slicesEqual(s.PeerCIDs, []uint32{4242}) {
		t.Errorf("relay log while diag unsupported: recent %d, peers %v; want 1, [4242]", s.ConnectionsRecent, s.PeerCIDs)
	}
	// The module appears.
	w.DumpOnce(ctx)
	if s := w.Snapshot(); s.Diag.Support != DiagSupported || !s.RelayListening {
		t.Errorf("after the module loaded: support %q, listening %v", s.Diag.Support, s.RelayListening)
	}
	if !strings.Contains(logs.String(), "sock_diag dumps work again") {
		t.Errorf("recovery not logged:\n%s", logs)
	}
}

func slicesEqual(a, b []uint32) bool { return cmp.Equal(a, b) }

func TestWatcherRelayLogAndPort(t *testing.T) {
	w, clock, _ := newTestWatcher(t,
		reply{sockets: []Socket{relayListener, vm3001, {Type: SockStream, State: StateListen, SrcCID: 2, SrcPort: 9999, Cookie: 50}}},
	)
	ctx := context.Background()
	w.DumpOnce(ctx) // dump sees vm3001: 1 connection
	for _, line := range []string{
		// RHACS 4.9.0 relay.go:128 and :214 (messages quoted, layout StackRox's logger).
		"virtualmachines/relay: 2025/10/07 11:49:28.801795 relay.go:128: Info: Handling vsock connection from vm(3001):1025",
		"virtualmachines/relay: 2025/10/07 11:49:28.841930 relay.go:214: Info: Sending index report to sensor (vsockCID: 3001)",
		"virtualmachines/relay: 2025/10/07 11:49:38.868022 relay.go:128: Info: Handling vsock connection from vm(3005):1026",
	} {
		m, ok := relaylog.MatchLine(line)
		if !ok {
			t.Fatalf("line not recognised: %s", line)
		}
		w.RecordLogMatch(m)
	}
	s := w.Snapshot()
	if s.ConnectionsRecent != 2 { // log saw 2, dump 1: the larger count
		t.Errorf("ConnectionsRecent = %d, want 2", s.ConnectionsRecent)
	}
	if diff := cmp.Diff([]uint32{3001, 3005}, s.PeerCIDs); diff != "" {
		t.Errorf("PeerCIDs (-want +got):\n%s", diff)
	}
	if s.RelayLogEvents[relaylog.EventConnection] != 2 || s.RelayLogEvents[relaylog.EventReportSent] != 1 {
		t.Errorf("RelayLogEvents = %v", s.RelayLogEvents)
	}

	clock.advance(time.Second)
	w.SetRelayPort(9999)
	if s := w.Snapshot(); s.RelayPort != 9999 || s.RelayKnown {
		t.Errorf("after SetRelayPort: port %d, known %v; want 9999, false", s.RelayPort, s.RelayKnown)
	}
	w.DumpOnce(ctx)
	if s := w.Snapshot(); !s.RelayListening || s.RelayConnections != 0 || s.ConnectionsSeen != 1 {
		t.Errorf("on port 9999: listening %v, connections %d, seen %d; want true, 0, 1", s.RelayListening, s.RelayConnections, s.ConnectionsSeen)
	}
}

func TestWatcherRun(t *testing.T) {
	// In a synctest bubble: the sleeps and backoffs below take no real time.
	synctest.Test(t, func(t *testing.T) {
		dumps := make(chan struct{}, 10)
		inner := conversation(t, reply{sockets: []Socket{relayListener}})
		w := New(Config{
			Interval:  time.Millisecond,
			Dial:      func() (DiagConn, error) { dumps <- struct{}{}; return inner() },
			ContextID: func() (uint32, error) { return 0, errors.New("no vsock") },
		}, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		<-dumps
		for w.Snapshot().Diag.Dumps < 3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
		if w.dumper.conn != nil {
			t.Error("Run returned with the sock_diag socket open")
		}
	})
}

// TestWatcherRealKernel runs one dump against this machine's kernel. Where
// the kernel has vsock_diag it must succeed; where it has not, the watcher
// must say so (this is the case on a kernel built without the module).
func TestWatcherRealKernel(t *testing.T) {
	var logs bytes.Buffer
	w := New(Config{}, slog.New(slog.NewTextHandler(&logs, nil)))
	defer w.dumper.Close()
	w.DumpOnce(context.Background())
	s := w.Snapshot()
	switch s.Diag.Support {
	case DiagSupported:
		t.Logf("kernel answers AF_VSOCK sock_diag: %d dumps, relay listening %v", s.Diag.Dumps, s.RelayListening)
	case DiagNoModule, DiagNoNetlink, DiagDenied:
		t.Logf("kernel cannot dump AF_VSOCK sockets (%s): %s", s.Diag.Support, s.Diag.Error)
		if !strings.Contains(logs.String(), string(s.Diag.Support)) {
			t.Errorf("the lack of support is not in the log:\n%s", logs.String())
		}
	default:
		t.Errorf("real dump: support %q, error %q; want a definite answer", s.Diag.Support, s.Diag.Error)
	}
}

// TestWatcherWithoutAFVSOCK: a kernel without AF_VSOCK is reported in the
// snapshot and logged once, and dumps go on (they say no_vsock_diag then).
func TestWatcherWithoutAFVSOCK(t *testing.T) {
	var logs bytes.Buffer
	w := New(Config{
		DevDir:      t.TempDir(),
		Dial:        conversation(t, reply{errno: syscall.ENOENT}),
		ProbeSocket: func() error { return fmt.Errorf("socket AF_VSOCK: %w", syscall.EAFNOSUPPORT) },
		ContextID:   func() (uint32, error) { return 0, fmt.Errorf("open /dev/vsock: %w", os.ErrNotExist) },
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	defer w.dumper.Close()
	w.DumpOnce(context.Background())
	w.DumpOnce(context.Background())
	s := w.Snapshot()
	if s.Capability.SocketsSupported || !strings.Contains(s.Capability.SocketError, "address family not supported") {
		t.Errorf("capability %+v, want sockets unsupported with the reason", s.Capability)
	}
	if s.Diag.Support != DiagNoModule {
		t.Errorf("diag support %q, want %q", s.Diag.Support, DiagNoModule)
	}
	if n := strings.Count(logs.String(), "AF_VSOCK sockets cannot be created"); n != 1 {
		t.Errorf("logged the missing AF_VSOCK %d times, want once:\n%s", n, logs.String())
	}
}
