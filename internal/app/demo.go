package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
	"github.com/sensorprobe/sensorprobe/internal/web"
)

// DemoConfig configures `probe demo`.
type DemoConfig struct {
	ListenAddress string
	Interval      time.Duration
	Timeout       time.Duration
	// For stops the demo after this long; 0 runs until interrupted.
	For time.Duration
	// Scenario picks which field problem the stand-ins reproduce.
	Scenario string
	LogLevel slog.Level
}

// scenarioStock is the demo's stock install: the NetworkPolicy drop with
// collector in the pod network.
const scenarioStock = "stock"

// Scenarios lists the demo's scenarios with what each reproduces.
var Scenarios = map[string]string{
	"service-routing": "the ClusterIP and the DNS name time out from the host network, the pod IP and hostPort answer (the field problem)",
	"networkpolicy":   "every 8443 path but the node-local hostPort times out while the webhook port answers (sensor's NetworkPolicy), with collector customised onto the host network",
	scenarioStock:     "the same NetworkPolicy drop on a stock install, where collector runs in the pod network: the host-network paths are controls and the node is healthy, with a note",
	"healthy":         "every path answers",
	scenarioPull:      "RHACS 4.12 pull mode: no relay, sensor scrapes this node's VMIs through KubeVirt; one of the three lacks VSOCK, one's agent does not serve, and after three checks the node's virt-handler stops accepting connections on its port 8186",
	"sensor-down":     "every path, the webhook included, is refused",
}

