package kube

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// UserAgent is the User-Agent of the probe's API requests (visible in audit logs).
const UserAgent = "sensorprobe"

// NewInClusterClient returns a clientset that authenticates as the pod's
// ServiceAccount. Outside a pod it fails with an error wrapping
// rest.ErrNotInCluster, which callers can test with errors.Is to run on flags
// alone.
func NewInClusterClient() (kubernetes.Interface, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes in-cluster config: %w", err)
	}
	return newClient(cfg)
}

// newClient sets the probe's User-Agent on cfg and builds a clientset. Five
// informers and a few events fit in client-go's default 5 QPS / burst 10,
// which keeps a DaemonSet of probes gentle on the API server.
func newClient(cfg *rest.Config) (kubernetes.Interface, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = UserAgent
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return c, nil
}

// NewClientFromKubeconfig returns a clientset from a kubeconfig file, for
// running the probe or `probe check` outside a pod.
func NewClientFromKubeconfig(path string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return newClient(cfg)
}
