package dial

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// DefaultServerName is the name sensor's serving certificate is issued for
// and the SNI that the collector sends.
const DefaultServerName = "sensor.stackrox.svc"

// DefaultReadyPath is sensor's anonymous readiness endpoint, served on both
// the api (8443) and webhook (9443) ports.
const DefaultReadyPath = "/ready"

// maxBody bounds how much of a check response is read.
const maxBody = 64 << 10

// Config configures a Prober. The zero value of every field but Timeout has a
// sensible default.
type Config struct {
	// ServerName is the TLS server name (SNI and verification) used when a
	// Target does not set its own. Default DefaultServerName.
	ServerName string
	// RootCAs verifies the server certificate. When nil the handshake still
	// completes, certificate facts are still recorded, and Result.TLS.Verified is false.
	RootCAs *x509.CertPool
	// Certificates are offered as the client certificate, if any. Sensor
	// accepts a client without a certificate (VerifyClientCertIfGiven) but
	// rejects one that does not chain to the StackRox CA.
	Certificates []tls.Certificate
	// Material, when set, supplies the CA pool and the client certificate
	// at every attempt instead of RootCAs and Certificates, so that files
	// rotated on disk take effect without a restart (internal/trust).
	Material Material
	// Check selects what happens after connecting. Default CheckHTTP.
	Check CheckMode
	// Timeout bounds a whole attempt; each phase's deadline is the attempt's.
	Timeout time.Duration
	// ReadyPath is the HTTP path of the http check. Default DefaultReadyPath.
	ReadyPath string
	// Resolver resolves DNS names. Default net.DefaultResolver.
	Resolver *net.Resolver
	// Now returns the current time; default time.Now. Certificates are verified at Now().
	Now func() time.Time
	// LocalAddr, when set, is the source address of every connection
	// (net.Dialer.LocalAddr). probe simulate gives each simulated node its
	// own loopback address so that thousands of nodes do not share one
	// address's ephemeral ports. Default: chosen by the kernel.
	LocalAddr *net.TCPAddr
}

// Material supplies TLS material that may change between attempts.
// *trust.Store is one.
type Material interface {
	// Roots returns the CA pool, nil to complete handshakes unverified.
	Roots() *x509.CertPool
	// ClientCertificate returns the certificate to present, nil for none.
	ClientCertificate() *tls.Certificate
}

// Prober makes attempts. It is safe for concurrent use and holds no
// connections between attempts.
type Prober struct {
	cfg       Config
	transport *http.Transport
}

// New validates cfg, fills in defaults and returns a Prober.
func New(cfg Config) (*Prober, error) {
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("timeout must be positive, got %v", cfg.Timeout)
	}
	if cfg.ServerName == "" {
		cfg.ServerName = DefaultServerName
	}
	switch cfg.Check {
	case "":
		cfg.Check = CheckHTTP
	case CheckHTTP, CheckGRPC, CheckTCP:
	default:
		return nil, fmt.Errorf("unknown check mode %q (want http, grpc or tcp)", cfg.Check)
	}
	if cfg.ReadyPath == "" {
		cfg.ReadyPath = DefaultReadyPath
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The transport never dials: DialTLSContext hands back the connection
	// this attempt already made, so that connect and TLS are timed apart
	// and the check runs over the very same connection.
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, ok := ctx.Value(connKey{}).(net.Conn)
			if !ok {
				return nil, errors.New("no connection for this attempt")
			}
			return c, nil
		},
		DisableKeepAlives: true,
		// An HTTP/2 connection used for one request is kept referenced by
		// net/http for 5 s after it closes (h2_bundle.go, "unusedWaitTime"),
		// capped by the idle timeout: at 200 attempts a second that was 1,000
		// connections, 20 MiB of buffers nobody uses. No attempt lasts
		// longer than Timeout, so an idle timeout of Timeout never closes
		// a connection in use and bounds that to Timeout.
		IdleConnTimeout: cfg.Timeout,
		Protocols:       new(http.Protocols),
	}
	tr.Protocols.SetHTTP1(true)
	tr.Protocols.SetHTTP2(true)
	return &Prober{cfg: cfg, transport: tr}, nil
}

// Config returns the prober's effective configuration, defaults filled in.
func (p *Prober) Config() Config { return p.cfg }

type connKey struct{}

