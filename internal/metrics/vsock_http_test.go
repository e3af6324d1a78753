package metrics

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// diagMsg encodes one vsock_diag_msg as the kernel sends it.
func diagMsg(state uint8, srcPort, dstCID, dstPort uint32, cookie uint64) []byte {
	b := make([]byte, 32)
	b[0], b[1], b[2] = 40, vsockwatch.SockStream, state
	ne := binary.NativeEndian
	ne.PutUint32(b[4:], 2)
	ne.PutUint32(b[8:], srcPort)
	ne.PutUint32(b[12:], dstCID)
	ne.PutUint32(b[16:], dstPort)
	ne.PutUint32(b[24:], uint32(cookie)) // vdiag_cookie[0]: the low word
	ne.PutUint32(b[28:], uint32(cookie>>32))
	return b
}

// fakeKernel answers every dump with the relay listening and one VM connected.
func fakeKernel() (vsockwatch.DiagConn, error) {
	return nltest.Dial(func(req []netlink.Message) ([]netlink.Message, error) {
		h := req[0].Header
		msg := func(t netlink.HeaderType, data []byte) netlink.Message {
			return netlink.Message{Header: netlink.Header{Type: t, Flags: netlink.Multi, Sequence: h.Sequence, PID: h.PID}, Data: data}
		}
		return []netlink.Message{
			msg(20, diagMsg(vsockwatch.StateListen, 818, 0, 0, 1)),
			msg(20, diagMsg(vsockwatch.StateEstablished, 818, 3001, 1025, 2)),
			msg(netlink.Done, make([]byte, 4)),
		}, nil
	}), nil
}

// TestScrapeOverHTTP wires the watcher as the probe does — dumps, beacon,
// relay log, collector on a registry served by promhttp — and scrapes
// /metrics over loopback HTTP.
func TestScrapeOverHTTP(t *testing.T) {
	w := vsockwatch.New(vsockwatch.Config{
		Interval:  10 * time.Millisecond,
		Dial:      fakeKernel,
		ContextID: func() (uint32, error) { return 2, nil },
	}, slog.New(slog.DiscardHandler))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewVSOCKCollector(w))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 3)
	run := func(f func(context.Context) error) {
		go func() { _ = f(ctx); done <- struct{}{} }()
	}
	run(w.Run)
	run(func(ctx context.Context) error { return w.ServeBeacon(ctx, ln, "worker-1") })
	run(func(ctx context.Context) error {
		return w.FollowRelayLog(ctx, func(ctx context.Context, _ time.Time) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(
				"2026-04-23T07:40:00Z m: x.go:1: Info: Handling connection from vm(3002):1025\n")), nil
		})
	})
	// One beacon connection.
	if _, err := vsockwatch.Ping(ctx, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}); err != nil {
		t.Fatalf("ping the beacon: %v", err)
	}
	for s := w.Snapshot(); s.Diag.Dumps == 0 || s.RelayLogEvents["connection"] == 0; s = w.Snapshot() {
		time.Sleep(5 * time.Millisecond)
	}

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`local_cid="2",relay_port="818",sockets="`, // sensorprobe_vsock_info; devices depend on the machine
		"sensorprobe_vsock_diag_supported 1",
		"sensorprobe_vsock_relay_listening 1",
		"sensorprobe_vsock_relay_connections 1",
		"sensorprobe_vsock_connections_seen_total 1",
		"sensorprobe_vsock_connections_recent 1",
		"sensorprobe_vsock_peer_cids 2",
		"sensorprobe_vsock_last_activity_timestamp_seconds ",
		"sensorprobe_vsock_diag_errors_total 0",
		"sensorprobe_vsock_beacon_connections_total 1",
		"sensorprobe_vsock_relay_log_following ",
		`sensorprobe_vsock_relay_log_events_total{event="connection"} 1`,
		`sensorprobe_vsock_relay_log_events_total{event="send_error"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	for range 3 {
		<-done
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
