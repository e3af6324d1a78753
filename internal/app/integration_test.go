//go:build linux

package app

// The daemon end to end against a real etcd and kube-apiserver (package
// kubetest): API server → discovery → scheduler → dialer → /metrics and
// /status. It skips with a hint when the binaries are missing or when not
// root, and fails instead when the environment variable CI is set.
//
// Safety: the probe dials what discovery finds, so the test first makes the
// Service range 10.96.0.0/16 and the pod range 10.244.0.0/16 unreachable in
// this network namespace (routes of type unreachable, removed at the end):
// those dials fail at once with "no route to host" and no packet leaves the
// machine. The dns path resolves through a loopback DNS stand-in, not the
// node's resolver, so no DNS query leaves either. A watchdog stops the daemon
// if a route goes away while it runs. Only the hostport path connects: to a
// sensor stand-in on loopback, over verified TLS.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

const (
	e2eNamespace = "rhacs-e2e"
	e2eNode      = "node-a"
	e2eSensorIP  = "10.96.0.50" // Service sensor, then moved to e2eMovedIP
	e2eMovedIP   = "10.96.0.60"
	e2eWebhookIP = "10.96.0.51" // Service sensor-webhook
	e2ePodIP     = "10.244.1.5" // the sensor pod, in its EndpointSlice
	// e2eWaitLimit only bounds a broken test; nothing asserts how long a step took.
	e2eWaitLimit = 60 * time.Second
)

// e2eBlockedNetworks are the Service and pod ranges the test makes unreachable.
func e2eBlockedNetworks() []string { return []string{"10.96.0.0/16", "10.244.0.0/16"} }

