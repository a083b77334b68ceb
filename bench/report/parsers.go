package report

import (
	"fmt"
	"strings"
)

// Parsers is part 5: time per byte of every user-input parser over hostile
// inputs of growing size (finding 9 of issue 9: PEM scanning was quadratic).
type Parsers struct {
	Part
	Sizes []int        `json:"sizes"` // input sizes in bytes, smallest first
	Cases []ParserCase `json:"cases"`
}

// ParserCase is one parser over one hostile input shape at every size.
type ParserCase struct {
	Input  string `json:"input"`
	Parser string `json:"parser"`
	// NSPerByte is the least process CPU time per parse at each size,
	// divided by the size; one entry per Parsers.Sizes.
	NSPerByte []float64 `json:"ns_per_byte"`
	// Ratio is NSPerByte at the largest size over NSPerByte at the
	// smallest: 1 for linear time, 64 for quadratic from 64 KiB to 4 MiB.
	Ratio float64 `json:"ratio"`
}

// Worst returns the case with the highest ratio, or nil.
func (p *Parsers) Worst() *ParserCase {
	var w *ParserCase
	for i := range p.Cases {
		if w == nil || p.Cases[i].Ratio > w.Ratio {
			w = &p.Cases[i]
		}
	}
	return w
}

// parsersWorst is the linearity target's measure: the worst growth of
// CPU time per byte from the smallest to the largest hostile input.
func parsersWorst(r *Results) (float64, string, bool) {
	p := r.Parsers
	if p == nil || len(p.Sizes) < 2 {
		return 0, "", false
	}
	w := p.Worst()
	if w == nil {
		return 0, "", false
	}
	lo, hi := p.Sizes[0], p.Sizes[len(p.Sizes)-1]
	return w.Ratio, fmt.Sprintf("%.2f× for %s over %s, %s vs %s (%d cases)", w.Ratio, w.Parser, w.Input, sizeName(hi), sizeName(lo), len(casesOf(p))), true
}

func casesOf(p *Parsers) []ParserCase {
	if p == nil {
		return nil
	}
	return p.Cases
}

// sizeName writes a size in KiB or MiB.
func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func parsersMarkdown(p printer, r *Parsers) {
	p("")
	p("## 5. Parser linearity")
	p("")
	p("Every parser of user or peer input over hostile input shapes (`internal/adversarial`): CPU nanoseconds per input byte (process CPU time, garbage collection included, the least of several samples each parsing about as many bytes), and the ratio of the largest size to the smallest (1 is linear, %d would be quadratic).", r.Sizes[len(r.Sizes)-1]/r.Sizes[0])
	p("")
	head := []string{"input", "parser"}
	for _, s := range r.Sizes {
		head = append(head, "ns/B at "+sizeName(s))
	}
	head = append(head, "ratio")
	p("| %s |", strings.Join(head, " | "))
	p("|%s", strings.Repeat("---|", len(head)))
	for _, c := range r.Cases {
		cells := make([]string, len(c.NSPerByte))
		for i, v := range c.NSPerByte {
			cells[i] = fmt.Sprintf("%.3g", v)
		}
		p("| %s | %s | %s | %.2f× |", c.Input, c.Parser, strings.Join(cells, " | "), c.Ratio)
	}
	p("")
	p("Load average %s at start, %s at end.%s", r.LoadAvgStart, r.LoadAvgEnd, commitNote(r.Part))
}
