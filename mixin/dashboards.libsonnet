// The sensorprobe dashboard, once, rendered for Grafana (grafanaDashboards) and for the
// OpenShift console (openshiftConsoleDashboards). Readable at hundreds of nodes: the fleet on
// top, then failing node × path pairs only, never one row per node × path.
local dash = import 'lib/dashboard.libsonnet';
local p = import 'lib/promql.libsonnet';

{
  local c = $._config,
  local s = c.sensorprobeSelector,
  local cl = c.clusterLabel,

  // The dashboard for a flavour: f.vars are the label matchers of the variables, f.variables
  // the variables themselves.
  local spec(f) = {
    local sel = s + ', ' + f.vars,
    local ksm = std.join(', ', [c.kubeStateMetricsSelector, c.daemonSetSelector, f.ksmVars]),
    local relay = f.relayVars,
    // Sensor's own series (RHACS 4.12 pull mode): sensor is one pod, so no node or job variable.
    local ss = c.sensorSelector + ', ' + f.sensorVars,
    local gn = p.by(c, ['node']),
    local gnp = p.by(c, ['node', 'path']),
    local t = dash.target,
    local col = dash.column,

    uid: c.dashboardUID,
    title: c.dashboardTitle,
    description: "Whether every node's host network reaches RHACS sensor, why not, what the VM relay is doing meanwhile, and, on the RHACS 4.12 line, how sensor's pulls of VM reports fare. Runbooks: " + c.runbooksURL,
    tags: c.dashboardTags,
    refresh: c.dashboardRefresh,
    timeFrom: c.dashboardTimeFrom,
    runbooksURL: c.runbooksURL,
    variables: f.variables,
    rows: [
      {
        title: 'Fleet',
        lines: [
          [
            dash.stat('Probes reporting', [
              t('count(up{%s} == 1)' % sel, 'reporting'),
              t('sum(kube_daemonset_status_desired_number_scheduled{%s})' % ksm, 'desired (DaemonSet)'),
            ], 6, 5, noValue='0', description='sensorprobe pods Prometheus scrapes successfully, and the nodes the DaemonSet should run on (kube-state-metrics).'),
            dash.stat('Nodes with a path down', [
              t('count(count by (%(gn)s) (sensorprobe_path_up{%(sel)s} == 0 and on (%(gnp)s) sensorprobe_path_info{%(sel)s, consumer!="none"}))' % { gn: gn, gnp: gnp, sel: sel }, 'path in use'),
              t('count(count by (%(gn)s) (sensorprobe_path_up{%(sel)s} == 0))' % { gn: gn, sel: sel }, 'any path'),
            ], 6, 5, noValue='0', description='Nodes from which a path to sensor fails: one that collector or the VM relay uses (consumer relay or unknown), and any path including controls (consumer none; e.g. 8443 on a stock install, where sensor\'s NetworkPolicy blocks the host network by design).'),
            dash.bars('Nodes per verdict', t('count by (verdict) (sensorprobe_verdict{%s} == 1)' % sel, '{{verdict}}'), 7, 5,
                      description='The verdict each probe names (cause and fix: docs/status.md).'),
            dash.stat('Sensor certificate expires in', [
              t('min(sensorprobe_tls_cert_not_after_timestamp_seconds{%s, path!="hostport"}) - time()' % sel, 'expires in'),
            ], 5, 5, unit='s'),
          ],
          [
            dash.table(
              'Failing node × path pairs',
              t(|||
                topk by (%(gnp)s) (1,
                  increase(sensorprobe_probe_attempts_total{%(sel)s, reason!="ok"}[10m]) > 0
                  and on (%(gnp)s) sensorprobe_path_up{%(sel)s} == 0
                )
                * on (%(gnp)s) group_left (consumer, target)
                max by (%(gnp)s, consumer, target) (sensorprobe_path_info{%(sel)s})
              ||| % { gnp: gnp, sel: sel }),
              [col('node'), col('path'), col('reason', 'main reason (10m)'), col('consumer'), col('target')],
              'failed attempts (10m)',
              16, 9,
              description='Only the pairs that are down now, with the reason most of their recent attempts failed for. consumer: relay (the VM relay dials this way), none (a control nothing depends on), unknown (discovery cannot tell).',
            ),
            dash.table(
              'Paths by consumer',
              t('count by (path, consumer) (sensorprobe_path_info{%s})' % sel),
              [col('path'), col('consumer')],
              'nodes',
              8, 9,
              description='Which paths something on the host network depends on. Alerts only look at paths whose consumer is not none.',
            ),
          ],
          [
            dash.timeseries('Nodes with a path down, per path', [
              t('count by (path, consumer) ((sensorprobe_path_up{%(sel)s} == 0) * on (%(gnp)s) group_left (consumer) max by (%(gnp)s, consumer) (sensorprobe_path_info{%(sel)s}))' % { gnp: gnp, sel: sel }, '{{path}} ({{consumer}})'),
            ], 12, 8, unit='none'),
            dash.timeseries('Nodes per verdict', [
              t('count by (verdict) (sensorprobe_verdict{%s} == 1)' % sel, '{{verdict}}'),
            ], 12, 8, unit='none'),
          ],
        ],
      },
      {
        title: 'Probes and discovery',
        lines: [
          [
            dash.stat('Kubernetes discovery', [
              t('sum(sensorprobe_kube_discovery_up{%s})' % sel, 'nodes with discovery up'),
              t('count(sensorprobe_kube_discovery_up{%s})' % sel, 'probes'),
            ], 6, 6, noValue='0', description='Without discovery a probe keeps dialling the last known addresses and cannot tell which paths are in use.'),
            dash.timeseries('Discovery errors per second (top 10 nodes)', [
              t('topk(10, sum by (%s) (rate(sensorprobe_kube_discovery_errors_total{%s}[$__rate_interval])))' % [gn, sel], '{{node}}'),
            ], 9, 6, unit='short'),
            dash.bars('Nodes per version', t('count by (version) (sensorprobe_build_info{%s})' % sel, '{{version}}'), 9, 6),
          ],
          [
            dash.table(
              'Version per node',
              t('max by (%s, version, revision) (sensorprobe_build_info{%s})' % [gn, sel]),
              [col('node'), col('version'), col('revision')],
              null,
              12, 8,
            ),
            dash.timeseries('Scrape success, lowest 10 probes', [
              t('bottomk(10, avg_over_time(up{%s}[$__rate_interval]))' % sel, '{{node}}'),
            ], 12, 8, unit='percentunit', description='A crash-looping or restarting probe shows here before SensorProbeTargetDown fires.'),
          ],
        ],
      },
      {
        title: 'Failures',
        lines: [
          [
            dash.timeseries('Failed attempts per second, by path and reason', [
              t('sum by (path, reason) (rate(sensorprobe_probe_attempts_total{%s, reason!="ok"}[$__rate_interval])) > 0' % sel, '{{path}} {{reason}}'),
            ], 12, 8, unit='short'),
            dash.timeseries('i/o timeouts per second, by path and reason', [
              t('sum by (path, reason) (rate(sensorprobe_probe_attempts_total{%s, reason=~".+_timeout"}[$__rate_interval])) > 0' % sel, '{{path}} {{reason}}'),
            ], 12, 8, unit='short', description='reason connect_timeout is the field symptom "dial tcp …:443: i/o timeout".'),
          ],
          [
            dash.table(
              'Top 10 node × path pairs by i/o-timeout share',
              t('topk(10, sum by (%(gnp)s) (rate(sensorprobe_probe_attempts_total{%(sel)s, reason=~".+_timeout"}[$__rate_interval])) / sum by (%(gnp)s) (rate(sensorprobe_probe_attempts_total{%(sel)s}[$__rate_interval])) > 0)' % { gnp: gnp, sel: sel }),
              [col('node'), col('path')],
              'share of attempts timing out',
              24, 7,
              unit='percentunit',
            ),
          ],
        ],
      },
      {
        title: 'Phase latency (all selected nodes)',
        lines: [
          [
            dash.heatmap(
              'TCP connect time, every attempt',
              t('sum by (le) (rate(sensorprobe_connect_duration_seconds_bucket{%s}[$__rate_interval]))' % sel, '{{le}}'),
              [
                t('histogram_quantile(%s, sum by (le) (rate(sensorprobe_connect_duration_seconds_bucket{%s}[$__rate_interval])))' % [q[0], sel], q[1])
                for q in [['0.5', 'p50'], ['0.9', 'p90'], ['0.99', 'p99']]
              ],
              12, 8,
              description='A connect that times out counts at the timeout, above the last bucket.',
            ),
            dash.timeseries('Phase times of the latest full attempt, p90 and worst over nodes and paths', [
              t('quantile by (phase) (0.9, sensorprobe_phase_duration_seconds{%s})' % sel, 'p90 {{phase}}'),
              t('max by (phase) (sensorprobe_phase_duration_seconds{%s})' % sel, 'max {{phase}}'),
            ], 12, 8, unit='s', description='resolve (names only), connect, tls and check of the latest full attempt on each path; a failed phase shows the time it took to fail.'),
          ],
        ],
      },
      {
        title: 'VM relay',
        lines: [
          [
            dash.stat('VSOCK relay', [
              t('sum(sensorprobe_vsock_relay_listening{%s})' % sel, 'nodes with the relay listening'),
              t('sum(sensorprobe_vsock_connections_recent{%s})' % sel, 'VM connections in the window'),
            ], 8, 7, noValue='0'),
            dash.timeseries('Relay log: reports sent and send errors per second', [
              t('sum(rate(sensorprobe_vsock_relay_log_events_total{%s, event="report_sent"}[$__rate_interval]))' % sel, 'sent'),
              t('sum by (code) (rate(sensorprobe_vsock_relay_send_errors_total{%s}[$__rate_interval]))' % sel, 'send error {{code}}'),
            ], 16, 7, unit='short', description='From the compliance container\'s log, which sensorprobe follows on each node. Send errors while the paths work mean sensor refuses the reports.'),
          ],
          [
            dash.timeseries("Relay's own metrics: index reports received and sent", [
              t('sum(rate(rox_compliance_virtual_machine_relay_index_reports_received_total{%s}[$__rate_interval]))' % relay, 'received'),
              t('sum by (failed) (rate(rox_compliance_virtual_machine_relay_index_reports_sent_total{%s}[$__rate_interval]))' % relay, 'sent, failed={{failed}}'),
            ], 12, 7, unit='short', description='Only when the compliance container\'s metrics are scraped (RHACS 4.9 and later).'),
            dash.timeseries("Relay's own metrics: connections and send attempts", [
              t('sum(rate(rox_compliance_virtual_machine_relay_connections_accepted_total{%(r)s}[$__rate_interval])) or sum(rate(rox_compliance_virtual_machine_relay_vsock_connections_accepted_total{%(r)s}[$__rate_interval]))' % { r: relay }, 'connections accepted'),
              t('sum by (result) (rate(rox_compliance_virtual_machine_relay_index_report_send_attempts_total{%s}[$__rate_interval]))' % relay, 'send attempts, {{result}}'),
            ], 12, 7, unit='short'),
          ],
        ],
      },
      {
        title: 'VM pull mode (RHACS 4.12)',
        lines: [
          [
            dash.bars('Nodes per VM transport mode', t('count by (mode) (sensorprobe_vm_transport_info{%s})' % sel, '{{mode}}'), 4, 5,
                      description='push: RHACS 4.9 to 4.11, VMs send to the compliance relay. pull: the 4.12 line, sensor pulls from each Running VMI through KubeVirt (the rest of this row). off, unknown: VM scanning off, or cannot tell.'),
            dash.stat('VMs', [
              t('sum(rox_sensor_vsock_pull_tracked_vms{%s})' % ss, 'tracked by sensor'),
              t('sum(sensorprobe_vmis_running{%s})' % sel, 'Running VMIs'),
              t('sum(sensorprobe_vmis_without_vsock{%s})' % sel, 'without VSOCK'),
            ], 12, 5, description="The VMs sensor's scraper tracks (from sensor's metrics: no value when sensor's monitoring port is not scraped, docs/install.md), and the Running VMIs the probes count on their nodes, with those lacking VSOCK, which sensor scrapes and fails on forever."),
            dash.stat('virt-handler', [
              t('count(sensorprobe_virt_handler_up{%s} == 0)' % sel, 'nodes down'),
              t('count(sensorprobe_virt_handler_up{%s})' % sel, 'nodes watched'),
            ], 8, 5, noValue='0', description="Nodes whose virt-handler is not Ready or refuses TCP on 8186, of the nodes in pull mode where the probe can tell. Sensor reaches a VM through the virt-handler of the VM's node."),
          ],
          [
            dash.timeseries("Sensor's VM scrapes by status, per hour", [
              t('sum by (status) (increase(rox_sensor_vsock_pull_requests_total{%s}[1h]))' % ss, '{{status}}'),
            ], 12, 8, unit='short', description='Requests of the last hour, by outcome: success and unchanged are answers; not_ready (no report yet) and busy pass by themselves; dial_error, read_error, timeout, invalid_report, unknown_method and send_error are failures (docs/runbooks.md, "Pull mode"). Per hour, because sensor asks each VM once per poll interval (5m by default, up to 4h) and retries failures from 10 s up to 30 minutes apart.'),
            dash.timeseries("Share of sensor's VM scrapes by status over 4 hours (what the alerts read)", [
              t('sum by (status) (increase(rox_sensor_vsock_pull_requests_total{%(ss)s, status!~"success|unchanged"}[4h])) / ignoring (status) group_left () sum(increase(rox_sensor_vsock_pull_requests_total{%(ss)s}[4h]))' % { ss: ss }, '{{status}}'),
            ], 12, 8, unit='percentunit', description='A kind of failure alerts above 10 % (SensorProbeVMScrapesFailing also above 50 %). A share of requests, not of VMs: a failing VM is retried more often than a healthy one is polled.'),
          ],
          [
            dash.timeseries('Tracked VMs and Running VMIs', [
              t('sum(rox_sensor_vsock_pull_tracked_vms{%s})' % ss, 'tracked by sensor'),
              t('sum(sensorprobe_vmis_running{%s})' % sel, 'Running VMIs'),
              t('sum(sensorprobe_vmis_without_vsock{%s})' % sel, 'without VSOCK'),
            ], 8, 8, unit='none'),
            dash.table(
              'VMIs without VSOCK, by node',
              t('max by (%s) (sensorprobe_vmis_without_vsock{%s}) > 0' % [gn, sel]),
              [col('node')],
              'Running VMIs without VSOCK',
              8, 8,
              description='Only the nodes that have any.',
            ),
            dash.table(
              'virt-handler up, by node',
              t('max by (%s) (sensorprobe_virt_handler_up{%s})' % [gn, sel]),
              [col('node')],
              'virt-handler up (1 yes, 0 no)',
              8, 8,
              description='Nodes in pull mode where the probe can read it.',
            ),
          ],
          [
            dash.timeseries("Sensor's VM scrape times, p90 over the last hour", [
              t('histogram_quantile(0.9, sum by (le) (rate(rox_sensor_vsock_pull_%s_duration_seconds_bucket{%s}[1h])))' % [phase, ss], phase)
              for phase in ['dial', 'read', 'total']
            ], 24, 7, unit='s', description='dial: opening the vsock subresource (through kube-apiserver, virt-api and virt-handler); read: reading the report from the agent; total: one scrape. Sensor gives up on a VM after 30 s (timeout).'),
          ],
        ],
      },
      {
        title: 'Sensor certificate',
        lines: [
          [
            dash.table(
              'Certificate expiry per path (earliest over the nodes)',
              t('min by (%s, namespace, path) (sensorprobe_tls_cert_not_after_timestamp_seconds{%s}) - time()' % [cl, sel]),
              [col('namespace'), col('path')],
              'expires in',
              12, 6,
              unit='s',
            ),
            dash.table(
              'Certificate verified per path (worst node)',
              t('min by (%s, namespace, path) (sensorprobe_tls_cert_verified{%s})' % [cl, sel]),
              [col('namespace'), col('path')],
              'verified (1 yes, 0 no)',
              12, 6,
            ),
          ],
        ],
      },
    ],
  },

  local variable(name, label, query) = { name: name, label: label, query: query },

  grafanaDashboards+:: {
    'sensorprobe.json': dash.grafana(spec({
      vars: '%s=~"$cluster", namespace=~"$namespace", job=~"$job", node=~"$node"' % cl,
      ksmVars: '%s=~"$cluster", namespace=~"$namespace"' % cl,
      relayVars: '%s=~"$cluster", namespace=~"$namespace", node=~"$node"' % cl,
      sensorVars: '%s=~"$cluster", namespace=~"$namespace"' % cl,
      variables: [
        variable(cl, 'Cluster', 'label_values(sensorprobe_build_info{%s}, %s)' % [s, cl]),
        variable('namespace', 'Namespace', 'label_values(sensorprobe_build_info{%s, %s=~"$%s"}, namespace)' % [s, cl, cl]),
        variable('job', 'Job', 'label_values(sensorprobe_build_info{%s, %s=~"$%s", namespace=~"$namespace"}, job)' % [s, cl, cl]),
        variable('node', 'Node', 'label_values(sensorprobe_build_info{%s, %s=~"$%s", namespace=~"$namespace", job=~"$job"}, node)' % [s, cl, cl]),
      ],
    })),
  },

  // The console shows one cluster, so it has no cluster variable (its "All" is `.+`, which
  // would not match series without the label).
  openshiftConsoleDashboards+:: {
    'sensorprobe.json': dash.console(spec({
      vars: 'namespace=~"$namespace", job=~"$job", node=~"$node"',
      ksmVars: 'namespace=~"$namespace"',
      relayVars: 'namespace=~"$namespace", node=~"$node"',
      sensorVars: 'namespace=~"$namespace"',
      variables: [
        variable('namespace', 'Namespace', 'label_values(sensorprobe_build_info{%s}, namespace)' % s),
        variable('job', 'Job', 'label_values(sensorprobe_build_info{%s, namespace=~"$namespace"}, job)' % s),
        variable('node', 'Node', 'label_values(sensorprobe_build_info{%s, namespace=~"$namespace", job=~"$job"}, node)' % s),
      ],
    })),
  },
}
