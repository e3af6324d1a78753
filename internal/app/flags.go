// Package app holds sensorprobe's commands — the daemon, the demo and the
// one-shot check — behind cmd/probe: their flags, validation and wiring.
package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// Config is the validated configuration of the daemon and of `probe check`.
type Config struct {
	// Targets from --target, in the order given; a later NAME replaces an earlier one.
	Targets []dial.Target
	// Dial is the prober configuration, TLS material loaded.
	Dial dial.Config

	Interval      time.Duration
	ListenAddress string
	WebConfigFile string
	LogLevel      slog.Level
	LogFormat     string

	Kube       bool
	Kubeconfig string
	Namespace  string
	Node       string
	// PodName, PodNamespace and PodUID identify the probe's own pod, which
	// its Kubernetes Events are about (downward API).
	PodName, PodNamespace, PodUID string
	// RelayLog follows the relay's log through the API server.
	RelayLog bool

	VSOCKRelayPort  uint32
	VSOCKListenPort uint32
	VSOCKInterval   time.Duration
	VSOCKWindow     time.Duration

	// Output is "table" or "json" (check only).
	Output string
	// CheckConfig asks for a dry run: validate, print, exit.
	CheckConfig bool
}

// DefaultCAFile is where the StackRox CA is mounted in the sensorprobe and
// collector pods; --ca-file defaults to it when the file exists, so that
// `probe check` run inside the pod verifies without more flags.
const DefaultCAFile = "/run/secrets/stackrox.io/certs/ca.pem"

// ErrHelp is returned by the parsers when -h or --help was given; the usage
// has been written and the process should exit 0.
var ErrHelp = flag.ErrHelp

// problems collects configuration errors so that all of them are reported at once.
type problems []error

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }

// durationFlag accepts any text at parse time and is validated afterwards,
// so one run reports every bad value instead of the first.
type durationFlag struct {
	v   time.Duration
	raw string
	set bool
}

func (d *durationFlag) String() string { return d.v.String() }
func (d *durationFlag) Set(s string) error {
	d.raw, d.set = s, true
	return nil
}

func (d *durationFlag) resolve(p *problems, name string, def time.Duration, positive bool) time.Duration {
	if !d.set {
		return def
	}
	v, err := time.ParseDuration(d.raw)
	switch {
	case err != nil:
		p.add("--%s: invalid duration %q (examples: 500ms, 10s, 1m)", name, d.raw)
	case positive && v <= 0:
		p.add("--%s: must be positive, got %q", name, d.raw)
	}
	return v
}

type portFlag struct {
	raw string
	set bool
}

func (f *portFlag) String() string { return f.raw }
func (f *portFlag) Set(s string) error {
	f.raw, f.set = s, true
	return nil
}

func (f *portFlag) resolve(p *problems, name string, def uint32, max uint64) uint32 {
	if !f.set {
		return def
	}
	v, err := strconv.ParseUint(f.raw, 10, 32)
	if err != nil || v > max {
		p.add("--%s: port %q out of range (0 to %d)", name, f.raw, max)
		return 0
	}
	return uint32(v)
}

// targetsFlag collects --target NAME=HOST:PORT.
type targetsFlag struct{ raw []string }

func (t *targetsFlag) String() string { return strings.Join(t.raw, ",") }
func (t *targetsFlag) Set(s string) error {
	t.raw = append(t.raw, s)
	return nil
}

// ParseTarget parses NAME=HOST:PORT. NAME is a lower-case path name
// ([a-z0-9_-], at most 32 characters, it becomes a metric label); PORT is 1 to 65535.
func ParseTarget(s string) (dial.Target, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || name == "" || addr == "" {
		return dial.Target{}, fmt.Errorf("want NAME=HOST:PORT, got %q", s)
	}
	if len(name) > 32 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
		return dial.Target{}, fmt.Errorf("path name %q: use up to 32 of a-z, 0-9, _ and -", name)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return dial.Target{}, fmt.Errorf("address %q: want HOST:PORT", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return dial.Target{}, fmt.Errorf("address %q: port out of range (1 to 65535)", addr)
	}
	return dial.Target{Path: name, Addr: addr}, nil
}

// commonFlags are shared by the daemon and check.
type commonFlags struct {
	targets                          targetsFlag
	serverName, caFile, certFile     string
	keyFile, check, logLevel, logFmt string
	timeout                          durationFlag
	kube                             bool
	kubeconfig, namespace, node      string
}

