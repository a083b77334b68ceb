package monitoring_test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// ruleFile is alerts.yaml.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// runbookBase is where every alert's runbook_url points, before the anchor.
const runbookBase = "https://github.com/mtlsgate/mtlsgate/blob/main/docs/operations.md#"

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	if len(f.Groups) == 0 {
		t.Fatal("alerts.yaml has no groups")
	}
	return f
}

// recorded returns the names the recording rules define.
func (f ruleFile) recorded() map[string]bool {
	out := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out[r.Record] = true
			}
		}
	}
	return out
}

// checkSelectors reports, as errors of what, every metric name expr reads
// that is neither exported nor in allowed, and every label matcher on an
// exported series that the series does not carry.
func checkSelectors(t *testing.T, what, expr string, have series, allowed map[string]bool) []string {
	t.Helper()
	sels, err := selectors(expr)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return nil
	}
	if len(sels) == 0 {
		t.Errorf("%s: reads no metric: %s", what, expr)
	}
	var names []string
	for _, s := range sels {
		names = append(names, s.name)
		if allowed[s.name] {
			continue
		}
		labels, ok := have[s.name]
		if !ok {
			t.Errorf("%s: %s is not a metric mtlsgate exports", what, s.name)
			continue
		}
		for _, l := range s.labels {
			if !labels[l] {
				t.Errorf("%s: %s has no label %s (it has %v)", what, s.name, l, sortedKeys(labels))
			}
		}
	}
	return names
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRulesReadExportedMetrics: every metric an alert or a recording rule
// reads is one mtlsgate exports, with the labels it matches on, or one the
// rules record (or Prometheus's up); every recording is used.
func TestRulesReadExportedMetrics(t *testing.T) {
	f := loadRules(t)
	have := exported(t)
	allowed := f.recorded()
	allowed["up"] = true
	used := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			for _, n := range checkSelectors(t, g.Name+"/"+name, r.Expr, have, allowed) {
				used[n] = true
			}
		}
	}
	for name := range f.recorded() {
		if !used[name] {
			t.Errorf("recording %s is read by no rule", name)
		}
	}
	if !used["mtlsgate_server_certificate_expiry_seconds"] || !used["mtlsgate_client_ca_expiry_seconds"] || !used["mtlsgate_crl_next_update_seconds"] {
		t.Error("an expiry gauge has no alert")
	}
	if !used["mtlsgate_envoy_connections_total"] || !used["mtlsgate_envoy_access_log_refused_streams_total"] || !used["mtlsgate_envoy_access_log_dropped_entries_total"] {
		t.Error("Envoy's connections or its access log streams have no alert")
	}
}

var (
	ruleName    = regexp.MustCompile(`^Mtlsgate[A-Z][A-Za-z]+$`)
	recordName  = regexp.MustCompile(`^[a-z_]+:mtlsgate_[a-z_]+:[a-z0-9_]+$`)
	severities  = []string{"info", "warning", "critical"}
	annotations = []string{"description", "runbook_url", "summary"}
)

// TestAlertsAreDocumented: alert names are unique and named alike, each has
// a severity, a summary, a description and a runbook_url pointing to a
// section of docs/operations.md that exists.
func TestAlertsAreDocumented(t *testing.T) {
	f := loadRules(t)
	anchors := markdownAnchors(t, "../../docs/operations.md")
	seen := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("group %s: a rule must alert or record: %+v", g.Name, r)
				continue
			}
			name := r.Alert + r.Record
			if seen[name] {
				t.Errorf("%s is defined twice", name)
			}
			seen[name] = true
			if r.Record != "" {
				if !recordName.MatchString(r.Record) || len(r.Labels)+len(r.Annotations) > 0 {
					t.Errorf("recording %s: name level:metric:operation, no labels or annotations", r.Record)
				}
				continue
			}
			if !ruleName.MatchString(r.Alert) {
				t.Errorf("alert %s: not named Mtlsgate...", r.Alert)
			}
			if !slices.Contains(severities, r.Labels["severity"]) || len(r.Labels) != 1 {
				t.Errorf("%s: labels %v, want one severity of %v", r.Alert, r.Labels, severities)
			}
			keys := make([]string, 0, len(r.Annotations))
			for k, v := range r.Annotations {
				keys = append(keys, k)
				if strings.TrimSpace(v) == "" {
					t.Errorf("%s: empty annotation %s", r.Alert, k)
				}
			}
			if sort.Strings(keys); !slices.Equal(keys, annotations) {
				t.Errorf("%s: annotations %v, want %v", r.Alert, keys, annotations)
			}
			url := r.Annotations["runbook_url"]
			if anchor, ok := strings.CutPrefix(url, runbookBase); !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %s is no section of docs/operations.md", r.Alert, url)
			}
			if !strings.Contains(docText(t), "`"+r.Alert+"`") {
				t.Errorf("%s: not named in docs/operations.md", r.Alert)
			}
		}
	}
}

func docText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	heading       = regexp.MustCompile(`^#{1,6} +(.+?) *#*$`)
	anchorDropped = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// markdownAnchors returns the anchors GitHub gives the headings of a
// Markdown file: lower case, punctuation dropped, spaces to hyphens, "-1"
// and so on added to repeats. Fenced code is skipped.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, count, fenced := map[string]bool{}, map[string]int{}, false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		m := heading.FindStringSubmatch(line)
		if fenced || m == nil {
			continue
		}
		text := strings.NewReplacer("`", "", "*", "").Replace(m[1])
		a := strings.ReplaceAll(anchorDropped.ReplaceAllString(strings.ToLower(text), ""), " ", "-")
		if n := count[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		count[a]++
	}
	return out
}

// TestPromtool runs promtool check rules and promtool test rules
// (alerts_test.yaml) when promtool is installed (Debian package
// prometheus; .ci/run installs it). In CI it must be there.
func TestPromtool(t *testing.T) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed in CI: .ci/run should have installed the prometheus package")
		}
		t.Skip("promtool not installed (apt-get install prometheus): the rules were checked by the Go tests only")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
