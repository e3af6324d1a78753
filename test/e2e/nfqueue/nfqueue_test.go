package nfqueue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
)

// The byte layouts below are written out from nfnetlink_queue.h by hand, so
// that an encoding mistake in the code is not mirrored by the test.

func attr(typ uint16, value []byte) []byte {
	return nltest.MustMarshalAttributes([]netlink.Attribute{{Type: typ, Data: value}})
}

// queueHeader is struct nfgenmsg for queue 7: AF_UNSPEC, version 0, be16 7.
var queueHeader = []byte{0, 0, 0, 7}

func TestBindVerdict(t *testing.T) {
	var got []netlink.Message
	c := nltest.Dial(func(req []netlink.Message) ([]netlink.Message, error) {
		got = append(got, req...)
		if req[0].Header.Flags&netlink.Acknowledge == 0 {
			return nil, nil
		}
		// An ACK: an error message with error 0 echoing the request header.
		return nltest.Error(0, req)
	})
	q, err := bind(c, 7)
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := q.Verdict(0x01020304, Accept); err != nil {
		t.Fatalf("Verdict: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	config := netlink.HeaderType(3<<8 | 2)
	verdict := netlink.HeaderType(3<<8 | 1)
	want := []struct {
		typ   netlink.HeaderType
		flags netlink.HeaderFlags
		data  []byte
	}{
		{config, netlink.Request | netlink.Acknowledge, append(bytes.Clone(queueHeader), attr(1, []byte{1, 0, 0, 0})...)},    // CMD_BIND
		{config, netlink.Request | netlink.Acknowledge, append(bytes.Clone(queueHeader), attr(2, []byte{0, 0, 0, 0, 1})...)}, // copy_range 0, COPY_META
		{verdict, netlink.Request, append(bytes.Clone(queueHeader), attr(2, []byte{0, 0, 0, 1, 1, 2, 3, 4})...)},             // NF_ACCEPT, id
	}
	if len(got) != len(want) {
		t.Fatalf("sent %d messages, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		m := got[i]
		if m.Header.Type != w.typ || m.Header.Flags != w.flags {
			t.Errorf("message %d: type %v flags %v, want %v %v", i, m.Header.Type, m.Header.Flags, w.typ, w.flags)
		}
		if diff := cmp.Diff(w.data, m.Data); diff != "" {
			t.Errorf("message %d body (-want +got):\n%s", i, diff)
		}
	}
}

func TestReceivePacketIDs(t *testing.T) {
	packet := func(id uint32) netlink.Message {
		hdr := make([]byte, 7) // be32 packet_id, be16 hw_protocol, u8 hook
		binary.BigEndian.PutUint32(hdr, id)
		binary.BigEndian.PutUint16(hdr[4:], 0x0800)
		hdr[6] = 3 // NF_INET_LOCAL_OUT
		body := append(bytes.Clone(queueHeader), nltest.MustMarshalAttributes([]netlink.Attribute{
			{Type: 3, Data: []byte{0, 0, 0, 0}}, // NFQA_MARK before the header: order must not matter
			{Type: 1, Data: hdr},
		})...)
		return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(3 << 8) /* | NFQNL_MSG_PACKET, 0 */}, Data: body}
	}
	other := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(3<<8 | 2)}, Data: queueHeader}
	c := nltest.Dial(func(req []netlink.Message) ([]netlink.Message, error) {
		if req != nil {
			return nil, fmt.Errorf("unexpected request %+v", req)
		}
		return []netlink.Message{packet(41), other, packet(0xfffffffe)}, nil
	})
	q := &Queue{c: c, num: 7}
	ids, err := q.Receive()
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if diff := cmp.Diff([]uint32{41, 0xfffffffe}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func TestPacketIDMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"no nfgenmsg", []byte{0, 0}},
		{"no packet header", append(bytes.Clone(queueHeader), attr(3, []byte{0, 0, 0, 0})...)},
		{"short packet header", append(bytes.Clone(queueHeader), attr(1, []byte{0, 1})...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if id, err := packetID(tc.data); err == nil {
				t.Errorf("packetID = %d, nil; want an error", id)
			}
		})
	}
}

// FuzzPacketID: a packet message from the kernel is parsed without a panic,
// and an id is returned only with its header present.
func FuzzPacketID(f *testing.F) {
	f.Add(append(bytes.Clone(queueHeader), attr(1, []byte{0, 0, 0, 9, 8, 0, 3})...))
	f.Add([]byte{0, 0})
	f.Add(append(bytes.Clone(queueHeader), attr(3, []byte{1, 2, 3, 4})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := packetID(data)
		if err != nil && id != 0 {
			t.Errorf("packetID = %d with error %v", id, err)
		}
	})
}
