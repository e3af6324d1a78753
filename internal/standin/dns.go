package standin

import (
	"context"
	"net"
	"strings"
	"sync"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is a minimal UDP DNS server on loopback that answers A queries from a
// fixed table and NXDOMAIN for everything else. It lets the resolve phase run
// for real without a cluster DNS. Close stops it.
type DNS struct {
	pc      net.PacketConn
	mu      sync.RWMutex
	records map[string]net.IP
	done    chan struct{}
}

// NewDNS starts a server on a free loopback port answering name → IPv4 from records.
func NewDNS(records map[string]string) (*DNS, error) {
	return ListenDNS("127.0.0.1:0", records)
}

// ListenDNS is NewDNS on a given UDP address, such as a resolver address
// of a test network namespace (port 53 needs root).
func ListenDNS(addr string, records map[string]string) (*DNS, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	d := &DNS{pc: pc, records: map[string]net.IP{}, done: make(chan struct{})}
	for name, ip := range records {
		d.Set(name, ip)
	}
	go d.serve()
	return d, nil
}

// Set adds or replaces a record; an empty ip removes it.
func (d *DNS) Set(name, ip string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := strings.ToLower(strings.TrimSuffix(name, ".")) + "."
	if ip == "" {
		delete(d.records, key)
		return
	}
	d.records[key] = net.ParseIP(ip).To4()
}

// Addr returns the server's UDP address.
func (d *DNS) Addr() string { return d.pc.LocalAddr().String() }

// Resolver returns a resolver that sends every query to this server.
func (d *DNS) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "udp", d.Addr())
		},
	}
}

// Close stops the server.
func (d *DNS) Close() error {
	err := d.pc.Close()
	<-d.done
	return err
}

func (d *DNS) serve() {
	defer close(d.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp, ok := d.answer(buf[:n]); ok {
			_, _ = d.pc.WriteTo(resp, from)
		}
	}
}

func (d *DNS) answer(req []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	d.mu.RLock()
	ip, found := d.records[strings.ToLower(q.Name.String())]
	d.mu.RUnlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !found {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, false
	}
	if err := b.Question(q); err != nil {
		return nil, false
	}
	if err := b.StartAnswers(); err != nil {
		return nil, false
	}
	if found && q.Type == dnsmessage.TypeA {
		var a dnsmessage.AResource
		copy(a.A[:], ip)
		if err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}, a); err != nil {
			return nil, false
		}
	}
	out, err := b.Finish()
	return out, err == nil
}
