//go:build e2e && linux

package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/test/e2e/promrules"
	"github.com/sensorprobe/sensorprobe/test/e2e/topology"
)

const (
	// probeListen is the DaemonSet's metrics port; Prometheus scrapes the
	// node address, as it scrapes a host-network pod.
	probeListen = ":9818"
	probeAddr   = topology.NodeIP + ":9818"
	promAddr    = "127.0.0.1:9090"
	// compression divides every duration of the rule file: `for: 5m` is 5 s
	// here, rate(...[5m]) is rate(...[5s]).
	compression = 60
	// The probe's interval and timeout: the DaemonSet's 10 s and 5 s,
	// shortened so that each fault shows within seconds.
	probeInterval = "1s"
	probeTimeout  = "800ms"
	// probeUID is the DaemonSet's runAsUser.
	probeUID = 65532
	// portmapPlugin is Debian containernetworking-plugins' portmap.
	portmapPlugin = "/usr/lib/cni/portmap"
)

// harness is the node: every component, started once for the whole run.
type harness struct {
	t                              *testing.T
	ctx                            context.Context
	work, bin, artifacts, repo     string
	assets                         string
	kube                           *kubetest.Env
	client                         kubernetes.Interface
	cluster                        cluster
	pki                            *pki
	dns                            *standin.DNS
	kubeProxy, sensor, probe, prom *proc
	http                           *http.Client
	kubeProxyConfig, probeKubeconf string
	probeUID                       string
	mu                             sync.Mutex
	procs                          []*proc
	footprint                      []footprint
	portmapUp                      bool
	// State a fault's steps share.
	sensorCert    string // the sensor's current good certificate ("" = "good")
	nfq           *proc  // fault 5's delay program
	latencyBefore map[string][]float64
	targetsBefore map[string]string
	reloadsBefore float64
	apiRestarted  time.Time
}

// requireEnv returns the run's directories from run.sh, or skips (fails
// under CI) when the harness is not run by it.
func requireEnv(t *testing.T) (work, bin, artifacts, repo, assets string) {
	get := func(k string) string { return os.Getenv(k) }
	work, bin, artifacts, repo, assets = get("E2E_WORK"), get("E2E_BIN"), get("E2E_ARTIFACTS"), get("E2E_REPO"), get("KUBE_ASSETS")
	if work == "" || bin == "" || artifacts == "" || repo == "" || assets == "" {
		msg := "the end-to-end harness runs inside the node namespace that test/e2e/run.sh builds: run `make e2e` as root"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return work, bin, artifacts, repo, assets
}

// TestE2E builds the node, checks that it is healthy, runs every fault of
// faults() with its recovery, checks the probe's goroutines and open files,
// and prints the table of faults and what was observed.
func TestE2E(t *testing.T) {
	work, bin, artifacts, repo, assets := requireEnv(t)
	h := &harness{
		t: t, ctx: t.Context(), work: work, bin: bin, artifacts: artifacts, repo: repo, assets: assets,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}},
	}
	t.Cleanup(h.stopAll)
	began := time.Now()
	step := func(name string, f func() error) {
		t.Helper()
		s := time.Now()
		if err := f(); err != nil {
			t.Fatalf("set-up: %s: %v", name, err)
		}
		t.Logf("set-up: %s (%.1fs)", name, time.Since(s).Seconds())
	}
	step("node namespace", h.checkNamespace)
	step("kube-apiserver and etcd", h.startAPIServer)
	step("RHACS objects", h.createCluster)
	step("certificates", h.makePKI)
	step("sensor stand-ins in the sensor pod", func() error { return h.startSensor(sensorGood) })
	step("kube-proxy (nftables)", h.startKubeProxy)
	step("portmap ADD (hostPort 8443)", func() error { return h.portmap("ADD") })
	step("resolver", h.startDNS)
	step("probe", h.startProbe)
	step("prometheus", h.startPrometheus)
	step("healthy baseline", func() error {
		_, err := h.awaitHealthy(90 * time.Second)
		return err
	})
	step("fleet size read from the probe DaemonSet", h.checkFleet)
	setup := time.Since(began)
	h.checkpoint("baseline")

	rows := h.runFaults(t)

	fp := h.checkFootprint()
	table := renderTable(rows, fp, setup, time.Since(began))
	fmt.Print(table)
	if err := os.WriteFile(filepath.Join(artifacts, "e2e-table.txt"), []byte(table), 0o644); err != nil {
		t.Error(err)
	}
	for _, r := range rows {
		for _, err := range r.errs {
			t.Errorf("fault %s %s: %v", r.id, r.name, err)
		}
	}
	if fp.err != nil {
		t.Errorf("probe footprint: %v", fp.err)
	}
}

