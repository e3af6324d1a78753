// Package app holds sensorprobe's commands behind cmd/probe, one file each
// with its flags, parsing and run function: the daemon (daemon.go), the
// one-shot node check `probe check` (check.go), `probe check --cluster`
// (clustercheck.go), `probe fix` (fix.go), the demo (demo.go), `probe
// simulate` (simulate.go) and `probe vsock-ping` (vsockping.go); `probe
// version` is cmd/probe's own. What they share: the probing engine
// (engine.go), the configuration (config.go, schedule.go), the flag types
// (flags.go), the Kubernetes wiring (kube.go), the node's CNI (cni.go) and
// the memory limit (memlimit.go).
package app

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/trust"
)

// Config is what the daemon and `probe check` share, validated: the paths,
// how to dial them, discovery and logging. DaemonConfig and CheckConfig add
// what only one of them has.
type Config struct {
	// Targets from --target, in the order given; a later NAME replaces an earlier one.
	Targets []dial.Target
	// Dial is the prober configuration but its TLS material: dialConfig
	// adds Trust.
	Dial dial.Config
	// Trust holds the TLS material and reloads it when the files change;
	// nil when it could not be loaded (a usage error).
	Trust *trust.Store

	LogLevel  slog.Level
	LogFormat string

	Kube       bool
	Kubeconfig string
	Namespace  string
	Node       string
	// KubeVirtNamespace is where virt-handler runs (--kubevirt.namespace),
	// read on the RHACS 4.12 line; "" means kube.DefaultKubeVirtNamespace.
	KubeVirtNamespace string
}

// dialConfig is the prober configuration with the TLS material.
func (cfg *Config) dialConfig() dial.Config {
	d := cfg.Dial
	if cfg.Trust != nil {
		d.Material = cfg.Trust
	}
	return d
}

// CheckConfig is the validated configuration of `probe check`.
type CheckConfig struct {
	Config
	// Output is "table" or "json".
	Output string
	// History is the /status address of the probe whose outage history the
	// report shows (--history), "" for none.
	History string
}

// DaemonConfig is the validated configuration of the daemon: Config and
// what only a long-running probe has.
type DaemonConfig struct {
	Config
	// Schedule is the interval, the tiers and the sensor budget.
	Schedule Schedule
	// FleetDaemonSet and FleetNamespace name the probe's own DaemonSet,
	// whose desired count is the fleet size (--fleet.daemonset, POD_NAMESPACE).
	FleetDaemonSet, FleetNamespace string
	ListenAddress                  string
	WebConfigFile                  string
	// WebStatus serves the status page at / and /status (--web.status).
	WebStatus bool
	// PodName, PodNamespace and PodUID identify the probe's own pod, which
	// its Kubernetes Events are about (downward API).
	PodName, PodNamespace, PodUID string
	// memoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT, or
	// from the container's limit in MEMORY_LIMIT).
	memoryLimit memoryLimit
	// RelayLog follows the relay's log through the API server.
	RelayLog bool

	VSOCKRelayPort  uint32
	VSOCKListenPort uint32
	VSOCKInterval   time.Duration
	VSOCKWindow     time.Duration

	// DryRun (--check-config): validate, print, exit.
	DryRun bool
}

// DefaultCADir is where the DaemonSet mounts every StackRox CA source (a
// projected volume of optional items: ConfigMap tls-ca-bundle, secrets
// tls-cert-collector and collector-tls); every *.pem file in it is trusted,
// so that `probe check` run inside the pod verifies without more flags.
const DefaultCADir = "/run/secrets/stackrox.io/ca"

// DefaultCAFile is where collector pods (and earlier sensorprobe manifests)
// mount collector-tls's ca.pem; it is trusted too when present and no
// --ca-file is given.
const DefaultCAFile = "/run/secrets/stackrox.io/certs/ca.pem"

// ErrHelp is returned by the parsers when -h or --help was given; the usage
// has been written and the process should exit 0.
var ErrHelp = flag.ErrHelp

// commonFlags are shared by the daemon and check.
type commonFlags struct {
	targets                          targetsFlag
	caFiles                          stringsFlag
	serverName, caDir, certFile      string
	keyFile, check, logLevel, logFmt string
	timeout                          durationFlag
	kube                             bool
	kubeconfig, namespace, node      string
	kubevirtNamespace                string
}

func (c *commonFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.Var(&c.targets, "target", "a path to probe, `NAME=HOST:PORT` (repeatable; adds a path or overrides a discovered one). Names: clusterip, dns, hostport, podip, webhook, or your own")
	fs.StringVar(&c.serverName, "server-name", "", "TLS server name (SNI and verification) of the --target paths but webhook (default sensor.<namespace>.svc; webhook uses sensor-webhook.<namespace>.svc; discovered paths always use these names)")
	fs.Var(&c.caFiles, "ca-file", "PEM CA bundle that sensor's certificate must chain to (repeatable; each must exist). Without any CA the handshake completes unverified")
	fs.StringVar(&c.caDir, "ca-dir", DefaultCADir, "directory whose *.pem files are all trusted, re-read on change (the DaemonSet mounts every StackRox CA source here: docs/install.md, Trust)")
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
	fs.StringVar(&c.kubevirtNamespace, "kubevirt.namespace", kube.DefaultKubeVirtNamespace, "namespace of KubeVirt's virt-handler pods, read on the RHACS 4.12 line (OpenShift Virtualization: openshift-cnv)")
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
		if t.Name == dial.PathWebhook {
			// sensor-webhook's own name is on sensor's certificate.
			t.ServerName = "sensor-webhook." + c.namespace + ".svc"
		}
		if i, ok := byName[t.Name]; ok {
			cfg.Targets[i] = t
			continue
		}
		byName[t.Name] = len(cfg.Targets)
		cfg.Targets = append(cfg.Targets, t)
	}
	tcfg := trust.Config{CAFiles: c.caFiles.raw, CADir: c.caDir, CertFile: c.certFile, KeyFile: c.keyFile}
	if _, err := os.Stat(DefaultCAFile); err == nil && len(c.caFiles.raw) == 0 {
		// The mount of earlier manifests: collector-tls's ca.pem alone.
		tcfg.OptionalCAFiles = []string{DefaultCAFile}
	}
	store, err := trust.Load(tcfg, nil)
	if err != nil {
		// One line per unusable file, named by the flag that brought it in.
		for line := range strings.SplitSeq(err.Error(), "\n") {
			flag := "--ca-dir"
			switch {
			case strings.HasPrefix(line, "client certificate"):
				flag = "--cert-file/--key-file"
			case slices.ContainsFunc(c.caFiles.raw, func(f string) bool { return strings.Contains(line, " "+f+":") }):
				flag = "--ca-file"
			}
			p.add("%s: %s", flag, line)
		}
	} else {
		cfg.Trust = store
	}
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
	cfg.KubeVirtNamespace = c.kubevirtNamespace
	if c.namespace == "" {
		p.add("--namespace: must not be empty")
	}
}

// NewLogger returns the logger the flags ask for, writing to w.
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
