{{/*
The object names are fixed, whatever the release is called, as in the kustomize manifests: the
alerts select daemonset="sensorprobe", `probe check --cluster` and the fleet-size lookup
(--fleet.daemonset) find the DaemonSet by that name, and the cluster-scoped objects
(PriorityClass, ClusterRoles, SCC) exist once per cluster. So one release per cluster.
*/}}

{{/* The namespace the probe runs in: RHACS' own (rhacsNamespace, or the release's). */}}
{{- define "sensorprobe.namespace" -}}
{{- default .Release.Namespace .Values.rhacsNamespace -}}
{{- end -}}

{{/* The labels every object carries: the kustomize manifests' one and Helm's standard ones. */}}
{{- define "sensorprobe.labels" -}}
app.kubernetes.io/name: sensorprobe
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The monitoring objects' labels: the common ones and monitoring.labels. */}}
{{- define "sensorprobe.monitoringLabels" -}}
{{ include "sensorprobe.labels" . }}
{{- with .Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The image reference: repository with the digest, or the tag (default: appVersion). */}}
{{- define "sensorprobe.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/*
The probe's flags. The first two are the kustomize DaemonSet's; the rest only when a value asks
for them, so that an unset value keeps the probe's own default and the default render matches
deploy/overlays/kubernetes.
*/}}
{{- define "sensorprobe.args" -}}
- --web.listen-address=:{{ int .Values.metricsPort }}
- --log.format={{ .Values.logFormat }}
{{- $ns := include "sensorprobe.namespace" . }}
{{- if ne $ns "stackrox" }}
- --namespace={{ $ns }}
{{- end }}
{{- with .Values.interval }}
- --interval={{ . }}
{{- end }}
{{- with .Values.timeout }}
- --timeout={{ . }}
{{- end }}
{{- if not (kindIs "invalid" .Values.sensorBudget) }}
- --sensor-budget={{ .Values.sensorBudget }}
{{- end }}
{{- with .Values.check }}
- --check={{ . }}
{{- end }}
{{- range .Values.targets }}
- --target={{ . }}
{{- end }}
{{- with .Values.logLevel }}
- --log.level={{ . }}
{{- end }}
{{- if ne .Values.kubevirt.namespace "kubevirt" }}
- --kubevirt.namespace={{ .Values.kubevirt.namespace }}
{{- end }}
{{- if .Values.webConfig.secretName }}
- --web.config.file=/etc/sensorprobe/web/{{ .Values.webConfig.key }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . }}
{{- end }}
{{- end -}}

{{/* A kubelet check (.path) on the metrics port, as webConfig.kubeletProbes asks. */}}
{{- define "sensorprobe.kubeletProbe" -}}
{{- $mode := "http" -}}
{{- if .root.Values.webConfig.secretName }}{{ $mode = .root.Values.webConfig.kubeletProbes }}{{ end -}}
{{- if eq $mode "tcp" -}}
tcpSocket:
  port: metrics
{{- else -}}
httpGet:
  path: {{ .path }}
  port: metrics
  {{- if eq $mode "https" }}
  scheme: HTTPS
  {{- end }}
{{- end }}
{{- end -}}

{{/* The scrape endpoint's settings shared by the PodMonitor and the ServiceMonitor. */}}
{{- define "sensorprobe.scrapeEndpoint" -}}
- port: metrics
  path: /metrics
  interval: {{ .Values.monitoring.scrape.interval }}
  {{- if ne .Values.monitoring.scrape.scheme "http" }}
  scheme: {{ .Values.monitoring.scrape.scheme }}
  {{- end }}
  {{- with .Values.monitoring.scrape.tlsConfig }}
  tlsConfig:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.monitoring.scrape.basicAuth }}
  basicAuth:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  relabelings:
    - sourceLabels: [__meta_kubernetes_pod_node_name]
      targetLabel: node
      action: replace
    - targetLabel: job
      replacement: sensorprobe
      action: replace
{{- end -}}
