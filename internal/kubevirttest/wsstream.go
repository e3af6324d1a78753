//go:build linux

package kubevirttest

import (
	"errors"
	"fmt"
	"io"

	"github.com/gorilla/websocket"
)

// subprotocol is the WebSocket subprotocol of KubeVirt's raw streams,
// which sensor asks for and virt-api and virt-handler answer with.
const subprotocol = "plain.kubevirt.io"

// wsStream reads a WebSocket's binary messages as one byte stream and
// writes each Write as one binary message, as sensor's vsockdialer stream
// does (bed4a7b2427 sensor/kubernetes/virtualmachine/vsockdialer/dialer.go):
// a close frame or a closed connection reads as io.EOF.
type wsStream struct {
	conn *websocket.Conn
	r    io.Reader
}

func (s *wsStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			typ, r, err := s.conn.NextReader()
			if err != nil {
				if _, ok := errors.AsType[*websocket.CloseError](err); ok || errors.Is(err, io.EOF) {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ == websocket.CloseMessage {
				return 0, io.EOF
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if errors.Is(err, io.EOF) {
			s.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (s *wsStream) Write(p []byte) (int, error) {
	if err := s.conn.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, fmt.Errorf("writing websocket message: %w", err)
	}
	return len(p), nil
}

func (s *wsStream) Close() error {
	if err := s.conn.Close(); err != nil {
		return fmt.Errorf("closing websocket: %w", err)
	}
	return nil
}
