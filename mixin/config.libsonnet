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

    // RHACS 4.12 pull mode: sensor pulls each VM's index report through KubeVirt's vsock
    // subresource (sensor → kube-apiserver → virt-api → virt-handler on the VM's node → VSOCK
    // → roxagent). Label matchers that select sensor's own series (rox_sensor_*), scraped
    // from its monitoring port (docs/install.md, "Sensor's metrics"): the alerts on sensor's
    // VM scrapes read nothing else.
    sensorSelector: 'job="sensor"',

    // The window of the shares of sensor's VM scrapes by status. Sensor asks each VM once per
    // poll interval (5m by default, 4h once a pending RHACS change lands; at least 1m), so a
    // window as long as the longest interval sees every VM at least once.
    pullWindow: '4h',
    // A VM that keeps failing is retried at least every 30 minutes (after 10 s, doubling up to
    // min(poll interval, 30m)), so it fails again within this window. The alerts on sensor's
    // scrapes also want a failure in it, and so clear within it once the fault is gone rather
    // than when the old failures leave pullWindow.
    pullRecentWindow: '1h',
    // How long those alerts' conditions must hold: not shorter than pullRecentWindow, so that
    // one failed request, which stays in pullRecentWindow for that long, pages nobody.
    pullFor: '1h',
    // From this share of sensor's VM scrapes over pullWindow, a kind of failure alerts
    // (dial/timeout/protocol, read_error, send_error; each its own alert);
    // SensorProbeVMScrapesFailing turns critical from pullCriticalShare on.
    pullFailureShare: 0.1,
    pullCriticalShare: 0.5,

    // SensorProbeVMsWithoutVSOCK: a VMI just started may lack its VSOCK CID for a moment.
    vmsWithoutVSOCKFor: '15m',
    // SensorProbeVirtHandlerDown: a virt-handler restarting during a KubeVirt update is back
    // well within this.
    virtHandlerDownFor: '5m',

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
