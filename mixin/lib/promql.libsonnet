// Small helpers shared by the rules, the alerts and the dashboards.
{
  // The labels every aggregation keeps: the cluster label, namespace and job (routing by
  // namespace is the kube-prometheus default; job tells apart several installations), then extra.
  by(c, extra=[]):: std.join(', ', [c.clusterLabel, 'namespace', 'job'] + extra),

  // Matchers and printf arguments for the Go-template queries of annotations. In expr,
  // SCOPE stands for matchers of the alert's own cluster, namespace and job plus the alert
  // labels named in scope, PATHSEL for those of cluster, namespace, job and path (for
  // series without the other scope labels), and NSSEL for those of cluster and namespace
  // alone (for another job's series in the same namespace, such as sensor's).
  local scoped(c, expr, scope) =
    local base = [c.clusterLabel, 'namespace', 'job'];
    local labels = { SCOPE: base + scope, PATHSEL: base + ['path'], NSSEL: [c.clusterLabel, 'namespace'] };
    local arg(l) = if l == c.clusterLabel then '(index $labels "' + l + '")' else '$labels.' + l;
    local uses = std.sort(
      [[i, k] for k in std.objectFields(labels) for i in std.findSubstr(k, expr)],
      function(u) u[0]
    );
    {
      format: std.foldl(
        function(e, k) std.strReplace(e, k, std.join(', ', [l + '=%q' for l in labels[k]])),
        std.objectFields(labels),
        expr
      ),
      args: std.join(' ', [arg(l) for u in uses for l in labels[u[1]]]),
    },

  // How an annotation shows a sample's value: as it is, or as a percentage (of a ratio).
  local shown(percent) = if percent then '| humanizePercentage ' else '',

  // A Go-template pipeline for an annotation: it runs expr (see scoped) and lists the values
  // of label in the result: sorted, separated by commas, at most max of them (then "…").
  // withValue adds each sample's value in brackets, as a percentage with percent.
  list(c, expr, label, scope=[], withValue=false, max=5, percent=false)::
    local q = scoped(c, expr, scope);
    '{{ range $i, $s := printf `' + q.format + '` ' + q.args +
    ' | query | sortByLabel "' + label + '" }}' +
    '{{ if lt $i ' + max + ' }}{{ if $i }}, {{ end }}{{ $s.Labels.' + label + ' }}' +
    (if withValue then ' ({{ $s.Value ' + shown(percent) + '}})' else '') +
    '{{ else if eq $i ' + max + ' }}, …{{ end }}{{ end }}',

  // The value of the first sample expr returns (see scoped), or none, as a Go-template
  // pipeline; a percentage with percent.
  value(c, expr, scope=[], none='none', percent=false)::
    local q = scoped(c, expr, scope);
    '{{ with printf `' + q.format + '` ' + q.args + ' | query }}{{ . | first | value ' + shown(percent) + '}}{{ else }}' + none + '{{ end }}',

  // The recorded increase of sensor's VM scrapes by status over window w (pullWindow or
  // pullRecentWindow): the rules record it, the alerts read it.
  pullRequests(w):: 'job_status:rox_sensor_vsock_pull_requests:increase' + w,

  // A number as PromQL and people write it: 0.9, not 0.90000000000000002.
  num(x):: '%g' % x,

  // A duration such as 5m or 1h in words, for annotations.
  words(d)::
    local n = std.substr(d, 0, std.length(d) - 1);
    local u = std.substr(d, std.length(d) - 1, 1);
    local unit = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[u];
    n + ' ' + unit + (if n == '1' then '' else 's'),
}
