package monitoringgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-jsonnet"
)

// MixinDir is where the mixin lives, relative to the repository root.
const MixinDir = "mixin"

// Mixin is the evaluated mixin: everything the generated files are made of.
type Mixin struct {
	// Groups are the rule groups, recording rules first, then alerts.
	Groups []RuleGroup
	// GrafanaDashboards and ConsoleDashboards map a file name to a dashboard's JSON.
	GrafanaDashboards map[string]json.RawMessage
	ConsoleDashboards map[string]json.RawMessage
}

// RuleGroup is a Prometheus rule group, with the fields the mixin uses.
type RuleGroup struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Rule is a recording or alerting rule, with the fields the mixin uses.
type Rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Evaluate evaluates the mixin found under MixinDir in root (the repository root). config is
// a jsonnet object merged into the mixin's _config, e.g. `{ clusterLabel: 'k8s_cluster' }`;
// "" keeps the defaults, which are what the repository ships.
func Evaluate(root fs.FS, config string) (*Mixin, error) {
	if config == "" {
		config = "{}"
	}
	vm := jsonnet.MakeVM()
	vm.Importer(&fsImporter{fsys: root, dir: MixinDir})
	snippet := `local m = (import 'mixin.libsonnet') + { _config+:: ` + config + ` };
{
  groups: m.prometheusRules.groups + m.prometheusAlerts.groups,
  grafana: m.grafanaDashboards,
  console: m.openshiftConsoleDashboards,
}`
	out, err := vm.EvaluateAnonymousSnippet("generate.jsonnet", snippet)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", MixinDir, err)
	}
	var raw struct {
		Groups  []RuleGroup                `json:"groups"`
		Grafana map[string]json.RawMessage `json:"grafana"`
		Console map[string]json.RawMessage `json:"console"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	// A misspelt field in the mixin's rules must not vanish silently.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode the mixin's output: %w", err)
	}
	m := &Mixin{Groups: raw.Groups, GrafanaDashboards: raw.Grafana, ConsoleDashboards: raw.Console}
	return m, m.validate()
}

// validate checks what a rule file needs and JSON cannot say: names, exactly one of record
// and alert, and unique recording rule names.
func (m *Mixin) validate() error {
	var errs []error
	if len(m.Groups) == 0 {
		errs = append(errs, errors.New("no rule groups"))
	}
	records := map[string]bool{}
	for _, g := range m.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			errs = append(errs, fmt.Errorf("group %q: needs a name and rules", g.Name))
		}
		for i, r := range g.Rules {
			switch {
			case (r.Record == "") == (r.Alert == ""):
				errs = append(errs, fmt.Errorf("group %q rule %d: needs exactly one of record and alert", g.Name, i))
			case r.Record != "" && records[r.Record]:
				errs = append(errs, fmt.Errorf("group %q: %s recorded twice", g.Name, r.Record))
			case strings.TrimSpace(r.Expr) == "":
				errs = append(errs, fmt.Errorf("group %q rule %d: empty expr", g.Name, i))
			}
			records[r.Record] = r.Record != ""
		}
	}
	if len(m.GrafanaDashboards) == 0 || len(m.ConsoleDashboards) == 0 {
		errs = append(errs, errors.New("no dashboards"))
	}
	return errors.Join(errs...)
}

// DashboardNames returns the dashboards' file names, sorted.
func (m *Mixin) DashboardNames() []string {
	var names []string
	for n := range m.GrafanaDashboards {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// indentJSON re-indents a dashboard with two spaces, keeping jsonnet's (sorted) key order.
func indentJSON(raw json.RawMessage) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// fsImporter imports jsonnet files from an fs.FS, relative to the importing file or to dir.
// It returns the same Contents for a path every time, as go-jsonnet requires.
type fsImporter struct {
	fsys fs.FS
	dir  string

	mu    sync.Mutex
	cache map[string]jsonnet.Contents
}

// Import implements jsonnet.Importer.
func (im *fsImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	base := im.dir
	if importedFrom != "" && importedFrom != "generate.jsonnet" {
		base = path.Dir(importedFrom)
	}
	p := path.Clean(path.Join(base, importedPath))
	im.mu.Lock()
	defer im.mu.Unlock()
	if c, ok := im.cache[p]; ok {
		return c, p, nil
	}
	b, err := fs.ReadFile(im.fsys, p)
	if err != nil {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: %w", importedPath, err)
	}
	if im.cache == nil {
		im.cache = map[string]jsonnet.Contents{}
	}
	c := jsonnet.MakeContentsRaw(b)
	im.cache[p] = c
	return c, p, nil
}
