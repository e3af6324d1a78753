//go:build linux

package kubetest

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// Names in the certificates of Options.Aggregation, as kubeadm spells them.
const (
	// FrontProxyClientName is the common name of the API server's
	// front-proxy client certificate and the one --requestheader-allowed-names
	// admits. An aggregated API server finds both, with the front-proxy CA
	// and the header names, in ConfigMap kube-system/extension-apiserver-authentication.
	FrontProxyClientName = "front-proxy-client"
	// KubeletClientName is the common name of the certificate the API server
	// presents to kubelets; it is issued by the CA of Env.Admin.CAData.
	KubeletClientName = "kube-apiserver-kubelet-client"
)

// writeAggregationCerts writes a front-proxy CA (its own, as kubeadm makes
// it) with the API server's front-proxy client pair, and a kubelet client
// pair from the cluster CA (ca.crt), which a kubelet checks client
// certificates against.
func (e *Env) writeAggregationCerts() error {
	fp, err := standin.NewCA("front-proxy-ca")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.dir, "front-proxy-ca.crt"), fp.PEM(), 0o600); err != nil {
		return fmt.Errorf("write front-proxy-ca.crt: %w", err)
	}
	if err := writeLeaf(e.dir, "front-proxy-client", fp, standin.LeafOptions{CommonName: FrontProxyClientName, Client: true}); err != nil {
		return err
	}
	ca, err := e.clusterCA()
	if err != nil {
		return err
	}
	return writeLeaf(e.dir, "kubelet-client", ca,
		standin.LeafOptions{CommonName: KubeletClientName, Organization: []string{"kubeadm:cluster-admins"}, Client: true})
}

// aggregationArgs are kube-apiserver's flags for Options.Aggregation.
func (e *Env) aggregationArgs() []string {
	d := e.dir
	return []string{
		"--requestheader-client-ca-file=" + filepath.Join(d, "front-proxy-ca.crt"),
		"--requestheader-allowed-names=" + FrontProxyClientName,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + filepath.Join(d, "front-proxy-client.crt"),
		"--proxy-client-key-file=" + filepath.Join(d, "front-proxy-client.key"),
		// Reach an APIService at its Service's EndpointSlice address (there
		// is no kube-proxy to route the ClusterIP).
		"--enable-aggregator-routing=true",
		// Without --kubelet-certificate-authority the API server does not
		// verify the kubelet's serving certificate.
		"--kubelet-client-certificate=" + filepath.Join(d, "kubelet-client.crt"),
		"--kubelet-client-key=" + filepath.Join(d, "kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP,Hostname",
	}
}

func (e *Env) clusterCA() (*standin.CA, error) {
	if e.ca == nil {
		return nil, fmt.Errorf("cluster CA not created")
	}
	return e.ca, nil
}

// writeLeaf issues o from ca and writes it as dir/name.crt and dir/name.key.
func writeLeaf(dir, name string, ca *standin.CA, o standin.LeafOptions) error {
	cert, err := ca.Issue(o)
	if err != nil {
		return fmt.Errorf("%s certificate: %w", name, err)
	}
	certPEM, keyPEM, err := standin.KeyPairPEM(cert)
	if err != nil {
		return fmt.Errorf("%s certificate: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), certPEM, 0o600); err != nil {
		return fmt.Errorf("write %s.crt: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), keyPEM, 0o600); err != nil {
		return fmt.Errorf("write %s.key: %w", name, err)
	}
	return nil
}
