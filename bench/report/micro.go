package report

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ParseMicro reads `go test -bench` output and returns, per benchmark
// (prefixed with its package), the median of every metric over its runs.
func ParseMicro(path string) (*Micro, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type acc struct {
		count   int
		metrics map[string][]float64
	}
	byName := map[string]*acc{}
	var order []string
	pkg := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/mtlsgate/mtlsgate/")
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue // not a result line
		}
		name := pkg + "." + fields[0]
		a := byName[name]
		if a == nil {
			a = &acc{metrics: map[string][]float64{}}
			byName[name] = a
			order = append(order, name)
		}
		a.count++
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			a.metrics[fields[i+1]] = append(a.metrics[fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	m := &Micro{File: path}
	for _, n := range order {
		row := MicroRow{Name: n, Count: byName[n].count, Metrics: map[string]float64{}}
		for unit, vs := range byName[n].metrics {
			row.Metrics[unit] = medianOf(vs)
		}
		m.Rows = append(m.Rows, row)
	}
	return m, nil
}

func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