// attempt carries the bookkeeping of one Probe call.
type attempt struct {
	res   *Result
	now   func() time.Time
	phase Phase
	begin time.Time
}

func (a *attempt) start(ph Phase) {
	a.phase = ph
	a.begin = a.now()
}

// end records the running phase's duration and, when err is not nil, the failure.
func (a *attempt) end(err error) error {
	a.res.Phases = append(a.res.Phases, PhaseTiming{Phase: a.phase, Duration: a.now().Sub(a.begin)})
	if err == nil {
		return nil
	}
	err = &PhaseError{Phase: a.phase, Err: err}
	a.res.Err = err
	a.res.FailedPhase = a.phase
	a.res.Reason = Classify(err)
	return err
}

// Probe makes one attempt on t: resolve (if t's host is a name), connect,
// and, unless the check mode is tcp, a TLS handshake and the check. It never
// blocks past the configured timeout (or ctx, whichever ends first) and
// leaves no connection or goroutine behind.
func (p *Prober) Probe(ctx context.Context, t Target) Result {
	return p.ProbeTier(ctx, t, TierFull)
}

// Connect makes one connect-tier attempt on t: resolve (if t's host is a
// name) and connect, then close at once. It costs sensor an accept and
// nothing else: no handshake, no request, and no log line (sensor does not
// log a connection closed before its first byte).
func (p *Prober) Connect(ctx context.Context, t Target) Result {
	return p.ProbeTier(ctx, t, TierConnect)
}

// ProbeTier makes one attempt on t of the given tier: Probe for TierFull,
// Connect for TierConnect.
func (p *Prober) ProbeTier(ctx context.Context, t Target, tier Tier) Result {
	start := p.cfg.Now()
	check := p.cfg.Check
	if tier == TierConnect {
		check = CheckTCP
	} else {
		tier = TierFull
	}
	res := Result{Target: t, Check: check, Tier: tier, Start: start, Reason: ReasonOK, Phases: make([]PhaseTiming, 0, 4)}
	ctx, cancel := context.WithDeadline(ctx, start.Add(p.cfg.Timeout))
	defer cancel()
	a := attempt{res: &res, now: p.cfg.Now}
	p.run(ctx, &a, t, check)
	res.Duration = p.cfg.Now().Sub(start)
	return res
}

// run makes the attempt's phases in order, each recorded in a: resolve
// (names only), connect, then TLS and the check unless check is tcp.
func (p *Prober) run(ctx context.Context, a *attempt, t Target, check CheckMode) {
	host, port, err := net.SplitHostPort(t.Addr)
	if err != nil {
		a.start(PhaseConnect)
		_ = a.end(fmt.Errorf("bad address %q: %w", t.Addr, err))
		return
	}
	ip, ok := p.resolve(ctx, a, host)
	if !ok {
		return
	}
	a.start(PhaseConnect)
	d := net.Dialer{}
	if p.cfg.LocalAddr != nil {
		d.LocalAddr = p.cfg.LocalAddr
	}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
	if a.end(err) != nil {
		return
	}
	defer conn.Close()
	a.res.RemoteAddr = conn.RemoteAddr().String()
	if check != CheckTCP {
		p.secure(ctx, a, conn, t)
	}
}

// resolve returns host's first address, and host itself when it is one
// (no resolve phase then); ok is false when the resolve phase failed.
func (p *Prober) resolve(ctx context.Context, a *attempt, host string) (ip string, ok bool) {
	if _, err := netip.ParseAddr(host); err == nil {
		return host, true
	}
	a.start(PhaseResolve)
	addrs, err := p.cfg.Resolver.LookupHost(ctx, host)
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if a.end(err) != nil {
		return "", false
	}
	return addrs[0], true
}

