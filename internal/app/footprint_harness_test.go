package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// TestFootprintHarness is a measuring harness, not a check: it runs the real
// probe binary for a while, once on --target paths alone and once with
// Kubernetes discovery against a real API server, and prints its resident
// memory and CPU. docs/performance.md quotes its output. It runs only when
// asked:
//
//	SENSORPROBE_FOOTPRINT=60s go test -run TestFootprintHarness -v ./internal/app
func TestFootprintHarness(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("SENSORPROBE_FOOTPRINT"))
	if err != nil {
		t.Skip("measuring harness: set SENSORPROBE_FOOTPRINT=60s to run it")
	}
	bin := filepath.Join(t.TempDir(), "probe")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/probe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ca, _ := standin.NewCA(standin.CAName)
	cert, _ := ca.Issue(standin.LeafOptions{DNSNames: standin.SensorSANs(e2eNamespace)})
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
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.PEM(), 0o600)
	// Five paths as on a broken node: two time out, three answer.
	common := []string{"--ca-file=" + caFile, "--log.format=json",
		"--target=hostport=" + sensor.Addr(), "--target=podip=" + sensor.Addr(), "--target=webhook=" + sensor.Addr(),
		"--target=clusterip=" + hole.Addr(), "--target=dns=" + hole.Addr()}

	fmt.Printf("\nfootprint after %v, 5 paths every 10s (2 timing out)\n%-34s %10s %10s %12s\n", d, "mode", "RSS MiB", "peak MiB", "CPU s")
	rss, hwm, cpu := runFootprint(t, bin, d, append([]string{"--kube=false"}, common...))
	fmt.Printf("%-34s %10.1f %10.1f %12.2f\n", "--kube=false", rss, hwm, cpu)

	env := kubetest.StartForTest(t)
	e2eBlockClusterNetworks(t, e2eSensorIP, e2eWebhookIP, e2ePodIP)
	f := kubetest.NewFixture(t, env.AdminClient(t), e2eNamespace)
	f.Service("sensor", e2eSensorIP, corev1.ServicePort{Name: "https", Port: 443})
	f.Service("sensor-webhook", e2eWebhookIP, corev1.ServicePort{Name: "webhook", Port: 443})
	f.Pod("sensor-1", e2eNode, map[string]string{"app": "sensor"}, e2ePodIP, "192.0.2.10")
	f.EndpointSlice(e2ePodIP, e2eNode, true)
	f.Collector("sensor." + e2eNamespace + ".svc:443")
	args := append([]string{"--kubeconfig=" + e2eKubeconfig(t, env, dir), "--namespace=" + e2eNamespace, "--node=" + e2eNode}, common...)
	rss, hwm, cpu = runFootprint(t, bin, d, args)
	fmt.Printf("%-34s %10.1f %10.1f %12.2f\n", "discovery (real kube-apiserver)", rss, hwm, cpu)
}

// runFootprint runs the binary for d and returns its resident and peak
// memory in MiB and the CPU seconds it used.
func runFootprint(t *testing.T, bin string, d time.Duration, args []string) (rss, hwm, cpu float64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append(args, "--web.listen-address="+addr)...)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	time.Sleep(d)
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("probe not ready after %v: %v", d, err)
	}
	resp.Body.Close()
	pid := strconv.Itoa(cmd.Process.Pid)
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name: utime and stime are the 12th and 13th.
	rest := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseFloat(rest[11], 64)
	st, _ := strconv.ParseFloat(rest[12], 64)
	return rss, hwm, (ut + st) / 100 // clock ticks (USER_HZ = 100)
}
