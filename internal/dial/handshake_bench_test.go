package dial_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/standin"
)

const handshakeServerEnv = "SENSORPROBE_HANDSHAKE_SERVER"

// handshakeServer is what the handshake server process tells the benchmark.
type handshakeServer struct {
	Addr      string `json:"addr"`
	CAPEM     []byte `json:"ca_pem"`
	ClientPEM []byte `json:"client_pem"`
	ClientKey []byte `json:"client_key"`
}

// serveHandshakes runs a TLS server configured as sensor's (an ECDSA P-256
// certificate from the StackRox-like CA, client certificates verified when
// given, session tickets on: Go's default, which sensor keeps) in its own
// process, so that the benchmark can read the server's CPU apart from the
// client's. Each connection: handshake, one byte written (so that a TLS
// 1.3 client reads the session ticket), close. A line "cpu" on stdin is
// answered with the process's user+system CPU in nanoseconds.
func serveHandshakes() int {
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cert, err := ca.Issue(standin.LeafOptions{CommonName: "SENSOR_SERVICE", DNSNames: standin.SensorSANs("stackrox")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	client, err := ca.Issue(standin.LeafOptions{CommonName: "COLLECTOR_SERVICE", Client: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	certPEM, keyPEM, err := standin.KeyPairPEM(client)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if tc.Handshake() == nil {
					_, _ = tc.Write([]byte{1})
				}
			}()
		}
	}()
	_ = json.NewEncoder(os.Stdout).Encode(handshakeServer{Addr: ln.Addr().String(), CAPEM: ca.PEM(), ClientPEM: certPEM, ClientKey: keyPEM})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "cpu" {
			fmt.Println(int64(cpuTime()))
		}
	}
	return 0
}

// handshakeClient talks to the server process.
type handshakeClient struct {
	handshakeServer
	pool   *x509.CertPool
	cert   tls.Certificate
	stdin  io.Writer
	stdout *bufio.Reader
}

func startHandshakeServer(b *testing.B) *handshakeClient {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), handshakeServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	hc := &handshakeClient{stdin: stdin, stdout: bufio.NewReader(stdout)}
	line, err := hc.stdout.ReadBytes('\n')
	if err != nil {
		b.Fatalf("handshake server: %v", err)
	}
	if err := json.Unmarshal(line, &hc.handshakeServer); err != nil {
		b.Fatal(err)
	}
	hc.pool = x509.NewCertPool()
	hc.pool.AppendCertsFromPEM(hc.CAPEM)
	if hc.cert, err = tls.X509KeyPair(hc.ClientPEM, hc.ClientKey); err != nil {
		b.Fatal(err)
	}
	return hc
}

// serverCPU returns the server process's CPU time so far.
func (hc *handshakeClient) serverCPU(b *testing.B) time.Duration {
	b.Helper()
	if _, err := io.WriteString(hc.stdin, "cpu\n"); err != nil {
		b.Fatal(err)
	}
	line, err := hc.stdout.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(ns)
}

// BenchmarkHandshake measures the CPU of one TLS handshake on each side —
// client (this process) and server (a process of its own, configured as
// sensor) — per key-exchange group, with and without session resumption.
// The client presents a client certificate and offers h2, as the VM relay
// (stackrox pkg/clientconn) does; the relay sets no CurvePreferences and no
// ClientSessionCache, so it uses Go's default groups (X25519MLKEM768 first)
// and never resumes. Run: go test -run '^$' -bench Handshake ./internal/dial/
func BenchmarkHandshake(b *testing.B) {
	hc := startHandshakeServer(b)
	groups := []struct {
		name   string
		curves []tls.CurveID
	}{
		{"default", nil}, // Go 1.26: X25519MLKEM768 key share first
		{"X25519MLKEM768", []tls.CurveID{tls.X25519MLKEM768}},
		{"X25519", []tls.CurveID{tls.X25519}},
		{"P-256", []tls.CurveID{tls.CurveP256}},
	}
	for _, g := range groups {
		for _, resume := range []bool{false, true} {
			b.Run(fmt.Sprintf("group=%s/resume=%v", g.name, resume), func(b *testing.B) {
				conf := &tls.Config{
					RootCAs: hc.pool, ServerName: dial.DefaultServerName, NextProtos: []string{"h2", "http/1.1"},
					Certificates: []tls.Certificate{hc.cert}, CurvePreferences: g.curves,
				}
				if resume {
					conf.ClientSessionCache = tls.NewLRUClientSessionCache(1)
				}
				var resumed int
				once := func() error {
					d := net.Dialer{Timeout: 5 * time.Second}
					c, err := tls.DialWithDialer(&d, "tcp", hc.Addr, conf)
					if err != nil {
						return err
					}
					defer c.Close()
					var one [1]byte
					if _, err := io.ReadFull(c, one[:]); err != nil { // takes in the session ticket
						return err
					}
					if c.ConnectionState().DidResume {
						resumed++
					}
					return nil
				}
				if err := once(); err != nil { // warm up; with resumption, get a ticket
					b.Fatal(err)
				}
				resumed = 0
				client, server := cpuTime(), hc.serverCPU(b)
				b.ResetTimer()
				for b.Loop() {
					if err := once(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				clientCPU, serverCPU := cpuTime()-client, hc.serverCPU(b)-server
				b.ReportMetric(float64(clientCPU.Microseconds())/float64(b.N), "client-cpu-µs/op")
				b.ReportMetric(float64(serverCPU.Microseconds())/float64(b.N), "server-cpu-µs/op")
				b.ReportMetric(float64(resumed)/float64(b.N), "resumed/op")
				if resume && resumed < b.N*9/10 {
					b.Errorf("%d of %d handshakes resumed, want nearly all", resumed, b.N)
				}
				if !resume && resumed != 0 {
					b.Errorf("%d handshakes resumed without a session cache", resumed)
				}
			})
		}
	}
}
