//go:build linux

package kubevirttest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// The pull protocol between sensor and roxagent, as the stackrox sources
// at bed4a7b2427 define it (proto/internalapi/virtualmachine/v1/
// vm_service.proto, pkg/vsockframing): one length-prefixed protobuf
// request, one response, per connection. The lab encodes the few fields it
// needs by hand with the protobuf wire format; field numbers are the
// .proto's.

// Error codes of ErrorResponse.code (ErrorCode in vm_service.proto).
const (
	codeUnknownMethod = 1
	codeNotReady      = 2
	codeInternal      = 3
	codeBusy          = 6
)

// Wire types of the protobuf encoding.
const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

// maxRequestSize is roxagent's limit on a request (1 MiB), maxResponseSize
// sensor's default ROX_VIRTUAL_MACHINES_PULL_MAX_RESPONSE_SIZE_KB (16 MiB).
const (
	maxRequestSize  = 1 << 20
	maxResponseSize = 16 << 20
)

// errFrameTooLarge is the text of vsockframing.ErrFrameTooLarge.
var errFrameTooLarge = errors.New("frame size exceeds limit")

// writeFrame writes a 4-byte big-endian length and the payload in two
// writes, as vsockframing.WriteFrame does (over a WebSocket: two messages).
func writeFrame(w io.Writer, payload []byte) error {
	if uint64(len(payload)) > math.MaxUint32 {
		return fmt.Errorf("frame payload too large: %d bytes", len(payload))
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(payload))) //nolint:gosec // checked above
	if _, err := w.Write(n[:]); err != nil {
		return fmt.Errorf("writing frame length: %w", err)
	}
	if _, err := w.Write(payload); err != nil {
		return fmt.Errorf("writing frame payload: %w", err)
	}
	return nil
}

// readFrame reads one frame of at most maxSize bytes, with
// vsockframing.ReadFrame's error texts.
func readFrame(r io.Reader, maxSize uint32) ([]byte, error) {
	var n [4]byte
	// io.ReadFull, as binary.Read in vsockframing: io.EOF when nothing came.
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("reading frame length: %w", err)
	}
	length := binary.BigEndian.Uint32(n[:])
	if length > maxSize {
		return nil, fmt.Errorf("%w: %d exceeds limit %d", errFrameTooLarge, length, maxSize)
	}
	payload := make([]byte, length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("reading frame payload: %w", err)
	}
	return payload, nil
}

// pb builds a protobuf message field by field; proto3 scalars equal to
// their zero value are left out, as the Go encoder does.
type pb []byte

func (b pb) tag(field, wire int) pb {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire)) //nolint:gosec // small field numbers
}

func (b pb) uint(field int, v uint64) pb {
	if v == 0 {
		return b
	}
	return binary.AppendUvarint(b.tag(field, wireVarint), v)
}

func (b pb) bool(field int, v bool) pb {
	if !v {
		return b
	}
	return b.uint(field, 1)
}

func (b pb) str(field int, s string) pb {
	if s == "" {
		return b
	}
	return b.bytes(field, []byte(s))
}

// bytes writes a length-delimited field, also when empty (a set message).
func (b pb) bytes(field int, v []byte) pb {
	b = binary.AppendUvarint(b.tag(field, wireBytes), uint64(len(v)))
	return append(b, v...)
}

// pbField is one decoded field: v for varints, data for length-delimited ones.
type pbField struct {
	num, wire int
	v         uint64
	data      []byte
}

// pbFields decodes the top level of a message, skipping fixed-width fields.
func pbFields(b []byte) ([]pbField, error) {
	var out []pbField
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("proto: bad tag")
		}
		b = b[n:]
		f := pbField{num: int(key >> 3), wire: int(key & 7)} //nolint:gosec // decoded from a varint
		switch f.wire {
		case wireVarint:
			f.v, n = binary.Uvarint(b)
			if n <= 0 {
				return nil, errors.New("proto: bad varint")
			}
			b = b[n:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l { //nolint:gosec // n <= len(b)
				return nil, errors.New("proto: bad length")
			}
			f.data, b = b[n:n+int(l)], b[n+int(l):] //nolint:gosec // bounded by len(b)
		case wire64, wire32:
			w := 8
			if f.wire == wire32 {
				w = 4
			}
			if len(b) < w {
				return nil, errors.New("proto: short fixed field")
			}
			b = b[w:]
		default:
			return nil, fmt.Errorf("proto: wire type %d", f.wire)
		}
		out = append(out, f)
	}
	return out, nil
}

// getReportRequest is VMServiceRequest{meta, get_report} as sensor sends it.
type getReportRequest struct {
	requestID    string
	capabilities []string
	lastGen      uint32
	knownEpoch   uint32
	// hasGetReport is false for a request with another method or none.
	hasGetReport bool
}

func (r getReportRequest) marshal() []byte {
	var meta pb
	meta = meta.str(1, r.requestID)
	for _, c := range r.capabilities {
		meta = meta.str(2, c)
	}
	var gr pb
	gr = gr.uint(1, uint64(r.lastGen)).uint(2, uint64(r.knownEpoch))
	var b pb
	return b.bytes(1, meta).bytes(2, gr)
}

