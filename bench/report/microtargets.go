package report

import (
	"fmt"
	"strings"
)

// microRatio is a target measured by the micro-benchmarks of one run: the
// ns/op of benchmark a over that of benchmark b (names without the
// package's "authz." prefix and the -GOMAXPROCS suffix), both medians of
// the same run, so the machine's speed cancels out.
func microRatio(pkg, a, b string) func(r *Results) (float64, string, bool) {
	return func(r *Results) (float64, string, bool) {
		if r.Micro == nil {
			return 0, "", false
		}
		na, oka := microNs(r.Micro, pkg+"."+a)
		nb, okb := microNs(r.Micro, pkg+"."+b)
		if !oka || !okb || nb == 0 {
			return 0, "", false
		}
		v := na / nb
		return v, fmt.Sprintf("%.2f× (%.0f ns vs %.0f ns)", v, na, nb), true
	}
}

// microNs is the median ns/op of the benchmark called name, whatever its
// -GOMAXPROCS suffix.
func microNs(m *Micro, name string) (float64, bool) {
	for _, row := range m.Rows {
		base := row.Name
		if i := strings.LastIndexByte(base, '-'); i > 0 && strings.Trim(base[i+1:], "0123456789") == "" {
			base = base[:i]
		}
		if base == name {
			ns, ok := row.Metrics["ns/op"]
			return ns, ok
		}
	}
	return 0, false
}
