package vsockwatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
)

// reply is what the fake kernel answers to one dump request: sockets, or an
// errno, or raw message bodies (for malformed replies).
type reply struct {
	sockets []Socket
	errno   syscall.Errno
	raw     [][]byte
}

// conversation returns a Dial func whose connection answers successive dump
// requests with replies, in order (the last one repeats). It checks every
// request's header and body as the kernel would.
func conversation(t testing.TB, replies ...reply) func() (DiagConn, error) {
	t.Helper()
	n := 0
	// The bodies are encoded once per reply, so a benchmark measures the
	// client, not the fake kernel's encoding.
	encoded := map[*reply][][]byte{}
	fn := func(req []netlink.Message) ([]netlink.Message, error) {
		if len(req) != 1 {
			return nil, fmt.Errorf("got %d request messages, want 1", len(req))
		}
		if got, want := req[0].Data, diagRequest(); !bytes.Equal(got, want) {
			return nil, fmt.Errorf("request body %x, want %x", got, want)
		}
		r := &replies[min(n, len(replies)-1)]
		n++
		if r.errno != 0 {
			msgs, err := nltest.Error(int(r.errno), req)
			// The kernel's error reply carries none of the request's flags;
			// kept, NLM_F_MATCH would read as NLM_F_ACK_TLVS.
			for i := range msgs {
				msgs[i].Header.Flags = 0
			}
			return msgs, err
		}
		if encoded[r] == nil {
			bodies := r.raw
			for _, s := range r.sockets {
				bodies = append(bodies, marshalSocket(s))
			}
			encoded[r] = bodies
		}
		return dumpReply(req[0].Header, encoded[r]), nil
	}
	check := nltest.CheckRequest(
		[]netlink.HeaderType{sockDiagByFamily},
		[]netlink.HeaderFlags{netlink.Request | netlink.Dump},
		fn)
	return func() (DiagConn, error) { return nltest.Dial(check), nil }
}

// dumpReply frames bodies as the kernel frames a dump: every message marked
// multi-part, then an NLMSG_DONE carrying a zero errno. nltest hands the
// messages out in several batches, so the client reads several datagrams.
func dumpReply(req netlink.Header, bodies [][]byte) []netlink.Message {
	msgs := make([]netlink.Message, 0, len(bodies)+1)
	for _, b := range bodies {
		msgs = append(msgs, netlink.Message{
			Header: netlink.Header{Type: sockDiagByFamily, Flags: netlink.Multi, Sequence: req.Sequence, PID: req.PID},
			Data:   b,
		})
	}
	return append(msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: req.Sequence, PID: req.PID},
		Data:   make([]byte, 4),
	})
}

// Sockets used across the tests. The relay listens on host(2):818; VMs 3001
// and 3002 are connected to it.
var (
	relayListener = Socket{Type: SockStream, State: StateListen, SrcCID: 2, SrcPort: 818, DstCID: 0, DstPort: 0, Inode: 100, Cookie: 1}
	vm3001        = Socket{Type: SockStream, State: StateEstablished, SrcCID: 2, SrcPort: 818, DstCID: 3001, DstPort: 1025, Inode: 101, Cookie: 2}
	vm3002        = Socket{Type: SockStream, State: StateEstablished, SrcCID: 2, SrcPort: 818, DstCID: 3002, DstPort: 4711, Inode: 102, Cookie: 3}
	vm3002Closed  = Socket{Type: SockStream, State: StateClose, SrcCID: 2, SrcPort: 818, DstCID: 3002, DstPort: 4712, Inode: 103, Cookie: 4}
	otherListener = Socket{Type: SockStream, State: StateListen, SrcCID: CIDAny, SrcPort: 1234, Inode: 200, Cookie: 10}
	otherConn     = Socket{Type: SockStream, State: StateEstablished, SrcCID: 2, SrcPort: 1234, DstCID: 3001, DstPort: 818, Inode: 201, Cookie: 11}
	dgramOnRelay  = Socket{Type: SockDgram, State: StateClose, SrcCID: 2, SrcPort: 818, Inode: 202, Cookie: 12}
	outgoingConn  = Socket{Type: SockStream, State: StateEstablished, SrcCID: 2, SrcPort: 55555, DstCID: 3001, DstPort: 818, Inode: 203, Cookie: 13}
)

