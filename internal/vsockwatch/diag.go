package vsockwatch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
)

// Kernel constants for AF_VSOCK sock_diag (linux/sock_diag.h,
// linux/vm_sockets_diag.h). They are spelled out here rather than taken from
// golang.org/x/sys/unix so the package builds on every OS.
const (
	afVSOCK          = 40 // AF_VSOCK
	netlinkSockDiag  = 4  // NETLINK_SOCK_DIAG
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY

	// diagReqLen is sizeof(struct vsock_diag_req).
	diagReqLen = 24
	// diagMsgLen is sizeof(struct vsock_diag_msg).
	diagMsgLen = 32
)

// Socket types as reported in vsock_diag_msg.vdiag_type.
const (
	SockStream    uint8 = 1 // SOCK_STREAM
	SockDgram     uint8 = 2 // SOCK_DGRAM
	SockSeqpacket uint8 = 5 // SOCK_SEQPACKET
)

// Socket states as reported in vsock_diag_msg.vdiag_state. AF_VSOCK reuses the
// TCP state numbers.
const (
	StateEstablished uint8 = 1  // TCP_ESTABLISHED
	StateSynSent     uint8 = 2  // TCP_SYN_SENT: connecting
	StateClose       uint8 = 7  // TCP_CLOSE
	StateListen      uint8 = 10 // TCP_LISTEN
	StateClosing     uint8 = 11 // TCP_CLOSING
)

// CIDAny is VMADDR_CID_ANY, the address of an unbound or wildcard-bound socket.
const CIDAny = ^uint32(0)

// Socket is one AF_VSOCK socket as the kernel describes it in a
// vsock_diag_msg. Src is the local end, Dst the peer.
type Socket struct {
	Type     uint8
	State    uint8
	Shutdown uint8
	SrcCID   uint32
	SrcPort  uint32
	DstCID   uint32
	DstPort  uint32
	Inode    uint32
	// Cookie is the kernel's socket cookie, unique for the life of the socket.
	Cookie uint64
}

// Listening reports whether s is a listening stream socket.
func (s Socket) Listening() bool { return s.State == StateListen }

// diagRequest returns the body of a SOCK_DIAG_BY_FAMILY request for every
// AF_VSOCK socket in every state.
func diagRequest() []byte {
	b := make([]byte, diagReqLen)
	b[0] = afVSOCK // sdiag_family
	// b[1] sdiag_protocol = 0, b[2:4] pad = 0
	binary.NativeEndian.PutUint32(b[4:8], ^uint32(0)) // vdiag_states: all
	// vdiag_ino, vdiag_show and vdiag_cookie stay 0.
	return b
}

// ErrShortMessage is returned by ParseSocket for a message shorter than
// struct vsock_diag_msg.
var ErrShortMessage = errors.New("vsock_diag message too short")

// ParseSocket decodes one vsock_diag_msg. Bytes past the structure are ignored
// (the kernel sends none today). It fails on a short message and on a family
// other than AF_VSOCK.
func ParseSocket(b []byte) (Socket, error) {
	if len(b) < diagMsgLen {
		return Socket{}, fmt.Errorf("parse vsock_diag_msg: %d bytes, want %d: %w", len(b), diagMsgLen, ErrShortMessage)
	}
	if b[0] != afVSOCK {
		return Socket{}, fmt.Errorf("parse vsock_diag_msg: family %d, want %d (AF_VSOCK)", b[0], afVSOCK)
	}
	ne := binary.NativeEndian
	return Socket{
		Type:     b[1],
		State:    b[2],
		Shutdown: b[3],
		SrcCID:   ne.Uint32(b[4:8]),
		SrcPort:  ne.Uint32(b[8:12]),
		DstCID:   ne.Uint32(b[12:16]),
		DstPort:  ne.Uint32(b[16:20]),
		Inode:    ne.Uint32(b[20:24]),
		Cookie:   uint64(ne.Uint32(b[24:28])) | uint64(ne.Uint32(b[28:32]))<<32,
	}, nil
}

// marshalSocket is the inverse of ParseSocket; tests and benchmarks use it to
// build fake kernel replies.
func marshalSocket(s Socket) []byte {
	b := make([]byte, diagMsgLen)
	b[0] = afVSOCK
	b[1], b[2], b[3] = s.Type, s.State, s.Shutdown
	ne := binary.NativeEndian
	ne.PutUint32(b[4:8], s.SrcCID)
	ne.PutUint32(b[8:12], s.SrcPort)
	ne.PutUint32(b[12:16], s.DstCID)
	ne.PutUint32(b[16:20], s.DstPort)
	ne.PutUint32(b[20:24], s.Inode)
	ne.PutUint32(b[24:28], uint32(s.Cookie)) // #nosec G115 -- the cookie is two 32-bit halves by definition
	ne.PutUint32(b[28:32], uint32(s.Cookie>>32))
	return b
}

