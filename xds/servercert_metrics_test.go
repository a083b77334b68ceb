package xds_test

import (
	"context"
	"crypto/x509"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

const serverCertGauge = "mtlsgate_server_certificate_expiry_seconds"

// inlineSite stores a site whose server certificate, issued by ca for
// host, ends at notAfter, and returns the certificate.
func inlineSite(t *testing.T, st *store.Store, ca *testpki.Cert, host string, notAfter time.Time) *testpki.Cert {
	t.Helper()
	srv := ca.Leaf(t, host, testpki.Options{DNS: []string{host}, NotAfter: notAfter,
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	chain := string(srv.PEM()) + string(ca.PEM())
	if _, err := st.CreateSite(context.Background(), nodetest.Admin, &pb.Site{Hostname: host, OriginUrl: "http://127.0.0.1:8080",
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: chain, PrivateKeyPem: string(srv.KeyPEM())}}}}); err != nil {
		t.Fatal(err)
	}
	return srv
}

// serverCertSeries scrapes the gauge: fingerprint and value by site.
func serverCertSeries(t *testing.T, g prometheus.Gatherer) map[string]struct {
	fingerprint string
	value       float64
} {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]struct {
		fingerprint string
		value       float64
	}{}
	for _, f := range families {
		if f.GetName() != serverCertGauge {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if len(labels) != 2 {
				t.Errorf("labels %v, want site and fingerprint", labels)
			}
			out[labels["site"]] = struct {
				fingerprint string
				value       float64
			}{labels["fingerprint"], m.GetGauge().GetValue()}
		}
	}
	return out
}

// TestServerCertificateExpiryGauge: one series per site whose certificate
// the store holds, with the seconds left until the leaf's notAfter
// (negative once expired), none for a site whose certificate is in files on the Envoy host, and
// a deleted site's series is gone at the next scrape.
func TestServerCertificateExpiryGauge(t *testing.T) {
	st := nodetest.Store(t)
	ctx := context.Background()
	now := time.Now()
	root := testpki.NewRoot(t, "Server root", testpki.Options{})
	inter := root.Intermediate(t, "Server intermediate", testpki.Options{NotAfter: now.Add(20 * 24 * time.Hour)})
	soon := inlineSite(t, st, inter, "soon.example.com", now.Add(10*24*time.Hour))
	later := inlineSite(t, st, root, "later.example.com", now.Add(90*24*time.Hour))
	gone := inlineSite(t, st, root, "gone.example.com", now.Add(-2*time.Hour))
	if _, err := st.CreateSite(ctx, nodetest.Admin, &pb.Site{Hostname: "files.example.com", OriginUrl: "http://127.0.0.1:8080",
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
			CertificateChainPath: "/etc/envoy/c.pem", PrivateKeyPath: "/etc/envoy/k.pem"}}}}); err != nil {
		t.Fatal(err)
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := xds.NewServer(sctx, xds.DefaultOptions(), nil, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(srv.Collector())
	if got := serverCertSeries(t, reg); len(got) != 0 {
		t.Fatalf("before any State: %v", got)
	}
	srv.Update(model.Compile(st.Current(), nil))

	before := time.Now()
	got := serverCertSeries(t, reg)
	for _, want := range []struct {
		host string
		cert *testpki.Cert
	}{{"soon.example.com", soon}, {"later.example.com", later}, {"gone.example.com", gone}} {
		s, ok := got[want.host]
		if !ok {
			t.Errorf("%s: no series", want.host)
			continue
		}
		if s.fingerprint != pki.Fingerprint(want.cert.Cert.Raw) {
			t.Errorf("%s: fingerprint %s", want.host, s.fingerprint)
		}
		// notAfter has whole seconds; the scrape ran after before.
		left := want.cert.Cert.NotAfter.Sub(before).Seconds()
		if s.value > left || s.value < left-30 {
			t.Errorf("%s: %v seconds left, want about %v", want.host, s.value, math.Round(left))
		}
	}
	if got["gone.example.com"].value >= 0 {
		t.Errorf("an expired certificate's value %v, want negative", got["gone.example.com"].value)
	}
	if _, ok := got["files.example.com"]; ok || len(got) != 3 {
		t.Errorf("series %v, want the three inline sites", got)
	}

	if err := st.DeleteSite(ctx, nodetest.Admin, "gone.example.com"); err != nil {
		t.Fatal(err)
	}
	srv.Update(model.Compile(st.Current(), nil))
	got = serverCertSeries(t, reg)
	if _, ok := got["gone.example.com"]; ok || len(got) != 2 {
		t.Errorf("after deleting a site: %v, want soon and later only", got)
	}
}
