package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// grpcCheck calls grpc.health.v1.Health/Check over conn, which has already
// completed its TLS handshake. OK and Unimplemented both prove that TLS,
// HTTP/2 and gRPC work (sensor registers no health service).
func grpcCheck(ctx context.Context, conn *tls.Conn, serverName string) (string, error) {
	var once sync.Once
	dialer := func(context.Context, string) (net.Conn, error) {
		var c net.Conn
		once.Do(func() { c = conn })
		if c == nil {
			return nil, errors.New("connection already used")
		}
		return c, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+serverName,
		grpc.WithContextDialer(dialer),
		grpc.WithTransportCredentials(&handshakenCreds{}),
		grpc.WithAuthority(serverName),
		grpc.WithDisableRetry(),
	)
	if err != nil {
		return "", err
	}
	defer cc.Close()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	code := status.Code(err)
	detail := "grpc " + code.String()
	switch code {
	case codes.OK, codes.Unimplemented:
		return detail, nil
	case codes.DeadlineExceeded, codes.Canceled:
		// Keep the context's error so that Classify sees the timeout.
		if ctx.Err() != nil {
			return detail, ctx.Err()
		}
	}
	return detail, err
}

// handshakenCreds passes through a connection whose TLS handshake is done,
// so that the handshake is timed as its own phase. It reports the
// connection's TLS state to gRPC as credentials.TLSInfo.
type handshakenCreds struct{}

func (*handshakenCreds) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil, nil, errors.New("not a TLS connection")
	}
	return c, credentials.TLSInfo{
		State:          tc.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}, nil
}

func (*handshakenCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("client-only credentials")
}

func (*handshakenCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c *handshakenCreds) Clone() credentials.TransportCredentials { return c }

func (*handshakenCreds) OverrideServerName(string) error { return nil }
