// One panel model, two renderers: Grafana (schema 39 panels) and the OpenShift console's
// dashboards (ConfigMaps in openshift-config-managed), which render only the panel types
// row, singlestat, gauge, graph, table and grafana-piechart-panel, lay panels out by `span`
// (twelfths of the page width), take tables' columns from `styles`, replace `$name` (not
// `${name}`) in queries and turn "All" into `.+`.
//
// A panel is an object with
//   kind:    stat | bars | timeseries | table | heatmap
//   title, description
//   w, h:    Grafana grid width (of 24) and height; the console's span is w / 2
//   targets: [{ expr, legend }]
//   unit:    Grafana unit (also the console's format)
//   noValue: what a stat shows when its query returns nothing (a count of zero)
//   columns: tables: [{ label, title }] in order; valueTitle names the value (null hides it)
//   consoleTargets: heatmaps: the queries of the console's graph (it has no heatmap)
// A dashboard is { rows: [{ title, lines: [[panel, ...], ...] }] } plus the renderer's
// settings.
{
  stat(title, targets, w, h, unit='none', noValue=null, description=''):: {
    kind: 'stat', title: title, description: description, targets: targets, w: w, h: h, unit: unit, noValue: noValue,
  },
  bars(title, target, w, h, description=''):: {
    kind: 'bars', title: title, description: description, targets: [target], w: w, h: h, unit: 'none',
  },
  timeseries(title, targets, w, h, unit='short', description=''):: {
    kind: 'timeseries', title: title, description: description, targets: targets, w: w, h: h, unit: unit,
  },
  table(title, target, columns, valueTitle, w, h, unit='none', description=''):: {
    kind: 'table', title: title, description: description, targets: [target], columns: columns,
    valueTitle: valueTitle, w: w, h: h, unit: unit,
  },
  heatmap(title, target, consoleTargets, w, h, description=''):: {
    kind: 'heatmap', title: title, description: description, targets: [target], consoleTargets: consoleTargets,
    w: w, h: h, unit: 's',
  },
  target(expr, legend=''):: { expr: expr, legend: legend },
  column(label, title=label):: { label: label, title: title },

  local refID(i) = std.char(std.codepoint('A') + i),

  // ---- Grafana ----

  local grafanaDatasource = { type: 'prometheus', uid: '${datasource}' },

  local grafanaTargets(p) = [
    {
      refId: refID(i),
      datasource: grafanaDatasource,
      expr: p.targets[i].expr,
      legendFormat: if p.targets[i].legend == '' then '__auto' else p.targets[i].legend,
    } + (
      if p.kind == 'stat' || p.kind == 'bars' then { instant: true, range: false }
      else if p.kind == 'table' then { instant: true, range: false, format: 'table' }
      else if p.kind == 'heatmap' then { format: 'heatmap' }
      else {}
    )
    for i in std.range(0, std.length(p.targets) - 1)
  ],

  local grafanaKind(p) =
    if p.kind == 'stat' then {
      type: 'stat',
      fieldConfig: {
        defaults: {
          unit: p.unit,
          color: { mode: 'thresholds' },
          thresholds: { mode: 'absolute', steps: [{ color: 'text', value: null }] },
        } + (if p.noValue != null then { noValue: p.noValue } else {}),
        overrides: [],
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: 'value_and_name',
        wideLayout: true,
        showPercentChange: false,
      },
    }
    else if p.kind == 'bars' then {
      type: 'bargauge',
      fieldConfig: {
        defaults: { unit: p.unit, min: 0, color: { mode: 'palette-classic' }, thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }] } },
        overrides: [],
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        orientation: 'horizontal',
        displayMode: 'basic',
        valueMode: 'color',
        namePlacement: 'left',
        showUnfilled: true,
        sizing: 'auto',
        minVizHeight: 16,
        minVizWidth: 8,
        maxVizHeight: 300,
      },
    }
    else if p.kind == 'timeseries' then {
      type: 'timeseries',
      fieldConfig: {
        defaults: {
          unit: p.unit,
          min: 0,
          color: { mode: 'palette-classic' },
          custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false, axisSoftMin: 0 },
        },
        overrides: [],
      },
      options: {
        legend: { displayMode: 'table', placement: 'right', showLegend: true, calcs: ['lastNotNull', 'max'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    }
    else if p.kind == 'table' then {
      type: 'table',
      fieldConfig: { defaults: { unit: p.unit, custom: { align: 'auto', cellOptions: { type: 'auto' } } }, overrides: [] },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: { show: false, reducer: ['sum'], countRows: false },
        sortBy: [{ displayName: p.columns[0].title, desc: false }],
      },
      local shown = [col.label for col in p.columns] + (if p.valueTitle != null then ['Value'] else []),
      transformations: [
        { id: 'filterFieldsByName', options: { include: { names: shown } } },
        {
          id: 'organize',
          options: {
            excludeByName: {},
            indexByName: { [shown[i]]: i for i in std.range(0, std.length(shown) - 1) },
            renameByName: { [col.label]: col.title for col in p.columns if col.title != col.label } +
                          (if p.valueTitle != null then { Value: p.valueTitle } else {}),
          },
        },
      ],
    }
    else if p.kind == 'heatmap' then {
      type: 'heatmap',
      fieldConfig: { defaults: { custom: { scaleDistribution: { type: 'linear' } } }, overrides: [] },
      options: {
        calculate: false,
        cellGap: 1,
        color: { mode: 'scheme', scheme: 'Oranges', exponent: 0.5, fill: 'dark-orange', reverse: false, steps: 64 },
        yAxis: { axisPlacement: 'left', unit: 's', reverse: false },
        rowsFrame: { layout: 'auto' },
        tooltip: { mode: 'single', yHistogram: true, showColorScale: false },
        legend: { show: true },
        exemplars: { color: 'rgba(255,0,255,0.7)' },
        filterValues: { le: 1e-9 },
        showValue: 'never',
      },
    }
    else error 'unknown panel kind ' + p.kind,

  // grafana renders a dashboard: rows of lines of panels, laid out top to bottom, with ids in
  // that order.
  grafana(d)::
    local placed = std.foldl(
      function(acc, row)
        local rowPanel = {
          type: 'row',
          title: row.title,
          collapsed: false,
          id: acc.id,
          gridPos: { x: 0, y: acc.y, w: 24, h: 1 },
          panels: [],
        };
        local lines = std.foldl(
          function(la, line)
            local xs = std.foldl(function(xa, p) xa + [xa[std.length(xa) - 1] + p.w], line, [0]);
            local height = std.foldl(function(m, p) std.max(m, p.h), line, 0);
            {
              y: la.y + height,
              id: la.id + std.length(line),
              panels: la.panels + [
                {
                  id: la.id + i,
                  title: line[i].title,
                  description: line[i].description,
                  datasource: grafanaDatasource,
                  gridPos: { x: xs[i], y: la.y, w: line[i].w, h: line[i].h },
                  targets: grafanaTargets(line[i]),
                } + grafanaKind(line[i])
                for i in std.range(0, std.length(line) - 1)
              ],
            },
          row.lines,
          { y: acc.y + 1, id: acc.id + 1, panels: [] },
        );
        { y: lines.y, id: lines.id, panels: acc.panels + [rowPanel] + lines.panels },
      d.rows,
      { y: 0, id: 1, panels: [] },
    );
    {
      uid: d.uid,
      title: d.title,
      description: d.description,
      tags: d.tags,
      editable: true,
      graphTooltip: 1,
      timezone: 'browser',
      refresh: d.refresh,
      time: { from: d.timeFrom, to: 'now' },
      timepicker: {},
      fiscalYearStartMonth: 0,
      liveNow: false,
      weekStart: '',
      schemaVersion: 39,
      version: 1,
      annotations: {
        list: [{
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        }],
      },
      links: [{
        title: 'Runbooks',
        type: 'link',
        url: d.runbooksURL,
        targetBlank: true,
        icon: 'doc',
        tooltip: '',
        asDropdown: false,
        includeVars: false,
        keepTime: false,
        tags: [],
      }],
      templating: {
        list: [{
          type: 'datasource',
          name: 'datasource',
          label: 'Data source',
          query: 'prometheus',
          current: {},
          hide: 0,
          includeAll: false,
          multi: false,
          options: [],
          refresh: 1,
          regex: '',
        }] + [
          {
            type: 'query',
            name: v.name,
            label: v.label,
            datasource: grafanaDatasource,
            definition: v.query,
            query: { qryType: 1, query: v.query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
            refresh: 2,
            sort: 1,
            multi: true,
            includeAll: true,
            allValue: '.*',
            current: { selected: true, text: ['All'], value: ['$__all'] },
            options: [],
            hide: 0,
            regex: '',
          }
          for v in d.variables
        ],
      },
      panels: placed.panels,
    },

  // ---- OpenShift console ----

  local span(p) = std.max(1, std.min(12, std.floor(p.w / 2 + 0.5))),

  local consoleTargets(ts) = [
    { refId: refID(i), expr: ts[i].expr, legendFormat: ts[i].legend }
    for i in std.range(0, std.length(ts) - 1)
  ],

  // consolePanels turns one panel into the console panels that show the same: a stat with
  // several values becomes one singlestat per value (singlestat reads its first query only).
  local consolePanels(p) =
    if p.kind == 'stat' then [
      {
        type: 'singlestat',
        title: if std.length(p.targets) == 1 then p.title else p.title + ' · ' + t.legend,
        description: p.description,
        span: std.max(2, std.floor(span(p) / std.length(p.targets) + 0.5)),
        format: p.unit,
        targets: consoleTargets([t]),
        valueMaps: if p.noValue != null then [{ op: '=', value: 'null', text: p.noValue }] else [],
      } + (if p.unit == 'none' then { decimals: 0 } else {})
      for t in p.targets
    ]
    else if p.kind == 'bars' then [{
      type: 'grafana-piechart-panel',
      title: p.title,
      description: p.description,
      span: span(p),
      targets: consoleTargets(p.targets),
    }]
    else if p.kind == 'timeseries' || p.kind == 'heatmap' then [{
      type: 'graph',
      title: p.title,
      description: p.description,
      span: span(p),
      targets: consoleTargets(if p.kind == 'heatmap' then p.consoleTargets else p.targets),
      yaxes: [{ format: p.unit, show: true }, { format: 'short', show: false }],
      legend: { show: true },
      stack: false,
    }]
    else if p.kind == 'table' then [{
      type: 'table',
      title: p.title,
      description: p.description,
      span: span(p),
      targets: consoleTargets(p.targets),
      styles: [{ pattern: col.label, alias: col.title, type: 'string' } for col in p.columns] + [
        if p.valueTitle != null then { pattern: 'Value', alias: p.valueTitle, type: 'number', unit: p.unit, decimals: if p.unit == 'none' then 0 else 2 }
        else { pattern: 'Value', alias: '', type: 'hidden' },
        { pattern: 'Time', alias: '', type: 'hidden' },
      ],
    }]
    else error 'unknown panel kind ' + p.kind,

  // console renders a dashboard for the OpenShift console, in the `rows` form its legacy
  // dashboards read.
  console(d)::
    local rows = [
      {
        title: row.title,
        showTitle: true,
        collapse: false,
        panels: std.flattenArrays([consolePanels(p) for line in row.lines for p in line]),
      }
      for row in d.rows
    ];
    local counts = [std.length(r.panels) for r in rows];
    local offsets = std.foldl(function(acc, n) acc + [acc[std.length(acc) - 1] + n], counts, [1]);
    {
      title: d.title,
      uid: d.uid,
      tags: d.tags,
      timezone: 'browser',
      refresh: d.refresh,
      time: { from: d.timeFrom, to: 'now' },
      templating: {
        list: [
          {
            type: 'query',
            name: v.name,
            label: v.label,
            query: v.query,
            includeAll: true,
            hide: 0,
            options: [],
          }
          for v in d.variables
        ],
      },
      rows: [
        rows[r] {
          panels: [rows[r].panels[i] { id: offsets[r] + i } for i in std.range(0, std.length(rows[r].panels) - 1)],
        }
        for r in std.range(0, std.length(rows) - 1)
      ],
    },
}