// checkNamespace makes sure the harness runs in the node namespace.
func (h *harness) checkNamespace() error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == topology.NodeIP {
			return nil
		}
	}
	return fmt.Errorf("this process is not in the node namespace (no %s here): run it through test/e2e/run.sh", topology.NodeIP)
}

func (h *harness) stopAll() {
	h.mu.Lock()
	procs := append([]*proc(nil), h.procs...)
	h.mu.Unlock()
	for _, proc := range slices.Backward(procs) {
		proc.stop()
	}
	if h.portmapUp {
		h.portmap("DEL")
	}
	if h.dns != nil {
		h.dns.Close()
	}
	if h.kube != nil {
		h.kube.Stop()
	}
}

func (h *harness) startAPIServer() error {
	dir := filepath.Join(h.work, "kube")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	env, err := kubetest.StartWithOptions(h.ctx, h.assets, dir, kubetest.Options{
		ServiceClusterIPRange: topology.ServiceCIDR,
		// The node namespace's only default route is unreachable.
		APIServerArgs: []string{"--advertise-address=" + topology.NodeIP},
	})
	if err != nil {
		return err
	}
	h.kube = env
	h.client = env.AdminClient(h.t)
	h.cluster = cluster{c: h.client}
	return nil
}

func (h *harness) createCluster() error {
	kubetest.EnsureNamespace(h.ctx, h.t, h.client, namespace)
	uid, err := h.cluster.createAll(h.ctx, h.repo)
	if err != nil {
		return err
	}
	h.probeUID = uid
	// The probe's credentials: a token of ServiceAccount sensorprobe, bound
	// to the shipped Role, as the pod's projected token would be.
	sa := h.kube.ServiceAccountConfig(h.ctx, h.t, namespace, "sensorprobe")
	h.probeKubeconf = filepath.Join(h.work, "probe.kubeconfig")
	if err := writeKubeconfig(h.probeKubeconf, sa.Host, sa.CAData, &clientcmdapi.AuthInfo{Token: sa.BearerToken}); err != nil {
		return err
	}
	return os.Chmod(h.probeKubeconf, 0o644)
}

func writeKubeconfig(path, server string, ca []byte, auth *clientcmdapi.AuthInfo) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	kc.AuthInfos["e2e"] = auth
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	kc.CurrentContext = "e2e"
	return clientcmd.WriteToFile(*kc, path)
}

// startKubeProxy runs kube-proxy in nftables mode against the API server,
// with every setting that would reach outside the node namespace turned off:
// nf_conntrack_max and the conntrack hash size are global (maxPerCore and
// min 0 leave them alone), and the conntrack timeouts are left as they are.
// It is ready when the sensor Service's ClusterIP reaches the stand-in.
func (h *harness) startKubeProxy() error {
	if h.kubeProxyConfig == "" {
		a := h.kube.Admin
		kubeconfig := filepath.Join(h.work, "kube-proxy.kubeconfig")
		if err := writeKubeconfig(kubeconfig, a.Host, a.CAData, &clientcmdapi.AuthInfo{ClientCertificate: a.CertFile, ClientKey: a.KeyFile}); err != nil {
			return err
		}
		h.kubeProxyConfig = filepath.Join(h.work, "kube-proxy.yaml")
		cfg := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
mode: nftables
clusterCIDR: %s
detectLocalMode: ClusterCIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, kubeconfig, nodeName, topology.PodCIDR)
		if err := os.WriteFile(h.kubeProxyConfig, []byte(cfg), 0o600); err != nil {
			return err
		}
	}
	before, err := globalConntrack()
	if err != nil {
		return err
	}
	p, err := h.start("kube-proxy", procOpts{args: []string{filepath.Join(h.assets, "kube-proxy"), "--config=" + h.kubeProxyConfig, "--v=2"}})
	if err != nil {
		return err
	}
	h.kubeProxy = p
	if err := p.awaitReady(h.ctx, 60*time.Second, func() error {
		return tcpConnect(net.JoinHostPort(sensorSvcIP, "443"), 300*time.Millisecond)
	}); err != nil {
		return err
	}
	after, err := globalConntrack()
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("kube-proxy changed the machine-wide conntrack settings: %s → %s", before, after)
	}
	return nil
}