func TestDumpConversation(t *testing.T) {
	tests := []struct {
		name    string
		reply   reply
		want    []Socket
		wantErr error // checked with errors.Is; nil means success
		support DiagSupport
	}{
		{
			name:  "empty dump",
			reply: reply{},
			want:  []Socket{},
		},
		{
			name:  "listeners and connections on and off the relay port",
			reply: reply{sockets: []Socket{relayListener, vm3001, otherListener, otherConn, dgramOnRelay, outgoingConn}},
			want:  []Socket{relayListener, vm3001, otherListener, otherConn, dgramOnRelay, outgoingConn},
		},
		{
			name:    "kernel without vsock_diag answers ENOENT",
			reply:   reply{errno: syscall.ENOENT},
			wantErr: syscall.ENOENT,
			support: DiagNoModule,
		},
		{
			name:    "dump refused",
			reply:   reply{errno: syscall.EPERM},
			wantErr: syscall.EPERM,
			support: DiagDenied,
		},
		{
			name:    "truncated message",
			reply:   reply{raw: [][]byte{marshalSocket(vm3001)[:20]}},
			wantErr: ErrShortMessage,
			support: DiagUnknown,
		},
		{
			name:    "truncated message after good ones",
			reply:   reply{sockets: []Socket{relayListener}, raw: [][]byte{{afVSOCK, 1, 1}}},
			wantErr: ErrShortMessage,
			support: DiagUnknown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDumper(conversation(t, tt.reply))
			defer d.Close()
			got, err := d.Dump(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Dump() error = %v, want %v", err, tt.wantErr)
				}
				support, lasting := ClassifyDiagError(err)
				if support != tt.support || lasting != (tt.support != DiagUnknown) {
					t.Errorf("ClassifyDiagError() = %q, %v; want %q", support, lasting, tt.support)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dump() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Dump() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDumpSeveral runs several multipart dumps on one connection, and checks
// that a failed dump is followed by a fresh connection.
func TestDumpSeveral(t *testing.T) {
	dials := 0
	inner := conversation(t,
		reply{sockets: []Socket{relayListener}},
		reply{sockets: []Socket{relayListener, vm3001, vm3002}},
		reply{raw: [][]byte{{1, 2, 3}}},
		reply{sockets: []Socket{relayListener, vm3002Closed}},
	)
	d := NewDumper(func() (DiagConn, error) { dials++; return inner() })
	defer d.Close()
	want := [][]Socket{
		{relayListener},
		{relayListener, vm3001, vm3002},
		nil, // truncated
		{relayListener, vm3002Closed},
	}
	for i, w := range want {
		got, err := d.Dump(context.Background())
		if w == nil {
			if err == nil {
				t.Fatalf("dump %d: no error for a truncated reply", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("dump %d: %v", i, err)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("dump %d (-want +got):\n%s", i, diff)
		}
	}
	if dials != 2 {
		t.Errorf("dialled %d times, want 2 (once, and once more after the failed dump)", dials)
	}
}

func TestDumpDialError(t *testing.T) {
	d := NewDumper(func() (DiagConn, error) { return nil, fmt.Errorf("dial: %w", syscall.EPROTONOSUPPORT) })
	_, err := d.Dump(context.Background())
	if support, lasting := ClassifyDiagError(err); support != DiagNoNetlink || !lasting {
		t.Errorf("ClassifyDiagError(%v) = %q, %v; want %q, true", err, support, lasting, DiagNoNetlink)
	}
}

func TestDumpCanceled(t *testing.T) {
	d := NewDumper(conversation(t, reply{}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Dump(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Dump(canceled) error = %v, want context.Canceled", err)
	}
}

func TestParseSocket(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    Socket
		wantErr bool
	}{
		{name: "round trip", in: marshalSocket(vm3001), want: vm3001},
		{name: "trailing bytes ignored", in: append(marshalSocket(vm3002), 0xff, 0xff), want: vm3002},
		{name: "cookie high word", in: marshalSocket(Socket{Cookie: 0x1234_5678_9abc_def0}), want: Socket{Cookie: 0x1234_5678_9abc_def0}},
		{name: "empty", in: nil, wantErr: true},
		{name: "one short", in: marshalSocket(vm3001)[:diagMsgLen-1], wantErr: true},
		{name: "wrong family", in: append([]byte{2}, marshalSocket(vm3001)[1:]...), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSocket(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSocket() error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseSocket() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassifyDiagError(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    DiagSupport
		lasting bool
	}{
		{name: "nil", err: nil, want: DiagSupported, lasting: true},
		{name: "ENOENT", err: &netlink.OpError{Op: "receive", Err: syscall.ENOENT}, want: DiagNoModule, lasting: true},
		{name: "EPROTONOSUPPORT", err: fmt.Errorf("dial: %w", syscall.EPROTONOSUPPORT), want: DiagNoNetlink, lasting: true},
		{name: "EACCES", err: syscall.EACCES, want: DiagDenied, lasting: true},
		{name: "timeout", err: context.DeadlineExceeded, want: DiagUnknown, lasting: false},
		{name: "short", err: ErrShortMessage, want: DiagUnknown, lasting: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lasting := ClassifyDiagError(tt.err)
			if got != tt.want || lasting != tt.lasting {
				t.Errorf("ClassifyDiagError(%v) = %q, %v; want %q, %v", tt.err, got, lasting, tt.want, tt.lasting)
			}
		})
	}
}

// FuzzParseSocket checks that ParseSocket never panics, and that what it
// accepts re-encodes to the same bytes.
func FuzzParseSocket(f *testing.F) {
	for _, s := range []Socket{relayListener, vm3001, otherConn, {}} {
		f.Add(marshalSocket(s))
	}
	f.Add([]byte{afVSOCK})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSocket(b)
		if err != nil {
			if len(b) >= diagMsgLen && b[0] == afVSOCK {
				t.Fatalf("ParseSocket rejected a well-sized AF_VSOCK message: %v", err)
			}
			return
		}
		if got := marshalSocket(s); !bytes.Equal(got, b[:diagMsgLen]) {
			t.Fatalf("re-encoded %x, want %x", got, b[:diagMsgLen])
		}
	})
}