// TestDaemonKubeEndToEnd runs the daemon as the DaemonSet does, with
// --kubeconfig pointing at a real API server that holds what a secured
// cluster has, and checks that what discovery finds is what the probe dials
// and exports: every discovered path on sensorprobe_path_info with its
// target, the relay's path marked, the blocked paths failing as
// unreachable, hostport up over TLS, and the Kubernetes facts on /metrics and
// /status. Then sensor's Service moves to another ClusterIP and the probe
// follows it, dropping the old target.
func TestDaemonKubeEndToEnd(t *testing.T) {
	env, f := e2eInstall(t, e2eMovedIP)
	ns, svc := e2eNamespace, "sensor."+e2eNamespace+".svc"

	// The hostport path: a sensor stand-in on loopback with sensor's SANs,
	// verified against a test CA given by --ca-file.
	sensor := startSensorStandIn(t, ns)
	dir, caFile := t.TempDir(), sensor.CAFile
	// The cluster DNS: the dns path resolves sensor.<ns>.svc here, never
	// through the node's resolver.
	dns, err := standin.NewDNS(map[string]string{svc: e2eSensorIP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Close() })

	cfg, err := ParseDaemon(e2eDaemonArgs(t, env, dir, caFile, "hostport="+sensor.Addr()),
		io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatalf("ParseDaemon: %v", err)
	}
	cfg.Dial.Resolver = dns.Resolver()
	d := startE2EDaemon(t, cfg)

	wantInfo := map[string]map[string]string{
		// The fixture's collector runs on the host network and dials the
		// Service by name: dns is the relay's path, the others are controls.
		"clusterip": {"target": e2eSensorIP + ":443", "server_name": svc, "check": "http", "consumer": "none"},
		"dns":       {"target": svc + ":443", "server_name": svc, "check": "http", "consumer": "relay"},
		"hostport":  {"target": sensor.Addr(), "server_name": svc, "check": "http", "consumer": "none"},
		"podip":     {"target": e2ePodIP + ":8443", "server_name": svc, "check": "http", "consumer": "none"},
		"webhook":   {"target": e2eWebhookIP + ":443", "server_name": "sensor-webhook." + ns + ".svc", "check": "http", "consumer": "none"},
	}
	blocked := []string{"clusterip", "dns", "podip", "webhook"}
	var rep status.Report
	var m e2eMetrics
	e2eAwait(t, "discovered paths probed and exported", func() error {
		var err error
		if m, err = d.metrics(); err != nil {
			return err
		}
		if rep, err = d.status(); err != nil {
			return err
		}
		var errs []error
		for _, p := range rep.Paths {
			if p.Name == "hostport" && p.TLS == nil {
				// Not yet: hostport's first attempt is connect-tier, its TLS comes with the first full one.
				errs = append(errs, errors.New("/status hostport: no TLS facts yet"))
			}
		}
		if diff := cmp.Diff(wantInfo, m.pathInfo()); diff != "" {
			errs = append(errs, fmt.Errorf("sensorprobe_path_info (-want +got):\n%s", diff))
		}
		for _, p := range blocked {
			if v := m.value("sensorprobe_probe_attempts_total", "path", p, "reason", "unreachable"); v <= 0 {
				errs = append(errs, fmt.Errorf(`sensorprobe_probe_attempts_total{path=%q,reason="unreachable"} = %v, want > 0`, p, v))
			}
		}
		for _, g := range []struct {
			name string
			kv   []string
		}{
			{"sensorprobe_path_up", []string{"path", "hostport"}},
			{"sensorprobe_kube_discovery_up", nil},
			{"sensorprobe_sensor_on_this_node", nil},
		} {
			if got := m.value(g.name, g.kv...); got != 1 {
				errs = append(errs, fmt.Errorf("%s%v = %v, want 1", g.name, g.kv, got))
			}
		}
		if rep.Kubernetes == nil || rep.Kubernetes.RelayPath == "" {
			errs = append(errs, fmt.Errorf("/status kubernetes section without a relay path: %+v", rep.Kubernetes))
		}
		return errors.Join(errs...)
	})

	t.Run("blocked paths fail as unreachable only", func(t *testing.T) {
		// Any other outcome would mean a dial got past the unreachable routes.
		for _, p := range blocked {
			for _, r := range m.series("sensorprobe_probe_attempts_total") {
				if r.labels["path"] == p && r.labels["reason"] != "unreachable" && r.value != 0 {
					t.Errorf(`sensorprobe_probe_attempts_total{path=%q,reason=%q} = %v, want 0`, p, r.labels["reason"], r.value)
				}
			}
			if got := m.value("sensorprobe_path_up", "path", p); got != 0 {
				t.Errorf("sensorprobe_path_up{path=%q} = %v, want 0", p, got)
			}
		}
		if got := m.value("sensorprobe_probe_attempts_total", "path", "hostport", "reason", "ok"); got <= 0 {
			t.Errorf(`sensorprobe_probe_attempts_total{path="hostport",reason="ok"} = %v, want > 0`, got)
		}
	})

	t.Run("status page", func(t *testing.T) {
		k := rep.Kubernetes
		want := &status.Kubernetes{
			DiscoveryUp: true, SensorOnThisNode: new(true), SensorPod: ns + "/sensor-1", SensorNode: e2eNode,
			RelayEndpoint: svc + ":443", RelayPath: "dns", RelayHostNetwork: new(true), SensorReady: new(true), VMTransport: "push",
		}
		if diff := cmp.Diff(want, k); diff != "" {
			t.Errorf("/status kubernetes (-want +got):\n%s", diff)
		}
		got := map[string]string{}
		for _, p := range rep.Paths {
			got[p.Name] = fmt.Sprintf("target=%s relay=%v up=%v", p.Target, p.Relay, p.Up)
			if p.Name == "hostport" && (p.TLS == nil || !p.TLS.Verified) {
				t.Errorf("/status hostport TLS = %+v, want verified against --ca-file", p.TLS)
			}
		}
		wantPaths := map[string]string{}
		for name, l := range wantInfo {
			wantPaths[name] = fmt.Sprintf("target=%s relay=%v up=%v", l["target"], l["consumer"] == "relay", name == "hostport")
		}
		if diff := cmp.Diff(wantPaths, got); diff != "" {
			t.Errorf("/status paths (-want +got):\n%s", diff)
		}
	})

	t.Run("sensor Service moves to another ClusterIP", func(t *testing.T) {
		f.DeleteService("sensor")
		f.Service("sensor", e2eMovedIP, corev1.ServicePort{Name: "https", Port: 443})
		dns.Set(svc, e2eMovedIP)
		old := e2eSensorIP + ":443"
		e2eAwait(t, "clusterip path on the new IP, old target gone", func() error {
			m, err := d.metrics()
			if err != nil {
				return err
			}
			if got := m.pathInfo()["clusterip"]["target"]; got != e2eMovedIP+":443" {
				return fmt.Errorf("clusterip target = %q, want %s:443", got, e2eMovedIP)
			}
			if strings.Contains(m.text, old) {
				return fmt.Errorf("/metrics still mentions %s", old)
			}
			rep, err := d.status()
			if err != nil {
				return err
			}
			if i := slices.IndexFunc(rep.Paths, func(p status.PathStatus) bool { return p.Target == old }); i >= 0 {
				return fmt.Errorf("/status path %s still targets %s", rep.Paths[i].Name, old)
			}
			return nil
		})
		// The new target is probed, and fails as the old one did.
		m, err := d.metrics()
		if err != nil {
			t.Fatal(err)
		}
		before := m.value("sensorprobe_probe_attempts_total", "path", "clusterip", "reason", "unreachable")
		e2eAwait(t, "attempts on the new clusterip target", func() error {
			m, err := d.metrics()
			if err != nil {
				return err
			}
			rep, err := d.status()
			if err != nil {
				return err
			}
			i := slices.IndexFunc(rep.Paths, func(p status.PathStatus) bool { return p.Name == "clusterip" })
			if i < 0 || !strings.Contains(rep.Paths[i].Error, e2eMovedIP) {
				return fmt.Errorf("/status has no failed attempt on %s yet", e2eMovedIP)
			}
			if got := m.value("sensorprobe_probe_attempts_total", "path", "clusterip", "reason", "unreachable"); got <= before {
				return fmt.Errorf("clusterip unreachable attempts = %v, want more than %v", got, before)
			}
			return nil
		})
	})

	if err := d.stop(t); err != nil {
		t.Errorf("RunDaemon returned %v after its context was cancelled, want nil", err)
	}
}

