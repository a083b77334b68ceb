package report

import (
	"strings"
	"testing"
)

// TestParsersTarget checks that the linearity target takes the worst case,
// is missed above 1.5× and met at or below, and is "not measured" without
// the part or with a single size.
func TestParsersTarget(t *testing.T) {
	target := func(r *Results) Target {
		t.Helper()
		Evaluate(r)
		for _, tg := range r.Targets {
			if strings.HasPrefix(tg.Name, "parsers:") {
				return tg
			}
		}
		t.Fatal("no parsers target")
		return Target{}
	}
	sizes := []int{64 << 10, 4 << 20}
	cases := func(ratios ...float64) []ParserCase {
		var cs []ParserCase
		for i, r := range ratios {
			cs = append(cs, ParserCase{Input: "in" + string(rune('a'+i)), Parser: "p", NSPerByte: []float64{1, r}, Ratio: r})
		}
		return cs
	}
	for _, c := range []struct {
		name          string
		p             *Parsers
		met, missing  bool
		measuredShows string
	}{
		{"linear", &Parsers{Sizes: sizes, Cases: cases(0.9, 1.2, 1.5)}, true, false, "1.50× for p over inc, 4 MiB vs 64 KiB"},
		{"one quadratic", &Parsers{Sizes: sizes, Cases: cases(1.1, 64, 1.0)}, false, false, "64.00× for p over inb"},
		{"absent", nil, false, true, "not measured"},
		{"one size", &Parsers{Sizes: sizes[:1], Cases: cases(1)}, false, true, "not measured"},
	} {
		tg := target(&Results{Parsers: c.p})
		if tg.Met != c.met || tg.Missing != c.missing || !strings.Contains(tg.Measured, c.measuredShows) {
			t.Errorf("%s: target %+v, want met=%v missing=%v measured containing %q", c.name, tg, c.met, c.missing, c.measuredShows)
		}
	}
	md := Markdown(&Results{Parsers: &Parsers{Sizes: sizes, Cases: cases(1.25)}})
	for _, want := range []string{"## 5. Parser linearity", "ns/B at 4 MiB", "| ina | p | 1 | 1.25 | 1.25× |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}