func (c *commonFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.Var(&c.targets, "target", "a path to probe, `NAME=HOST:PORT` (repeatable; adds a path or overrides a discovered one). Names: clusterip, dns, hostport, podip, webhook, or your own")
	fs.StringVar(&c.serverName, "server-name", "", "TLS server name (SNI and verification) of the --target paths but webhook (default sensor.<namespace>.svc; webhook uses sensor-webhook.<namespace>.svc; discovered paths always use these names)")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM CA bundle that sensor's certificate must chain to (StackRox ca.pem); default "+DefaultCAFile+" when that file exists; without a CA the handshake completes unverified")
	fs.StringVar(&c.certFile, "cert-file", "", "client certificate to present (PEM); needs --key-file")
	fs.StringVar(&c.keyFile, "key-file", "", "key of --cert-file (PEM)")
	fs.StringVar(&c.check, "check", string(dial.CheckHTTP), "what to do after connecting: http (TLS + GET /ready), grpc (TLS + grpc.health.v1 Check; Unimplemented counts as reachable) or tcp (connect only)")
	fs.Var(&c.timeout, "timeout", "bound on one attempt, all phases together (default 5s)")
	fs.StringVar(&c.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFmt, "log.format", "text", "log format: text or json")
	fs.BoolVar(&c.kube, "kube", true, "discover sensor's paths and the relay's configuration from the Kubernetes API when running in a cluster (or with --kubeconfig)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", getenv("KUBECONFIG"), "kubeconfig file for running outside a cluster")
	fs.StringVar(&c.namespace, "namespace", "stackrox", "namespace of sensor and collector")
	fs.StringVar(&c.node, "node", getenv("NODE_NAME"), "this node's name (default $NODE_NAME, from the downward API)")
}

func (c *commonFlags) resolve(p *problems, cfg *Config) {
	cfg.Dial.Timeout = c.timeout.resolve(p, "timeout", 5*time.Second, true)
	cfg.Dial.ServerName = c.serverName
	if c.serverName == "" {
		cfg.Dial.ServerName = "sensor." + c.namespace + ".svc"
	}
	switch dial.CheckMode(c.check) {
	case dial.CheckHTTP, dial.CheckGRPC, dial.CheckTCP:
		cfg.Dial.Check = dial.CheckMode(c.check)
	default:
		p.add("--check: %q is not one of http, grpc, tcp", c.check)
	}
	byName := map[string]int{}
	for _, raw := range c.targets.raw {
		t, err := ParseTarget(raw)
		if err != nil {
			p.add("--target: %v", err)
			continue
		}
		if t.Path == dial.PathWebhook {
			// sensor-webhook's own name is on sensor's certificate.
			t.ServerName = "sensor-webhook." + c.namespace + ".svc"
		}
		if i, ok := byName[t.Path]; ok {
			cfg.Targets[i] = t
			continue
		}
		byName[t.Path] = len(cfg.Targets)
		cfg.Targets = append(cfg.Targets, t)
	}
	if c.caFile == "" {
		if _, err := os.Stat(DefaultCAFile); err == nil {
			c.caFile = DefaultCAFile
		}
	}
	if c.caFile != "" {
		pool, err := dial.LoadCA(c.caFile)
		if err != nil {
			p.add("--ca-file: %q: %v", c.caFile, err)
		}
		cfg.Dial.RootCAs = pool
	}
	certs, err := dial.LoadKeyPair(c.certFile, c.keyFile)
	if err != nil {
		p.add("--cert-file/--key-file: %q/%q: %v", c.certFile, c.keyFile, err)
	}
	cfg.Dial.Certificates = certs
	if err := cfg.LogLevel.UnmarshalText([]byte(c.logLevel)); err != nil {
		p.add("--log.level: %q is not one of debug, info, warn, error", c.logLevel)
	}
	switch c.logFmt {
	case "text", "json":
		cfg.LogFormat = c.logFmt
	default:
		p.add("--log.format: %q is not one of text, json", c.logFmt)
	}
	cfg.Kube, cfg.Kubeconfig, cfg.Namespace, cfg.Node = c.kube, c.kubeconfig, c.namespace, c.node
	if c.namespace == "" {
		p.add("--namespace: must not be empty")
	}
}

func newFlagSet(name string, out io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprint(out, usage)
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse runs fs.Parse and turns its error into one line naming the flag.
func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return ErrHelp
	}
	if err != nil {
		return fmt.Errorf("%v (see %s --help)", err, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see %s --help)", fs.Arg(0), fs.Name())
	}
	return nil
}

const daemonUsage = `Usage: probe [flags]

Probe RHACS sensor from this node's host network over every path that
matters, classify every failure, watch VM VSOCK activity, and export it all on
/metrics with a status page at /. Other commands: probe demo, probe check,
probe vsock-ping, probe version.

Flags:
`

