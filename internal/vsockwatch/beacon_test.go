package vsockwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/vsock"
)

// tcpDialer dials addr over TCP loopback, standing in for a VSOCK dial.
func tcpDialer(addr string) DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// serveBeacon runs w's beacon on a loopback listener and returns its address
// and a stop func that waits for Serve to return.
func serveBeacon(t *testing.T, w *Watcher) (string, func()) {
	t.Helper()
	ln := listenLoopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.ServeBeacon(ctx, ln, "worker-1") }()
	return ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeBeacon() = %v, want nil", err)
		}
	}
}

func TestBeaconAndPing(t *testing.T) {
	w, _, _ := newTestWatcher(t, reply{})
	addr, stop := serveBeacon(t, w)
	for i := range 3 {
		res, err := Ping(context.Background(), tcpDialer(addr))
		if err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
		want := fmt.Sprintf("%s node=worker-1 peer=%s", GreetingPrefix, res.Local)
		if res.Greeting != want {
			t.Errorf("greeting %q, want %q", res.Greeting, want)
		}
		if res.Remote != addr || res.RoundTrip < res.Connect {
			t.Errorf("remote %s (want %s), connect %s, round trip %s", res.Remote, addr, res.Connect, res.RoundTrip)
		}
	}
	if s := w.Snapshot(); !s.BeaconEnabled || s.BeaconConnections != 3 {
		t.Errorf("beacon enabled %v, connections %d; want true, 3", s.BeaconEnabled, s.BeaconConnections)
	}
	stop()
	if s := w.Snapshot(); s.BeaconEnabled {
		t.Error("beacon still enabled after Serve returned")
	}
	if _, err := Ping(context.Background(), tcpDialer(addr)); err == nil {
		t.Error("ping after the beacon stopped succeeded; the listener was not closed")
	}
}

func TestPingFailures(t *testing.T) {
	// Not a beacon: a server that greets with something else.
	other := listenLoopback(t)
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
			_ = c.Close()
		}
	}()
	// Silent: accepts and never writes.
	silent := listenLoopback(t)
	var held []net.Conn
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		_ = silent.Close()
		<-acceptDone
		for _, c := range held {
			_ = c.Close()
		}
	})
	// Refused: a port nothing listens on.
	closed := listenLoopback(t)
	refusedAddr := closed.Addr().String()
	_ = closed.Close()

	tests := []struct {
		name  string
		addr  string
		check func(error) bool
	}{
		{name: "not a beacon", addr: other.Addr().String(), check: func(err error) bool { return strings.Contains(err.Error(), "not a sensorprobe beacon") }},
		{name: "silent peer bounded by the context", addr: silent.Addr().String(), check: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{name: "refused", addr: refusedAddr, check: func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := Ping(ctx, tcpDialer(tt.addr))
			if err == nil || !tt.check(err) {
				t.Errorf("Ping() error = %v", err)
			}
		})
	}
}

// TestListenVSOCK opens a real AF_VSOCK listener. It never dials: this
// machine may have no loopback transport, and CIDs 1 and 2 are off limits.
func TestListenVSOCK(t *testing.T) {
	ln, err := ListenVSOCK(0)
	if err != nil {
		if errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("this kernel cannot listen on AF_VSOCK (%v); load vsock (and a transport: vhost_vsock, virtio or vsock_loopback) to run it", err)
		}
		t.Fatalf("ListenVSOCK(0): %v", err)
	}
	addr, ok := ln.Addr().(*vsock.Addr)
	if !ok || addr.ContextID != CIDAny || addr.Port == 0 {
		t.Errorf("listener address %v (%T), want CID any and an assigned port", ln.Addr(), ln.Addr())
	}
	// Serve it briefly through the watcher and stop: the listener must close.
	w := New(Config{Dial: conversation(t, reply{}), ContextID: func() (uint32, error) { return 3, nil }}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.ServeBeacon(ctx, ln, "") }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeBeacon on a real VSOCK listener: %v", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("Accept after ServeBeacon returned succeeded; the listener was not closed")
	}
}

// flakyListener fails its first Accept calls, as a listener out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failures int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures > 0 {
		l.failures--
		return nil, fmt.Errorf("accept: %w", syscall.EMFILE)
	}
	return l.Listener.Accept()
}

func TestBeaconSurvivesAcceptErrors(t *testing.T) {
	ln := &flakyListener{Listener: listenLoopback(t), failures: 3}
	b := &Beacon{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln) }()
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer pcancel()
	if _, err := Ping(pctx, tcpDialer(ln.Addr().String())); err != nil {
		t.Errorf("ping after accept errors: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve() = %v, want nil", err)
	}
}