// globalConntrack reads the conntrack settings that are the same in every
// network namespace: kube-proxy must leave them alone.
func globalConntrack() (string, error) {
	var parts []string
	for _, f := range []string{"/proc/sys/net/netfilter/nf_conntrack_max", "/sys/module/nf_conntrack/parameters/hashsize"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		parts = append(parts, filepath.Base(f)+"="+strings.TrimSpace(string(b)))
	}
	return strings.Join(parts, " "), nil
}

// stopKubeProxy stops kube-proxy and flushes its rules with
// kube-proxy --cleanup, as an administrator removing it would.
func (h *harness) stopKubeProxy() error {
	err := h.kubeProxy.stop()
	out, cerr := run(h.ctx, filepath.Join(h.assets, "kube-proxy"), "--cleanup", "--config="+h.kubeProxyConfig)
	appendLog(filepath.Join(h.artifacts, "kube-proxy.log"), "=== kube-proxy --cleanup\n"+out)
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	if _, lerr := run(h.ctx, "nft", "list", "table", "ip", "kube-proxy"); lerr == nil {
		return errors.Join(err, errors.New("table ip kube-proxy still exists after kube-proxy --cleanup"))
	}
	return err
}

func appendLog(path, s string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(s)
}

func tcpConnect(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	return c.Close()
}