func scenarioNames() string {
	var names []string
	for n := range Scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

const demoUsage = `Usage: probe demo [flags]

Start in-process stand-ins for sensor (TLS from a generated CA with sensor's
real SAN set, /ready, gRPC), a ClusterIP that drops packets like a broken
cluster (a listener whose accept queue is full: "dial tcp …: i/o timeout"),
a webhook port and a DNS server, then run the real probe loop against them
with metrics on --web.listen-address. No root, no cluster.

Flags:
`

// ParseDemo parses the flags of `probe demo`.
func ParseDemo(args []string, stdout io.Writer) (*DemoConfig, error) {
	fs := newFlagSet("probe demo", stdout, demoUsage)
	cfg := &DemoConfig{}
	var interval, timeout, forD durationFlag
	var level string
	fs.StringVar(&cfg.ListenAddress, "web.listen-address", ":9090", "address for /metrics, / and /status")
	fs.Var(&interval, "interval", "time between attempts on one path (default 2s)")
	fs.Var(&timeout, "timeout", "bound on one attempt (default 1s)")
	fs.Var(&forD, "for", "stop after this long, e.g. 30s (default: run until interrupted)")
	fs.StringVar(&cfg.Scenario, "scenario", "service-routing", "what the stand-ins reproduce: "+scenarioNames())
	fs.StringVar(&level, "log.level", "warn", "log level of the probe's own log lines (stderr)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var p problems
	cfg.Interval = interval.resolve(&p, "interval", 2*time.Second, true)
	cfg.Timeout = timeout.resolve(&p, "timeout", time.Second, true)
	cfg.For = forD.resolve(&p, "for", 0, false)
	if cfg.For < 0 {
		p.add("--for: must not be negative, got %v", cfg.For)
	}
	if _, ok := Scenarios[cfg.Scenario]; !ok {
		p.add("--scenario: %q is not one of %s", cfg.Scenario, scenarioNames())
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(level)); err != nil {
		p.add("--log.level: %q is not one of debug, info, warn, error", level)
	}
	if cfg.Timeout > cfg.Interval && cfg.Interval > 0 {
		p.add("--timeout: %v is longer than --interval %v", cfg.Timeout, cfg.Interval)
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

// standins are the demo's fake cluster.
type standins struct {
	ca      *standin.CA
	sensor  *standin.Sensor
	webhook *standin.Sensor
	hole    *standin.Blackhole
	dns     *standin.DNS
	closers []io.Closer
}

func (s *standins) Close() {
	for _, v := range slices.Backward(s.closers) {
		_ = v.Close()
	}
}

func startStandins() (_ *standins, err error) {
	s := &standins{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.ca, err = standin.NewCA(standin.CAName); err != nil {
		return nil, err
	}
	cert, err := s.ca.Issue(standin.LeafOptions{CommonName: "SENSOR_SERVICE", DNSNames: standin.SensorSANs("stackrox")})
	if err != nil {
		return nil, err
	}
	if s.sensor, err = standin.NewSensor(standin.SensorConfig{Cert: cert, ClientCAs: s.ca.Pool()}); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.sensor)
	if s.webhook, err = standin.NewSensor(standin.SensorConfig{Cert: cert}); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.webhook)
	if s.hole, err = standin.NewBlackhole(""); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.hole)
	if s.dns, err = standin.NewDNS(map[string]string{"sensor.stackrox.svc": "127.0.0.1"}); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.dns)
	return s, nil
}

// targets returns the paths of the scenario: which stand-in each path reaches.
func (s *standins) targets(scenario string) ([]dial.Target, error) {
	sensor, webhook, hole := s.sensor.Addr(), s.webhook.Addr(), s.hole.Addr()
	_, holePort, _ := net.SplitHostPort(hole)
	_, sensorPort, _ := net.SplitHostPort(sensor)
	clusterIP, dnsAddr, podIP, hook := hole, "sensor.stackrox.svc:"+holePort, sensor, webhook
	switch scenario {
	case "networkpolicy", scenarioStock:
		podIP = hole
	case "healthy", scenarioPull:
		clusterIP, dnsAddr = sensor, "sensor.stackrox.svc:"+sensorPort
	case "sensor-down":
		refused, err := standin.RefusedAddr()
		if err != nil {
			return nil, err
		}
		_, refusedPort, _ := net.SplitHostPort(refused)
		clusterIP, dnsAddr, podIP, hook, sensor = refused, "sensor.stackrox.svc:"+refusedPort, refused, refused, refused
	}
	return []dial.Target{
		{Name: dial.PathClusterIP, Addr: clusterIP},
		{Name: dial.PathDNS, Addr: dnsAddr},
		{Name: dial.PathHostPort, Addr: sensor},
		{Name: dial.PathPodIP, Addr: podIP},
		{Name: dial.PathWebhook, Addr: hook, ServerName: "sensor-webhook.stackrox.svc"},
	}, nil
}

// demoPrinter prints transitions for a person watching the demo.
type demoPrinter struct {
	mu  sync.Mutex
	out io.Writer
	t0  time.Time
	// vms, when set, is the pull scenario's VM table, printed with each verdict.
	vms func() []clustercheck.VMRow
}

func (p *demoPrinter) PathChanged(path string, old, new dial.Reason, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := time.Since(p.t0).Round(100 * time.Millisecond)
	if new == dial.ReasonOK {
		fmt.Fprintf(p.out, "%6s  %-9s UP\n", at, path)
		return
	}
	fmt.Fprintf(p.out, "%6s  %-9s DOWN  %s: %v\n", at, path, new, err)
}

func (p *demoPrinter) VerdictChanged(old, new verdict.Verdict) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := time.Since(p.t0).Round(100 * time.Millisecond)
	fmt.Fprintf(p.out, "%6s  verdict   %s\n          cause: %s\n          fix:   %s\n", at, new.Name, new.Cause, new.Fix)
	for _, n := range new.Notes {
		fmt.Fprintf(p.out, "          note:  %s\n", n)
	}
	if p.vms != nil {
		_ = clustercheck.WriteVMTable(p.out, p.vms())
		fmt.Fprintln(p.out)
	}
}

