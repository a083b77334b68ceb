package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"runtime"
	"slices"
	"time"

	"google.golang.org/grpc"

	"github.com/mtlsgate/mtlsgate/bench/internal/loadgen"
	"github.com/mtlsgate/mtlsgate/bench/internal/pkigen"
	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/bench/report"
)

// preflight sends one request of every scenario and checks the answer.
func preflight(conn *grpc.ClientConn, scenarios []scenario) error {
	for _, s := range scenarios {
		req := s.work.Requests[0]
		var resp []byte
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := conn.Invoke(ctx, loadgen.CheckMethod, &req, &resp, grpc.ForceCodec(rawCodec{}))
		cancel()
		if err != nil {
			return fmt.Errorf("preflight %s: %w", s.name, err)
		}
		if code, _ := loadgen.StatusCode(resp); code != s.work.Expect {
			return fmt.Errorf("preflight %s: answer status %d, want %d", s.name, code, s.work.Expect)
		}
	}
	return nil
}

// rawCodec mirrors the load generator's: pre-encoded bytes both ways.
type rawCodec struct{}

func (rawCodec) Name() string                  { return "proto" }
func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(d []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), d...)
	return nil
}

func logRun(r report.LoadRun) {
	logf("%-16s %-8s %-6s %8.0f req/s  p50 %6.0fµs p99 %7.0fµs p99.9 %7.0fµs  server %.2f cores %.3f CPU-s/1000  client %.2f cores  lag p50/p99 %.0f/%.0fµs  softirq %.2f others %.2f cores steal %.1f%%  err %d unexpected %d %s",
		r.Scenario, r.Target, r.Mode, r.RPS, r.P50, r.P99, r.P999, r.ServerCPUUtil, r.CPUPer1000, r.ClientCPUUtil, r.SendLagP50, r.SendLagP99, r.IRQCPUUtil, r.OtherCPUUtil, r.StealPct, r.Errors, r.Unexpected, r.FirstError)
}

