package main

import (
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/report"
	"github.com/mtlsgate/mtlsgate/internal/adversarial"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
)

// parserCase is one parser over one hostile input shape: input builds the
// input of a size, parse refuses or accepts it.
type parserCase struct {
	input, parser string
	data          func(size int) []byte
	parse         func([]byte)
}

// runParsers times every parser of user and peer input over the hostile
// shapes of internal/adversarial at each size, and reports time per byte
// and its growth from the smallest to the largest size (finding 9).
func runParsers(args []string) error {
	fs := flag.NewFlagSet("parsers", flag.ContinueOnError)
	out := fs.String("out", "bench/results/parts/parsers.json", "result file")
	sizesFlag := fs.String("sizes", "65536,262144,1048576,4194304", "input sizes in bytes, comma-separated")
	minTime := fs.Duration("min-time", 200*time.Millisecond, "CPU time to spend on each case at each size (at least 3 samples each)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sizes []int
	for s := range strings.SplitSeq(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1024 {
			return fmt.Errorf("-sizes: %q is not a size of at least 1024 bytes", s)
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	cases, err := parserCases(sizes)
	if err != nil {
		return err
	}
	res := &report.Parsers{Sizes: sizes}
	res.Begin()
	for _, c := range cases {
		pc := measureCase(c, sizes, *minTime)
		logf("parsers: %-16s %-22s %s ns/B, ratio %.2f", c.input, c.parser, fmt.Sprint(pc.NSPerByte), pc.Ratio)
		res.Cases = append(res.Cases, pc)
	}
	res.End()
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return report.WriteJSON(*out, res)
}

// measureCase returns the least process CPU time per byte that c takes at
// each size (user and system, every thread: garbage collection counts).
// CPU time rather than wall-clock time, and the least of several samples,
// because the machine is shared: time spent waiting for a CPU is not the
// parser's. A sample at a smaller size parses its input several times, so
// that every sample parses about as many bytes and carries its share of
// garbage collection, and at least 5 ms of CPU time (a parser that refuses
// at once needs many calls to be seen by the clock). The sizes take turns,
// sample after sample, so that a machine whose speed drifts over minutes
// affects them alike; sampling stops after minTime per size, and at least
// three rounds.
func measureCase(c parserCase, sizes []int, minTime time.Duration) report.ParserCase {
	data := make([][]byte, len(sizes))
	reps := make([]int, len(sizes))
	for i, size := range sizes {
		data[i] = c.data(size)
		reps[i] = calibrate(func() { c.parse(data[i]) }, max(1, sizes[len(sizes)-1]/size))
	}
	best := make([]time.Duration, len(sizes))
	var spent time.Duration
	for round := 0; round < 3 || spent < minTime*time.Duration(len(sizes)); round++ {
		for i := range sizes {
			runtime.GC()
			t0 := cpuTime()
			for range reps[i] {
				c.parse(data[i])
			}
			d := cpuTime() - t0
			spent += d
			if round == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	pc := report.ParserCase{Input: c.input, Parser: c.parser}
	for i := range sizes {
		pc.NSPerByte = append(pc.NSPerByte, float64(best[i].Nanoseconds())/float64(reps[i])/float64(len(data[i])))
	}
	pc.Ratio = pc.NSPerByte[len(sizes)-1] / pc.NSPerByte[0]
	return pc
}

// calibrate returns how many calls of f a sample makes: reps, doubled
// until they take at least 5 ms of CPU time.
func calibrate(f func(), reps int) int {
	for ; reps < 1<<20; reps *= 2 {
		t0 := cpuTime()
		for range reps {
			f()
		}
		if cpuTime()-t0 >= 5*time.Millisecond {
			break
		}
	}
	return reps
}

// cpuTime is the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parserCases lists the parsers and shapes: the PEM shapes through every
// PEM entry point, nested DER through every DER entry point, and large
// valid CRLs (distinct serials, one serial repeated, PEM) through the
// upload and ext_authz CRL parsers.
func parserCases(sizes []int) ([]parserCase, error) {
	pemShapes := map[int][]adversarial.Input{}
	crls := map[int][]adversarial.Input{}
	issuers := map[int][]*x509.Certificate{} // by input length: one issuer per size
	var chain []byte
	for _, size := range sizes {
		pemShapes[size] = adversarial.PEM(size)
		c, ca, err := adversarial.CRLs(size)
		if err != nil {
			return nil, err
		}
		crls[size] = c
		for _, in := range c {
			issuers[len(in.Data)] = []*x509.Certificate{ca}
		}
		chain = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	}
	shape := func(m map[int][]adversarial.Input, i int) func(int) []byte {
		return func(size int) []byte { return m[size][i].Data }
	}
	var cases []parserCase
	pemParsers := []struct {
		name  string
		parse func([]byte)
	}{
		{"ParseCertificates", func(d []byte) { _, _ = pki.ParseCertificates(d) }},
		{"ParseCRL", func(d []byte) { _, _ = pki.ParseCRL(d) }},
		{"ParseVerifiedCRL", func(d []byte) { _, _ = pki.ParseVerifiedCRL(d, nil) }},
		{"ParseServerCertificate", func(d []byte) { _, _, _ = pki.ParseServerCertificate(chain, d) }},
	}
	for i, in := range pemShapes[sizes[0]] {
		for _, p := range pemParsers {
			cases = append(cases, parserCase{in.Name, p.name, shape(pemShapes, i), p.parse})
		}
	}
	derParsers := []struct {
		name  string
		parse func([]byte)
	}{
		{"ParseCertificates", func(d []byte) { _, _ = pki.ParseCertificates(d) }},
		{"ParseCRL", func(d []byte) { _, _ = pki.ParseCRL(d) }},
		{"crlset.Parse", func(d []byte) { _, _ = crlset.Parse(d) }},
	}
	for _, p := range derParsers {
		cases = append(cases, parserCase{"nested-der", p.name, adversarial.NestedDER, p.parse})
	}
	for i, in := range crls[sizes[0]] {
		data := shape(crls, i)
		cases = append(cases, parserCase{in.Name, "ParseVerifiedCRL", data, func(d []byte) {
			if _, err := pki.ParseVerifiedCRL(d, issuers[len(d)]); err != nil {
				panic(err)
			}
		}})
		if in.Name != "crl-pem" {
			cases = append(cases, parserCase{in.Name, "crlset.Parse", data, func(d []byte) {
				if _, err := crlset.Parse(d); err != nil {
					panic(err)
				}
			}})
		}
	}
	return cases, nil
}
