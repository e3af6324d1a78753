package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kubevirt"
	"github.com/sensorprobe/sensorprobe/internal/metrics"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/scraperlog"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// scenarioPull is the demo's node on the RHACS 4.12 line, where sensor
// pulls reports through KubeVirt and no relay runs.
const scenarioPull = "pull"

// demoPullVersion is the RHACS version the pull scenario plays.
const demoPullVersion = "4.12.x-nightly-20260813"

// demoPullDownAfter is how many virt-handler checks the pull scenario's
// virt-handler answers before it stops.
const demoPullDownAfter = 3

// demoPull is the pull scenario's node: three Running VMIs, one without
// VSOCK and one whose roxagent does not serve, and a virt-handler stand-in
// on loopback to which the probe connects as it does to a real one's port
// 8186; after demoPullDownAfter checks the stand-in stops listening, as a
// crashed virt-handler would. Its sensor stand-in scrapes each VM every
// interval and keeps the latest outcome, as sensor's log would show it to
// `probe check --cluster`.
type demoPull struct {
	ln       net.Listener
	connect  func(context.Context, dial.Target) dial.Result
	interval time.Duration

	mu      sync.Mutex
	last    *dial.Result
	checks  int
	scrapes []scraperlog.Attempt
}

// demoAgentDown is the demo's VM whose roxagent does not serve.
const demoAgentDown = "agent-down"

func newDemoPull(connect func(context.Context, dial.Target) dial.Result, interval time.Duration) (*demoPull, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	d := &demoPull{ln: ln, connect: connect, interval: interval}
	d.scrapes = d.scrape(time.Now(), true)
	return d, nil
}

func (d *demoPull) Addr() string { return d.ln.Addr().String() }

// Close stops the virt-handler stand-in.
func (d *demoPull) Close() error {
	if err := d.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Run checks the virt-handler stand-in every interval until ctx ends.
func (d *demoPull) Run(ctx context.Context) error {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		r := d.connect(ctx, dial.Target{Name: virtHandlerTarget, Addr: d.Addr()})
		d.mu.Lock()
		d.last = &r
		d.checks++
		stop := d.checks == demoPullDownAfter
		d.scrapes = d.scrape(time.Now(), r.OK())
		d.mu.Unlock()
		if stop {
			_ = d.Close()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// scrape is the sensor stand-in's round: what sensor's scraper would
// record for each VM, given whether the node's virt-handler answers.
func (d *demoPull) scrape(now time.Time, handlerUp bool) []scraperlog.Attempt {
	var out []scraperlog.Attempt
	for _, v := range d.node().VMIs {
		a := scraperlog.Attempt{VM: v.Key(), At: now, Next: d.interval}
		switch {
		case !v.HasVSOCK():
			a.Status, a.Cause, a.Detail = scraperlog.DialError, scraperlog.CauseNoVSOCK, "VSOCK is not attached."
		case !handlerUp:
			a.Status, a.Cause, a.Detail = scraperlog.DialError, scraperlog.CauseHandler, "dialing virt-handler: connection refused"
		case v.Name == demoAgentDown:
			a.Status = scraperlog.AgentDown
		default:
			a.Status = scraperlog.Success
		}
		out = append(out, a)
	}
	return out
}

// VMTable is the VM table `probe check --cluster` would print from the
// sensor stand-in's latest scrapes.
func (d *demoPull) VMTable() []clustercheck.VMRow {
	d.mu.Lock()
	defer d.mu.Unlock()
	return clustercheck.VMTableOf(d.node().VMIs, d.scrapes)
}

// node is what a VM watch would know of the demo's node.
func (d *demoPull) node() kube.NodeVMs {
	vmi := func(name string, cid uint32) kubevirt.VMI {
		return kubevirt.VMI{Namespace: "vms", Name: name, Node: "demo-node", Phase: kubevirt.PhaseRunning, AutoattachVSOCK: cid != 0, CID: cid}
	}
	return kube.NodeVMs{
		VMIsKnown: true, VMIs: []kubevirt.VMI{vmi(demoAgentDown, 4), vmi("fedora-plain", 0), vmi("rhel9", 3)},
		VirtHandlerKnown: true,
		VirtHandler:      kube.VirtHandler{Pod: "kubevirt/virt-handler-demo", Ready: true, Addr: d.Addr()},
	}
}

// facts returns the node's pull facts, as the daemon's pull watch does.
func (d *demoPull) facts() *verdict.NodeVMs {
	d.mu.Lock()
	last := d.last
	d.mu.Unlock()
	return nodeVMsOf(d.node(), "kubevirt", last, d.Addr())
}

// cluster is the demo's cluster model: the 4.12 line with sensor's
// ROX_VIRTUAL_MACHINES on, collector in the pod network, no relay.
func (d *demoPull) cluster() *monitor.ClusterFacts {
	no, yes := false, true
	return &monitor.ClusterFacts{
		Cluster: verdict.Cluster{
			Namespace: "stackrox", Version: demoPullVersion, Transport: verdict.TransportPull,
			RelayHostNetwork: &no, NoRelay: true, SensorVirtualMachines: &yes,
			SensorOnThisNode: &yes, SensorNode: "demo-node",
			VMs: d.facts(),
		},
		DiscoveryUp: true,
		SensorPod:   "stackrox/sensor-demo",
	}
}

// addDemoPull adds the pull scenario to e: the stand-ins, the pull gauges,
// the cluster facts, and the VM table with each verdict the demo prints.
func addDemoPull(e *Engine, interval time.Duration, printer *demoPrinter) (*demoPull, error) {
	pull, err := newDemoPull(e.Prober.Connect, interval)
	if err != nil {
		return nil, fmt.Errorf("start the virt-handler stand-in: %w", err)
	}
	if err := e.Register(metrics.NewPullCollector(pull.facts)); err != nil {
		_ = pull.Close()
		return nil, err
	}
	printer.vms = pull.VMTable
	e.Add(pull.Run)
	e.Monitor.SetFacts(demoPullFacts(pull))
	return pull, nil
}

// demoPullFacts is the monitor's facts source of the pull scenario.
func demoPullFacts(d *demoPull) func() monitor.Facts {
	return func() monitor.Facts { return monitor.Facts{Cluster: d.cluster()} }
}
