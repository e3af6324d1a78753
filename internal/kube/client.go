package kube

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
)

// UserAgent is the User-Agent of the probe's API requests (visible in audit logs).
const UserAgent = "sensorprobe"

// NewInClusterClient returns a client that authenticates as the pod's
// ServiceAccount. Outside a pod it fails with an error wrapping
// rest.ErrNotInCluster, which callers can test with errors.Is to run on flags
// alone.
func NewInClusterClient() (kubeclient.Interface, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes in-cluster config: %w", err)
	}
	return NewClient(cfg)
}

// NewClient sets the probe's User-Agent on a copy of cfg and builds a
// client. The informers and a few events fit in client-go's default 5 QPS /
// burst 10, which keeps a DaemonSet of probes gentle on the API server.
func NewClient(cfg *rest.Config) (kubeclient.Interface, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = UserAgent
	c, err := kubeclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return c, nil
}

// NewClientFromKubeconfig returns a client from a kubeconfig file, for
// running the probe or `probe check` outside a pod.
func NewClientFromKubeconfig(path string) (kubeclient.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return NewClient(cfg)
}
