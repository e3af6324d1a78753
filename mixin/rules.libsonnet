// Recording rules: the building blocks of the alerts, one series per node and path that
// matters, so that the alerts stay readable and their cluster-wide counterparts cheap at
// hundreds of nodes. The alerts' group runs after this one.
local p = import 'lib/promql.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local s = c.sensorprobeSelector,
    groups+: [
      {
        name: 'sensorprobe.rules',
        rules: [
          {
            // 1/0 for every path something on the host network depends on (consumer relay or
            // unknown; consumer="none" paths are controls and never alert). The hostport path
            // on a node without sensor is left out: it cannot work there by design, and
            // SensorProbeHostPortWorkaroundCannotWork reports the configuration instead.
            record: 'node_path:sensorprobe_path_up:consumed',
            expr: |||
              max by (%(np)s) (sensorprobe_path_up{%(s)s})
              * on (%(np)s) group_left (consumer)
              max by (%(npc)s) (sensorprobe_path_info{%(s)s, consumer!="none"})
              unless on (%(np)s)
              (
                max by (%(np)s) (sensorprobe_path_info{%(s)s, path="hostport"})
                and on (%(n)s)
                max by (%(n)s) (sensorprobe_sensor_on_this_node{%(s)s}) == 0
              )
            ||| % { s: s, n: p.by(c, ['node']), np: p.by(c, ['node', 'path']), npc: p.by(c, ['node', 'path', 'consumer']) },
          },
          {
            // How many paths that matter each node probes...
            record: 'node:sensorprobe_consumed_paths:count',
            expr: 'count by (%s) (node_path:sensorprobe_path_up:consumed)' % p.by(c, ['node']),
          },
          {
            // ...and how many of them are down (absent when none is).
            record: 'node:sensorprobe_consumed_paths_down:count',
            expr: 'count by (%s) (node_path:sensorprobe_path_up:consumed == 0)' % p.by(c, ['node']),
          },
          {
            // Share of the nodes probing a path that matters on which at least one such path
            // is down: the fleet view that tells a cluster-wide fault from a node's.
            record: 'job:sensorprobe_nodes_with_consumed_path_down:ratio',
            expr: |||
              count by (%(g)s) (node:sensorprobe_consumed_paths_down:count)
              /
              count by (%(g)s) (node:sensorprobe_consumed_paths:count)
            ||| % { g: p.by(c) },
          },
          {
            // Share of attempts that ended in an i/o timeout (reasons connect_timeout,
            // tls_timeout, check_timeout) over 5 minutes, per node and path.
            record: 'node_path:sensorprobe_io_timeouts:ratio_rate5m',
            expr: |||
              sum by (%(np)s) (rate(sensorprobe_probe_attempts_total{%(s)s, reason=~".+_timeout"}[5m]))
              /
              sum by (%(np)s) (rate(sensorprobe_probe_attempts_total{%(s)s}[5m]))
            ||| % { s: s, np: p.by(c, ['node', 'path']) },
          },
          {
            // p90 of the connect and TLS phases over 10 minutes, per node, path and phase: the
            // "current level" SensorProbeLatencyHigh compares with its own median over 6 hours.
            // connect: from the histogram of every attempt's TCP connect, native where the
            // scrape keeps native histograms, else its classic buckets. tls: over the latest
            // full attempts' TLS handshake times (a gauge sampled at each scrape).
            record: 'node_path_phase:sensorprobe_phase_duration_seconds:p90_10m',
            expr: |||
              label_replace(
                histogram_quantile(0.9, sum by (%(np)s) (rate(sensorprobe_connect_duration_seconds{%(s)s}[10m])))
                or
                histogram_quantile(0.9, sum by (%(npl)s) (rate(sensorprobe_connect_duration_seconds_bucket{%(s)s}[10m]))),
                "phase", "connect", "", ""
              )
              or
              max by (%(npp)s) (quantile_over_time(0.9, sensorprobe_phase_duration_seconds{%(s)s, phase="tls"}[10m]))
            ||| % { s: s, np: p.by(c, ['node', 'path']), npl: p.by(c, ['node', 'path', 'le']), npp: p.by(c, ['node', 'path', 'phase']) },
          },

          // RHACS 4.12 pull mode (sensor pulls VM index reports over KubeVirt's vsock
          // subresource). Nothing below exists on a push cluster (4.9 to 4.11): the probe's VM
          // series say mode="push" there, and sensor has no rox_sensor_vsock_pull_* series.
          {
            // Running VMIs without VSOCK per node, on the nodes in pull mode, where sensor
            // scrapes them all the same and fails forever; absent where there are none.
            record: 'node:sensorprobe_vmis_without_vsock:pull',
            expr: |||
              max by (%(n)s) (sensorprobe_vmis_without_vsock{%(s)s}) > 0
              and on (%(n)s) sensorprobe_vm_transport_info{%(s)s, mode="pull"}
            ||| % { s: s, n: p.by(c, ['node']) },
          },
          {
            // Running VMIs per node on the nodes in pull mode whose virt-handler is down (not
            // Ready, or its port 8186 refuses connections): sensor's pulls to them fail at
            // virt-api. Absent on nodes without Running VMIs.
            record: 'node:sensorprobe_vmis_behind_virt_handler_down:pull',
            expr: |||
              max by (%(n)s) (sensorprobe_vmis_running{%(s)s}) > 0
              and on (%(n)s) max by (%(n)s) (sensorprobe_virt_handler_up{%(s)s}) == 0
              and on (%(n)s) sensorprobe_vm_transport_info{%(s)s, mode="pull"}
            ||| % { s: s, n: p.by(c, ['node']) },
          },
          {
            // Nodes on which sensorprobe sees why sensor's dials to VMs fail (either of the two
            // above). While there is one, sensor's dial_error belongs to the alert that names
            // the cause, not to SensorProbeVMScrapesFailing.
            record: 'job:sensorprobe_nodes_explaining_vm_dial_errors:count',
            expr: 'count by (%s) (node:sensorprobe_vmis_without_vsock:pull or node:sensorprobe_vmis_behind_virt_handler_down:pull)' % p.by(c),
          },
        ] + [
          {
            // Sensor's VM scrapes by status (success, unchanged, dial_error, read_error,
            // invalid_report, send_error, not_ready, unknown_method, timeout, busy) over
            // pullWindow and over pullRecentWindow.
            record: p.pullRequests(w),
            expr: 'sum by (%s) (increase(rox_sensor_vsock_pull_requests_total{%s}[%s]))' % [p.by(c, ['status']), c.sensorSelector, w],
          }
          for w in [c.pullWindow, c.pullRecentWindow]
        ],
      },
    ],
  },
}
