// sensorprobe monitoring mixin: prometheusRules (recording), prometheusAlerts,
// grafanaDashboards, and openshiftConsoleDashboards (the same dashboard in the panel types the
// OpenShift console renders). Configure it through _config (config.libsonnet).
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards.libsonnet')