//go:fix inline

// e2eAwait polls check until it returns nil; the limit only bounds a broken test.
func e2eAwait(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(e2eWaitLimit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %v:\n%v", what, e2eWaitLimit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// e2eInstall starts a real API server, makes the cluster ranges unreachable
// (e2eBlockClusterNetworks; also every address in alsoProbed) and creates
// sensor's Services, pod and EndpointSlice and collector's DaemonSet with the
// relay's endpoint at sensor's Service, as a host-network install has them.
func e2eInstall(t *testing.T, alsoProbed ...string) (*kubetest.Env, *kubetest.Fixture) {
	t.Helper()
	env := kubetest.StartForTest(t)
	e2eBlockClusterNetworks(t, append([]string{e2eSensorIP, e2eWebhookIP, e2ePodIP}, alsoProbed...)...)
	f := kubetest.NewFixture(t, env.AdminClient(t), e2eNamespace)
	f.Service("sensor", e2eSensorIP, corev1.ServicePort{Name: "https", Port: 443})
	f.Service("sensor-webhook", e2eWebhookIP, corev1.ServicePort{Name: "webhook", Port: 443})
	f.Pod("sensor-1", e2eNode, map[string]string{"app": "sensor"}, e2ePodIP, "192.0.2.10")
	f.EndpointSlice(e2ePodIP, e2eNode, true)
	f.Collector("sensor." + e2eNamespace + ".svc:443")
	return env, f
}

// e2eDaemonArgs are the daemon's flags in these tests: discovery through a
// kubeconfig for env written to dir, a 1 s interval and 500 ms timeout, the
// CA in caFile, and a --target for each of targets (NAME=HOST:PORT).
func e2eDaemonArgs(t *testing.T, env *kubetest.Env, dir, caFile string, targets ...string) []string {
	t.Helper()
	args := []string{
		"--kubeconfig=" + e2eKubeconfig(t, env, dir),
		"--namespace=" + e2eNamespace,
		"--node=" + e2eNode,
		"--interval=1s",
		// No probe DaemonSet in this API server: without a fleet size the
		// probe would assume 1,000 nodes and make a full attempt every 100 s.
		"--fleet-size=1",
		"--timeout=500ms",
		"--web.listen-address=127.0.0.1:0",
		"--ca-file=" + caFile,
	}
	for _, tg := range targets {
		args = append(args, "--target="+tg)
	}
	return args
}

// e2eBlockClusterNetworks adds routes of type unreachable for the Service and
// pod ranges, removes them when the test ends, and checks that every address
// in probed is unreachable. It skips (fails under CI) when not root; it fails
// when a route cannot be added, for instance because another test holds it.
func e2eBlockClusterNetworks(t *testing.T, probed ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "needs root: it adds unreachable routes for " + strings.Join(e2eBlockedNetworks(), " and ") +
			" so that no probe leaves this machine; run as root, e.g. sudo -E go test -race -run TestDaemonKubeEndToEnd ./internal/app"
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and the test is not root: %s", msg)
		}
		t.Skip(msg)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("iproute2's ip is needed to block the cluster networks: %v", err)
	}
	for _, cidr := range e2eBlockedNetworks() {
		if out, err := exec.Command(ip, "route", "add", "unreachable", cidr).CombinedOutput(); err != nil {
			t.Fatalf("ip route add unreachable %s: %v: %s (does another test hold it? see ip route show type unreachable)", cidr, err, bytes.TrimSpace(out))
		}
		t.Cleanup(func() {
			if out, err := exec.Command(ip, "route", "del", "unreachable", cidr).CombinedOutput(); err != nil {
				t.Errorf("ip route del unreachable %s: %v: %s", cidr, err, bytes.TrimSpace(out))
			}
		})
	}
	for _, addr := range probed {
		// ip route get fails with "No route to host" for an unreachable route.
		out, err := exec.Command(ip, "route", "get", addr).CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("No route to host")) {
			t.Fatalf("%s is not unreachable after adding the routes (a more specific route or a policy rule?): ip route get: %v: %s", addr, err, bytes.TrimSpace(out))
		}
	}
	if err := e2eRoutesPresent(); err != nil {
		t.Fatal(err)
	}
}

