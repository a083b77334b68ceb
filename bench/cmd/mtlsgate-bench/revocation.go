package main

import (
	"crypto/x509"
	"flag"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/bench/internal/pkigen"
	"github.com/mtlsgate/mtlsgate/bench/report"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func runRevocation(args []string) error {
	fs := flag.NewFlagSet("revocation", flag.ContinueOnError)
	out := fs.String("out", "bench/results/parts/revocation.json", "result file")
	entries := fs.Int("entries", 1_000_000, "CRL entries")
	reps := fs.Int("reps", 3, "loads to time")
	lookups := fs.Int("lookups", 2_000_000, "lookups per lookup measurement")
	baseline := fs.Bool("x509-baseline", true, "also time x509.ParseRevocationList (the baseline) and the store's upload validation")
	poolCerts := fs.Int("pool-certs", 1000, "leaves of the CRL issuer's cached pool (the check part's -hot-certs: they share the cached CRL)")
	var rf refreshFlags
	fs.IntVar(&rf.answers, "ocsp-answers", 10000, "OCSP answers cached then refreshed once (0: not measured)")
	fs.IntVar(&rf.reps, "ocsp-reps", 3, "repetitions of the OCSP refresh measurement")
	fs.StringVar(&rf.cpus, "ocsp-cpus", "1", "CPUs of this process during the OCSP refresh measurement (\"\" for none)")
	fs.StringVar(&rf.responderCPUs, "responder-cpus", "0", "CPUs of the OCSP responder process (\"\" for none)")
	fs.StringVar(&rf.profiles, "profiles", "", "where the CPU profiles of one more OCSP repetition (bare exchanges, refresh round) go (\"\": none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res := &report.Revocation{Entries: *entries, LookupNS: map[string]float64{}}
	res.Begin()
	pool, err := pkigen.LoadPool("crl", pkigen.ECDSA, false, *poolCerts)
	if err != nil {
		return err
	}
	der, err := pkigen.BigCRL(pool.Issuer(), *entries)
	if err != nil {
		return err
	}
	issuer := pool.Issuer().Cert
	res.DERMB = float64(len(der)) / mb
	if err := measureLoad(res, der, issuer, *reps); err != nil {
		return err
	}
	if err := measureCompile(res, der, pool); err != nil {
		return err
	}
	if err := measureLookups(res, der, *lookups); err != nil {
		return err
	}
	if *baseline {
		measureX509(res, der, issuer)
	}
	// Last: it pins this process.
	if rf.answers > 0 && rf.reps > 0 {
		if err := measureOCSPRefresh(res, rf); err != nil {
			return fmt.Errorf("OCSP refresh: %w", err)
		}
	}
	res.End()
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return report.WriteJSON(*out, res)
}

// measureLoad times crlset.ParseVerified (what ext_authz runs for a new
// CRL) and measures its peak, allocated and retained heap.
func measureLoad(res *report.Revocation, der []byte, issuer *x509.Certificate, reps int) error {
	for range reps {
		runtime.GC()
		t0 := time.Now()
		if _, err := crlset.ParseVerified(der, issuer); err != nil {
			return err
		}
		res.LoadSeconds = append(res.LoadSeconds, time.Since(t0).Seconds())
	}
	res.LoadMedianS = median(res.LoadSeconds)
	var parse []float64
	for range reps {
		t0 := time.Now()
		if _, err := crlset.Parse(der); err != nil {
			return err
		}
		parse = append(parse, time.Since(t0).Seconds())
	}
	res.ParseOnlyS = median(parse)

	before, _ := heapAfterGC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	sampler := startHeapSampler()
	set, err := crlset.ParseVerified(der, issuer)
	if err != nil {
		return err
	}
	peak := sampler.Peak()
	runtime.ReadMemStats(&m1)
	after, _ := heapAfterGC()
	res.PeakHeapMB = float64(peak) / mb
	res.AllocMB = float64(m1.TotalAlloc-m0.TotalAlloc) / mb
	res.RetainedMB = (float64(after) - float64(before)) / mb
	res.RetainedBytes = float64(set.RetainedBytes()) / mb
	runtime.KeepAlive(set)
	logf("CRL of %d entries (%.1f MB DER): load %.2f s (no signature %.2f s), peak heap %.0f MB, allocated %.0f MB, retained %.1f MB (Set says %.1f MB)",
		res.Entries, res.DERMB, res.LoadMedianS, res.ParseOnlyS, res.PeakHeapMB, res.AllocMB, res.RetainedMB, res.RetainedBytes)
	return nil
}

// measureCompile times authz.Compile of a State holding the CRL and its
// CA: the policy build ext_authz runs when the CRL is uploaded.
func measureCompile(res *report.Revocation, der []byte, pool *pkigen.Pool) error {
	ca := &pb.ClientCA{Id: "ca-big", Name: "big", BundlePem: string(pool.CABundle())}
	crl := &pb.CRL{Id: "crl-big", Der: der, CaId: ca.Id, IssuerSha256Fingerprint: pki.Fingerprint(pool.Issuer().Cert.Raw)}
	srvCA, err := pkigen.NewRoot("Bench Server CA", pkigen.ECDSA)
	if err != nil {
		return err
	}
	srv, err := pkigen.Server(srvCA, "crl.bench.test")
	if err != nil {
		return err
	}
	set := &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}
	if err := store.NormalizeSettings(set, store.DefaultLimits()); err != nil {
		return err
	}
	site := &pb.Site{Hostname: "crl.bench.test", OriginUrl: "http://127.0.0.1:8080", CaIds: []string{ca.Id}, Settings: set,
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM())}}}}
	st := store.NewState(1, []*pb.ClientCA{ca}, []*pb.Site{site}, []*pb.CRL{crl})
	runtime.GC()
	t0 := time.Now()
	t := authz.Compile(model.Compile(st, nil), nil, time.Now())
	res.CompileSeconds = time.Since(t0).Seconds()
	if len(t.Errors) > 0 {
		return fmt.Errorf("compile: %v", t.Errors)
	}
	logf("model.Compile + authz.Compile of a State holding the CRL: %.2f s", res.CompileSeconds)
	return nil
}

