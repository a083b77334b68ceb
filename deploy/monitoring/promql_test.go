package monitoring_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// selector is a metric name an expression reads, with the label names its
// matchers use.
type selector struct {
	name   string
	labels []string
}

// promqlKeywords are the words of PromQL that are neither metric names nor
// functions: aggregations (followed by "(" or a grouping clause), binary
// operators, modifiers and literals.
var promqlKeywords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
}

// promqlGrouping are the clauses followed by a list of label names.
var promqlGrouping = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// promqlFunctions are PromQL's functions: a word followed by "(" that is
// not one of them is a mistake (or a function newer than this list).
var promqlFunctions = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`abs absent absent_over_time avg_over_time ceil changes clamp clamp_max clamp_min
		count_over_time day_of_month day_of_week day_of_year days_in_month delta deriv exp floor histogram_count
		histogram_fraction histogram_quantile histogram_sum holt_winters hour idelta increase irate label_join
		label_replace last_over_time ln log10 log2 max_over_time min_over_time minute month predict_linear
		present_over_time quantile_over_time rate resets round scalar sgn sort sort_desc sqrt stddev_over_time
		stdvar_over_time sum_over_time time timestamp vector year`) {
		promqlFunctions[f] = true
	}
}

// selectors returns the metric names expr reads, roughly tokenizing PromQL:
// strings, ranges ([5m], [$__rate_interval]), numbers and durations,
// Grafana variables ($job, ${datasource}), keywords, functions and the
// label lists of grouping clauses are skipped; a label matcher block is
// read after the name it follows. A selector with no metric name, or an
// unknown function, is an error.
func selectors(expr string) ([]selector, error) {
	var out []selector
	last := -1 // index in expr just after the last metric name
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [ at %d", i)
			}
			i += j + 1
		case c == '{':
			if last < 0 || strings.TrimSpace(expr[last:i]) != "" {
				return nil, fmt.Errorf("label matchers at %d follow no metric name", i)
			}
			labels, j, err := matchers(expr, i)
			if err != nil {
				return nil, err
			}
			out[len(out)-1].labels = labels
			i, last = j, -1
		case c == '$':
			i = skipVariable(expr, i)
		case isDigit(c) || c == '.':
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word, next := expr[i:j], nextNonSpace(expr, j)
			switch {
			case promqlGrouping[word]:
				if next < len(expr) && expr[next] == '(' {
					end := strings.IndexByte(expr[next:], ')')
					if end < 0 {
						return nil, fmt.Errorf("unclosed label list after %s", word)
					}
					j = next + end + 1
				}
			case promqlKeywords[word]:
			case next < len(expr) && expr[next] == '(':
				if !promqlFunctions[word] {
					return nil, fmt.Errorf("unknown function %s", word)
				}
			default:
				out = append(out, selector{name: word})
				last = j
			}
			i = j
		default:
			i++
		}
	}
	return out, nil
}

// matchers reads the label matcher block opening at expr[i] and returns
// the label names it matches on and the index after its "}".
func matchers(expr string, i int) ([]string, int, error) {
	var labels []string
	for i++; i < len(expr); {
		c := expr[i]
		switch {
		case c == '}':
			return labels, i + 1, nil
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(expr, i)
			if err != nil {
				return nil, 0, err
			}
			i = j
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			if n := nextNonSpace(expr, j); n >= len(expr) || !strings.ContainsRune("=!", rune(expr[n])) {
				return nil, 0, fmt.Errorf("label %s at %d has no matcher", expr[i:j], i)
			}
			labels = append(labels, expr[i:j])
			i = j
		default:
			i++
		}
	}
	return nil, 0, fmt.Errorf("unclosed { in %q", expr)
}

func skipString(expr string, i int) (int, error) {
	q := expr[i]
	for j := i + 1; j < len(expr); j++ {
		switch {
		case expr[j] == '\\' && q != '`':
			j++
		case expr[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unclosed string at %d", i)
}

// skipVariable skips a Grafana variable: $name or ${name} (with a format).
func skipVariable(expr string, i int) int {
	i++
	if i < len(expr) && expr[i] == '{' {
		if j := strings.IndexByte(expr[i:], '}'); j >= 0 {
			return i + j + 1
		}
		return len(expr)
	}
	for i < len(expr) && isIdent(expr[i]) {
		i++
	}
	return i
}

func nextNonSpace(s string, i int) int {
	for i < len(s) && strings.ContainsRune(" \t\n\r", rune(s[i])) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) }

// isIdentStart reports whether c may start a metric, label or function
// name (colons are for recorded names).
func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// TestSelectors: the tokenizer finds the metric names and matchers of the
// shapes the rules and the dashboard use, and nothing else.
func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string // name, or name{label,label}
	}{
		{`up{job="mtlsgate"} == 0`, []string{"up{job}"}},
		{`absent(up{job="mtlsgate"} == 1)`, []string{"up{job}"}},
		{`min by (site, fingerprint) (a_seconds) < 21 * 86400 >= 7 * 86400`, []string{"a_seconds"}},
		{`-min by (crl_id) (b) > 0`, []string{"b"}},
		{`sum by (responder) (rate(r_total{result!~"good|x{y}", k='v'}[10m])) / sum(rate(r_total[1h] offset 1d))`,
			[]string{"r_total{result,k}", "r_total"}},
		{"x:y:rate5m / on (site) group_left () (z:w:rate5m > 0)\nand on (site, reason) q > 20 / 300", []string{"x:y:rate5m", "z:w:rate5m", "q"}},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket{job=~"$job", instance=~"${instance:regex}"}[$__rate_interval]))) > 2.5e-2`,
			[]string{"h_bucket{job,instance}"}},
		{`topk(10, sum without (instance) (c)) and bool d unless e`, []string{"c", "d", "e"}},
		{`time() - max by (url) (ts{url!=""}) > 1e3`, []string{"ts{url}"}},
	} {
		sels, err := selectors(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		var got []string
		for _, s := range sels {
			if s.labels != nil {
				got = append(got, s.name+"{"+strings.Join(s.labels, ",")+"}")
			} else {
				got = append(got, s.name)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{`rates(x[5m])`, `{__name__="x"}`, `x{a="b"`, `x{a}`, `sum(x[5m)`, `x{a="b}`} {
		if sels, err := selectors(bad); err == nil {
			t.Errorf("%s: no error, got %v", bad, sels)
		}
	}
}
