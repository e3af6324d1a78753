//go:build linux

package kube

// Integration tests against a real etcd and kube-apiserver (see package
// kubetest). They skip with a hint when the binaries are missing, and fail
// instead when the environment variable CI is set.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// sharedKube starts an API server for one top-level test (its subtests
// share it, each in its own namespace) and stops it when the test ends, so
// tests stay independent and -count=N works.
func sharedKube(t *testing.T) *kubetest.Env {
	t.Helper()
	return kubetest.StartForTest(t)
}

// testLogger writes through t.Log, so logs show up with the failing test.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fixture is a kubetest.Fixture whose Service IPs are 10.96.<subnet>.x, so
// that tests sharing an API server use different addresses.
type fixture struct {
	*kubetest.Fixture
	subnet int
}

func newFixture(t *testing.T, env *kubetest.Env, ns string, subnet int) *fixture {
	return &fixture{Fixture: kubetest.NewFixture(t, env.AdminClient(t), ns), subnet: subnet}
}

// ip returns the fixture's Service IP 10.96.<subnet>.<last>.
func (f *fixture) ip(last int) string { return fmt.Sprintf("10.96.%d.%d", f.subnet, last) }

// rhacs creates what a secured cluster has: both Services, a ready sensor
// pod on node-a with its EndpointSlice, and the collector DaemonSet.
func (f *fixture) rhacs() {
	f.Service("sensor", f.ip(50), corev1.ServicePort{Name: "https", Port: 443})
	f.Service("sensor-webhook", f.ip(51), corev1.ServicePort{Name: "webhook", Port: 443})
	f.Pod("sensor-1", "node-a", map[string]string{"app": "sensor"}, "10.244.1.5", "192.0.2.1")
	f.EndpointSlice("10.244.1.5", "node-a", true)
	f.Collector("sensor." + f.Namespace + ".svc:443")
}

// started is a running Discovery with what the test needs to watch it.
type started struct {
	d       *Discovery
	mu      sync.Mutex
	last    Snapshot
	changes int
}

// startDiscovery runs a Discovery until the test ends and checks that Run
// then returns nil.
func startDiscovery(t *testing.T, c kubeclient.Interface, cfg Config) *started {
	t.Helper()
	s := &started{}
	cfg.OnChange = func(snap Snapshot) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.last = snap
		s.changes++
	}
	s.d = NewDiscovery(c, cfg, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return 30 s after its context was cancelled")
		}
	})
	return s
}