// RunDemo runs the demo until ctx ends or cfg.For passes.
func RunDemo(ctx context.Context, cfg *DemoConfig, stdout io.Writer, logger *slog.Logger) error {
	ln, err := web.Listen(ctx, cfg.ListenAddress, "--web.listen-address")
	if err != nil {
		return err
	}
	defer ln.Close()
	s, err := startStandins()
	if err != nil {
		return fmt.Errorf("start stand-ins: %w", err)
	}
	defer s.Close()
	targets, err := s.targets(cfg.Scenario)
	if err != nil {
		return err
	}
	e, err := NewEngine(dial.Config{
		Timeout:  cfg.Timeout,
		RootCAs:  s.ca.Pool(),
		Resolver: s.dns.Resolver(),
		Check:    dial.CheckHTTP,
	}, cfg.Interval, "demo-node", logger)
	if err != nil {
		return err
	}
	printer := &demoPrinter{out: stdout, t0: time.Now()}
	e.Monitor.AddListener(printer)
	e.SetTargets(targets, demoUses(cfg.Scenario))
	var pull *demoPull
	if cfg.Scenario == scenarioPull {
		if pull, err = addDemoPull(e, cfg.Interval, printer); err != nil {
			return err
		}
		defer pull.Close()
	}

	port := "9090"
	if _, p, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		port = p
	}
	fmt.Fprintf(stdout, "sensorprobe demo — scenario %q: %s\n\n", cfg.Scenario, Scenarios[cfg.Scenario])
	fmt.Fprintf(stdout, "stand-ins on loopback (TLS from a generated %q, SANs %s):\n", standin.CAName, strings.Join(standin.SensorSANs("stackrox"), ", "))
	fmt.Fprintf(stdout, "  sensor api      %s   (/ready, gRPC)\n  sensor-webhook  %s\n  dropped packets %s   (accept queue full: dials time out)\n  DNS             %s   (sensor.stackrox.svc → 127.0.0.1)\n\npaths (%s):\n",
		s.sensor.Addr(), s.webhook.Addr(), s.hole.Addr(), s.dns.Addr(), demoSetUp(cfg.Scenario))
	for _, t := range targets {
		fmt.Fprintf(stdout, "  %-9s → %s\n", t.Name, t.Addr)
	}
	if pull != nil {
		fmt.Fprintf(stdout, "\npull path on this node (RHACS %s, sensor's ROX_VIRTUAL_MACHINES on):\n  VMIs          vms/rhel9 (VSOCK, CID 3), vms/agent-down (VSOCK, CID 4, roxagent not serving), vms/fedora-plain (no VSOCK)\n  virt-handler  kubevirt/virt-handler-demo → %s   (stops after %d checks)\n",
			demoPullVersion, pull.Addr(), demoPullDownAfter)
	}
	fmt.Fprintf(stdout, "\nprobing every %v with a %v timeout; try in another terminal:\n  curl -s localhost:%s/metrics | grep sensorprobe_\n  curl -s localhost:%s/status\n  open http://localhost:%s/ in a browser\n\n", cfg.Interval, cfg.Timeout, port, port, port)

	// Stop with a plain cancel rather than a context deadline: a deadline
	// would be copied into the last attempt's socket and cut it short.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.For > 0 {
		t := time.AfterFunc(cfg.For, cancel)
		defer t.Stop()
	}
	err = e.Run(runCtx, ln, "")
	fmt.Fprintln(stdout)
	if werr := status.WriteTable(stdout, e.Monitor.Status(ctx)); werr != nil && err == nil {
		err = werr
	}
	if pull != nil {
		// What the cluster check adds: sensor's own view of each VM.
		if werr := clustercheck.WriteVMTable(stdout, pull.VMTable()); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// demoUses says who depends on the demo's paths: the relay on the host
// network dialling the ClusterIP (the set-up the field problem comes from),
// or, in the stock scenario, collector in the pod network.
func demoUses(scenario string) state.Uses {
	if scenario == scenarioPull {
		no := false
		return state.Uses{RelayHostNetwork: &no, NoRelay: true}
	}
	if scenario == scenarioStock {
		no := false
		return state.Uses{RelayPath: dial.PathClusterIP, RelayHostNetwork: &no}
	}
	return state.RelayOnHostNetwork(dial.PathClusterIP)
}

func demoSetUp(scenario string) string {
	if scenario == scenarioPull {
		return "the 4.12 line has no relay: every host-network path is a control"
	}
	if scenario == scenarioStock {
		return "collector in the pod network, as installed: every host-network path is a control"
	}
	return "collector customised onto the host network; its relay dials clusterip, as with ROX_ADVERTISED_ENDPOINT=<ClusterIP>:443"
}
