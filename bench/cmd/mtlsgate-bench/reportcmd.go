package main

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/report"
)

// runReport merges the parts and the micro-benchmarks into latest.json
// and latest.md.
func runReport(args []string) error {
	fset := flag.NewFlagSet("report", flag.ContinueOnError)
	parts := fset.String("parts", "bench/results/parts", "directory of the parts' JSON (check.json, controlplane.json, revocation.json)")
	out := fset.String("out", "bench/results", "directory for latest.json and latest.md")
	micro := fset.String("micro", "bench/results/micro.txt", "go test -bench output (skipped when absent)")
	benchstat := fset.String("benchstat", "bench/results/micro-benchstat.txt", "benchstat comparison (named when present)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	r, err := readParts(*parts)
	if err != nil {
		return err
	}
	if m, err := report.ParseMicro(*micro); err == nil {
		m.File = filepath.Base(*micro)
		if _, err := os.Stat(*benchstat); err == nil {
			m.Benchstat = filepath.Base(*benchstat)
		}
		r.Micro = m
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if r.Check != nil {
		r.Check.DeriveVerify()
		r.Check.DeriveOCSP()
	}
	report.Evaluate(r)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := report.WriteJSON(filepath.Join(*out, "latest.json"), r); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "latest.md"), []byte(report.Markdown(r)), 0o644); err != nil {
		return err
	}
	logTargets(r.Targets)
	return nil
}

// readParts reads the parts' results (those present) into Results, dated
// when the first of them started.
func readParts(dir string) (*report.Results, error) {
	r := &report.Results{Machine: report.Describe(os.Getenv("GO"))}
	for name, into := range map[string]any{"check.json": &r.Check, "controlplane.json": &r.ControlPlane, "revocation.json": &r.Revocation, "parsers.json": &r.Parsers} {
		err := report.ReadJSON(filepath.Join(dir, name), into)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	var ran []report.Part
	if r.Check != nil {
		ran = append(ran, r.Check.Part)
	}
	if r.ControlPlane != nil {
		ran = append(ran, r.ControlPlane.Part)
	}
	if r.Revocation != nil {
		ran = append(ran, r.Revocation.Part)
	}
	if r.Parsers != nil {
		ran = append(ran, r.Parsers.Part)
	}
	for _, p := range ran {
		if d := p.Started.Format(time.RFC3339); !p.Started.IsZero() && d < r.Machine.Date {
			r.Machine.Date = d
		}
	}
	return r, nil
}

// logTargets prints each target's verdict.
func logTargets(targets []report.Target) {
	for _, t := range targets {
		verdict := "MISSED"
		switch {
		case t.Missing:
			verdict = "not measured"
		case t.Met:
			verdict = "met"
		}
		logf("%-55s %-13s %s", t.Name, verdict, t.Measured)
	}
}