// ParseDaemon parses the daemon's flags. getenv supplies environment defaults
// (NODE_NAME, KUBECONFIG). All problems are reported together, one per line.
func ParseDaemon(args []string, stdout io.Writer, getenv func(string) string) (*Config, error) {
	fs := newFlagSet("probe", stdout, daemonUsage)
	var c commonFlags
	c.register(fs, getenv)
	var interval, vInterval, vWindow durationFlag
	var relayPort, listenPort portFlag
	cfg := &Config{}
	fs.Var(&interval, "interval", "time between the starts of two attempts on one path, jittered ±10% (default 10s)")
	fs.StringVar(&cfg.ListenAddress, "web.listen-address", ":9090", "address for /metrics, /healthz, /readyz, / and /status (collector holds :9090 on hostNetwork nodes: the manifests use :9818)")
	fs.StringVar(&cfg.WebConfigFile, "web.config.file", "", "exporter-toolkit web configuration file enabling TLS or basic auth on the listener")
	fs.Var(&relayPort, "vsock.relay-port", "VSOCK port of the VM relay (ROX_VIRTUAL_MACHINES_VSOCK_PORT; discovery overrides the default) (default 818)")
	fs.Var(&listenPort, "vsock.listen-port", "VSOCK port for the probe's own beacon that probe vsock-ping dials from a VM; 0 disables it (default 0)")
	fs.Var(&vInterval, "vsock.interval", "time between two VSOCK socket dumps (default 10s)")
	fs.Var(&vWindow, "vsock.window", "window over which distinct VM peers are counted (default 10m)")
	fs.BoolVar(&cfg.RelayLog, "relay-log", true, "in a cluster, follow the compliance container's log of the collector pod on this node and count the VM relay's events (needs get on pods/log)")
	fs.BoolVar(&cfg.CheckConfig, "check-config", false, "validate the flags and files, print the configuration, and exit")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var p problems
	c.resolve(&p, cfg)
	cfg.PodName, cfg.PodNamespace, cfg.PodUID = getenv("POD_NAME"), getenv("POD_NAMESPACE"), getenv("POD_UID")
	cfg.Interval = interval.resolve(&p, "interval", 10*time.Second, true)
	cfg.VSOCKRelayPort = relayPort.resolve(&p, "vsock.relay-port", 818, 1<<32-2)
	cfg.VSOCKListenPort = listenPort.resolve(&p, "vsock.listen-port", 0, 1<<32-2)
	cfg.VSOCKInterval = vInterval.resolve(&p, "vsock.interval", 10*time.Second, true)
	cfg.VSOCKWindow = vWindow.resolve(&p, "vsock.window", 10*time.Minute, true)
	if cfg.VSOCKListenPort != 0 && cfg.VSOCKListenPort == cfg.VSOCKRelayPort {
		p.add("--vsock.listen-port: %d is the relay's port (--vsock.relay-port); the beacon needs a port of its own", cfg.VSOCKListenPort)
	}
	if cfg.Interval > 0 && cfg.Dial.Timeout > cfg.Interval {
		p.add("--timeout: %v is longer than --interval %v; an attempt must end before the next is due", cfg.Dial.Timeout, cfg.Interval)
	}
	if _, port, err := net.SplitHostPort(cfg.ListenAddress); err != nil {
		p.add("--web.listen-address: %q: want [HOST]:PORT", cfg.ListenAddress)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("--web.listen-address: %q: port out of range (0 to 65535)", cfg.ListenAddress)
	}
	if cfg.WebConfigFile != "" {
		if _, err := os.Stat(cfg.WebConfigFile); err != nil {
			p.add("--web.config.file: %v", err)
		}
	}
	if !cfg.Kube && len(c.targets.raw) == 0 {
		p.add("--target: no paths to probe; give at least one --target NAME=HOST:PORT, or run in a cluster with --kube")
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

const checkUsage = `Usage: probe check [flags]

Make one round of attempts over every path, from where it runs, print a table
and the verdict with its fix. Exit 0 when healthy, 1 when degraded, 2 on a
usage error. Run it on a node shell or through: oc -n stackrox exec ds/sensorprobe -- probe check

Flags:
`

// ParseCheck parses the flags of `probe check`.
func ParseCheck(args []string, stdout io.Writer, getenv func(string) string) (*Config, error) {
	fs := newFlagSet("probe check", stdout, checkUsage)
	var c commonFlags
	c.register(fs, getenv)
	cfg := &Config{}
	fs.StringVar(&cfg.Output, "output", "table", "output format: table or json")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var p problems
	c.resolve(&p, cfg)
	if cfg.Output != "table" && cfg.Output != "json" {
		p.add("--output: %q is not one of table, json", cfg.Output)
	}
	if !cfg.Kube && len(c.targets.raw) == 0 {
		p.add("--target: no paths to probe; give at least one --target NAME=HOST:PORT, or run in a cluster with --kube")
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

// NewLogger returns the logger the flags ask for, writing to w.
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Describe renders the effective configuration for --check-config.
func Describe(cfg *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "configuration is valid\n")
	fmt.Fprintf(&b, "  check %s, timeout %v, interval %v, server name %s, verify %v, client certificate %v\n",
		cfg.Dial.Check, cfg.Dial.Timeout, cfg.Interval, cfg.Dial.ServerName, cfg.Dial.RootCAs != nil, len(cfg.Dial.Certificates) > 0)
	fmt.Fprintf(&b, "  listen %s, kube %v (namespace %s, node %q)\n", cfg.ListenAddress, cfg.Kube, cfg.Namespace, cfg.Node)
	fmt.Fprintf(&b, "  vsock relay port %d, beacon port %d\n", cfg.VSOCKRelayPort, cfg.VSOCKListenPort)
	for _, t := range cfg.Targets {
		fmt.Fprintf(&b, "  target %s = %s\n", t.Path, t.Addr)
	}
	return strings.TrimRight(b.String(), "\n")
}
