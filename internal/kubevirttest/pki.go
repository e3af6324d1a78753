//go:build linux

package kubevirttest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// labPKI holds the lab's own CAs: KubeVirt's (virt-api's serving
// certificate, which the APIService's caBundle trusts, and the mutual TLS
// between virt-api and virt-handler) and a kubelet signer (the API server
// does not verify kubelets here, as without --kubelet-certificate-authority).
type labPKI struct {
	kubevirt *standin.CA
	kubelet  *standin.CA
	// virtAPIServing is valid for virt-api.<ns>.svc, the name the
	// aggregator checks; virtAPIClient is what virt-api shows virt-handler.
	virtAPIServing, virtAPIClient tls.Certificate
}

func newLabPKI(kubevirtNS string) (*labPKI, error) {
	kv, err := standin.NewCA(fmt.Sprintf("kubevirt.io@%d", time.Now().Unix()))
	if err != nil {
		return nil, err
	}
	kl, err := standin.NewCA("kubelet-signer")
	if err != nil {
		return nil, err
	}
	p := &labPKI{kubevirt: kv, kubelet: kl}
	svc := "virt-api." + kubevirtNS + ".svc"
	if p.virtAPIServing, err = kv.Issue(standin.LeafOptions{CommonName: svc, DNSNames: []string{svc, svc + ".cluster.local"}}); err != nil {
		return nil, err
	}
	if p.virtAPIClient, err = kv.Issue(standin.LeafOptions{CommonName: "kubevirt.io:system:client:virt-handler", Client: true}); err != nil {
		return nil, err
	}
	return p, nil
}

// virtHandlerServer is a virt-handler's serving configuration: its pod IP
// in the certificate, and only virt-api's client certificate admitted.
func (p *labPKI) virtHandlerServer(ip string) (*tls.Config, error) {
	c, err := p.kubevirt.Issue(standin.LeafOptions{CommonName: "kubevirt.io:system:node:virt-handler", IPAddresses: []net.IP{net.ParseIP(ip)}})
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{c}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: p.kubevirt.Pool(), MinVersion: tls.VersionTLS12}, nil
}

// virtHandlerClient is how virt-api dials virt-handlers.
func (p *labPKI) virtHandlerClient() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.virtAPIClient}, RootCAs: p.kubevirt.Pool(), MinVersion: tls.VersionTLS12}
}

// kubeletServer is a kubelet's serving configuration: a certificate for
// its node IP and client certificates checked against the cluster CA
// (clientCA), as a kubelet's --client-ca-file does.
func (p *labPKI) kubeletServer(ip string, clientCA []byte) (*tls.Config, error) {
	c, err := p.kubelet.Issue(standin.LeafOptions{CommonName: ip, IPAddresses: []net.IP{net.ParseIP(ip)}})
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(clientCA) {
		return nil, fmt.Errorf("no CA certificate in the cluster CA data")
	}
	return &tls.Config{Certificates: []tls.Certificate{c}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		MinVersion: tls.VersionTLS12}, nil
}
