package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/version"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/metrics"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/verdict"

	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
	"github.com/sensorprobe/sensorprobe/internal/web"
)

const daemonUsage = `Usage: probe [flags]

Probe RHACS sensor from this node's host network over every path that
matters, classify every failure, watch VM VSOCK activity, and export it all on
/metrics with a status page at /. Other commands: probe demo, probe check,
probe vsock-ping, probe simulate, probe version.

Flags:
`

// ParseDaemon parses the daemon's flags. getenv supplies environment defaults
// (NODE_NAME, KUBECONFIG). All problems are reported together, one per line.
func ParseDaemon(args []string, stdout io.Writer, getenv func(string) string) (*DaemonConfig, error) {
	fs := newFlagSet("probe", stdout, daemonUsage)
	var c commonFlags
	c.register(fs, getenv)
	var interval, vInterval, vWindow durationFlag
	var relayPort, listenPort portFlag
	var sched scheduleFlags
	cfg := &DaemonConfig{}
	fs.Var(&interval, "interval", "time between two attempts on one path, each up to 5% early at random (default 10s)")
	sched.register(fs)
	fs.StringVar(&cfg.ListenAddress, "web.listen-address", ":9090", "address for /metrics, /healthz, /readyz, / and /status (collector holds :9090 on hostNetwork nodes: the manifests use :9818)")
	fs.StringVar(&cfg.WebConfigFile, "web.config.file", "", "exporter-toolkit web configuration file enabling TLS, client certificates or basic auth on the listener")
	fs.BoolVar(&cfg.WebStatus, "web.status", true, "serve the status page at / and /status (targets, certificate facts, error text); false serves only /metrics, /healthz and /readyz (docs/security.md)")
	fs.Var(&relayPort, "vsock.relay-port", "VSOCK port of the VM relay (ROX_VIRTUAL_MACHINES_VSOCK_PORT; discovery overrides the default) (default 818)")
	fs.Var(&listenPort, "vsock.listen-port", "VSOCK port for the probe's own beacon that probe vsock-ping dials from a VM; 0 disables it (default 0)")
	fs.Var(&vInterval, "vsock.interval", "time between two VSOCK socket dumps (default 10s)")
	fs.Var(&vWindow, "vsock.window", "window over which distinct VM peers are counted (default 10m)")
	fs.BoolVar(&cfg.RelayLog, "relay-log", true, "in a cluster, follow the compliance container's log of the collector pod on this node and count the VM relay's events (needs get on pods/log)")
	fs.BoolVar(&cfg.DryRun, "check-config", false, "validate the flags and files, print the configuration, and exit")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var p problems
	c.resolve(&p, &cfg.Config)
	cfg.PodName, cfg.PodNamespace, cfg.PodUID = getenv("POD_NAME"), getenv("POD_NAMESPACE"), getenv("POD_UID")
	cfg.memoryLimit = parseMemoryLimit(&p, getenv)
	cfg.Schedule = sched.resolve(&p, interval.resolve(&p, "interval", 10*time.Second, true))
	cfg.FleetDaemonSet = sched.daemonSet
	cfg.FleetNamespace = cfg.PodNamespace
	if cfg.FleetNamespace == "" {
		cfg.FleetNamespace = cfg.Namespace
	}
	cfg.VSOCKRelayPort = relayPort.resolve(&p, "vsock.relay-port", 818, 1<<32-2)
	cfg.VSOCKListenPort = listenPort.resolve(&p, "vsock.listen-port", 0, 1<<32-2)
	cfg.VSOCKInterval = vInterval.resolve(&p, "vsock.interval", 10*time.Second, true)
	cfg.VSOCKWindow = vWindow.resolve(&p, "vsock.window", 10*time.Minute, true)
	if cfg.VSOCKListenPort != 0 && cfg.VSOCKListenPort < 1024 {
		p.add("--vsock.listen-port: %d is below 1024; binding it needs CAP_NET_BIND_SERVICE, which the pod drops (choose 1024 or above)", cfg.VSOCKListenPort)
	}
	if cfg.VSOCKListenPort != 0 && cfg.VSOCKListenPort == cfg.VSOCKRelayPort {
		p.add("--vsock.listen-port: %d is the relay's port (--vsock.relay-port); the beacon needs a port of its own", cfg.VSOCKListenPort)
	}
	if iv := cfg.Schedule.Interval; iv > 0 && cfg.Dial.Timeout > iv {
		p.add("--timeout: %v is longer than --interval %v; an attempt must end before the next is due", cfg.Dial.Timeout, iv)
	}
	if _, port, err := net.SplitHostPort(cfg.ListenAddress); err != nil {
		p.add("--web.listen-address: %q: want [HOST]:PORT", cfg.ListenAddress)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("--web.listen-address: %q: port out of range (0 to 65535)", cfg.ListenAddress)
	}
	if err := web.ValidateConfig(cfg.WebConfigFile); err != nil {
		p.add("--web.config.file: %q: %v", cfg.WebConfigFile, err)
	}
	if !cfg.Kube && len(c.targets.raw) == 0 {
		p.add("--target: no paths to probe; give at least one --target NAME=HOST:PORT, or run in a cluster with --kube")
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

// RunDaemon runs the probe as the DaemonSet does, until ctx ends.
func RunDaemon(ctx context.Context, cfg *DaemonConfig, logger *slog.Logger) error {
	// Bind first: a busy port is a configuration problem worth one clear line.
	ln, err := web.Listen(ctx, cfg.ListenAddress, "--web.listen-address")
	if err != nil {
		return err
	}
	defer ln.Close()
	cfg.memoryLimit.apply(logger)
	e, err := NewEngineWith(EngineConfig{Dial: cfg.dialConfig(), Schedule: cfg.Schedule, Node: cfg.Node}, logger)
	if err != nil {
		return err
	}
	e.HideStatus = !cfg.WebStatus
	if err := addOptionalParts(ctx, e, cfg); err != nil {
		return err
	}

	logger.InfoContext(ctx, "starting sensorprobe", "version", version.Version, "node", cfg.Node,
		"listen", ln.Addr().String(), "interval", cfg.Schedule.Interval.String(), "timeout", cfg.Dial.Timeout.String(),
		"sensor_budget", cfg.Schedule.SensorBudget, "fleet_size", e.Scheduler.FleetSize(), "full_interval", e.Scheduler.FullInterval().String(),
		"check", cfg.Dial.Check, "server_name", cfg.Dial.ServerName, "verify", cfg.Trust != nil && cfg.Trust.Roots() != nil)
	return e.Run(ctx, ln, cfg.WebConfigFile)
}

// addOptionalParts adds the TLS material reloader, the VSOCK watcher (and its beacon) and Kubernetes
// discovery to e as configured; without discovery the --target paths are
// probed as given.
func addOptionalParts(ctx context.Context, e *Engine, cfg *DaemonConfig) error {
	if cfg.Trust != nil {
		cfg.Trust.SetLogger(e.Log)
		if err := e.Register(metrics.NewTrustCollector(cfg.Trust)); err != nil {
			return err
		}
		e.Add(cfg.Trust.Run)
	}
	w := vsockwatch.New(vsockwatch.Config{
		RelayPort: cfg.VSOCKRelayPort,
		Interval:  cfg.VSOCKInterval,
		Window:    cfg.VSOCKWindow,
	}, e.Log)
	if err := e.Register(metrics.NewVSOCKCollector(w)); err != nil {
		return err
	}
	e.Add(w.Run)
	if cfg.VSOCKListenPort != 0 {
		ln, err := vsockwatch.ListenVSOCK(cfg.VSOCKListenPort)
		if err != nil {
			return fmt.Errorf("--vsock.listen-port %d: %w", cfg.VSOCKListenPort, err)
		}
		e.Add(func(ctx context.Context) error { return w.ServeBeacon(ctx, ln, cfg.Node) })
	}
	clusterFacts, err := addKube(ctx, e, cfg, w)
	if err != nil {
		return err
	}
	e.Monitor.SetFacts(func() monitor.Facts {
		f := monitor.Facts{VSOCK: vsockFactsOf(w.Snapshot())}
		if clusterFacts != nil {
			f.Cluster = clusterFacts()
		}
		return f
	})
	return nil
}

// vsockFactsOf converts the watcher's snapshot into the monitor's facts.
func vsockFactsOf(s vsockwatch.Snapshot) *monitor.VSOCKFacts {
	f := &monitor.VSOCKFacts{
		VSOCK: verdict.VSOCK{
			RelayListening:     s.RelayListening,
			ConnectionsRecent:  s.ConnectionsRecent,
			RelayConnections:   s.RelayConnections,
			RelayKnown:         s.RelayKnown,
			RelayLog:           s.RelayLog.Following || s.RelayLog.Opens > 0,
			SendErrorsRecent:   s.SendErrorsRecent,
			SendErrorCode:      string(s.LastSendErrorCode),
			ReportsSentRecent:  s.ReportsSentRecent,
			ListenErrorsRecent: s.ListenErrorsRecent,
		},
		RelayPort:        s.RelayPort,
		VSOCKDevice:      s.Capability.Devices[vsockwatch.DeviceVsock],
		VhostVSOCKDevice: s.Capability.Devices[vsockwatch.DeviceVhostVsock],
		DiagSupported:    s.Diag.Support == vsockwatch.DiagSupported,
		PeerCIDs:         len(s.PeerCIDs),
		LastActivity:     s.LastActivity,
	}
	switch {
	case s.Diag.Error != "":
		f.Error = s.Diag.Error
	case s.Diag.Support != vsockwatch.DiagSupported:
		f.Error = s.Diag.Hint
	}
	return f
}

var errNoTargets = errors.New("no paths to probe: not running in a cluster and no --target given")

// staticTargets returns the --target paths, or an error when there are none.
func staticTargets(cfg *Config) ([]dial.Target, error) {
	if len(cfg.Targets) == 0 {
		return nil, errNoTargets
	}
	return cfg.Targets, nil
}

// Describe renders the effective configuration for --check-config.
func Describe(cfg *DaemonConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "configuration is valid\n")
	fmt.Fprintf(&b, "  check %s, timeout %v, interval %v, server name %s, verify %v, client certificate %v\n",
		cfg.Dial.Check, cfg.Dial.Timeout, cfg.Schedule.Interval, cfg.Dial.ServerName, cfg.Trust != nil && cfg.Trust.Roots() != nil, cfg.Trust != nil && cfg.Trust.ClientCertificate() != nil)
	fleet := "from daemonset " + cfg.FleetNamespace + "/" + cfg.FleetDaemonSet
	switch {
	case cfg.Schedule.FleetSize > 0:
		fleet = strconv.Itoa(cfg.Schedule.FleetSize)
	case !cfg.Kube:
		fleet = "1 (no Kubernetes)"
	}
	fmt.Fprintf(&b, "  sensor budget %g handshakes/s, full interval at least %v, fleet size %s\n",
		cfg.Schedule.SensorBudget, max(cfg.Schedule.FullInterval, cfg.Schedule.Interval), fleet)
	if cfg.Trust != nil {
		for _, f := range cfg.Trust.Status().CAFiles {
			fmt.Fprintf(&b, "  trusting CA file %s\n", f)
		}
	}
	fmt.Fprintf(&b, "  listen %s, kube %v (namespace %s, node %q)\n", cfg.ListenAddress, cfg.Kube, cfg.Namespace, cfg.Node)
	fmt.Fprintf(&b, "  vsock relay port %d, beacon port %d\n", cfg.VSOCKRelayPort, cfg.VSOCKListenPort)
	for _, t := range cfg.Targets {
		fmt.Fprintf(&b, "  target %s = %s\n", t.Name, t.Addr)
	}
	return strings.TrimRight(b.String(), "\n")
}
