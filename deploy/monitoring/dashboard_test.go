package monitoring_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// dashboard is what the tests read of grafana-dashboard.json.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct{ X, Y, W, H int }
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource json.RawMessage `json:"datasource"`
}

// datasourceRef is the only datasource a panel, a query or a variable may
// name: the dashboard's datasource variable.
const datasourceRef = `{"type":"prometheus","uid":"${datasource}"}`

func loadDashboard(t *testing.T) (dashboard, []byte) {
	t.Helper()
	b, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatal("grafana-dashboard.json is not valid JSON")
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d, b
}

// flat returns every panel, those in collapsed rows included.
func (d dashboard) flat() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

func sameJSON(raw json.RawMessage, want string) bool {
	var got bytes.Buffer
	return json.Compact(&got, raw) == nil && got.String() == want
}

var uidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// TestDashboardShape: a uid Grafana accepts, unique panel ids, panels that
// fit the 24-column grid without overlapping, and a datasource variable
// that every panel, query and query variable names (no datasource uid is
// written in the file).
func TestDashboardShape(t *testing.T) {
	d, raw := loadDashboard(t)
	if !uidPattern.MatchString(d.UID) || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
		if v.Type == "query" && !sameJSON(v.Datasource, datasourceRef) {
			t.Errorf("variable %s: datasource %s, want %s", v.Name, v.Datasource, datasourceRef)
		}
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || !sameJSON(v.Query, `"prometheus"`) {
		t.Errorf("no datasource variable of type prometheus: %+v", v)
	}
	ids := map[int]string{}
	var cells [][24]bool
	for _, p := range d.flat() {
		if p.ID <= 0 || ids[p.ID] != "" {
			t.Errorf("panel %q: id %d missing or taken by %q", p.Title, p.ID, ids[p.ID])
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if !sameJSON(p.Datasource, datasourceRef) {
			t.Errorf("panel %q: datasource %s, want %s", p.Title, p.Datasource, datasourceRef)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.Datasource != nil && !sameJSON(q.Datasource, datasourceRef) {
				t.Errorf("panel %q query %s: datasource %s", p.Title, q.RefID, q.Datasource)
			}
			if q.RefID == "" || refs[q.RefID] {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, q.RefID)
			}
			refs[q.RefID] = true
		}
		cells = place(t, cells, p)
	}
	// Whatever the structs above miss: every "datasource" in the file is
	// the variable.
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	if n := checkDatasources(t, tree); n < len(ids) {
		t.Errorf("%d datasources for %d panels", n, len(ids))
	}
}

// checkDatasources reports every "datasource" member of v that is not the
// variable, and returns how many there are.
func checkDatasources(t *testing.T, v any) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "datasource" {
				n++
				if b, _ := json.Marshal(e); string(b) != datasourceRef {
					t.Errorf("a datasource is not the variable: %s", b)
				}
				continue
			}
			n += checkDatasources(t, e)
		}
	case []any:
		for _, e := range v {
			n += checkDatasources(t, e)
		}
	}
	return n
}

// place marks p's cells on the grid, reporting a panel out of the grid or
// on another.
func place(t *testing.T, cells [][24]bool, p panel) [][24]bool {
	g := p.GridPos
	if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
		t.Errorf("panel %q: gridPos %+v is out of the grid", p.Title, g)
		return cells
	}
	for len(cells) < g.Y+g.H {
		cells = append(cells, [24]bool{})
	}
	for y := g.Y; y < g.Y+g.H; y++ {
		for x := g.X; x < g.X+g.W; x++ {
			if cells[y][x] {
				t.Errorf("panel %q overlaps another at %d,%d", p.Title, x, y)
				return cells
			}
			cells[y][x] = true
		}
	}
	return cells
}

// grafanaVariables are the variables Grafana defines itself.
var grafanaVariables = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}

var (
	labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	varUse      = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// TestDashboardReadsExportedMetrics: every query of the dashboard, and of
// its variables, reads metrics mtlsgate exports (or Prometheus's up) with
// labels they carry, and names only variables the dashboard defines.
func TestDashboardReadsExportedMetrics(t *testing.T) {
	d, _ := loadDashboard(t)
	have := exported(t)
	allowed := map[string]bool{"up": true}
	defined := map[string]bool{}
	for k := range grafanaVariables {
		defined[k] = true
	}
	var exprs []string
	for _, v := range d.Templating.List {
		defined[v.Name] = true
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query %s: %v", v.Name, v.Query, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		for _, name := range checkSelectors(t, "variable "+v.Name, m[1], have, allowed) {
			if !have[name][m[2]] {
				t.Errorf("variable %s: %s has no label %s", v.Name, name, m[2])
			}
		}
		exprs = append(exprs, q.Query)
	}
	n := 0
	for _, p := range d.flat() {
		for _, q := range p.Targets {
			checkSelectors(t, fmt.Sprintf("panel %q query %s", p.Title, q.RefID), q.Expr, have, allowed)
			exprs = append(exprs, q.Expr)
			n++
		}
	}
	for _, e := range exprs {
		for _, m := range varUse.FindAllStringSubmatch(e, -1) {
			if !defined[m[1]] {
				t.Errorf("%s: variable $%s is not defined", e, m[1])
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d queries", n)
	}
	used := strings.Join(exprs, "\n")
	for _, want := range []string{"mtlsgate_authz_decisions_total", "mtlsgate_authz_check_duration_seconds_bucket",
		"mtlsgate_authz_verdict_cache_total", "mtlsgate_ocsp_requests_total", "mtlsgate_crl_next_update_seconds",
		"mtlsgate_server_certificate_expiry_seconds", "mtlsgate_client_ca_expiry_seconds", "mtlsgate_xds_pushes_total",
		"mtlsgate_xds_nacks_total", "mtlsgate_xds_connected_envoys", "mtlsgate_store_up",
		"mtlsgate_envoy_connections_total", "mtlsgate_envoy_requests_failed_total",
		"mtlsgate_envoy_access_log_refused_streams_total", "mtlsgate_envoy_access_log_dropped_entries_total"} {
		if !strings.Contains(used, want) {
			t.Errorf("no panel shows %s", want)
		}
	}
}