// portmap runs the CNI portmap plugin (ADD or DEL) for the sensor pod's
// hostPort 8443 → 8443, as the container runtime does when it starts and
// stops the pod.
func (h *harness) portmap(command string) error {
	conf := map[string]any{
		"cniVersion":   "1.0.0",
		"name":         "sp-e2e",
		"type":         "portmap",
		"capabilities": map[string]bool{"portMappings": true},
		"snat":         true,
		"runtimeConfig": map[string]any{
			"portMappings": []map[string]any{{"hostPort": 8443, "containerPort": 8443, "protocol": "tcp"}},
		},
		"prevResult": map[string]any{
			"cniVersion": "1.0.0",
			"interfaces": []map[string]any{{"name": "eth0", "sandbox": "/run/netns/" + topology.SensorNS}},
			"ips":        []map[string]any{{"address": topology.SensorIP + "/32", "interface": 0}},
		},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(h.ctx, portmapPlugin)
	cmd.Stdin = bytes.NewReader(b)
	cmd.Env = append(os.Environ(),
		"CNI_COMMAND="+command,
		"CNI_CONTAINERID=e2e-sensor-"+sensorPod,
		"CNI_NETNS=/run/netns/"+topology.SensorNS,
		"CNI_IFNAME=eth0",
		"CNI_PATH=/usr/lib/cni",
	)
	out, err := cmd.CombinedOutput()
	appendLog(filepath.Join(h.artifacts, "portmap.log"), fmt.Sprintf("=== %s %s\n%s\n", time.Now().Format(time.RFC3339Nano), command, out))
	if err != nil {
		return fmt.Errorf("portmap %s: %w: %s", command, err, bytes.TrimSpace(out))
	}
	h.portmapUp = command == "ADD"
	return nil
}

// startDNS runs the node's resolver, which the node's resolv.conf names:
// the cluster names of sensor's Services.
func (h *harness) startDNS() error {
	d, err := standin.ListenDNS(topology.ResolverAddr, map[string]string{
		"sensor." + namespace + ".svc.cluster.local":         sensorSvcIP,
		"sensor-webhook." + namespace + ".svc.cluster.local": webhookSvcIP,
	})
	if err != nil {
		return err
	}
	h.dns = d
	return nil
}

// sensorMode is how the sensor stand-ins run.
type sensorMode struct {
	cert        string // name of a certificate made by makePKI
	stall       bool
	readyStatus int
}

var sensorGood = sensorMode{cert: "good"}

// startSensor (re)starts the sensor stand-ins in the sensor pod namespace.
func (h *harness) startSensor(m sensorMode) error {
	if err := h.sensor.stop(); err != nil {
		return err
	}
	args := []string{filepath.Join(h.bin, "e2e-sensor"),
		"--cert", filepath.Join(h.pki.dir, m.cert+".pem"), "--key", filepath.Join(h.pki.dir, m.cert+"-key.pem")}
	if m.stall {
		args = append(args, "--stall")
	}
	if m.readyStatus != 0 {
		args = append(args, "--ready-status", fmt.Sprint(m.readyStatus))
	}
	p, err := h.start("sensor", procOpts{netns: topology.SensorNS, args: args})
	if err != nil {
		return err
	}
	h.sensor = p
	return p.awaitReadyLine(20 * time.Second)
}

// startProbe runs the probe as the DaemonSet does: its flags, the downward
// API's environment, user 65532, the ServiceAccount's token, and the CA
// files laid out the way kubelet mounts the DaemonSet's projected volume
// (--ca-dir; the DaemonSet uses the default, /run/secrets/stackrox.io/ca).
func (h *harness) startProbe() error {
	p, err := h.start("probe", procOpts{
		uid: probeUID,
		args: []string{filepath.Join(h.bin, "probe"),
			"--web.listen-address=" + probeListen,
			"--ca-dir=" + h.pki.caDir,
			"--log.format=json",
			"--kubeconfig=" + h.probeKubeconf,
			"--interval=" + probeInterval,
			"--timeout=" + probeTimeout,
		},
		env: []string{"NODE_NAME=" + nodeName, "POD_NAME=" + probePod, "POD_NAMESPACE=" + namespace, "POD_UID=" + h.probeUID},
	})
	if err != nil {
		return err
	}
	h.probe = p
	return p.awaitReady(h.ctx, 30*time.Second, func() error {
		_, err := h.get(h.ctx, "http://"+probeAddr+"/readyz")
		return err
	})
}

// startPrometheus runs Debian's Prometheus with the project's rule file,
// time-compressed, scraping the probe every second.
func (h *harness) startPrometheus() error {
	dir := filepath.Join(h.work, "prometheus")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(h.repo, "deploy", "rules", "sensorprobe-rules.yaml"))
	if err != nil {
		return err
	}
	rules, err := promrules.Compress(src, compression)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		return err
	}
	os.WriteFile(filepath.Join(h.artifacts, "rules-compressed.yaml"), rules, 0o644)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: sensorprobe
    static_configs:
      - targets: ["%s"]
        labels: {node: %s, namespace: %s, pod: %s}
