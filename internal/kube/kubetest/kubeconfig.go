//go:build linux

package kubetest

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig for the API server's admin user to
// path, for a process (the probe binary) that reads --kubeconfig.
func (e *Env) WriteKubeconfig(path string) error {
	a := e.Admin
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: a.Host, CertificateAuthorityData: a.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: a.CertFile, ClientKey: a.KeyFile}
	kc.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin"}
	kc.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