func parseGetReportRequest(b []byte) (getReportRequest, error) {
	var r getReportRequest
	fields, err := pbFields(b)
	if err != nil {
		return r, err
	}
	for _, f := range fields {
		switch {
		case f.num == 1 && f.wire == wireBytes:
			meta, err := pbFields(f.data)
			if err != nil {
				return r, err
			}
			for _, m := range meta {
				switch m.num {
				case 1:
					r.requestID = string(m.data)
				case 2:
					r.capabilities = append(r.capabilities, string(m.data))
				}
			}
		case f.num == 2 && f.wire == wireBytes:
			r.hasGetReport = true
			gr, err := pbFields(f.data)
			if err != nil {
				return r, err
			}
			for _, g := range gr {
				switch g.num {
				case 1:
					r.lastGen = uint32(g.v) //nolint:gosec // a uint32 field
				case 2:
					r.knownEpoch = uint32(g.v) //nolint:gosec // a uint32 field
				}
			}
		}
	}
	return r, nil
}

// response is VMServiceResponse: meta plus a GetReportResponse or an
// ErrorResponse.
type response struct {
	agentVersion string
	generation   uint32
	epoch        uint32
	generatedAt  int64 // Unix seconds of report_generated_at; 0 leaves it out
	facts        map[string]string
	// indexReport is the encoded scanner.v4.IndexReport; nil with
	// unchanged or an error.
	indexReport []byte
	unchanged   bool
	// isError marks an ErrorResponse result, with errCode and errMessage.
	isError    bool
	errCode    int
	errMessage string
}

func (r response) marshal() []byte {
	var meta pb
	meta = meta.str(1, r.agentVersion)
	if r.generatedAt != 0 {
		var ts pb
		meta = meta.bytes(2, ts.uint(1, uint64(r.generatedAt))) //nolint:gosec // a positive Unix time
	}
	meta = meta.uint(3, uint64(r.generation)).str(4, "get_report")
	for k, v := range r.facts {
		var e pb
		meta = meta.bytes(5, e.str(1, k).str(2, v))
	}
	meta = meta.uint(6, uint64(r.epoch))
	var b pb
	b = b.bytes(1, meta)
	if r.isError || r.errCode != 0 {
		var e pb
		return b.bytes(3, e.uint(1, uint64(r.errCode)).str(2, r.errMessage)) //nolint:gosec // a small enum
	}
	var gr pb
	if r.indexReport != nil {
		gr = gr.bytes(1, r.indexReport)
	}
	return b.bytes(2, gr.bool(2, r.unchanged))
}

// errMissingResult stands for a response with neither result.
var errMissingResult = errors.New("unexpected response type: <nil>")

func parseResponse(b []byte) (response, error) {
	var r response
	fields, err := pbFields(b)
	if err != nil {
		return r, err
	}
	seen := false
	for _, f := range fields {
		if f.wire != wireBytes {
			continue
		}
		switch f.num {
		case 1:
			if err := r.parseMeta(f.data); err != nil {
				return r, err
			}
		case 2:
			seen = true
			if err := r.parseGetReport(f.data); err != nil {
				return r, err
			}
		case 3:
			seen, r.isError = true, true
			e, err := pbFields(f.data)
			if err != nil {
				return r, err
			}
			for _, x := range e {
				switch x.num {
				case 1:
					r.errCode = int(x.v) //nolint:gosec // a small enum
				case 2:
					r.errMessage = string(x.data)
				}
			}
		}
	}
	if !seen {
		return r, errMissingResult
	}
	return r, nil
}

func (r *response) parseMeta(b []byte) error {
	meta, err := pbFields(b)
	if err != nil {
		return err
	}
	for _, m := range meta {
		switch m.num {
		case 1:
			r.agentVersion = string(m.data)
		case 3:
			r.generation = uint32(m.v) //nolint:gosec // a uint32 field
		case 6:
			r.epoch = uint32(m.v) //nolint:gosec // a uint32 field
		}
	}
	return nil
}

func (r *response) parseGetReport(b []byte) error {
	gr, err := pbFields(b)
	if err != nil {
		return err
	}
	for _, g := range gr {
		switch g.num {
		case 1:
			r.indexReport = g.data
		case 2:
			r.unchanged = g.v != 0
		}
	}
	return nil
}

// indexReport encodes a scanner.v4.IndexReport (hash_id 1, state 2,
// success 3, contents 5 with packages in map field 5) of the given
// packages, each "name version".
func indexReport(hashID string, packages [][2]string) []byte {
	var contents pb
	for i, p := range packages {
		id := fmt.Sprint(i + 1)
		var pkg pb
		pkg = pkg.str(1, id).str(2, p[0]).str(3, p[1]).str(6, "binary").str(11, "x86_64")
		var entry pb
		contents = contents.bytes(5, entry.str(1, id).bytes(2, pkg))
	}
	var b pb
	return b.str(1, hashID).str(2, "IndexFinished").bool(3, true).bytes(5, contents)
}

// reportPackages counts the packages of an encoded IndexReport and returns
// its state.
func reportPackages(b []byte) (int, string, error) {
	fields, err := pbFields(b)
	if err != nil {
		return 0, "", err
	}
	n, state := 0, ""
	for _, f := range fields {
		switch f.num {
		case 2:
			state = string(f.data)
		case 5:
			contents, err := pbFields(f.data)
			if err != nil {
				return 0, "", err
			}
			for _, c := range contents {
				if c.num == 1 || c.num == 5 { // packagesDEPRECATED, packages
					n++
				}
			}
		}
	}
	return n, state, nil
}

// newUUID returns a random (version 4) UUID, as sensor's request IDs are.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}