`, filepath.Join(dir, "rules.yaml"), probeAddr, nodeName, namespace, probePod)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	p, err := h.start("prometheus", procOpts{args: []string{"prometheus",
		"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=1h",
		"--web.listen-address=" + promAddr,
		"--log.level=warn",
	}})
	if err != nil {
		return err
	}
	h.prom = p
	return p.awaitReady(h.ctx, 60*time.Second, func() error {
		b, err := h.get(h.ctx, "http://"+promAddr+`/api/v1/query?query=up{job="sensorprobe"}==1`)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), `"result":[{`) {
			return fmt.Errorf("the probe is not scraped yet: %s", b)
		}
		return nil
	})
}

// pki holds the certificates of the run: the StackRox CA the probe trusts,
// the CA it rotates to, a foreign CA, and sensor's serving pairs.
type pki struct {
	ca, ca2, foreign *standin.CA
	dir              string // serving pairs: <name>.pem, <name>-key.pem
	// caDir is the probe's --ca-dir, laid out as kubelet lays out the
	// DaemonSet's projected volume of StackRox CA sources.
	caDir string
}

// Files of the projected volume (deploy/base/daemonset.yaml).
const (
	caPrimary   = "collector-tls-ca.pem"           // secret collector-tls, key ca.pem
	caSecondary = "collector-tls-ca-secondary.pem" // its ca-secondary.pem, during a rotation
)

func (h *harness) makePKI() error {
	p := &pki{dir: filepath.Join(h.work, "sensor-certs"), caDir: filepath.Join(h.work, "stackrox-ca")}
	var err error
	if p.ca, err = standin.NewCA(standin.CAName); err != nil {
		return err
	}
	if p.ca2, err = standin.NewCA(standin.CAName); err != nil {
		return err
	}
	if p.foreign, err = standin.NewCA("Some Other Certificate Authority"); err != nil {
		return err
	}
	for _, d := range []string{p.dir, p.caDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	now := time.Now()
	sans := standin.SensorSANs(namespace)
	for _, c := range []struct {
		name string
		ca   *standin.CA
		o    standin.LeafOptions
	}{
		// 90 days, so that SensorProbeSensorCertExpiringSoon stays quiet.
		{"good", p.ca, standin.LeafOptions{CommonName: "sensor." + namespace, DNSNames: sans, NotAfter: now.Add(90 * 24 * time.Hour)}},
		{"wrongname", p.ca, standin.LeafOptions{CommonName: "scanner." + namespace, DNSNames: []string{"scanner." + namespace + ".svc"}, NotAfter: now.Add(90 * 24 * time.Hour)}},
		{"foreign", p.foreign, standin.LeafOptions{CommonName: "sensor." + namespace, DNSNames: sans, NotAfter: now.Add(90 * 24 * time.Hour)}},
		{"expired", p.ca, standin.LeafOptions{CommonName: "sensor." + namespace, DNSNames: sans, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}},
		{"rotated", p.ca2, standin.LeafOptions{CommonName: "sensor." + namespace, DNSNames: sans, NotAfter: now.Add(90 * 24 * time.Hour)}},
	} {
		cert, err := c.ca.Issue(c.o)
		if err != nil {
			return err
		}
		certPEM, keyPEM, err := standin.KeyPairPEM(cert)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(p.dir, c.name+".pem"), certPEM, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(p.dir, c.name+"-key.pem"), keyPEM, 0o600); err != nil {
			return err
		}
	}
	h.pki = p
	return p.writeCAs(map[string]*standin.CA{caPrimary: p.ca})
}

// writeCAs publishes the CA files the way kubelet updates a projected
// volume: the files go to a new timestamped directory, the ..data symlink is
// swapped to it atomically, and each file is a symlink through ..data. A
// reader never sees a half-written file.
func (p *pki) writeCAs(files map[string]*standin.CA) error {
	if len(files) == 0 {
		return errors.New("no CA file")
	}
	ts := "..data-" + time.Now().Format("2006_01_02_15_04_05.000000000")
	if err := os.Mkdir(filepath.Join(p.caDir, ts), 0o755); err != nil {
		return err
	}
	for name, ca := range files {
		if !x509.NewCertPool().AppendCertsFromPEM(ca.PEM()) {
			return fmt.Errorf("%s: no certificate", name)
		}
		if err := os.WriteFile(filepath.Join(p.caDir, ts, name), ca.PEM(), 0o444); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(p.caDir, "..data"))
	tmp := filepath.Join(p.caDir, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(ts, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(p.caDir, "..data")); err != nil {
		return err
	}
	for name := range files {
		link := filepath.Join(p.caDir, name)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				return err
			}
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(p.caDir, old))
	}
	return nil
}
