// Package bareclient holds plain Go clients that do what one probe attempt
// does, with nothing of sensorprobe's code: connect, handshake, request,
// close. They are the yardstick that the micro-benchmarks in internal/dial
// and the make bench harness (test/bench) compare the probe's cost with.
//
// Every function makes a new connection and handshake, as the probe does,
// and ends when ctx does. None keeps state between calls.
package bareclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Func is one attempt of a bare client against addr. conf verifies the
// server's certificate; the tcp client ignores it.
type Func func(ctx context.Context, addr string, conf *tls.Config) error

// ForCheck returns the bare client for a check mode name as the probe's
// --check flag spells it: tcp, http or grpc.
func ForCheck(check string) (Func, error) {
	switch check {
	case "tcp":
		return TCP, nil
	case "http":
		return HTTP, nil
	case "grpc":
		return GRPC, nil
	}
	return nil, fmt.Errorf("unknown check %q (want tcp, http or grpc)", check)
}

// TCP connects with net.Dialer and closes the connection.
func TCP(ctx context.Context, addr string, _ *tls.Config) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// HTTP makes a fresh http.Transport (no keep-alive, HTTP/2 as negotiated),
// sends GET /ready over TLS verified with conf, reads the answer and wants
// 200 over HTTP/2, as sensor answers.
func HTTP(ctx context.Context, addr string, conf *tls.Config) error {
	tr := &http.Transport{TLSClientConfig: conf.Clone(), ForceAttemptHTTP2: true, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/ready", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		return fmt.Errorf("GET /ready: %s %d", resp.Proto, resp.StatusCode)
	}
	return nil
}

// GRPC makes a grpc.ClientConn with TLS credentials from conf, calls
// grpc.health.v1.Health/Check and closes the connection. Unimplemented, what
// sensor answers, counts as reachable.
func GRPC(ctx context.Context, addr string, conf *tls.Config) error {
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentials.NewTLS(conf.Clone())))
	if err != nil {
		return err
	}
	defer cc.Close()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) == codes.Unimplemented {
		return nil
	}
	return err
}