// await polls the snapshot until ok accepts it. The limit only bounds a
// broken test; nothing asserts how long discovery took.
func (s *started) await(t *testing.T, limit time.Duration, what string, ok func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		snap := s.d.Snapshot()
		if ok(snap) {
			return snap
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %v; last snapshot:\n%+v", what, limit, snap)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func target(s Snapshot, path string) (dial.Target, bool) {
	i := slices.IndexFunc(s.Targets, func(t dial.Target) bool { return t.Name == path })
	if i < 0 {
		return dial.Target{}, false
	}
	return s.Targets[i], true
}

func hasPath(path string) func(Snapshot) bool {
	return func(s Snapshot) bool { _, ok := target(s, path); return ok }
}

//go:fix inline

const waitLimit = 60 * time.Second

func TestDiscoveryFollowsTheCluster(t *testing.T) {
	env := sharedKube(t)
	f := newFixture(t, env, "follow", 1)
	f.rhacs()

	s := startDiscovery(t, env.ProbeClient(t), Config{Namespace: "follow", NodeName: "node-a"})
	// No hostport path: the fixture's sensor, like the stock one, declares no hostPort.
	got := s.await(t, waitLimit, "discovery up with all paths", func(s Snapshot) bool { return s.DiscoveryUp && len(s.Targets) == 4 })
	sn := "sensor.follow.svc"
	want := Snapshot{
		Targets: []dial.Target{
			{Name: "clusterip", Addr: f.ip(50) + ":443", ServerName: sn},
			{Name: "dns", Addr: "sensor.follow.svc:443", ServerName: sn},
			{Name: "podip", Addr: "10.244.1.5:8443", ServerName: sn},
			{Name: "webhook", Addr: f.ip(51) + ":443", ServerName: "sensor-webhook.follow.svc"},
		},
		RelayVSOCKPort:            1818,
		ComplianceVirtualMachines: new(true),
		Transport:                 TransportPush,
		Relay: RelayConfig{
			Found: true, HostNetwork: true, DNSPolicy: "ClusterFirstWithHostNet",
			AdvertisedEndpoint: "sensor.follow.svc:443", GRPCServer: "sensor.follow.svc:443", SNIHostname: sn,
		},
		SensorPod: "follow/sensor-1", SensorNode: "node-a", SensorHostIP: "192.0.2.1", SensorOnThisNode: new(true),
		SensorReady: new(true),
		Uses:        state.Uses{RelayPath: "dns", RelayHostNetwork: new(true)},
		DiscoveryUp: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("first snapshot (-want +got):\n%s", diff)
	}
	if got := s.d.Snapshot().Errors; got != 0 {
		t.Errorf("discovery errors = %v, want 0", got)
	}

	t.Run("sensor moves to another node", func(t *testing.T) {
		f.DeletePod("sensor-1")
		f.Pod("sensor-2", "node-b", map[string]string{"app": "sensor"}, "10.244.2.7", "192.0.2.2")
		f.EndpointSlice("10.244.2.7", "node-b", true)
		got := s.await(t, waitLimit, "sensor on node-b", func(s Snapshot) bool {
			tg, _ := target(s, "podip")
			return s.SensorNode == "node-b" && tg.Addr == "10.244.2.7:8443"
		})
		if diff := cmp.Diff(new(false), got.SensorOnThisNode); diff != "" {
			t.Errorf("SensorOnThisNode (-want +got):\n%s", diff)
		}
	})

	t.Run("service IP changes", func(t *testing.T) {
		f.DeleteService("sensor")
		s.await(t, waitLimit, "clusterip path gone", func(s Snapshot) bool { return !hasPath("clusterip")(s) })
		f.Service("sensor", f.ip(60), corev1.ServicePort{Name: "https", Port: 443})
		got := s.await(t, waitLimit, "clusterip path on the new IP", hasPath("clusterip"))
		if tg, _ := target(got, "clusterip"); tg.Addr != f.ip(60)+":443" {
			t.Errorf("clusterip target = %q, want %s:443", tg.Addr, f.ip(60))
		}
	})

	t.Run("endpoints go unready", func(t *testing.T) {
		f.EndpointSlice("10.244.2.7", "node-b", false)
		got := s.await(t, waitLimit, "podip path gone", func(s Snapshot) bool { return !hasPath("podip")(s) })
		if !got.DiscoveryUp || len(got.Targets) != 3 {
			t.Errorf("snapshot after endpoints went unready: %+v", got)
		}
		f.EndpointSlice("10.244.2.7", "node-b", true)
		s.await(t, waitLimit, "podip path back", hasPath("podip"))
	})

	t.Run("relay switches to the hostPort workaround", func(t *testing.T) {
		f.Collector("localhost:8443")
		got := s.await(t, waitLimit, "relay path hostport", func(s Snapshot) bool { return s.Uses.RelayPath == "hostport" })
		if got.Relay.AdvertisedEndpoint != "localhost:8443" {
			t.Errorf("advertised endpoint = %q", got.Relay.AdvertisedEndpoint)
		}
		// The relay dials localhost: the hostport path is probed although
		// sensor declares no hostPort, and it is the relay's.
		if !hasPath("hostport")(got) || got.Uses.Consumer("hostport") != state.ConsumerRelay {
			t.Errorf("hostport probed %v, consumer %q; want true, relay", hasPath("hostport")(got), got.Uses.Consumer("hostport"))
		}
		f.Collector(f.ip(60) + ":443")
		s.await(t, waitLimit, "relay path clusterip", func(s Snapshot) bool { return s.Uses.RelayPath == "clusterip" })
	})

	t.Run("OnChange saw the latest snapshot", func(t *testing.T) {
		// Snapshot() changes first; OnChange hears of it from Run's
		// goroutine a moment later, so wait for it to catch up.
		var last Snapshot
		var n int
		for deadline := time.Now().Add(waitLimit); ; time.Sleep(20 * time.Millisecond) {
			s.mu.Lock()
			last, n = s.last, s.changes
			s.mu.Unlock()
			if cmp.Equal(s.d.Snapshot(), last) || time.Now().After(deadline) {
				break
			}
		}
		if diff := cmp.Diff(s.d.Snapshot(), last); diff != "" {
			t.Errorf("last OnChange snapshot (-Snapshot() +OnChange):\n%s", diff)
		}
		if n < 5 {
			t.Errorf("OnChange called %d times, want at least 5", n)
		}
	})
}

func TestDiscoveryOverridesWin(t *testing.T) {
	env := sharedKube(t)
	f := newFixture(t, env, "overrides", 2)
	f.rhacs()
	s := startDiscovery(t, env.ProbeClient(t), Config{
		Namespace: "overrides",
		Overrides: map[string]string{"clusterip": "10.1.2.3:443", "extra": "sensor.example:8443"},
	})
	got := s.await(t, waitLimit, "discovery up", func(s Snapshot) bool { return s.DiscoveryUp && len(s.Targets) == 5 })
	want := []dial.Target{
		{Name: "clusterip", Addr: "10.1.2.3:443", ServerName: "sensor.overrides.svc"},
		{Name: "dns", Addr: "sensor.overrides.svc:443", ServerName: "sensor.overrides.svc"},
		{Name: "extra", Addr: "sensor.example:8443"},
		{Name: "podip", Addr: "10.244.1.5:8443", ServerName: "sensor.overrides.svc"},
		{Name: "webhook", Addr: f.ip(51) + ":443", ServerName: "sensor-webhook.overrides.svc"},
	}
	if diff := cmp.Diff(want, got.Targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if got.SensorOnThisNode != nil {
		t.Errorf("SensorOnThisNode = %v without NODE_NAME, want nil", *got.SensorOnThisNode)
	}

	t.Run("DiscoverOnce agrees", func(t *testing.T) {
		once, err := DiscoverOnce(t.Context(), env.ProbeClient(t), Config{
			Namespace: "overrides",
			Overrides: map[string]string{"clusterip": "10.1.2.3:443", "extra": "sensor.example:8443"},
		})
		if err != nil {
			t.Fatalf("DiscoverOnce: %v", err)
		}
		if diff := cmp.Diff(got, once); diff != "" {
			t.Errorf("DiscoverOnce (-informers +once):\n%s", diff)
		}
	})
}

// TestRBACShippedRules applies deploy/base/rbac.yaml unchanged and runs
// discovery and events as ServiceAccount stackrox/sensorprobe with a token
// from the TokenRequest API.
func TestRBACShippedRules(t *testing.T) {
	env := sharedKube(t)
	f := newFixture(t, env, "stackrox", 3)
	f.rhacs()
	rbac := loadRBAC(t, shippedRBAC)
	if ns := rbac.serviceAccounts[0].Namespace; ns != "stackrox" {
		t.Fatalf("shipped ServiceAccount is in namespace %q, want stackrox", ns)
	}
	rbac.apply(t.Context(), t, f.Client)
	self := f.Pod("sensorprobe-abcde", "node-a", map[string]string{"app": "sensorprobe"}, "192.0.2.1", "192.0.2.1")

	saCfg := env.ServiceAccountConfig(t.Context(), t, "stackrox", "sensorprobe")
	sa, err := kubernetes.NewForConfig(saCfg) // the full clientset, to try what the Role forbids
	if err != nil {
		t.Fatal(err)
	}
	probe := kubetest.NewProbeClient(t, saCfg)
	s := startDiscovery(t, probe, Config{Namespace: "stackrox", NodeName: "node-a"})
	got := s.await(t, waitLimit, "discovery up as the ServiceAccount", func(s Snapshot) bool { return s.DiscoveryUp && len(s.Targets) == 4 })
	if got.Uses.RelayPath != "dns" || got.SensorOnThisNode == nil || !*got.SensorOnThisNode || got.Error != "" {
		t.Errorf("snapshot as the ServiceAccount: %+v", got)
	}
	if got := s.d.Snapshot().Errors; got != 0 {
		t.Errorf("discovery errors with the shipped rules = %v, want 0", got)
	}

	t.Run("relay log: reading a pod's log is allowed", func(t *testing.T) {
		// The API server authorizes before it asks a kubelet for the log;
		// without a kubelet here the call fails, but it must not be forbidden.
		_, err := probe.CoreV1().Pods("stackrox").GetLogs("sensor-1", &corev1.PodLogOptions{Container: "main"}).DoRaw(t.Context())
		if err == nil || apierrors.IsForbidden(err) {
			t.Errorf("get pods/log as the ServiceAccount: %v; want allowed (and failing only for want of a kubelet)", err)
		}
	})

	t.Run("nothing more than needed", func(t *testing.T) {
		ctx := t.Context()
		forbidden := []struct {
			name string
			call func() error
		}{
			{"list all services", func() error {
				_, err := sa.CoreV1().Services("stackrox").List(ctx, metav1.ListOptions{})
				return err
			}},
			{"list secrets", func() error {
				_, err := sa.CoreV1().Secrets("stackrox").List(ctx, metav1.ListOptions{})
				return err
			}},
			{"get sensor pod", func() error {
				_, err := sa.CoreV1().Pods("stackrox").Get(ctx, "sensor-1", metav1.GetOptions{})
				return err
			}},
			{"list pods in another namespace", func() error {
				_, err := sa.CoreV1().Pods("follow").List(ctx, metav1.ListOptions{})
				return err
			}},
			{"list nodes", func() error {
				_, err := sa.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
				return err
			}},
			{"delete events", func() error {
				return sa.EventsV1().Events("stackrox").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			}},
			{"list all daemonsets (only collector and sensorprobe, by name)", func() error {
				_, err := sa.AppsV1().DaemonSets("stackrox").List(ctx, metav1.ListOptions{})
				return err
			}},
			{"update daemonset collector", func() error {
				ds, err := f.Client.AppsV1().DaemonSets("stackrox").Get(ctx, "collector", metav1.GetOptions{})
				if err != nil {
					return err
				}
				_, err = sa.AppsV1().DaemonSets("stackrox").Update(ctx, ds, metav1.UpdateOptions{})
				return err
			}},
		}
		for _, tt := range forbidden {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.call(); !apierrors.IsForbidden(err) {
					t.Errorf("got %v, want forbidden", err)
				}
			})
		}
	})

	t.Run("events appear on the probe's pod", func(t *testing.T) {
		clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		n := NewNotifier(probe, NotifierConfig{
			PodName: self.Name, PodNamespace: "stackrox", PodUID: string(self.UID), NodeName: "node-a",
			Burst: 3, Now: clock.now,
		}, testLogger(t))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Notifier.Run: %v", err)
			}
		}()
		// Events recorded before Run has started the sink are dropped.
		select {
		case <-n.started:
		case <-time.After(waitLimit):
			t.Fatal("Notifier.Run did not start recording")
		}
		n.VerdictChanged("unknown", "networkpolicy_blocks_host_network", "8443 times out, 9443 answers")
		waitUntil(t, "verdict event", func() bool { return len(f.events(self.Name, ReasonVerdictChanged)) > 0 })

		// A flapping path: 200 changes at one instant of the notifier's clock.
		for i := range 200 {
			if i%2 == 0 {
				n.PathChanged("clusterip", "ok", "connect_timeout")
			} else {
				n.PathChanged("clusterip", "connect_timeout", "ok")
			}
		}
		waitUntil(t, "path events", func() bool {
			return len(f.events(self.Name, ReasonPathDown)) > 0 && len(f.events(self.Name, ReasonPathUp)) > 0
		})
		down := f.events(self.Name, ReasonPathDown)
		ev := down[0]
		if ev.Type != corev1.EventTypeWarning || ev.ReportingController != ReportingController || ev.Action != "Probe/clusterip" ||
			ev.Regarding.Kind != "Pod" || ev.Regarding.UID != self.UID || !strings.Contains(ev.Note, "node node-a: path clusterip is connect_timeout") {
			t.Errorf("PathDown event: %+v", ev)
		}
		all := len(f.events(self.Name, ReasonPathDown)) + len(f.events(self.Name, ReasonPathUp))
		if all > 3 {
			t.Errorf("%d path events in the API after 200 flaps, want at most the burst of 3", all)
		}
		// The burst is down, up, down: the second down is a repeat, patched
		// into the first as a series of 2.
		waitUntil(t, "the repeated PathDown as a series", func() bool {
			evs := f.events(self.Name, ReasonPathDown)
			return len(evs) == 1 && evs[0].Series != nil && evs[0].Series.Count == 2
		})
	})
}