// DiagConn is the part of *netlink.Conn a Dumper uses. Tests pass a
// connection made by nltest.Dial.
type DiagConn interface {
	Execute(netlink.Message) ([]netlink.Message, error)
	SetDeadline(time.Time) error
	Close() error
}

// DialDiag opens a NETLINK_SOCK_DIAG socket in the caller's network namespace.
// The caller closes it.
func DialDiag() (DiagConn, error) {
	c, err := netlink.Dial(netlinkSockDiag, nil)
	if err != nil {
		return nil, fmt.Errorf("dial netlink sock_diag: %w", err)
	}
	return c, nil
}

// Dumper lists AF_VSOCK sockets through sock_diag. It keeps one netlink
// socket open between dumps and opens a new one after a failure. A Dumper is
// not safe for concurrent use; Close releases its socket.
type Dumper struct {
	dial func() (DiagConn, error)
	conn DiagConn
}

// NewDumper returns a Dumper that opens its netlink socket with dial
// (DialDiag in production).
func NewDumper(dial func() (DiagConn, error)) *Dumper {
	return &Dumper{dial: dial}
}

// Dump asks the kernel for every AF_VSOCK socket in this network namespace
// and decodes the reply. The dump is bounded by ctx's deadline. On a kernel
// without vsock_diag the error satisfies errors.Is(err, syscall.ENOENT); see
// ClassifyDiagError.
func (d *Dumper) Dump(ctx context.Context) ([]Socket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.conn == nil {
		c, err := d.dial()
		if err != nil {
			return nil, err
		}
		d.conn = c
	}
	if dl, ok := ctx.Deadline(); ok {
		// A socket that cannot take a deadline (nltest's) answers at once anyway.
		_ = d.conn.SetDeadline(dl)
	}
	msgs, err := d.conn.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  sockDiagByFamily,
			Flags: netlink.Request | netlink.Dump,
		},
		Data: diagRequest(),
	})
	if err != nil {
		// The socket may hold the rest of a failed dump: start afresh next time.
		d.closeConn()
		return nil, fmt.Errorf("sock_diag dump: %w", err)
	}
	out := make([]Socket, 0, len(msgs))
	for _, m := range msgs {
		if m.Header.Type == netlink.Done {
			continue
		}
		s, err := ParseSocket(m.Data)
		if err != nil {
			d.closeConn()
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Close releases the netlink socket, if one is open.
func (d *Dumper) Close() error {
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	d.conn = nil
	return err
}

func (d *Dumper) closeConn() { _ = d.Close() }

// DiagSupport says whether the kernel can answer AF_VSOCK sock_diag dumps.
type DiagSupport string

// The DiagSupport values.
const (
	// DiagUnknown: no dump has completed or failed in a telling way yet.
	DiagUnknown DiagSupport = "unknown"
	// DiagSupported: a dump succeeded.
	DiagSupported DiagSupport = "supported"
	// DiagNoModule: the kernel answered ENOENT, so it has no sock_diag handler
	// for AF_VSOCK: module vsock_diag is missing (or AF_VSOCK itself is).
	DiagNoModule DiagSupport = "no_vsock_diag"
	// DiagNoNetlink: the kernel has no NETLINK_SOCK_DIAG at all.
	DiagNoNetlink DiagSupport = "no_sock_diag"
	// DiagDenied: the dump was refused (EPERM/EACCES), e.g. by a seccomp profile.
	DiagDenied DiagSupport = "denied"
)

// ClassifyDiagError tells a lasting lack of support apart from a passing
// failure. It returns the support level the error proves, and false when the
// error is transient (a timeout, a truncated reply) and says nothing about
// support.
func ClassifyDiagError(err error) (DiagSupport, bool) {
	switch {
	case err == nil:
		return DiagSupported, true
	case errors.Is(err, syscall.ENOENT):
		return DiagNoModule, true
	case errors.Is(err, syscall.EPROTONOSUPPORT), errors.Is(err, syscall.EAFNOSUPPORT):
		return DiagNoNetlink, true
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return DiagDenied, true
	}
	return DiagUnknown, false
}

// Hint is a one-line explanation of s for logs and the status page.
func (s DiagSupport) Hint() string {
	switch s {
	case DiagSupported:
		return "the kernel answers AF_VSOCK sock_diag dumps"
	case DiagNoModule:
		return "the kernel has no sock_diag handler for AF_VSOCK (module vsock_diag missing, or no AF_VSOCK at all): " +
			"relay listening and connection counts are unknown on this node; `modprobe vsock_diag` on the node enables them"
	case DiagNoNetlink:
		return "the kernel has no NETLINK_SOCK_DIAG: relay listening and connection counts are unknown on this node"
	case DiagDenied:
		return "the sock_diag dump was refused (seccomp or missing privilege): relay listening and connection counts are unknown"
	}
	return "no sock_diag dump has completed yet"
}