// e2eRoutesPresent reports whether the unreachable routes are still in the
// main routing table, read from /proc/net/route (RTF_REJECT set).
func e2eRoutesPresent() error {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return fmt.Errorf("read routes: %w", err)
	}
	const rtfReject = 0x0200
	found := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || flags&rtfReject == 0 {
			continue
		}
		found[f[1]+"/"+f[7]] = true
	}
	for _, cidr := range e2eBlockedNetworks() {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return err
		}
		// /proc/net/route prints addresses as little-endian hex words.
		le := func(b []byte) string { return fmt.Sprintf("%02X%02X%02X%02X", b[3], b[2], b[1], b[0]) }
		if !found[le(n.IP.To4())+"/"+le(n.Mask)] {
			return fmt.Errorf("the unreachable route for %s is gone: the probe could dial out of this machine", cidr)
		}
	}
	return nil
}

// e2eKubeconfig writes a kubeconfig for the API server's admin user into dir.
func e2eKubeconfig(t *testing.T, env *kubetest.Env, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// e2eDaemon is RunDaemon running in a goroutine.
type e2eDaemon struct {
	base      string
	client    *http.Client
	cancel    context.CancelFunc
	exited    chan struct{}
	watchDone chan struct{}
	err       error // RunDaemon's result, set before exited is closed
	once      sync.Once
	stopErr   error // what stop returns
}

// startE2EDaemon runs RunDaemon(cfg) until stop or the end of the test. Its
// logs are shown when the test fails. A watchdog stops it if the unreachable
// routes go away.
func startE2EDaemon(t *testing.T, cfg *DaemonConfig) *e2eDaemon {
	t.Helper()
	logs := &e2eLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log (tail):\n%s", logs.tail(20000))
		}
	})
	listen := make(chan string, 1)
	logger := slog.New(e2eListenCatcher{slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}), listen})

	ctx, cancel := context.WithCancel(t.Context())
	d := &e2eDaemon{client: &http.Client{Timeout: 5 * time.Second}, cancel: cancel, exited: make(chan struct{}), watchDone: make(chan struct{})}
	go func() {
		defer close(d.watchDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := e2eRoutesPresent(); err != nil {
				cancel()
				t.Errorf("stopped the daemon: %v", err)
				return
			}
		}
	}()
	go func() {
		d.err = RunDaemon(ctx, cfg, logger)
		close(d.exited)
	}()
	t.Cleanup(func() { d.stop(t) })

	// RunDaemon binds --web.listen-address 127.0.0.1:0 and logs the address it got.
	select {
	case addr := <-listen:
		d.base = "http://" + addr
	case <-d.exited:
		t.Fatalf("RunDaemon returned before serving: %v", d.err)
	case <-time.After(e2eWaitLimit):
		t.Fatal("RunDaemon logged no listen address")
	}
	return d
}

