package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/loadgen"
	"github.com/mtlsgate/mtlsgate/bench/internal/pkigen"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// material is every certificate the Check scenarios use.
type material struct {
	ecdsa, rsa, crl, untrusted *pkigen.Pool
	// ocsp is the OCSP scenarios' pool, made by checkRun.startOCSP (nil
	// when none runs).
	ocsp     *pkigen.Pool
	crlDER   []byte
	serverCA *pkigen.Cert
}

func makeMaterial(f checkFlags) (*material, error) {
	var m material
	var err error
	start := time.Now()
	if m.ecdsa, err = pkigen.LoadPool("ecdsa", pkigen.ECDSA, true, f.hot+f.cold); err != nil {
		return nil, err
	}
	if m.rsa, err = pkigen.LoadPool("rsa", pkigen.RSA, true, f.cold); err != nil {
		return nil, err
	}
	if m.crl, err = pkigen.LoadPool("crl", pkigen.ECDSA, false, f.hot); err != nil {
		return nil, err
	}
	if m.untrusted, err = pkigen.LoadPool("untrusted", pkigen.ECDSA, true, f.hot); err != nil {
		return nil, err
	}
	if m.crlDER, err = pkigen.BigCRL(m.crl.Issuer(), f.crl); err != nil {
		return nil, err
	}
	if m.serverCA, err = pkigen.NewRoot("Bench Server CA", pkigen.ECDSA); err != nil {
		return nil, err
	}
	logf("certificates and CRL ready in %s", time.Since(start).Round(time.Millisecond))
	return &m, nil
}

// serveConfig is the YAML config of the server under test: production
// defaults (TLS on every listener, node certificates required on ext_authz
// and xDS), loopback ports chosen by the kernel, then extra (e.g. the
// store section).
func serveConfig(dir string, cache int, extra string) (string, error) {
	cfg := fmt.Sprintf(`data: %s
admin_addr: 127.0.0.1:0
authz_addr: 127.0.0.1:0
xds_addr: 127.0.0.1:0
log_level: info
authz:
  cache_size: %d
`, filepath.Join(dir, "data"), cache) + extra
	path := filepath.Join(dir, "mtlsgate.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// configure creates the CAs, sites and the big CRL through the API.
func configure(api *harness.API, m *material) (crlUpload time.Duration, err error) {
	if err := configureSites(api, m); err != nil {
		return 0, err
	}
	ctx, cancel := api.Ctx(5 * time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := api.CreateCRL(ctx, &pb.CreateCRLRequest{Crl: m.crlDER}); err != nil {
		return 0, fmt.Errorf("upload CRL: %w", err)
	}
	// Loaded by ext_authz once its CRL metric exists.
	if err := api.WaitMetric("mtlsgate_crl_next_update_seconds{", 2*time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// configureSites creates the CAs and the sites through the API.
func configureSites(api *harness.API, m *material) error {
	ids := map[string]string{}
	for name, p := range map[string]*pkigen.Pool{"ecdsa": m.ecdsa, "rsa": m.rsa, "crl": m.crl} {
		ctx, cancel := api.Ctx(time.Minute)
		ca, err := api.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: "bench-" + name, Bundle: p.CABundle()})
		cancel()
		if err != nil {
			return fmt.Errorf("create CA %s: %w", name, err)
		}
		ids[name] = ca.GetId()
	}
	sites := []struct {
		host string
		ca   string
		mode pb.Mode
	}{
		{siteHot, "ecdsa", pb.Mode_MODE_ENFORCE},
		{siteRSA, "rsa", pb.Mode_MODE_ENFORCE},
		{siteCRL, "crl", pb.Mode_MODE_ENFORCE},
		{siteOpen, "ecdsa", pb.Mode_MODE_PERMISSIVE},
	}
	for _, s := range sites {
		settings := &pb.ClientCertSettings{Mode: s.mode, Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_LEAF}}
		if err := createSite(api, m.serverCA, s.host, ids[s.ca], settings); err != nil {
			return err
		}
	}
	return nil
}

// createSite creates a site trusting the CA caID, with a server
// certificate of its own signed by serverCA.
func createSite(api *harness.API, serverCA *pkigen.Cert, host, caID string, settings *pb.ClientCertSettings) error {
	srv, err := pkigen.Server(serverCA, host)
	if err != nil {
		return err
	}
	ctx, cancel := api.Ctx(time.Minute)
	defer cancel()
	_, err = api.CreateSite(ctx, &pb.CreateSiteRequest{Site: &pb.Site{
		Hostname: host, OriginUrl: "http://127.0.0.1:8080", CaIds: []string{caID}, Settings: settings,
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM())}}},
	}})
	if err != nil {
		return fmt.Errorf("create site %s: %w", host, err)
	}
	return nil
}