func median(xs []float64) float64 {
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

// summarize takes the median of every metric over the rounds.
func summarize(runs []report.LoadRun, scenarios []scenario) []report.ScenarioSummary {
	names := []string{"noop"}
	desc := map[string]string{"noop": "no-op Check server, same gRPC and mTLS settings (node certificate required): the ceiling"}
	for _, s := range scenarios {
		names = append(names, s.name)
		desc[s.name] = s.desc
	}
	var out []report.ScenarioSummary
	for _, n := range names {
		var rps, p50, p90, p99, p999, cpu, su, cu []float64
		sum := report.ScenarioSummary{Scenario: n, Description: desc[n], Target: "mtlsgate"}
		for _, r := range runs {
			if r.Scenario != n {
				continue
			}
			sum.Target = r.Target
			sum.Runs++
			rps, p50, p90, p99, p999 = append(rps, r.RPS), append(p50, r.P50), append(p90, r.P90), append(p99, r.P99), append(p999, r.P999)
			cpu, su, cu = append(cpu, r.CPUPer1000), append(su, r.ServerCPUUtil), append(cu, r.ClientCPUUtil)
			sum.Errors += r.Errors
			sum.Unexpected += r.Unexpected
		}
		sum.RPS, sum.P50, sum.P90, sum.P99, sum.P999 = median(rps), median(p50), median(p90), median(p99), median(p999)
		sum.CPUPer1000, sum.ServerCPUUtil, sum.ClientCPUUtil = median(cpu), median(su), median(cu)
		out = append(out, sum)
	}
	// The ratio to the ceiling is taken against the no-op run paired with
	// each run (the machine drifts), then the median over rounds.
	for i := range out {
		var ratios []float64
		for _, r := range runs {
			if r.Scenario == out[i].Scenario && r.NoopRPS > 0 {
				ratios = append(ratios, r.RPS/r.NoopRPS)
			}
		}
		out[i].RoundRatios = ratios
		out[i].RatioToNoop = median(ratios)
		if out[i].Scenario == "noop" {
			out[i].RatioToNoop = 1
		}
	}
	return out
}

func findSummary(s []report.ScenarioSummary, name string) *report.ScenarioSummary {
	for i := range s {
		if s[i].Scenario == name {
			return &s[i]
		}
	}
	return nil
}

// verifier times x509.Certificate.Verify for the cold certificates of one
// chain. The baseline is standard chain verification: the self-signed CA
// certificates as Roots, the others as Intermediates, as any verifier
// (Envoy's own included) checks a leaf, intermediate, root chain. Two
// variants are timed for context: every CA certificate as a root and no
// intermediates (what ext_authz runs on a miss: one signature), and every
// CA certificate as both (what ext_authz ran before it verified CA links at
// compile time). It runs in the load generator, on its CPU, right before
// each cold run, so that all see the same machine.
type verifier struct {
	key                 string
	leaves              []*x509.Certificate
	split, anchors, all x509.VerifyOptions
	verify, parsed      []float64 // µs of CPU per certificate, one per round
	anchorsUS, allUS    []float64
}

func newVerifier(key string, p *pkigen.Pool, leaves []*x509.Certificate) *verifier {
	roots, inters, every := x509.NewCertPool(), x509.NewCertPool(), x509.NewCertPool()
	for _, ca := range p.Chain {
		every.AddCert(ca.Cert)
		if bytes.Equal(ca.Cert.RawSubject, ca.Cert.RawIssuer) {
			roots.AddCert(ca.Cert)
		} else {
			inters.AddCert(ca.Cert)
		}
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	return &verifier{key: key, leaves: leaves,
		split:   x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: usage},
		anchors: x509.VerifyOptions{Roots: every, KeyUsages: usage},
		all:     x509.VerifyOptions{Roots: every, Intermediates: every, KeyUsages: usage}}
}

// measure times each way of verifying every certificate, and parsing then
// verifying (standard split), and records the CPU time per certificate.
func (v *verifier) measure() error {
	for _, m := range []struct {
		opts  x509.VerifyOptions
		parse bool
		into  *[]float64
	}{{v.split, false, &v.verify}, {v.split, true, &v.parsed}, {v.anchors, false, &v.anchorsUS}, {v.all, false, &v.allUS}} {
		us, err := v.time(m.opts, m.parse)
		if err != nil {
			return err
		}
		*m.into = append(*m.into, us)
	}
	logf("bare x509 Verify %s: %.0f µs CPU per certificate (parse + Verify %.0f µs; anchors only %.0f µs; pool as roots and intermediates %.0f µs)",
		v.key, v.verify[len(v.verify)-1], v.parsed[len(v.parsed)-1], v.anchorsUS[len(v.anchorsUS)-1], v.allUS[len(v.allUS)-1])
	return nil
}

// time verifies every certificate with opts and returns the CPU µs per
// certificate.
func (v *verifier) time(opts x509.VerifyOptions, parse bool) (float64, error) {
	runtime.GC()
	t0 := procstat.SelfCPU()
	for _, l := range v.leaves {
		if parse {
			var err error
			if l, err = x509.ParseCertificate(l.Raw); err != nil {
				return 0, err
			}
		}
		if _, err := l.Verify(opts); err != nil {
			return 0, fmt.Errorf("bare verify %s: %w", v.key, err)
		}
	}
	return float64(procstat.SelfCPU()-t0) / 1e3 / float64(len(v.leaves)), nil
}

func (v *verifier) result() report.VerifyCost {
	return report.VerifyCost{Key: v.key, Certs: len(v.leaves), VerifyUS: median(v.verify), ParseVerify: median(v.parsed),
		AnchorsUS: median(v.anchorsUS), AllPathsUS: median(v.allUS), VerifyRounds: v.verify}
}