// secure makes the TLS and check phases over conn.
func (p *Prober) secure(ctx context.Context, a *attempt, conn net.Conn, t Target) {
	res := a.res
	a.start(PhaseTLS)
	res.ServerName = p.cfg.ServerName
	if t.ServerName != "" {
		res.ServerName = t.ServerName
	}
	facts := &TLSFacts{}
	tconn := tls.Client(conn, p.tlsConfig(res.ServerName, facts))
	err := tconn.HandshakeContext(ctx)
	if !facts.NotAfter.IsZero() {
		res.TLS = facts
	}
	if a.end(err) != nil {
		return
	}
	cs := tconn.ConnectionState()
	facts.Version = tls.VersionName(cs.Version)
	facts.ALPN = cs.NegotiatedProtocol

	a.start(PhaseCheck)
	var detail string
	switch p.cfg.Check {
	case CheckGRPC:
		detail, err = grpcCheck(ctx, tconn, res.ServerName)
	default:
		detail, err = p.httpCheck(ctx, tconn, res.ServerName)
	}
	res.Detail = detail
	err = withPendingAlert(tconn, err)
	if err != nil && p.clientCert() != nil && cs.Version == tls.VersionTLS13 &&
		!isTLSAlert(err) && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF)) {
		err = &ClientCertRejectedError{Err: err}
	}
	_ = a.end(err)
}

// withPendingAlert adds to a failed check the TLS alert the server sent, if
// any. With TLS 1.3 the client finishes its handshake before the server has
// checked the client certificate, so a rejected certificate surfaces as an
// alert on the first read — inside the check, whose own error may not wrap it.
// The connection keeps its first read error, so reading again returns it.
func withPendingAlert(conn *tls.Conn, err error) error {
	if err == nil || isTLSAlert(err) {
		return err
	}
	_ = conn.SetReadDeadline(time.Unix(1, 0))
	var b [1]byte
	if _, rerr := conn.Read(b[:]); isTLSAlert(rerr) {
		return fmt.Errorf("%w (%w)", err, rerr)
	}
	return err
}

// tlsConfig returns a client configuration for one attempt. Verification is
// done by hand in VerifyConnection so that the certificate facts are recorded
// whether or not it succeeds, and so that no CA still yields a completed
// handshake.
func (p *Prober) tlsConfig(serverName string, facts *TLSFacts) *tls.Config {
	protos := []string{"h2", "http/1.1"}
	if p.cfg.Check == CheckGRPC {
		protos = []string{"h2"}
	}
	return &tls.Config{
		ServerName: serverName,
		NextProtos: protos,
		// Always present the configured certificate, as collector does, even
		// when the server's list of acceptable CAs does not name its issuer:
		// that is how a wrong client certificate shows up as a failure.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := p.clientCert(); c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil
		},
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below, in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return p.verifyPeer(cs.PeerCertificates, serverName, facts)
		},
	}
}

// verifyPeer records in facts what the server's certificate chain says —
// the leaf's expiry, DNS names and issuer — and, when a CA is configured,
// verifies the chain for serverName. certs is the chain as the server sent
// it, leaf first: outside input, whatever it holds.
func (p *Prober) verifyPeer(certs []*x509.Certificate, serverName string, facts *TLSFacts) error {
	if len(certs) == 0 {
		return errors.New("server sent no certificate")
	}
	leaf := certs[0]
	facts.NotAfter = leaf.NotAfter
	facts.DNSNames = leaf.DNSNames
	facts.Issuer = leaf.Issuer.CommonName
	roots := p.roots()
	if roots == nil {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       serverName,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   p.cfg.Now(),
	})
	if err != nil {
		facts.VerifyError = err.Error()
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	facts.Verified = true
	return nil
}

// httpCheck sends GET ReadyPath over conn (HTTP/2 when negotiated) and wants 200.
func (p *Prober) httpCheck(ctx context.Context, conn *tls.Conn, serverName string) (string, error) {
	ctx = context.WithValue(ctx, connKey{}, net.Conn(conn))
	cc, err := p.transport.NewClientConn(ctx, "https", net.JoinHostPort(serverName, "443"))
	if err != nil {
		return "", err
	}
	defer cc.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+serverName+p.cfg.ReadyPath, nil)
	if err != nil {
		return "", err
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody)); err != nil {
		return "", err
	}
	detail := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		return detail, &CheckError{Detail: detail}
	}
	return detail, nil
}

// roots returns the CA pool of this attempt.
func (p *Prober) roots() *x509.CertPool {
	if p.cfg.Material != nil {
		return p.cfg.Material.Roots()
	}
	return p.cfg.RootCAs
}

// clientCert returns the client certificate of this attempt, nil for none.
func (p *Prober) clientCert() *tls.Certificate {
	if p.cfg.Material != nil {
		return p.cfg.Material.ClientCertificate()
	}
	if len(p.cfg.Certificates) == 0 {
		return nil
	}
	return &p.cfg.Certificates[0]
}
