package vsockwatch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/vsock"
)

// GreetingPrefix starts every beacon greeting, so a ping can tell the beacon
// from some other listener on the port.
const GreetingPrefix = "sensorprobe-beacon"

// maxGreeting bounds the greeting a ping reads.
const maxGreeting = 512

// Beacon answers every connection on a listener with one greeting line and
// closes it. It lets an operator test VM→node VSOCK with `probe vsock-ping`
// without touching the relay.
type Beacon struct {
	// Node names this node in the greeting; may be empty.
	Node string
	// OnAccept is called for every accepted connection; may be nil.
	OnAccept func(peer net.Addr)
	// WriteTimeout bounds writing the greeting to one peer.
	WriteTimeout time.Duration
}

// Greeting is the line sent to peer, without its newline.
func (b *Beacon) Greeting(peer net.Addr) string {
	node := b.Node
	if node == "" {
		node = "-"
	}
	return fmt.Sprintf("%s node=%s peer=%s", GreetingPrefix, node, peer)
}

// Serve accepts connections on ln until ctx is done or ln is closed, then
// closes ln, waits for the connections in hand and returns nil. A failed
// Accept (too many open files, an aborted connection) is retried after a
// pause that doubles from 5 ms to 1 s, as net/http does. Serve owns ln.
func (b *Beacon) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	var pause time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		pause = 0
		if b.OnAccept != nil {
			b.OnAccept(conn.RemoteAddr())
		}
		wg.Go(func() { b.greet(conn) })
	}
}

func (b *Beacon) greet(conn net.Conn) {
	defer conn.Close()
	timeout := b.WriteTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	_, _ = conn.Write([]byte(b.Greeting(conn.RemoteAddr()) + "\n"))
}

// DialFunc opens one connection, bounded by ctx.
type DialFunc func(ctx context.Context) (net.Conn, error)

// DialVSOCK returns a DialFunc for (cid, port). vsock.DialContext gives up
// when ctx ends; the connection's reads are bounded by Ping.
func DialVSOCK(cid, port uint32) DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		return vsock.DialContext(ctx, cid, port, nil)
	}
}

// ListenVSOCK listens for VSOCK connections on port on every local context ID
// (VMADDR_CID_ANY), so both VMs (through vhost-vsock) and the host can reach
// it. The caller closes the listener (Beacon.Serve does).
func ListenVSOCK(port uint32) (net.Listener, error) {
	return vsock.ListenContextID(CIDAny, port, nil)
}

// PingResult is the outcome of one ping.
type PingResult struct {
	// Connect is the time to establish the connection.
	Connect time.Duration
	// RoundTrip is the time from the start of the dial to the greeting's end.
	RoundTrip time.Duration
	// Greeting is the line the beacon sent, without its newline.
	Greeting string
	// Local and Remote are the connection's addresses.
	Local, Remote string
}

// Ping dials a beacon, reads its greeting and reports the round trip. The
// whole exchange is bounded by ctx; it fails when the peer is not a beacon.
func Ping(ctx context.Context, dial DialFunc) (PingResult, error) {
	start := time.Now()
	conn, err := dial(ctx)
	if err != nil {
		return PingResult{}, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	res := PingResult{Connect: time.Since(start), Local: conn.LocalAddr().String(), Remote: conn.RemoteAddr().String()}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	line, err := bufio.NewReaderSize(conn, maxGreeting).ReadSlice('\n')
	res.RoundTrip = time.Since(start)
	if err != nil {
		// The only deadlines on conn come from ctx: a timeout is ctx's.
		var ne net.Error
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		} else if errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
		return res, fmt.Errorf("read greeting from %s: %w", res.Remote, err)
	}
	res.Greeting = strings.TrimRight(string(line), "\r\n")
	if !strings.HasPrefix(res.Greeting, GreetingPrefix) {
		return res, fmt.Errorf("read greeting from %s: %q is not a sensorprobe beacon", res.Remote, res.Greeting)
	}
	return res, nil
}