// measureLookups times Set.Contains: random stored and absent serials
// (65536 of each, nearly every lookup a cache miss) and 16 repeated ones.
func measureLookups(res *report.Revocation, der []byte, n int) error {
	set, err := crlset.Parse(der)
	if err != nil {
		return err
	}
	hits, err := listedSerials(der, 1<<16)
	if err != nil {
		return err
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	misses := make([]*big.Int, 1<<16)
	buf := make([]byte, 19)
	for i := range misses {
		for {
			for j := range buf {
				buf[j] = byte(rng.Uint32())
			}
			misses[i] = new(big.Int).SetBytes(buf)
			if !set.Contains(misses[i]) {
				break
			}
		}
	}
	runtime.GC()
	for _, c := range []struct {
		name    string
		serials []*big.Int
		want    bool
		working int
	}{
		{"hit-random", hits, true, len(hits)}, {"miss-random", misses, false, len(misses)},
		{"hit-cached", hits, true, 16}, {"miss-cached", misses, false, 16},
	} {
		t0 := time.Now()
		for i := range n {
			if set.Contains(c.serials[i&(c.working-1)]) != c.want {
				return fmt.Errorf("lookup %s: wrong answer", c.name)
			}
		}
		res.LookupNS[c.name] = float64(time.Since(t0).Nanoseconds()) / float64(n)
	}
	logf("lookups: %.0f ns hit / %.0f ns miss (random), %.0f / %.0f ns (cached)",
		res.LookupNS["hit-random"], res.LookupNS["miss-random"], res.LookupNS["hit-cached"], res.LookupNS["miss-cached"])
	measureMemory(res, set.RetainedBytes(), n)
	return nil
}

// measureMemory times the floor under a lookup that misses the CPU caches:
// reading one random word of a region as large as the set, right after the
// lookups. "memory-dependent" chases pointers (each read's address comes
// from the previous read: the machine's memory latency, TLB misses
// included); "memory-independent" reads words at precomputed random
// positions, as independent as the lookups are, so the CPU may overlap them.
func measureMemory(res *report.Revocation, bytes, n int) {
	words := max(bytes/4, 1<<20)
	next := make([]uint32, words)
	for i := range next {
		next[i] = uint32(i)
	}
	// Sattolo's shuffle: i → next[i] is one cycle through every word, so
	// the chase never settles into a short, cached loop.
	rng := mrand.New(mrand.NewPCG(3, 4))
	for i := words - 1; i > 0; i-- {
		j := rng.IntN(i)
		next[i], next[j] = next[j], next[i]
	}
	idx := make([]uint32, 1<<16)
	for i := range idx {
		idx[i] = uint32(rng.IntN(words))
	}
	runtime.GC()
	t0 := time.Now()
	p := uint32(0)
	for range n {
		p = next[p]
	}
	res.LookupNS["memory-dependent"] = float64(time.Since(t0).Nanoseconds()) / float64(n)
	t0 = time.Now()
	var sum uint32
	for i := range n {
		sum += next[idx[i&(len(idx)-1)]]
	}
	res.LookupNS["memory-independent"] = float64(time.Since(t0).Nanoseconds()) / float64(n)
	logf("one random read of %d MB: %.0f ns dependent, %.0f ns independent (%d)", words*4>>20,
		res.LookupNS["memory-dependent"], res.LookupNS["memory-independent"], (p+sum)&1)
}

// listedSerials returns n serials picked at random from the CRL.
func listedSerials(der []byte, n int) ([]*big.Int, error) {
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, err
	}
	rng := mrand.New(mrand.NewPCG(3, 4))
	out := make([]*big.Int, n)
	for i := range out {
		// Copied, so that they lie side by side in memory like the
		// misses, not scattered across the parsed CRL.
		out[i] = new(big.Int).Set(rl.RevokedCertificateEntries[rng.IntN(len(rl.RevokedCertificateEntries))].SerialNumber)
	}
	return out, nil
}

// measureX509 is the baseline, the standard parser, and times what the store
// runs when a CRL is uploaded through the API: pki.ParseVerifiedCRL
// (crlset.ParseVerified behind the PEM/DER input rules and the issuer
// lookup), reported as the "API upload" time.
func measureX509(res *report.Revocation, der []byte, issuer *x509.Certificate) {
	before, _ := heapAfterGC()
	t0 := time.Now()
	rl, err := x509.ParseRevocationList(der)
	res.X509ParseS = time.Since(t0).Seconds()
	if err != nil {
		return
	}
	after, _ := heapAfterGC()
	res.X509RetainedMB = (float64(after) - float64(before)) / mb
	runtime.KeepAlive(rl)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 = time.Now()
	_, err = pki.ParseVerifiedCRL(der, []*x509.Certificate{issuer})
	elapsed := time.Since(t0).Seconds()
	runtime.ReadMemStats(&m1)
	if err != nil {
		logf("API upload validation (pki.ParseVerifiedCRL) failed: %v", err)
		return
	}
	res.StoreValidateS = elapsed
	logf("baseline x509.ParseRevocationList: %.2f s, retains %.0f MB; API upload (pki.ParseVerifiedCRL) %.2f s, allocates %.0f MB",
		res.X509ParseS, res.X509RetainedMB, res.StoreValidateS, float64(m1.TotalAlloc-m0.TotalAlloc)/mb)
}
