package dial_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// pki is the test PKI shared by the tests of this file.
type pki struct {
	ca, otherCA              *standin.CA
	good, wrongName, expired tls.Certificate
	client, foreignClient    tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	other, err := standin.NewCA("Some Other CA")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *standin.CA, o standin.LeafOptions) tls.Certificate {
		c, err := ca.Issue(o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sans := standin.SensorSANs("stackrox")
	return &pki{
		ca: ca, otherCA: other,
		good:          issue(ca, standin.LeafOptions{CommonName: "SENSOR_SERVICE", DNSNames: sans}),
		wrongName:     issue(ca, standin.LeafOptions{CommonName: "other", DNSNames: []string{"central.stackrox.svc"}}),
		expired:       issue(ca, standin.LeafOptions{DNSNames: sans, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}),
		client:        issue(ca, standin.LeafOptions{CommonName: "COLLECTOR_SERVICE", Client: true}),
		foreignClient: issue(other, standin.LeafOptions{CommonName: "intruder", Client: true}),
	}
}

func sensor(t *testing.T, cfg standin.SensorConfig) *standin.Sensor {
	t.Helper()
	s, err := standin.NewSensor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// outcome is the part of a Result the table compares.
type outcome struct {
	Reason   dial.Reason
	Failed   dial.Phase
	Phases   []dial.Phase
	Detail   string
	Verified bool
}

func summarize(r dial.Result) outcome {
	o := outcome{Reason: r.Reason, Failed: r.FailedPhase, Detail: r.Detail}
	for _, p := range r.Phases {
		o.Phases = append(o.Phases, p.Phase)
	}
	if r.TLS != nil {
		o.Verified = r.TLS.Verified
	}
	return o
}

var (
	connectOnly = []dial.Phase{dial.PhaseConnect}
	toTLS       = []dial.Phase{dial.PhaseConnect, dial.PhaseTLS}
	allButDNS   = []dial.Phase{dial.PhaseConnect, dial.PhaseTLS, dial.PhaseCheck}
	all         = []dial.Phase{dial.PhaseResolve, dial.PhaseConnect, dial.PhaseTLS, dial.PhaseCheck}
)

// TestMain fails the package if any attempt leaves a goroutine behind. With
// SENSORPROBE_BENCH_SERVER set, the test binary instead serves as the
// benchmarks' out-of-process sensor stand-in (see bench_test.go).
func TestMain(m *testing.M) {
	if os.Getenv(handshakeServerEnv) != "" {
		os.Exit(serveHandshakes())
	}
	if os.Getenv(benchServerEnv) != "" {
		os.Exit(serveBench())
	}
	goleak.VerifyTestMain(m)
}

func TestProbeReasons(t *testing.T) {
	k := newPKI(t)

	good := sensor(t, standin.SensorConfig{Cert: k.good, ClientCAs: k.ca.Pool()})
	unready := sensor(t, standin.SensorConfig{Cert: k.good})
	unready.SetReadyStatus(http.StatusServiceUnavailable)
	healthy := sensor(t, standin.SensorConfig{Cert: k.good, RegisterHealth: true})
	wrongName := sensor(t, standin.SensorConfig{Cert: k.wrongName})
	expired := sensor(t, standin.SensorConfig{Cert: k.expired})

	bh, err := standin.NewBlackhole("")
	if err != nil {
		t.Fatal(err)
	}
	defer bh.Close()
	stall, err := standin.NewStaller()
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	reset, err := standin.NewResetter()
	if err != nil {
		t.Fatal(err)
	}
	defer reset.Close()
	refused, err := standin.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	dns, err := standin.NewDNS(map[string]string{"sensor.stackrox.svc": "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	plain := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	silent := silentTLS(t, k.good)
	_, goodPort, _ := net.SplitHostPort(good.Addr())

	tests := []struct {
		name   string
		addr   string
		check  dial.CheckMode
		noCA   bool
		rootCA *x509.CertPool
		client []tls.Certificate
		want   outcome
	}{
		{name: "http ok", addr: good.Addr(), want: outcome{Reason: dial.ReasonOK, Phases: allButDNS, Detail: "HTTP 200", Verified: true}},
		{name: "http ok without CA is not verified", addr: good.Addr(), noCA: true, want: outcome{Reason: dial.ReasonOK, Phases: allButDNS, Detail: "HTTP 200"}},
		{name: "http ok with collector's client cert", addr: good.Addr(), client: []tls.Certificate{k.client}, want: outcome{Reason: dial.ReasonOK, Phases: allButDNS, Detail: "HTTP 200", Verified: true}},
		{name: "dns name resolves", addr: "sensor.stackrox.svc:" + goodPort, want: outcome{Reason: dial.ReasonOK, Phases: all, Detail: "HTTP 200", Verified: true}},
		{name: "grpc unimplemented counts as reachable", addr: good.Addr(), check: dial.CheckGRPC, want: outcome{Reason: dial.ReasonOK, Phases: allButDNS, Detail: "grpc Unimplemented", Verified: true}},
		{name: "grpc serving", addr: healthy.Addr(), check: dial.CheckGRPC, want: outcome{Reason: dial.ReasonOK, Phases: allButDNS, Detail: "grpc OK", Verified: true}},
		{name: "tcp ok", addr: good.Addr(), check: dial.CheckTCP, want: outcome{Reason: dial.ReasonOK, Phases: connectOnly}},
		{name: "dns error", addr: "nope.stackrox.svc:443", want: outcome{Reason: dial.ReasonDNSError, Failed: dial.PhaseResolve, Phases: []dial.Phase{dial.PhaseResolve}}},
		{name: "full accept queue is a connect timeout", addr: bh.Addr(), want: outcome{Reason: dial.ReasonConnectTimeout, Failed: dial.PhaseConnect, Phases: connectOnly}},
		{name: "refused", addr: refused, want: outcome{Reason: dial.ReasonRefused, Failed: dial.PhaseConnect, Phases: connectOnly}},
		{name: "reset during handshake", addr: reset.Addr(), want: outcome{Reason: dial.ReasonReset, Failed: dial.PhaseTLS, Phases: toTLS}},
		{name: "stalled handshake is a tls timeout", addr: stall.Addr(), want: outcome{Reason: dial.ReasonTLSTimeout, Failed: dial.PhaseTLS, Phases: toTLS}},
		{name: "plain http is a tls error", addr: plain, want: outcome{Reason: dial.ReasonTLSError, Failed: dial.PhaseTLS, Phases: toTLS}},
		{name: "foreign client cert is rejected", addr: good.Addr(), client: []tls.Certificate{k.foreignClient}, want: outcome{Reason: dial.ReasonTLSError, Failed: dial.PhaseCheck, Phases: allButDNS, Verified: true}},
		{name: "unknown authority", addr: good.Addr(), rootCA: k.otherCA.Pool(), want: outcome{Reason: dial.ReasonCertUnknownAuthority, Failed: dial.PhaseTLS, Phases: toTLS}},
		{name: "wrong SAN", addr: wrongName.Addr(), want: outcome{Reason: dial.ReasonCertNameMismatch, Failed: dial.PhaseTLS, Phases: toTLS}},
		{name: "expired", addr: expired.Addr(), want: outcome{Reason: dial.ReasonCertExpired, Failed: dial.PhaseTLS, Phases: toTLS}},
		{name: "ready 503", addr: unready.Addr(), want: outcome{Reason: dial.ReasonCheckFailed, Failed: dial.PhaseCheck, Phases: allButDNS, Detail: "HTTP 503", Verified: true}},
		{name: "silent server is a check timeout", addr: silent, want: outcome{Reason: dial.ReasonCheckTimeout, Failed: dial.PhaseCheck, Phases: allButDNS, Verified: true}},
		{name: "silent grpc is a check timeout", addr: silent, check: dial.CheckGRPC, want: outcome{Reason: dial.ReasonCheckTimeout, Failed: dial.PhaseCheck, Phases: allButDNS, Detail: "grpc DeadlineExceeded", Verified: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Cases that time out wait 500 ms; the others get 5 s, so that a
			// loaded machine cannot turn a good handshake into a timeout.
			timeout := 5 * time.Second
			if tc.want.Reason.IsTimeout() {
				timeout = 500 * time.Millisecond
			}
			cfg := dial.Config{Timeout: timeout, Check: tc.check, Resolver: dns.Resolver(), RootCAs: k.ca.Pool(), Certificates: tc.client}
			if tc.rootCA != nil {
				cfg.RootCAs = tc.rootCA
			}
			if tc.noCA {
				cfg.RootCAs = nil
			}
			p, err := dial.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res := p.Probe(context.Background(), dial.Target{Name: "test", Addr: tc.addr})
			if diff := cmp.Diff(tc.want, summarize(res)); diff != "" {
				t.Errorf("Probe(%s) mismatch (-want +got):\n%s\nerr: %v", tc.addr, diff, res.Err)
			}
			if got := dial.Classify(res.Err); got != res.Reason {
				t.Errorf("Classify(%v) = %s, Result.Reason = %s", res.Err, got, res.Reason)
			}
			if res.Duration > cfg.Timeout+250*time.Millisecond {
				t.Errorf("attempt ran %v past its %v timeout", res.Duration, cfg.Timeout)
			}
		})
	}
}

// TestProbeConnectTimeoutText checks that the field symptom's text survives
// classification, so that the on-call's grep for "i/o timeout" still finds it.
func TestProbeConnectTimeoutText(t *testing.T) {
	bh, err := standin.NewBlackhole("")
	if err != nil {
		t.Fatal(err)
	}
	defer bh.Close()
	p, err := dial.New(dial.Config{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res := p.Probe(context.Background(), dial.Target{Name: dial.PathClusterIP, Addr: bh.Addr()})
	want := "connect: dial tcp " + bh.Addr() + ": i/o timeout"
	if res.Err == nil || res.Err.Error() != want {
		t.Errorf("error text = %v, want %q", res.Err, want)
	}
}

// TestProbeCertFacts checks that certificate facts are recorded, also when
// verification fails.
func TestProbeCertFacts(t *testing.T) {
	k := newPKI(t)
	s := sensor(t, standin.SensorConfig{Cert: k.good})
	for _, tc := range []struct {
		name     string
		ca       *x509.CertPool
		verified bool
	}{
		{name: "verified", ca: k.ca.Pool(), verified: true},
		{name: "unknown authority", ca: k.otherCA.Pool()},
		{name: "no CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := dial.New(dial.Config{Timeout: time.Second, RootCAs: tc.ca})
			if err != nil {
				t.Fatal(err)
			}
			res := p.Probe(context.Background(), dial.Target{Name: "p", Addr: s.Addr()})
			if res.TLS == nil {
				t.Fatalf("no TLS facts; err %v", res.Err)
			}
			if !res.TLS.NotAfter.Equal(k.good.Leaf.NotAfter) {
				t.Errorf("NotAfter = %v, want %v", res.TLS.NotAfter, k.good.Leaf.NotAfter)
			}
			if diff := cmp.Diff(standin.SensorSANs("stackrox"), res.TLS.DNSNames); diff != "" {
				t.Errorf("DNS names (-want +got):\n%s", diff)
			}
			if res.TLS.Verified != tc.verified {
				t.Errorf("Verified = %v, want %v", res.TLS.Verified, tc.verified)
			}
			if res.TLS.Issuer != standin.CAName {
				t.Errorf("Issuer = %q", res.TLS.Issuer)
			}
		})
	}
}

// TestProbeServerNameOverride checks that a target's own server name wins
// over the prober's default, as for the webhook path.
func TestProbeServerNameOverride(t *testing.T) {
	k := newPKI(t)
	s := sensor(t, standin.SensorConfig{Cert: k.good})
	p, err := dial.New(dial.Config{Timeout: time.Second, RootCAs: k.ca.Pool(), ServerName: "wrong.example"})
	if err != nil {
		t.Fatal(err)
	}
	res := p.Probe(context.Background(), dial.Target{Name: "webhook", Addr: s.Addr(), ServerName: "sensor-webhook.stackrox.svc"})
	if !res.OK() || res.ServerName != "sensor-webhook.stackrox.svc" {
		t.Errorf("got %s with server name %q: %v", res.Reason, res.ServerName, res.Err)
	}
	res = p.Probe(context.Background(), dial.Target{Name: "clusterip", Addr: s.Addr()})
	if res.Reason != dial.ReasonCertNameMismatch {
		t.Errorf("default server name: got %s, want cert_name_mismatch", res.Reason)
	}
}

// TestProbeUnreachable dials loopback from a fresh network namespace whose
// loopback is down, which gives ENETUNREACH without sending a packet anywhere.
func TestProbeUnreachable(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root: this test needs CAP_SYS_ADMIN for unshare(CLONE_NEWNET)")
		}
		t.Skip("needs root for unshare(CLONE_NEWNET); run as root (CI does)")
	}
	p, err := dial.New(dial.Config{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan dial.Result, 1)
	errc := make(chan error, 1)
	go func() {
		// This thread moves to a new network namespace and is never
		// unlocked, so the runtime discards it when the goroutine ends.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		done <- p.Probe(context.Background(), dial.Target{Name: "p", Addr: "127.0.0.1:8443"})
	}()
	select {
	case err := <-errc:
		t.Fatalf("unshare: %v", err)
	case res := <-done:
		if res.Reason != dial.ReasonUnreachable {
			t.Errorf("reason = %s, want unreachable (err %v)", res.Reason, res.Err)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  dial.Config
		want string
	}{
		{name: "zero timeout", cfg: dial.Config{}, want: "timeout must be positive"},
		{name: "bad check", cfg: dial.Config{Timeout: time.Second, Check: "icmp"}, want: `unknown check mode "icmp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// httpServer starts a plain-text HTTP server and returns its address.
func httpServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// silentTLS completes TLS handshakes and then never answers.
func silentTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				io.Copy(io.Discard, c) // read until the client gives up
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// A connect-tier attempt connects and closes: no handshake, no request.
func TestConnectTier(t *testing.T) {
	k := newPKI(t)
	s := sensor(t, standin.SensorConfig{Cert: k.good})
	p, err := dial.New(dial.Config{Timeout: 2 * time.Second, RootCAs: k.ca.Pool(), LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7)}})
	if err != nil {
		t.Fatal(err)
	}
	target := dial.Target{Name: dial.PathClusterIP, Addr: s.Addr()}
	c := p.Connect(t.Context(), target)
	if diff := cmp.Diff(outcome{Reason: dial.ReasonOK, Phases: []dial.Phase{dial.PhaseConnect}}, summarize(c)); diff != "" {
		t.Errorf("connect tier (-want +got):\n%s", diff)
	}
	if c.Tier != dial.TierConnect || c.Check != dial.CheckTCP || c.Full() || c.TLS != nil {
		t.Errorf("connect tier result: tier %q, check %q, TLS %v; want connect, tcp, no TLS facts", c.Tier, c.Check, c.TLS)
	}
	full := p.Probe(t.Context(), target)
	if full.Tier != dial.TierFull || !full.Full() || full.Reason != dial.ReasonOK {
		t.Errorf("full attempt: tier %q, reason %s", full.Tier, full.Reason)
	}
	if n := s.Requests(); n != 1 {
		t.Errorf("stand-in served %d requests, want 1 (the full attempt's only)", n)
	}
	if got := s.Stats(); got.Accepts != 2 || got.Handshakes != 1 {
		t.Errorf("stand-in saw %+v, want 2 accepts and 1 handshake", got)
	}
}