// certs returns leaves from to to of p as PEM.
func certs(p *pkigen.Pool, from, to int) [][]byte {
	out := make([][]byte, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, p.LeafPEM(i))
	}
	return out
}

// reqs encodes n Envoy requests for site, cycling through pems (none when
// nil).
func reqs(site string, pems [][]byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		var pem []byte
		if pems != nil {
			pem = pems[i%len(pems)]
		}
		out[i] = loadgen.Encode(loadgen.EnvoyRequest(site, pem, i))
	}
	return out
}

// scenarios builds the workloads (encoded once).
func buildScenarios(f checkFlags, m *material) []scenario {
	hot := certs(m.ecdsa, 0, f.hot)
	all := []scenario{
		{"hot", fmt.Sprintf("enforce, ECDSA chain, %d certificates, verdicts cached", f.hot),
			loadgen.Workload{Requests: reqs(siteHot, hot, len(hot))}},
		{"hot-etcd", "hot, against a second server whose store is a one-member etcd cluster (the same CAs and sites, configured through its API)",
			loadgen.Workload{Requests: reqs(siteHot, hot, len(hot))}},
		{"admin-flood", fmt.Sprintf("hot, while %d senders POST unauthenticated %d MiB uploads (CRL over JSON and gRPC) to the admin port, each at most %.0f/s", f.floodConc, f.floodSize>>20, f.floodRate),
			loadgen.Workload{Requests: reqs(siteHot, hot, len(hot))}},
		{"cold-ecdsa", fmt.Sprintf("enforce, ECDSA P-256 chain (leaf, intermediate, root), %d certificates cycled through a %d-entry cache: every Check verifies", f.cold, f.cache),
			loadgen.Workload{Requests: reqs(siteHot, certs(m.ecdsa, f.hot, f.hot+f.cold), f.cold)}},
		{"cold-rsa", fmt.Sprintf("enforce, RSA-2048 chain, %d certificates cycled: every Check verifies", f.cold),
			loadgen.Workload{Requests: reqs(siteRSA, certs(m.rsa, 0, f.cold), f.cold)}},
		{"crl-1m", fmt.Sprintf("enforce, issuer with a %d-entry CRL (leaf check), %d certificates, verdicts cached", f.crl, f.hot),
			loadgen.Workload{Requests: reqs(siteCRL, certs(m.crl, 0, f.hot), f.hot)}},
	}
	all = append(all, ocspScenarios(f, m)...)
	all = append(all, []scenario{
		{"permissive-none", "permissive site, no client certificate",
			loadgen.Workload{Requests: reqs(siteOpen, nil, 1000)}},
		{"enforce-deny", fmt.Sprintf("enforce, %d untrusted certificates (403 untrusted, decision logged), verdicts cached", f.hot),
			loadgen.Workload{Requests: reqs(siteHot, certs(m.untrusted, 0, f.hot), f.hot), Expect: 7}},
	}...)
	want := strings.Split(f.scenarios, ",")
	var out []scenario
	for _, s := range all {
		if slices.Contains(want, s.name) {
			s.work.Name = s.name
			out = append(out, s)
		}
	}
	return out
}