// waitUntil polls cond every 200 ms; the limit only bounds a broken test.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %v", what, waitLimit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// events lists the events.k8s.io Events about pod with reason.
func (f *fixture) events(pod, reason string) []eventsv1.Event {
	f.T.Helper()
	list, err := f.Client.EventsV1().Events(f.Namespace).List(f.Ctx, metav1.ListOptions{})
	f.Must("list events", err)
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == pod && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// TestRBACMissingRule removes one rule at a time from the shipped Role and
// checks the degraded behaviour docs/kubernetes.md documents: Run keeps
// going, discovery reports down with an error naming the resource, errors
// are counted, and everything the other rules allow is still discovered.
func TestRBACMissingRule(t *testing.T) {
	env := sharedKube(t)
	shipped := loadRBAC(t, shippedRBAC)
	tests := []struct {
		name      string
		resource  string
		errSubstr string
		wantPaths []string
		check     func(t *testing.T, s Snapshot)
	}{
		{
			name: "endpointslices", resource: "endpointslices", errSubstr: "endpointslices: ",
			wantPaths: []string{"clusterip", "dns", "webhook"},
		},
		{
			name: "services", resource: "services", errSubstr: "services/",
			wantPaths: []string{"dns", "podip"},
		},
		{
			name: "pods", resource: "pods", errSubstr: "pods: ",
			wantPaths: []string{"clusterip", "dns", "podip", "webhook"},
			check: func(t *testing.T, s Snapshot) {
				if s.SensorOnThisNode != nil || s.SensorNode != "" {
					t.Errorf("sensor placement known without pods: node %q, on this node %v", s.SensorNode, s.SensorOnThisNode)
				}
			},
		},
		{
			name: "daemonsets", resource: "daemonsets", errSubstr: "daemonsets/collector: ",
			wantPaths: []string{"clusterip", "dns", "podip", "webhook"},
			check: func(t *testing.T, s Snapshot) {
				if s.Relay.Found || s.Uses.RelayPath != "" || s.RelayVSOCKPort != 0 {
					t.Errorf("relay known without the daemonset: %+v", s)
				}
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := "degraded-" + tt.name
			f := newFixture(t, env, ns, 10+i)
			f.rhacs()
			shipped.moveTo(ns).withoutRule(tt.resource).apply(t.Context(), t, f.Client)
			sa := kubetest.NewProbeClient(t, env.ServiceAccountConfig(t.Context(), t, ns, "sensorprobe"))
			s := startDiscovery(t, sa, Config{Namespace: ns, NodeName: "node-a"})
			got := s.await(t, waitLimit, "the forbidden error and the other paths", func(s Snapshot) bool {
				return strings.Contains(s.Error, tt.errSubstr) && len(s.Targets) == len(tt.wantPaths)
			})
			if got.DiscoveryUp {
				t.Errorf("DiscoveryUp = true with a rule missing")
			}
			if !strings.Contains(got.Error, "forbidden") {
				t.Errorf("Error = %q, want it to say forbidden", got.Error)
			}
			var paths []string
			for _, tg := range got.Targets {
				paths = append(paths, tg.Name)
			}
			if diff := cmp.Diff(tt.wantPaths, paths, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			if now := s.d.Snapshot(); now.Errors < 1 || now.DiscoveryUp {
				t.Errorf("snapshot errors = %d, up %v; want > 0, false", now.Errors, now.DiscoveryUp)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
			once, err := DiscoverOnce(t.Context(), sa, Config{Namespace: ns, NodeName: "node-a"})
			if !apierrors.IsForbidden(err) || once.DiscoveryUp || !strings.Contains(once.Error, tt.errSubstr) {
				t.Errorf("DiscoverOnce: err %v, DiscoveryUp %v, Error %q; want forbidden", err, once.DiscoveryUp, once.Error)
			}
			if diff := cmp.Diff(got.Targets, once.Targets); diff != "" {
				t.Errorf("DiscoverOnce targets (-informers +once):\n%s", diff)
			}
		})
	}

	t.Run("events", func(t *testing.T) {
		ns := "degraded-events"
		f := newFixture(t, env, ns, 20)
		shipped.moveTo(ns).withoutRule("events").apply(t.Context(), t, f.Client)
		self := f.Pod("sensorprobe-abcde", "node-a", map[string]string{"app": "sensorprobe"}, "192.0.2.1", "192.0.2.1")
		sa := kubetest.NewProbeClient(t, env.ServiceAccountConfig(t.Context(), t, ns, "sensorprobe"))
		n := NewNotifier(sa, NotifierConfig{PodName: self.Name, PodNamespace: ns, NodeName: "node-a"}, testLogger(t))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		n.PathChanged("clusterip", "ok", "refused") // the API answers forbidden; nothing may panic or block
		n.VerdictChanged("healthy", "degraded", "")
		time.Sleep(time.Second) // give the recorder a chance to try; the assertion below does not depend on it
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Notifier.Run: %v", err)
		}
		if evs := f.events(self.Name, ReasonPathDown); len(evs) != 0 {
			t.Errorf("events written without the rule: %+v", evs)
		}
	})
}

// TestDiscoverySurvivesAPIOutage stops the API server under a running
// discovery, checks it keeps the last known targets and reports the outage,
// then restarts the server and checks discovery recovers and follows changes
// again. It has its own API server.
func TestDiscoverySurvivesAPIOutage(t *testing.T) {
	env := kubetest.StartForTest(t)
	f := newFixture(t, env, "outage", 4)
	f.rhacs()
	s := startDiscovery(t, env.ProbeClient(t), Config{Namespace: "outage", NodeName: "node-a"})
	before := s.await(t, waitLimit, "discovery up", func(s Snapshot) bool { return s.DiscoveryUp && len(s.Targets) == 4 })

	env.StopAPIServer()
	during := s.await(t, waitLimit, "discovery reports the outage", func(s Snapshot) bool { return !s.DiscoveryUp && s.Error != "" })
	if diff := cmp.Diff(before.Targets, during.Targets); diff != "" {
		t.Errorf("targets changed during the outage (-before +during):\n%s", diff)
	}
	if n := s.d.Snapshot().Errors; n < 1 {
		t.Errorf("discovery errors during the outage = %v, want > 0", n)
	}
	t.Logf("during the outage: %s", during.Error)

	if err := env.StartAPIServer(t.Context()); err != nil {
		t.Fatalf("restart kube-apiserver: %v\n%s", err, env.Logs())
	}
	// client-go's reflector backs off up to 30 s (jittered to 60 s) while the server is away.
	s.await(t, 3*time.Minute, "discovery up again", func(s Snapshot) bool { return s.DiscoveryUp && s.Error == "" })
	f.DeleteService("sensor")
	f.Service("sensor", f.ip(70), corev1.ServicePort{Name: "https", Port: 443})
	s.await(t, 3*time.Minute, "the new service IP after recovery", func(s Snapshot) bool {
		tg, _ := target(s, "clusterip")
		return tg.Addr == f.ip(70)+":443"
	})
}

func TestNewClient(t *testing.T) {
	t.Run("not in a pod", func(t *testing.T) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		t.Setenv("KUBERNETES_SERVICE_PORT", "")
		if _, err := NewInClusterClient(); !errors.Is(err, rest.ErrNotInCluster) {
			t.Errorf("NewInClusterClient outside a pod: %v, want rest.ErrNotInCluster", err)
		}
	})
	t.Run("user agent", func(t *testing.T) {
		env := sharedKube(t)
		c, err := NewClient(env.Admin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
			t.Errorf("get namespace default: %v", err)
		}
		if env.Admin.UserAgent != "" {
			t.Errorf("NewClient changed the caller's config: UserAgent %q", env.Admin.UserAgent)
		}
	})
}