// stop cancels the daemon and returns what RunDaemon returned.
func (d *e2eDaemon) stop(t *testing.T) error {
	d.once.Do(func() {
		d.cancel()
		<-d.watchDone
		select {
		case <-d.exited:
			d.stopErr = d.err
		case <-time.After(30 * time.Second):
			d.stopErr = errors.New("RunDaemon did not return 30 s after its context was cancelled")
			t.Error(d.stopErr)
		}
	})
	return d.stopErr
}

func (d *e2eDaemon) get(path string) ([]byte, error) {
	resp, err := d.client.Get(d.base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return b, nil
}

func (d *e2eDaemon) metrics() (e2eMetrics, error) {
	b, err := d.get("/metrics")
	if err != nil {
		return e2eMetrics{}, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return e2eMetrics{}, fmt.Errorf("parse /metrics: %w", err)
	}
	return e2eMetrics{text: string(b), fams: fams}, nil
}

func (d *e2eDaemon) status() (status.Report, error) {
	var rep status.Report
	b, err := d.get("/status")
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fmt.Errorf("parse /status: %w", err)
	}
	return rep, nil
}

// e2eMetrics is one scrape of /metrics.
type e2eMetrics struct {
	text string
	fams map[string]*dto.MetricFamily
}

type e2eSeries struct {
	labels map[string]string
	value  float64
}

func (m e2eMetrics) series(name string) []e2eSeries {
	mf := m.fams[name]
	if mf == nil {
		return nil
	}
	var out []e2eSeries
	for _, s := range mf.GetMetric() {
		l := map[string]string{}
		for _, lp := range s.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		v := s.GetUntyped().GetValue()
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			v = s.GetGauge().GetValue()
		case dto.MetricType_COUNTER:
			v = s.GetCounter().GetValue()
		}
		out = append(out, e2eSeries{labels: l, value: v})
	}
	return out
}

// value returns the value of the series of name with the label pairs kv
// (name, value, name, value…), or -1 when there is none.
func (m e2eMetrics) value(name string, kv ...string) float64 {
	for _, s := range m.series(name) {
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			ok = ok && s.labels[kv[i]] == kv[i+1]
		}
		if ok {
			return s.value
		}
	}
	return -1
}

// pathInfo returns sensorprobe_path_info's labels by path, without the path label.
func (m e2eMetrics) pathInfo() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, s := range m.series("sensorprobe_path_info") {
		p := s.labels["path"]
		delete(s.labels, "path")
		out[p] = s.labels
	}
	return out
}

// e2eLog collects the daemon's log lines; safe while the daemon writes.
type e2eLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *e2eLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *e2eLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// e2eListenCatcher passes records on and sends the first "listen" attribute
// (the address RunDaemon bound) to addr.
type e2eListenCatcher struct {
	slog.Handler
	addr chan<- string
}

func (h e2eListenCatcher) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "listen" {
			return true
		}
		select {
		case h.addr <- a.Value.String():
		default:
		}
		return false
	})
	return h.Handler.Handle(ctx, r)
}

func (h e2eListenCatcher) WithAttrs(as []slog.Attr) slog.Handler {
	return e2eListenCatcher{h.Handler.WithAttrs(as), h.addr}
}

func (h e2eListenCatcher) WithGroup(name string) slog.Handler {
	return e2eListenCatcher{h.Handler.WithGroup(name), h.addr}
}

