// Alerts: one per fault domain. A fault that hits (nearly) every node is one cluster-wide
// alert, and the per-node alerts hold back while it fires (`unless`); i/o-timeout and latency
// alerts leave out paths that are down outright. Path alerts only look at paths something on
// the host network depends on (sensorprobe_path_info{consumer!="none"}): on a stock install,
// where collector runs in the pod network, sensor's NetworkPolicy blocking the host network is
// expected and silent. Every alert keeps the cluster label, namespace and job.
//
// RHACS 4.12 pull mode has alerts of its own (the last five): on sensor's VM scrapes
// (rox_sensor_vsock_pull_requests_total, by kind of failure: one alert each for the path to
// the agents, the agents, Central) and on what the probes see of the path (VMIs without
// VSOCK, virt-handler down). While the probes see why sensor's dials fail, dial_error belongs
// to the probes' alert that names the cause. Joins between sensor's series and the probes'
// match on the cluster label and namespace and ignore job: they are two jobs.
local p = import 'lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local s = c.sensorprobeSelector,
    local g = p.by(c),
    local gn = p.by(c, ['node']),
    local gnp = p.by(c, ['node', 'path']),
    local share = p.num(c.clusterWideShare),
    local pct(x) = p.num(x * 100) + '%',

    // The cluster-wide condition every per-node path alert holds back for.
    local clusterWide = 'job:sensorprobe_nodes_with_consumed_path_down:ratio >= %s' % share,

    local alert(name, severity, expr, forDuration, summary, description, impact, urgency) = {
      alert: name,
      expr: expr,
      'for': forDuration,
      labels: { severity: severity },
      annotations: {
        summary: summary,
        description: description,
        impact: impact,
        urgency: urgency,
        runbook_url: c.runbookURLPattern % std.asciiLower(name),
      },
    },

    local expiry = 'min by (%(g)s) (sensorprobe_tls_cert_not_after_timestamp_seconds{%(s)s, path!="hostport"}) - time()' % { g: g, s: s },
    local certDescription(limit) = 'The certificate sensor presents in namespace {{ $labels.namespace }} expires in {{ $value | humanizeDuration }}, less than %(limit)s (seen on paths %(paths)s).' % {
      limit: limit,
      paths: p.list(c, 'min by (path) (sensorprobe_tls_cert_not_after_timestamp_seconds{SCOPE, path!="hostport"}) - time() < %d' % c.certWarningSeconds, 'path'),
    },
    local certImpact = 'When it expires, collector, admission control and the VM relay stop talking to sensor: VM scanning and runtime data stop cluster-wide.',
    local urgent = 'Critical: page the on-call engineer and act now.',
    local soon = 'Warning: fix within a working day; no page.',

    // Pull mode. Sensor's VM scrapes of some statuses over window w, recorded by status.
    local ss = c.sensorSelector,
    local requests(w, status) = 'sum by (%s) (%s{status=%s})' % [g, p.pullRequests(w), std.escapeStringJson(status)],
    local allRequests(w) = 'sum by (%s) (%s)' % [g, p.pullRequests(w)],
    // The failures on the path to the agents: timeouts and protocol errors, and dial_error
    // unless the probes see its cause (VMIs without VSOCK, virt-handler down).
    local pathFailures(w) = |||
      sum by (%(g)s) (
        %(r)s{status=~"timeout|invalid_report|unknown_method"}
        or
        (
          %(r)s{status="dial_error"}
          unless ignoring (job, status) job:sensorprobe_nodes_explaining_vm_dial_errors:count
        )
      )
    ||| % { g: g, r: p.pullRequests(w) },
    // The share of failing among all of sensor's VM scrapes over pullWindow, when above low
    // (and not above high), with some of them within pullRecentWindow (recent).
    local trimmed(e) = std.rstripChars(e, '\n'),
    local pullShare(failing, recent, low, high=null) =
      '%s\n/ %s\n> %s%s\nand on (%s)\n%s > 0\n' % [
        trimmed(failing),
        allRequests(c.pullWindow),
        p.num(low),
        if high == null then '' else ' <= ' + p.num(high),
        g,
        trimmed(recent),
      ],
    local statusShares = p.list(
      c,
      'sum by (status) (%(r)s{SCOPE, status!~"success|unchanged"}) / scalar(sum(%(r)s{SCOPE})) > 0' % { r: p.pullRequests(c.pullWindow) },
      'status',
      withValue=true,
      percent=true,
      max=10,
    ),
    local tracked = p.value(c, 'sum(rox_sensor_vsock_pull_tracked_vms{SCOPE})', none='unknown'),
    local sensorDialErrors = p.value(
      c,
      'sum(%(r)s{NSSEL, %(ss)s, status="dial_error"}) / sum(%(r)s{NSSEL, %(ss)s})' % { r: p.pullRequests(c.pullWindow), ss: ss },
      none='unknown (sensor\'s metrics are not scraped)',
      percent=true,
    ),
    local pullWords = {
      'for': p.words(c.pullFor),
      window: p.words(c.pullWindow),
      recent: p.words(c.pullRecentWindow),
      statuses: statusShares,
      tracked: tracked,
    },
    local scrapesFailingDescription = 'For %(for)s, {{ $value | humanizePercentage }} of sensor\'s VM scrapes in namespace {{ $labels.namespace }} over the last %(window)s have failed on the pull path to the agents (sensor → kube-apiserver → virt-api → virt-handler → VSOCK → roxagent) with dial_error, timeout, invalid_report or unknown_method, and some within the last %(recent)s. Statuses other than success and unchanged (share of all requests): %(statuses)s. Tracked VMs: %(tracked)s. dial_error counts only while sensorprobe sees no cause for it (a VMI without VSOCK, a virt-handler down: their alerts own it); read_error and send_error have alerts of their own. The share is of requests, not of VMs: a failing VM is retried every 10 s doubling up to 30 minutes, a healthy one asked once per poll interval.' % pullWords,

    groups+: [
      {
        name: 'sensorprobe.alerts',
        rules: [
          alert(
            'SensorProbeSensorUnreachable',
            'critical',
            clusterWide + '\n',
            c.pathDownFor,
            'Sensor is unreachable over a path in use from {{ $value | humanizePercentage }} of the nodes.',
            'For %(for)s, from {{ $value | humanizePercentage }} of the nodes sensorprobe runs on in namespace {{ $labels.namespace }} (at least %(share)s), a path that collector or the VM relay uses to reach sensor has failed: a cluster-wide fault of sensor, its NetworkPolicy or its Service, not of the nodes. Paths down (nodes): %(paths)s. Node verdicts: %(verdicts)s. The per-node path alerts are held back while this one fires.' % {
              'for': p.words(c.pathDownFor),
              share: pct(c.clusterWideShare),
              paths: p.list(c, 'count by (path) (node_path:sensorprobe_path_up:consumed{SCOPE} == 0)', 'path', withValue=true),
              verdicts: p.list(c, 'count by (verdict) (sensorprobe_verdict{SCOPE} == 1)', 'verdict', withValue=true),
            },
            'VM index reports from the VMs on these nodes do not reach sensor: vulnerability results of virtual machines go stale cluster-wide until this is fixed.',
            urgent,
          ),
          alert(
            'SensorProbeNoPathToSensor',
            'critical',
            |||
              node:sensorprobe_consumed_paths_down:count
              == on (%(gn)s) node:sensorprobe_consumed_paths:count
              unless on (%(g)s) %(cw)s
            ||| % { g: g, gn: gn, cw: clusterWide },
            c.pathDownFor,
            'No path that collector or the VM relay uses reaches sensor from node {{ $labels.node }}.',
            'From node {{ $labels.node }}, every path to sensor that host-network clients there use (%(paths)s) has failed for %(for)s, while most other nodes still reach sensor. Verdict on the node: %(verdict)s. VM connections to the relay in the last window: %(vms)s.' % {
              'for': p.words(c.pathDownFor),
              paths: p.list(c, 'node_path:sensorprobe_path_up:consumed{SCOPE} == 0', 'path', ['node']),
              verdict: p.list(c, 'sensorprobe_verdict{SCOPE} == 1', 'verdict', ['node']),
              vms: p.value(c, 'sensorprobe_vsock_connections_recent{SCOPE}', ['node'], 'unknown'),
            },
            'VM index reports from the VMs on this node cannot reach sensor: they drop out of vulnerability scanning until it is fixed.',
            urgent,
          ),
          alert(
            'SensorProbePathDown',
            'warning',
            |||
              node:sensorprobe_consumed_paths_down:count
              < on (%(gn)s) node:sensorprobe_consumed_paths:count
              unless on (%(g)s) %(cw)s
            ||| % { g: g, gn: gn, cw: clusterWide },
            c.pathDownFor,
            'A path to sensor in use from node {{ $labels.node }} is down.',
            'From node {{ $labels.node }}, path %(down)s has failed for %(for)s, while %(up)s still reaches sensor. Verdict on the node: %(verdict)s.' % {
              'for': p.words(c.pathDownFor),
              down: p.list(c, 'node_path:sensorprobe_path_up:consumed{SCOPE} == 0', 'path', ['node']),
              up: p.list(c, 'node_path:sensorprobe_path_up:consumed{SCOPE} == 1', 'path', ['node']),
              verdict: p.list(c, 'sensorprobe_verdict{SCOPE} == 1', 'verdict', ['node']),
            },
            'Whatever on this node is configured for the failing path (the VM relay, when it is) cannot reach sensor; another path works, so reports flow again once the client or the path is fixed.',
            soon,
          ),
          alert(
            'SensorProbeRelayReportsRejected',
            'critical',
            |||
              count by (%(g)s) (
                sum by (%(gn)s) (increase(sensorprobe_vsock_relay_send_errors_total{%(s)s}[10m])) > 0
                unless on (%(gn)s) node:sensorprobe_consumed_paths_down:count > 0
              )
            ||| % { g: g, gn: gn, s: s },
            '15m',
            'The VM relay fails to send index reports to sensor on {{ $value }} node(s) although the path works.',
            'For 15 minutes, the compliance container\'s VM relay has logged failed sends of index reports on {{ $value }} node(s) in namespace {{ $labels.namespace }} (%(nodes)s) while sensorprobe reaches sensor over every path in use there. Sensor answers but refuses the reports; gRPC codes: %(codes)s (resource_exhausted: sensor\'s rate limit; unimplemented: a sensor without VM support).' % {
              nodes: p.list(c, 'sum by (node) (increase(sensorprobe_vsock_relay_send_errors_total{SCOPE}[10m])) > 0 unless on (node) node:sensorprobe_consumed_paths_down:count{SCOPE} > 0', 'node'),
              codes: p.list(c, 'sum by (code) (increase(sensorprobe_vsock_relay_send_errors_total{SCOPE}[10m])) > 0', 'code', withValue=true),
            },
            'VM index reports are being lost now: this is the relay\'s own evidence. Vulnerability results of the VMs on these nodes go stale.',
            urgent,
          ),
          alert(
            'SensorProbeHostPortWorkaroundCannotWork',
            'critical',
            |||
              count by (%(g)s) (
                max by (%(gn)s) (sensorprobe_path_info{%(s)s, path="hostport", consumer="relay"})
                and on (%(gn)s)
                max by (%(gn)s) (sensorprobe_path_up{%(s)s, path="hostport"}) == 0
                and on (%(gn)s)
                max by (%(gn)s) (sensorprobe_sensor_on_this_node{%(s)s}) == 0
              )
            ||| % { g: g, gn: gn, s: s },
            c.pathDownFor,
            'The VM relay\'s path is down on {{ $value }} node(s): it dials sensor\'s hostPort, which exists only on sensor\'s node.',
            'For %(for)s, the compliance VM relay has been configured to reach sensor at localhost:8443 (path hostport, sensor\'s hostPort) and that path has failed on {{ $value }} node(s) in namespace {{ $labels.namespace }} that do not run sensor (%(nodes)s). A hostPort binds only on the node that runs the pod. Node verdicts: %(verdicts)s.' % {
              'for': p.words(c.pathDownFor),
              nodes: p.list(c, 'max by (node) (sensorprobe_path_info{SCOPE, path="hostport", consumer="relay"}) and on (node) max by (node) (sensorprobe_path_up{SCOPE, path="hostport"}) == 0 and on (node) max by (node) (sensorprobe_sensor_on_this_node{SCOPE}) == 0', 'node'),
              verdicts: p.list(c, 'count by (verdict) (sensorprobe_verdict{SCOPE} == 1 and on (node) max by (node) (sensorprobe_path_up{SCOPE, path="hostport"}) == 0 and on (node) max by (node) (sensorprobe_sensor_on_this_node{SCOPE}) == 0)', 'verdict', withValue=true),
            },
            'VM index reports from the VMs on these nodes are lost: the workaround works only on the node that runs sensor, and that node changes when sensor is rescheduled. One alert for every such node; the per-node path alerts leave these nodes\' hostport path out.',
            urgent,
          ),
          alert(
            'SensorProbeIOTimeoutsHigh',
            'warning',
            |||
              count by (%(gp)s) (
                node_path:sensorprobe_io_timeouts:ratio_rate5m > %(share)s
                and on (%(gnp)s) max_over_time(node_path:sensorprobe_path_up:consumed[5m]) == 1
              )
            ||| % { gp: p.by(c, ['path']), gnp: gnp, share: p.num(c.ioTimeoutShare) },
            '15m',
            'Probes to sensor on path {{ $labels.path }} time out intermittently from {{ $value }} node(s).',
            'For 15 minutes, more than %(share)s of the attempts on path {{ $labels.path }} over 5 minutes have ended in an i/o timeout from {{ $value }} node(s) in namespace {{ $labels.namespace }} (%(nodes)s), while the path is not down outright (a path that is down is the path alerts\' business).' % {
              share: pct(c.ioTimeoutShare),
              nodes: p.list(c, 'node_path:sensorprobe_io_timeouts:ratio_rate5m{SCOPE} > %s and on (node) max_over_time(node_path:sensorprobe_path_up:consumed{SCOPE}[5m]) == 1' % p.num(c.ioTimeoutShare), 'node', ['path']),
            },
            'Reports over this path arrive late or after retries; if it gets worse, VM index reports are lost.',
            soon,
          ),
          alert(
            'SensorProbeLatencyHigh',
            'warning',
            |||
              count by (%(gpp)s) (
                node_path_phase:sensorprobe_phase_duration_seconds:p90_10m
                > %(factor)s * quantile_over_time(0.5, node_path_phase:sensorprobe_phase_duration_seconds:p90_10m[6h] offset 15m)
                and node_path_phase:sensorprobe_phase_duration_seconds:p90_10m > %(floor)s
                and on (%(gnp)s) min_over_time(node_path:sensorprobe_path_up:consumed[10m]) == 1
                and on (%(gnp)s) sum by (%(gnp)s) (increase(sensorprobe_probe_attempts_total{%(s)s, reason=~".+_timeout"}[10m])) == 0
              )
            ||| % { gpp: p.by(c, ['path', 'phase']), gnp: gnp, s: s, factor: p.num(c.latencyFactor), floor: p.num(c.latencyFloorSeconds) },
            '15m',
            'Sensor\'s {{ $labels.phase }} latency on path {{ $labels.path }} is far above usual from {{ $value }} node(s).',
            'For 15 minutes, the p90 %(phase)s time on path {{ $labels.path }} has been more than %(factor)s times its median over the previous 6 hours and above %(floor)s from {{ $value }} node(s) in namespace {{ $labels.namespace }} (%(nodes)s), with the path up and no i/o timeout in the last 10 minutes (so it is not the timeout being measured).' % {
              phase: '{{ $labels.phase }}',
              factor: p.num(c.latencyFactor),
              floor: p.num(c.latencyFloorSeconds * 1000) + ' ms',
              nodes: p.list(
                c,
                std.join(' ', [
                  'node_path_phase:sensorprobe_phase_duration_seconds:p90_10m{SCOPE} > %s * quantile_over_time(0.5, node_path_phase:sensorprobe_phase_duration_seconds:p90_10m{SCOPE}[6h] offset 15m)' % p.num(c.latencyFactor),
                  'and node_path_phase:sensorprobe_phase_duration_seconds:p90_10m{SCOPE} > %s' % p.num(c.latencyFloorSeconds),
                  'and on (node) min_over_time(node_path:sensorprobe_path_up:consumed{PATHSEL}[10m]) == 1',
                  'and on (node) sum by (node) (increase(sensorprobe_probe_attempts_total{PATHSEL, reason=~".+_timeout"}[10m])) == 0',
                ]),
                'node',
                ['path', 'phase'],
              ),
            },
            'None on VM scanning yet: reports still arrive. It is the first sign of a congested node, an overloaded sensor or traffic taking a detour.',
            soon,
          ),
          alert(
            'SensorProbeSensorCertExpiringSoon',
            'warning',
            '%(e)s < %(w)d\nand\n%(e)s >= %(cr)d\n' % { e: expiry, w: c.certWarningSeconds, cr: c.certCriticalSeconds },
            '1h',
            'Sensor\'s certificate expires in {{ $value | humanizeDuration }}.',
            certDescription('7 days'),
            certImpact,
            'Warning: have it renewed within days; no page.',
          ),
          alert(
            'SensorProbeSensorCertExpiringSoon',
            'critical',
            '%(e)s < %(cr)d\n' % { e: expiry, cr: c.certCriticalSeconds },
            '10m',
            'Sensor\'s certificate expires in {{ $value | humanizeDuration }}.',
            certDescription('a day'),
            certImpact,
            'Critical: page the on-call engineer; less than a day is left.',
          ),
          alert(
            'SensorProbeSensorCertNotVerified',
            'warning',
            |||
              count by (%(g)s) (
                min by (%(gnp)s) (sensorprobe_tls_cert_verified{%(s)s, path!="hostport"}) == 0
              )
            ||| % { g: g, gnp: gnp, s: s },
            '10m',
            'Sensor\'s certificate does not verify on {{ $value }} node × path pair(s).',
            'For 10 minutes, the certificate presented for sensor has not verified against the StackRox CA (ca.pem in secret collector-tls) on {{ $value }} node × path pair(s) in namespace {{ $labels.namespace }} (paths: %(paths)s; nodes: %(nodes)s). Collector and the VM relay will reject it too. The hostport path is left out: on nodes without sensor, localhost:8443 may be another listener.' % {
              paths: p.list(c, 'min by (path) (sensorprobe_tls_cert_verified{SCOPE, path!="hostport"}) == 0', 'path'),
              nodes: p.list(c, 'min by (node) (sensorprobe_tls_cert_verified{SCOPE, path!="hostport"}) == 0', 'node'),
            },
            'Clients that verify sensor (collector, the VM relay) refuse the connection over the affected paths: no VM index reports from those nodes.',
            soon,
          ),
          alert(
            'SensorProbeTargetDown',
            'warning',
            'count by (%(g)s) (avg_over_time(up{%(s)s}[%(w)s]) < %(share)s)\n' % { g: g, s: s, w: c.probeUpWindow, share: p.num(c.probeUpShare) },
            '10m',
            'sensorprobe is up less than %s of the time on {{ $value }} node(s).' % pct(c.probeUpShare),
            'Over the last %(ww)s, Prometheus scraped the sensorprobe pod successfully less than %(share)s of the time on {{ $value }} node(s) in namespace {{ $labels.namespace }} (%(nodes)s): crash-looping, restarting or unreachable probes. Paths from those nodes are watched now and then, or not at all.' % {
              ww: p.words(c.probeUpWindow),
              share: pct(c.probeUpShare),
              nodes: p.list(c, 'avg_over_time(up{SCOPE}[%s]) < %s' % [c.probeUpWindow, p.num(c.probeUpShare)], 'node'),
            },
            'None on VM scanning itself; while it lasts nobody can tell whether reports from these nodes reach sensor.',
            soon,
          ),
          alert(
            'SensorProbeMissingOnNodes',
            'warning',
            // kube_daemonset_status_* carries the DaemonSet's namespace, so the rule also works
            // where the Prometheus Operator enforces the rule's namespace on every selector
            // (OpenShift user workload monitoring). A probe that exists but fails its scrapes
            // is SensorProbeTargetDown's, so targets count here whatever their `up`.
            |||
              max by (%(cl)s, namespace, daemonset) (kube_daemonset_status_desired_number_scheduled{%(ksm)s, %(ds)s})
              - on (%(cl)s, namespace) group_left ()
              (
                count by (%(cl)s, namespace) (up{%(s)s})
                or on (%(cl)s, namespace)
                0 * max by (%(cl)s, namespace) (kube_daemonset_status_desired_number_scheduled{%(ksm)s, %(ds)s})
              )
              > 0
            ||| % { cl: c.clusterLabel, ksm: c.kubeStateMetricsSelector, ds: c.daemonSetSelector, s: s },
            '15m',
            'sensorprobe is missing on {{ $value }} node(s).',
            '{{ $value }} of the nodes DaemonSet {{ $labels.namespace }}/{{ $labels.daemonset }} should run on have had no sensorprobe target for 15 minutes (no pod, a pod stuck Pending, or one Prometheus does not discover), so no path from those nodes is being watched. List them with: kube_node_info unless on (node) up{%s}' % s,
            'None on VM scanning itself; nobody watches whether reports from those nodes reach sensor.',
            soon,
          ),
          alert(
            'SensorProbeDiscoveryDown',
            'warning',
            |||
              count by (%(g)s) (
                max by (%(gn)s) (sensorprobe_kube_discovery_up{%(s)s}) == 0
              )
            ||| % { g: g, gn: gn, s: s },
            '15m',
            'sensorprobe cannot read the Kubernetes API on {{ $value }} node(s).',
            'For 15 minutes, Kubernetes discovery has been down on {{ $value }} node(s) in namespace {{ $labels.namespace }} (%(nodes)s). The probes keep dialling the last known addresses, cannot follow a moved sensor and no longer know which paths collector and the VM relay use: every path then counts as in use.' % {
              nodes: p.list(c, 'max by (node) (sensorprobe_kube_discovery_up{SCOPE}) == 0', 'node'),
            },
            'None on VM scanning itself; sensorprobe\'s view may go stale and its path alerts may fire for paths nothing uses.',
            soon,
          ),
          alert(
            'SensorProbeVMsWithoutVSOCK',
            'warning',
            'sum by (%s) (node:sensorprobe_vmis_without_vsock:pull)\n' % g,
            c.vmsWithoutVSOCKFor,
            '{{ $value }} Running VMI(s) have no VSOCK: sensor cannot scan them.',
            'For %(for)s, sensorprobe in namespace {{ $labels.namespace }} has counted {{ $value }} Running VMI(s) without VSOCK (no spec.domain.devices.autoattachVSOCK, or no status.VSOCKCID) on nodes in pull mode (nodes (VMIs): %(nodes)s). Sensor pulls every Running VMI over the vsock path all the same, and virt-api answers it 400 "VSOCK is not attached.": sensor counts dial_error for these VMs on every retry, forever. Sensor\'s dial_error share over the last %(window)s: %(dial)s.' % {
              'for': p.words(c.vmsWithoutVSOCKFor),
              nodes: p.list(c, 'node:sensorprobe_vmis_without_vsock:pull{SCOPE}', 'node', withValue=true),
              window: p.words(c.pullWindow),
              dial: sensorDialErrors,
            },
            'These VMs are never scanned: Central has no vulnerability results for them, and sensor keeps retrying them (backing off to every 30 minutes at most).',
            soon,
          ),
          alert(
            'SensorProbeVirtHandlerDown',
            'critical',
            'count by (%s) (node:sensorprobe_vmis_behind_virt_handler_down:pull)\n' % g,
            c.virtHandlerDownFor,
            'virt-handler is down on {{ $value }} node(s) with Running VMIs: sensor cannot scan the VMs there.',
            'For %(for)s, on {{ $value }} node(s) in pull mode that run VMIs, seen by sensorprobe in namespace {{ $labels.namespace }}, virt-handler has not been Ready or its port 8186 has refused TCP connections (nodes (Running VMIs): %(nodes)s). Sensor\'s pull path to a VM runs kube-apiserver → virt-api → virt-handler on the VM\'s node → VSOCK, so virt-api answers 500 "dialing virt-handler" and sensor counts dial_error for every VM there. Sensor\'s dial_error share over the last %(window)s: %(dial)s.' % {
              'for': p.words(c.virtHandlerDownFor),
              nodes: p.list(c, 'node:sensorprobe_vmis_behind_virt_handler_down:pull{SCOPE}', 'node', withValue=true),
              window: p.words(c.pullWindow),
              dial: sensorDialErrors,
            },
            'The VMs on these nodes are not scanned until virt-handler is back, and their vulnerability results go stale; KubeVirt\'s own operations on those VMs (start, stop, migrate) fail too.',
            urgent,
          ),
          alert(
            'SensorProbeVMScrapesFailing',
            'warning',
            pullShare(pathFailures(c.pullWindow), pathFailures(c.pullRecentWindow), c.pullFailureShare, c.pullCriticalShare),
            c.pullFor,
            '{{ $value | humanizePercentage }} of sensor\'s VM scrapes fail on the way to the agents.',
            scrapesFailingDescription,
            'The VMs whose scrapes fail are not scanned and their vulnerability results go stale; the rest are. It turns critical above %s.' % pct(c.pullCriticalShare),
            soon,
          ),
          alert(
            'SensorProbeVMScrapesFailing',
            'critical',
            pullShare(pathFailures(c.pullWindow), pathFailures(c.pullRecentWindow), c.pullCriticalShare),
            c.pullFor,
            '{{ $value | humanizePercentage }} of sensor\'s VM scrapes fail on the way to the agents.',
            scrapesFailingDescription,
            'Most VMs are not scanned: VM vulnerability results go stale cluster-wide until sensor reaches the agents again.',
            urgent,
          ),
          alert(
            'SensorProbeVMAgentsNotAnswering',
            'warning',
            pullShare(requests(c.pullWindow, 'read_error'), requests(c.pullRecentWindow, 'read_error'), c.pullFailureShare),
            c.pullFor,
            '{{ $value | humanizePercentage }} of sensor\'s VM scrapes find no agent answering in the VM.',
            'For %(for)s, {{ $value | humanizePercentage }} of sensor\'s VM scrapes in namespace {{ $labels.namespace }} over the last %(window)s have ended in read_error, and some within the last %(recent)s: the pull path up to the VM works (the vsock subresource opened), but the agent closed the connection at once. roxagent does not run in those VMs, or they still run the push agent of RHACS 4.11 (roxagent --daemon), which serves nothing. Statuses other than success and unchanged (share of all requests): %(statuses)s. Tracked VMs: %(tracked)s. Sensor logs these at debug level only ("connection closed (agent may be down or restarting)").' % pullWords,
            'The VMs whose agent does not answer are not scanned and their vulnerability results go stale. Nothing in the cluster is broken: the fix is inside the VMs.',
            soon,
          ),
          alert(
            'SensorProbeVMReportsNotReachingCentral',
            'critical',
            pullShare(requests(c.pullWindow, 'send_error'), requests(c.pullRecentWindow, 'send_error'), c.pullFailureShare),
            c.pullFor,
            'Sensor reads VM index reports but cannot send {{ $value | humanizePercentage }} of them to Central.',
            'For %(for)s, {{ $value | humanizePercentage }} of sensor\'s VM scrapes in namespace {{ $labels.namespace }} over the last %(window)s have ended in send_error, and some within the last %(recent)s: the pull path to the VMs works and their reports arrive, but sensor cannot send them on to Central. Statuses other than success and unchanged (share of all requests): %(statuses)s. Tracked VMs: %(tracked)s.' % pullWords,
            'VM index reports are read but not delivered: VM vulnerability results in Central go stale cluster-wide until sensor reaches Central again (it retries). Unchanged reports are not sent, so the share grows as reports change.',
            urgent,
          ),
        ],
      },
    ],
  },
}
