//go:build linux

package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// The cluster the discovery run describes, as in the end-to-end test.
const (
	discoveryNamespace = "stackrox"
	discoveryNode      = "node-a"
	// advertiseIP is kube-apiserver's address in the private namespace
	// (TEST-NET-2, on its loopback link).
	advertiseIP = "198.51.100.1"
)

// missingAssets says which kube-apiserver and etcd binaries are missing, or "".
func missingAssets() string {
	dir := kubetest.AssetsDir()
	var missing []string
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("%s missing in %s (make kube-assets, or set KUBE_ASSETS)", strings.Join(missing, " and "), dir)
}

// discoveryProcess is TestBench in the discovery role, in a network
// namespace of its own that has only loopback: every address discovery
// finds (Service and pod IPs) is unreachable, so no dial leaves the
// machine. It starts the stand-ins, a real kube-apiserver with the objects
// of a secured cluster, and the probe with the idle daemon's five paths plus
// discovery, and writes what it measured to the result file.
func discoveryProcess(t *testing.T) {
	if out, err := exec.Command("ip", "route", "show", "default").Output(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("not in a private network namespace (default route %q, %v): refusing to let discovery dial", out, err)
	}
	// Loopback, with one more address for kube-apiserver to advertise (it
	// wants one outside 127.0.0.0/8); still no default route.
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", advertiseIP + "/32", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	idle, err := time.ParseDuration(os.Getenv("SENSORPROBE_BENCH_IDLE"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(standin.LeafOptions{DNSNames: standin.SensorSANs(discoveryNamespace)})
	if err != nil {
		t.Fatal(err)
	}
	sensor, err := standin.NewSensor(standin.SensorConfig{Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer sensor.Close()
	hole, err := standin.NewBlackhole("")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()

	env, err := kubetest.StartWithOptions(t.Context(), kubetest.RequireAssets(t), t.TempDir(),
		kubetest.Options{APIServerArgs: []string{"--advertise-address=" + advertiseIP}})
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(env.Stop)
	f := kubetest.NewFixture(t, env.AdminClient(t), discoveryNamespace)
	f.Service("sensor", "10.96.0.50", corev1.ServicePort{Name: "https", Port: 443})
	f.Service("sensor-webhook", "10.96.0.51", corev1.ServicePort{Name: "webhook", Port: 443})
	f.Pod("sensor-1", discoveryNode, map[string]string{"app": "sensor"}, "10.244.1.5", "192.0.2.10")
	f.EndpointSlice("10.244.1.5", discoveryNode, true)
	f.Collector("sensor." + discoveryNamespace + ".svc:443")
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--kubeconfig=" + kubeconfig, "--namespace=" + discoveryNamespace, "--node=" + discoveryNode},
		fivePaths(sensor.Addr(), hole.Addr(), writeCA(t, ca.PEM()))...)
	r, err := measureIdle(os.Getenv(probeEnv), settings{idle: idle}, args)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(resultEnv), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
