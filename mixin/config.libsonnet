// The mixin's configuration. Override any field with
//   (import 'mixin.libsonnet') + { _config+:: { sensorprobeSelector: 'job="my-probe"' } }
// The defaults produce exactly the files this repository ships (deploy/rules,
// deploy/components/monitoring, dashboards/, deploy/openshift-console); a test fails when
// they drift apart.
{
  _config+:: {
    // Label matchers that select sensorprobe's own series, `up` included. The PodMonitor in
    // deploy/components/monitoring sets job="sensorprobe".
    sensorprobeSelector: 'job="sensorprobe"',

    // Label matchers that select kube-state-metrics' series, and the DaemonSet as
    // kube-state-metrics names it (for "probes reporting vs desired").
    kubeStateMetricsSelector: 'job="kube-state-metrics"',
    daemonSetSelector: 'daemonset="sensorprobe"',

    // The label that tells clusters apart where one Prometheus-compatible store holds several
    // (Thanos, Mimir, federation). It is kept in every aggregation and join; on a single cluster
    // it is simply absent. The dashboards offer it as a variable.
    clusterLabel: 'cluster',

    // Where each alert's runbook_url points: %s is the alert name in lower case, which is the
    // anchor of its section in docs/runbooks.md. Point it at a mirror for disconnected clusters.
    runbookURLPattern: 'https://github.com/sensorprobe/sensorprobe/blob/main/docs/runbooks.md#%s',

    // From this share of the nodes on, a path fault is one cluster-wide alert
    // (SensorProbeSensorUnreachable) instead of one alert per node.
    clusterWideShare: 0.9,

    // How long a path must stay down before its alert fires.
    pathDownFor: '5m',

    // SensorProbeIOTimeoutsHigh: share of attempts ending in an i/o timeout.
    ioTimeoutShare: 0.1,

    // SensorProbeLatencyHigh: the p90 must exceed this many times its usual level, and this floor.
    latencyFactor: 3,
    latencyFloorSeconds: 0.05,

    // SensorProbeSensorCertExpiringSoon: warning and critical tiers.
    certWarningSeconds: 7 * 86400,
    certCriticalSeconds: 86400,

    // SensorProbeTargetDown: a probe whose scrapes succeed less than this share of the time
    // over the window fires (a crash-looping probe is up now and then: `up == 0 for` misses it).
    probeUpShare: 0.9,
    probeUpWindow: '15m',

    // Dashboards.
    dashboardUID: 'sensorprobe',
    dashboardTitle: 'sensorprobe: sensor reachability from the host network',
    dashboardTags: ['sensorprobe', 'stackrox', 'rhacs'],
    dashboardRefresh: '30s',
    dashboardTimeFrom: 'now-6h',
    // Where the dashboards link to for the runbooks.
    runbooksURL: 'https://github.com/sensorprobe/sensorprobe/blob/main/docs/runbooks.md',
  },
}
