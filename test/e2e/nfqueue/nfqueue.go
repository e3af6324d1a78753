// Package nfqueue is a minimal client of the kernel's NFQUEUE: packets that an
// iptables rule hands to a queue (-j NFQUEUE --queue-num N) are read from
// netlink and released with a verdict later. The end-to-end harness uses it to
// add a fixed delay to one path's packets, since the test kernel has no netem.
//
// Only what that needs is here: bind a queue in metadata-only copy mode,
// receive packet ids, accept them. The wire format is
// include/uapi/linux/netfilter/nfnetlink_queue.h.
package nfqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Message types and attributes of the nfnetlink queue subsystem.
const (
	subsysQueue = 3 // NFNL_SUBSYS_QUEUE

	msgPacket  = 0 // NFQNL_MSG_PACKET
	msgVerdict = 1 // NFQNL_MSG_VERDICT
	msgConfig  = 2 // NFQNL_MSG_CONFIG

	attrPacketHdr  = 1 // NFQA_PACKET_HDR
	attrVerdictHdr = 2 // NFQA_VERDICT_HDR

	attrCfgCmd    = 1 // NFQA_CFG_CMD
	attrCfgParams = 2 // NFQA_CFG_PARAMS

	cmdBind = 1 // NFQNL_CFG_CMD_BIND

	copyMeta = 1 // NFQNL_COPY_META: ids and metadata, no payload

	// Accept is the netfilter verdict NF_ACCEPT.
	Accept = 1
)

// Queue is one bound NFQUEUE. Close unbinds it.
type Queue struct {
	c   *netlink.Conn
	num uint16
}

// Open binds queue num on a new netlink socket in the caller's network
// namespace. Packets queued before Open are dropped by the kernel (no
// --queue-bypass), so bind first, then add the rule.
func Open(num uint16) (*Queue, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("dial netfilter netlink: %w", err)
	}
	q, err := bind(c, num)
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return q, nil
}

// bind configures queue num on c; tests pass a conn from nltest.
func bind(c *netlink.Conn, num uint16) (*Queue, error) {
	q := &Queue{c: c, num: num}
	if err := q.config(attrCfgCmd, []byte{cmdBind, 0, 0, 0}); err != nil {
		return nil, fmt.Errorf("bind queue %d: %w", num, err)
	}
	params := make([]byte, 5) // be32 copy_range, u8 copy_mode
	params[4] = copyMeta
	if err := q.config(attrCfgParams, params); err != nil {
		return nil, fmt.Errorf("set copy mode of queue %d: %w", num, err)
	}
	return q, nil
}

func (q *Queue) config(attr uint16, value []byte) error {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(attr, value)
	b, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = q.c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(subsysQueue<<8 | msgConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: append(q.genmsg(), b...),
	})
	return err
}

// genmsg is struct nfgenmsg: family AF_UNSPEC, version 0, the queue number.
func (q *Queue) genmsg() []byte {
	b := []byte{unix.AF_UNSPEC, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], q.num)
	return b
}

// Receive blocks until the kernel hands over packets and returns their ids.
func (q *Queue) Receive() ([]uint32, error) {
	msgs, err := q.c.Receive()
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for _, m := range msgs {
		if m.Header.Type != netlink.HeaderType(subsysQueue<<8|msgPacket) {
			continue
		}
		id, err := packetID(m.Data)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// packetID reads NFQA_PACKET_HDR (be32 packet_id, be16 hw_protocol, u8 hook)
// from a packet message's body.
func packetID(data []byte) (uint32, error) {
	if len(data) < 4 {
		return 0, errors.New("short nfqueue packet message")
	}
	ad, err := netlink.NewAttributeDecoder(data[4:])
	if err != nil {
		return 0, err
	}
	for ad.Next() {
		if ad.Type() == attrPacketHdr {
			b := ad.Bytes()
			if len(b) < 4 {
				return 0, errors.New("short nfqueue packet header")
			}
			return binary.BigEndian.Uint32(b), nil
		}
	}
	if err := ad.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("nfqueue packet message without a packet header")
}

// Verdict releases packet id with verdict v (Accept).
func (q *Queue) Verdict(id, v uint32) error {
	hdr := make([]byte, 8) // be32 verdict, be32 id
	binary.BigEndian.PutUint32(hdr, v)
	binary.BigEndian.PutUint32(hdr[4:], id)
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(attrVerdictHdr, hdr)
	b, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = q.c.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysQueue<<8 | msgVerdict), Flags: netlink.Request},
		Data:   append(q.genmsg(), b...),
	})
	return err
}

// SetReadDeadline bounds Receive, so that a loop can notice it should stop.
func (q *Queue) SetReadDeadline(t time.Time) error { return q.c.SetReadDeadline(t) }

// Close closes the socket; the kernel then unbinds the queue and drops the
// packets still held. (An explicit NFQNL_CFG_CMD_UNBIND would need an
// acknowledgement, which queued packets arriving meanwhile can get in front of.)
func (q *Queue) Close() error { return q.c.Close() }