// TestCheckHostPortWorkaround runs `probe check` against a real API server
// holding the field problem's hand-made fix: collector on the host network,
// the relay dialling localhost:8443, sensor declaring hostPort 8443 on
// node-b, and sensor's NetworkPolicy dropping host-network 8443. Every
// discovered path is overridden with a loopback stand-in that behaves as
// the path does from that node (a blackhole for a dropped 8443, a refused
// port for a hostPort that is not there). On node-a the verdict is
// hostport_not_on_this_node, naming the relay's path and sensor's node, and
// the fix re-points the relay; on node-b the same cluster is healthy.
func TestCheckHostPortWorkaround(t *testing.T) {
	env := kubetest.StartForTest(t)
	e2eBlockClusterNetworks(t)
	const ns = "stackrox"
	f := kubetest.NewFixture(t, env.AdminClient(t), ns)
	f.ApplyInstall(kubetest.Install{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet,
		SensorHostPort: 8443, Advertised: "localhost:8443",
		SensorNode: "node-b", SensorIP: "10.244.1.5", SensorHostIP: "192.0.2.11", ClusterIP: "10.96.0.50", WebhookIP: "10.96.0.51"})
	f.Node("node-a", map[string]string{"node-role.kubernetes.io/worker": ""})
	f.Node("node-b", map[string]string{"node-role.kubernetes.io/worker": ""})

	sensor := startSensorStandIn(t, ns)
	drop, err := standin.NewBlackhole("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop.Close() })
	refused, err := standin.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	dir, caFile := t.TempDir(), sensor.CAFile
	kubeconfig := e2eKubeconfig(t, env, dir)

	check := func(node string, targets ...string) (bool, status.Report, string) {
		t.Helper()
		args := []string{"--kubeconfig=" + kubeconfig, "--namespace=" + ns, "--node=" + node,
			"--timeout=1s", "--ca-file=" + caFile}
		for _, tg := range targets {
			args = append(args, "--target="+tg)
		}
		var rep status.Report
		var table bytes.Buffer
		for _, output := range []string{"json", "table"} {
			cfg, err := ParseCheck(append(args, "--output="+output), io.Discard, func(string) string { return "" })
			if err != nil {
				t.Fatalf("ParseCheck: %v", err)
			}
			var out bytes.Buffer
			healthy, err := RunCheck(t.Context(), cfg, &out)
			if err != nil {
				t.Fatalf("RunCheck on %s: %v", node, err)
			}
			if output == "table" {
				table = out
				continue
			}
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("probe check --output json: %v\n%s", err, out.String())
			}
			if healthy != (rep.Verdict.Name == "healthy") {
				t.Errorf("RunCheck healthy = %v with verdict %s", healthy, rep.Verdict.Name)
			}
		}
		return rep.Verdict.Name == "healthy", rep, table.String()
	}

	// node-a: 8443 dropped, localhost:8443 refused, the webhook answers.
	healthy, rep, table := check("node-a", "clusterip="+drop.Addr(), "dns="+drop.Addr(), "podip="+drop.Addr(),
		"hostport="+refused, "webhook="+sensor.Addr())
	t.Logf("probe check --node node-a:\n%s", table)
	// The verdict lines do not depend on ports or timings: the README and
	// docs/troubleshooting.md quote them verbatim.
	i := strings.Index(table, "CLUSTER ")
	if i < 0 {
		t.Fatalf("no CLUSTER line in the table:\n%s", table)
	}
	sample := table[i:]
	testsupport.Golden(t, "testdata/check-hostport-workaround.golden", []byte(sample))
	for _, doc := range []string{"../../README.md", "../../docs/troubleshooting.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), sample) {
			t.Errorf("%s does not quote testdata/check-hostport-workaround.golden verbatim", doc)
		}
	}
	v := rep.Verdict
	if healthy || v.Name != "hostport_not_on_this_node" || v.Severity != "critical" {
		t.Errorf("node-a: verdict %s (%s), want hostport_not_on_this_node (critical) and exit 1", v.Name, v.Severity)
	}
	for _, want := range []string{"the relay dials localhost:8443 (path hostport, refused)", "node-b", "VM index reports from this node are lost",
		"networkpolicy_blocks_host_network, the reason the workaround was needed"} {
		if !strings.Contains(v.Cause, want) {
			t.Errorf("node-a: cause %q lacks %q", v.Cause, want)
		}
	}
	for _, want := range []string{"point the relay back at sensor.stackrox.svc:443", "ROX_ADVERTISED_ENDPOINT", "the hostPort on sensor can be removed"} {
		if !strings.Contains(v.Fix, want) {
			t.Errorf("node-a: fix %q lacks %q", v.Fix, want)
		}
	}
	consumers := map[string]string{}
	for _, p := range rep.Paths {
		consumers[p.Name] = p.Consumer
	}
	if consumers["hostport"] != "relay" {
		t.Errorf("node-a: consumers %v, want hostport used by the relay", consumers)
	}

	// node-b, sensor's node: node-local traffic is exempt, the hostPort is there.
	healthy, rep, table = check("node-b", "clusterip="+sensor.Addr(), "dns="+sensor.Addr(), "podip="+sensor.Addr(),
		"hostport="+sensor.Addr(), "webhook="+sensor.Addr())
	if !healthy {
		t.Errorf("node-b: verdict %s (%s), want healthy:\n%s", rep.Verdict.Name, rep.Verdict.Cause, table)
	}
}
