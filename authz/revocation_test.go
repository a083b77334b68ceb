package authz_test

import (
	"context"
	"maps"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestFinding3_RevokedLeafOfRenewedOrCrossSignedRoot: a CRL belongs to its
// issuer's name and key, so it revokes a leaf whichever certificate of the
// issuer the chain is built to: the root, its renewal, a cross-signed copy,
// the root listed in two bundles. Before, the CRL was bound to one
// certificate (the first in CA id order) and a chain through another one
// passed. Every upload order and every assignment is tried; ids decide
// nothing.
func TestFinding3_RevokedLeafOfRenewedOrCrossSignedRoot(t *testing.T) {
	root := testpki.NewRoot(t, "Shared Root", testpki.Options{})
	bridge := testpki.NewRoot(t, "Bridge Root", testpki.Options{})
	revoked := root.Leaf(t, "revoked", testpki.Options{})
	good := root.Leaf(t, "good", testpki.Options{})
	cases := []struct {
		name  string
		other []*testpki.Cert // bundle B; bundle A is the root alone
	}{
		{"renewed root", []*testpki.Cert{root.Reissue(t, nil, testpki.Options{})}},
		{"cross-signed root", []*testpki.Cert{root.Reissue(t, bridge, testpki.Options{}), bridge}},
		{"cross-signed root alone", []*testpki.Cert{root.Reissue(t, bridge, testpki.Options{})}},
		{"listed twice", []*testpki.Cert{root, testpki.NewRoot(t, "Beside", testpki.Options{})}},
	}
	now := time.Now()
	shared := newPKI(t)
	for _, tc := range cases {
		for _, order := range []string{"A CRL B", "A B CRL", "B CRL A", "B A CRL"} {
			t.Run(tc.name+"/"+order, func(t *testing.T) {
				e := newEnvPKI(t, authz.Options{}, shared)
				var a, b string
				for _, step := range strings.Fields(order) {
					switch step {
					case "A":
						a = e.ca("A", root)
					case "B":
						b = e.ca("B", tc.other...)
					case "CRL":
						e.crl(root, now.Add(-time.Hour), now.Add(time.Hour), revoked.Cert.SerialNumber)
					}
				}
				sites := map[string][]string{"a.example.com": {a}, "b.example.com": {b}, "ab.example.com": {a, b}}
				for host, ids := range sites {
					e.site(host, &pb.ClientCertSettings{Mode: enforce}, ids...)
					e.site("chain-"+host, &pb.ClientCertSettings{Mode: enforce, Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_CHAIN}}, ids...)
					e.site("permissive-"+host, &pb.ClientCertSettings{Mode: permissive}, ids...)
				}
				e.waitLoaded()
				for host := range sites {
					for _, h := range []string{host, "chain-" + host} {
						r := req{ext: h, sni: h, host: h}
						r.cert = revoked
						assertResponse(t, e.check(r), want{status: 403, reason: "revoked"})
						r.cert = good
						assertResponse(t, e.check(r), want{allow: true, verify: "SUCCESS"})
					}
					h := "permissive-" + host
					assertResponse(t, e.check(req{ext: h, sni: h, host: h, cert: revoked}), want{allow: true, verify: "FAILED:revoked"})
				}
			})
		}
	}
}

// TestFinding3_CRLSurvivesDeletingOneCAOfItsIssuer: the CRL stays in force
// when the CA it was verified with is deleted while another CA still holds
// a certificate of the issuer.
func TestFinding3_CRLSurvivesDeletingOneCAOfItsIssuer(t *testing.T) {
	e := newEnv(t, authz.Options{})
	root := testpki.NewRoot(t, "Shared Root", testpki.Options{})
	revoked := root.Leaf(t, "revoked", testpki.Options{})
	a := e.ca("A", root)
	now := time.Now()
	e.crl(root, now.Add(-time.Hour), now.Add(time.Hour), revoked.Cert.SerialNumber)
	b := e.ca("B", root.Reissue(t, nil, testpki.Options{}))
	e.site("b.example.com", &pb.ClientCertSettings{Mode: enforce}, b)
	if err := e.st.DeleteCA(context.Background(), admin, a, false); err != nil {
		t.Fatal(err)
	}
	e.waitLoaded()
	assertResponse(t, e.check(req{ext: "b.example.com", sni: "b.example.com", host: "b.example.com", cert: revoked}), want{status: 403, reason: "revoked"})
}

// TestFinding4_CACertificateIsNeverAClientCertificate: a certificate with
// basicConstraints CA:TRUE is refused as a client certificate (reason
// ca_certificate): one of the site's anchors, presented itself (the chain
// is then the certificate alone), an intermediate of the bundle, and a CA
// the bundle's intermediate issued that is in no bundle. The site does not
// require the clientAuth EKU, so nothing else refuses them.
func TestFinding4_CACertificateIsNeverAClientCertificate(t *testing.T) {
	e := newEnv(t, authz.Options{})
	p := e.pki
	no := false
	ca := e.ca("chain", p.root, p.inter)
	interOnly := e.ca("inter", p.inter)
	sub := p.inter.Intermediate(t, "Sub CA", testpki.Options{})
	for _, mode := range []pb.Mode{enforce, permissive} {
		for _, crl := range []pb.CRLCheck{pb.CRLCheck_CRL_CHECK_OFF, pb.CRLCheck_CRL_CHECK_LEAF, pb.CRLCheck_CRL_CHECK_CHAIN} {
			set := func() *pb.ClientCertSettings {
				return &pb.ClientCertSettings{Mode: mode, RequireClientAuthEku: &no, Revocation: &pb.Revocation{Crl: crl}}
			}
			e.site(siteName(mode, crl, "both"), set(), ca)
			e.site(siteName(mode, crl, "inter"), set(), interOnly)
		}
	}
	e.waitLoaded()
	for _, mode := range []pb.Mode{enforce, permissive} {
		for _, crl := range []pb.CRLCheck{pb.CRLCheck_CRL_CHECK_OFF, pb.CRLCheck_CRL_CHECK_LEAF, pb.CRLCheck_CRL_CHECK_CHAIN} {
			cases := []struct {
				site string
				cert *testpki.Cert
			}{
				{"both", p.root}, {"both", p.inter}, {"both", sub},
				{"inter", p.inter}, {"inter", sub},
			}
			for _, c := range cases {
				h := siteName(mode, crl, c.site)
				w := want{status: 403, reason: "ca_certificate"}
				if mode == permissive {
					w = want{allow: true, verify: "FAILED:ca_certificate"}
				}
				t.Run(h+"/"+c.cert.Cert.Subject.CommonName, func(t *testing.T) {
					assertResponse(t, e.check(req{ext: h, sni: h, host: h, cert: c.cert}), w)
				})
			}
			h := siteName(mode, crl, "both")
			assertResponse(t, e.check(req{ext: h, sni: h, host: h, cert: p.good}), want{allow: true, verify: "SUCCESS"})
		}
	}
}

func siteName(mode pb.Mode, crl pb.CRLCheck, what string) string {
	return strings.ToLower(strings.NewReplacer("MODE_", "", "CRL_CHECK_", "").Replace(mode.String()+"-"+crl.String())) + "-" + what + ".example.com"
}

// TestFinding4_PresentedAnchorCheckedAgainstItsIssuersCRL: a presented
// certificate is checked against its issuer's CRL even when it is itself
// one of the site's anchors (a chain of one, which consulted no CRL
// before), and even when that issuer is in a bundle the site does not use.
// In chain mode the top of the chain is checked the same way.
func TestFinding4_PresentedAnchorCheckedAgainstItsIssuersCRL(t *testing.T) {
	e := newEnv(t, authz.Options{})
	p := e.pki
	no := false
	now := time.Now()
	renewed := p.root.Reissue(t, nil, testpki.Options{})
	both := e.ca("chain", p.root, p.inter)
	interOnly := e.ca("inter", p.inter)
	roots := e.ca("roots", p.root, renewed)
	// The root revokes its intermediate and its own first certificate
	// (retired by the renewal: same name and key, so its own CRL speaks
	// for it).
	e.crl(p.root, now.Add(-time.Hour), now.Add(time.Hour), p.inter.Cert.SerialNumber, p.root.Cert.SerialNumber)
	set := func(crl pb.CRLCheck) *pb.ClientCertSettings {
		return &pb.ClientCertSettings{Mode: enforce, RequireClientAuthEku: &no, Revocation: &pb.Revocation{Crl: crl}}
	}
	e.site("both.example.com", set(pb.CRLCheck_CRL_CHECK_LEAF), both)
	e.site("inter.example.com", set(pb.CRLCheck_CRL_CHECK_LEAF), interOnly)
	e.site("inter-chain.example.com", set(pb.CRLCheck_CRL_CHECK_CHAIN), interOnly)
	e.site("roots.example.com", set(pb.CRLCheck_CRL_CHECK_LEAF), roots)
	e.site("inter-off.example.com", set(pb.CRLCheck_CRL_CHECK_OFF), interOnly)
	e.waitLoaded()
	cases := []struct {
		site string
		cert *testpki.Cert
		w    want
	}{
		{"both.example.com", p.inter, want{status: 403, reason: "revoked"}},
		{"inter.example.com", p.inter, want{status: 403, reason: "revoked"}},
		{"roots.example.com", p.root, want{status: 403, reason: "revoked"}},
		{"roots.example.com", renewed, want{status: 403, reason: "ca_certificate"}},
		{"inter-off.example.com", p.inter, want{status: 403, reason: "ca_certificate"}},
		// The intermediate is the site's only anchor; its issuer is in
		// another bundle, and chain mode checks it with that issuer's CRL.
		{"inter-chain.example.com", p.good, want{status: 403, reason: "revoked"}},
		{"inter.example.com", p.good, want{allow: true, verify: "SUCCESS"}},
	}
	for _, c := range cases {
		t.Run(c.site+"/"+c.cert.Cert.Subject.CommonName, func(t *testing.T) {
			assertResponse(t, e.check(req{ext: c.site, sni: c.site, host: c.site, cert: c.cert}), c.w)
		})
	}
}

// TestReviewFinding2_ScopedAndPartitionedCRLs: every CRL in force of an
// issuer applies to the certificates it covers. Before, an issuer had one
// CRL: uploading its ARL (CA certificates only) took the place of the CRL
// that revoked its users, and a revoked user got in. A partitioned CRL
// covers only the certificates naming its distribution point: a stale
// partition fails its own certificates, not the others'. A certificate
// that none of its issuer's CRLs covers is not checked, and counted.
func TestReviewFinding2_ScopedAndPartitionedCRLs(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, authz.Options{Metrics: authz.NewMetrics(reg)})
	reg.MustRegister(e.svc.Collector())
	now := time.Now()
	upload := func(issuer *testpki.Cert, scope testpki.CRLScope, nextUpdate time.Time, revoked ...*testpki.Cert) {
		t.Helper()
		var serials []*big.Int
		for _, c := range revoked {
			serials = append(serials, c.Cert.SerialNumber)
		}
		der := issuer.ScopedCRL(t, scope, now.UnixNano(), now.Add(-2*time.Hour), nextUpdate, serials...)
		if _, err := e.st.CreateCRL(context.Background(), admin, der); err != nil {
			t.Fatal(err)
		}
	}
	const dpA, dpB, dpC = "http://crl.example.com/a.crl", "http://crl.example.com/b.crl", "http://crl.example.com/c.crl"
	root := testpki.NewRoot(t, "Scoped Root", testpki.Options{})
	inter := root.Intermediate(t, "Scoped Inter", testpki.Options{})
	user := root.Leaf(t, "revoked user", testpki.Options{})
	good := root.Leaf(t, "good user", testpki.Options{})
	underInter := inter.Leaf(t, "under the revoked intermediate", testpki.Options{})
	inA := root.Leaf(t, "revoked in A", testpki.Options{CRLDPs: []string{dpA}})
	goodA := root.Leaf(t, "good in A", testpki.Options{CRLDPs: []string{dpA}})
	inB := root.Leaf(t, "in stale B", testpki.Options{CRLDPs: []string{"ldap://crl.example.com/b", dpB}})
	// A second issuer publishes only partitions and a stale ARL.
	other := testpki.NewRoot(t, "Partitioned Root", testpki.Options{})
	userB := other.Leaf(t, "revoked in user partition B", testpki.Options{CRLDPs: []string{dpB}})
	outside := other.Leaf(t, "in partition C, not uploaded", testpki.Options{CRLDPs: []string{dpC}})

	ca := e.ca("scoped", root, inter)
	upload(root, testpki.CRLScope{UserCerts: true}, now.Add(time.Hour), user)
	upload(root, testpki.CRLScope{CACerts: true}, now.Add(time.Hour), inter) // the ARL
	upload(root, testpki.CRLScope{URIs: []string{dpA}}, now.Add(time.Hour), inA)
	upload(root, testpki.CRLScope{URIs: []string{dpB}}, now.Add(-time.Hour)) // stale, revokes nothing
	otherCA := e.ca("partitioned", other)
	upload(other, testpki.CRLScope{UserCerts: true, URIs: []string{dpB}}, now.Add(time.Hour), userB)
	upload(other, testpki.CRLScope{CACerts: true}, now.Add(-time.Hour)) // a stale ARL
	chain := &pb.ClientCertSettings{Mode: enforce, Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_CHAIN}}
	e.site("chain.example.com", chain, ca)
	e.site("leaf.example.com", &pb.ClientCertSettings{Mode: enforce}, ca)
	e.site("other.example.com", &pb.ClientCertSettings{Mode: enforce}, otherCA)
	e.site("other-chain.example.com", chain, otherCA)
	// Partition B's CRL is an hour past its nextUpdate: within a 2 h grace,
	// not within 30 min.
	graced := func(d time.Duration) *pb.ClientCertSettings {
		return &pb.ClientCertSettings{Mode: enforce, Revocation: &pb.Revocation{StaleCrlGrace: durationpb.New(d)}}
	}
	e.site("graced.example.com", graced(2*time.Hour), ca)
	e.site("short-grace.example.com", graced(30*time.Minute), ca)
	e.waitLoaded()
	cases := []struct {
		site string
		cert *testpki.Cert
		w    want
	}{
		{"leaf.example.com", user, want{status: 403, reason: "revoked"}},
		{"chain.example.com", user, want{status: 403, reason: "revoked"}},
		{"leaf.example.com", good, want{allow: true, verify: "SUCCESS"}},
		// The ARL revokes the intermediate: chain mode sees it.
		{"chain.example.com", underInter, want{status: 403, reason: "revoked"}},
		{"leaf.example.com", underInter, want{allow: true, verify: "SUCCESS"}},
		{"leaf.example.com", inA, want{status: 403, reason: "revoked"}},
		{"leaf.example.com", goodA, want{allow: true, verify: "SUCCESS"}},
		{"leaf.example.com", inB, want{status: 403, reason: "crl_stale"}},
		{"graced.example.com", inB, want{allow: true, verify: "SUCCESS"}},
		{"short-grace.example.com", inB, want{status: 403, reason: "crl_stale"}},
		{"graced.example.com", inA, want{status: 403, reason: "revoked"}},
		// A user-only partition covers its own users; the stale ARL covers
		// only the root (chain mode), not the leaves.
		{"other.example.com", userB, want{status: 403, reason: "revoked"}},
		{"other.example.com", outside, want{allow: true, verify: "SUCCESS"}},
		{"other-chain.example.com", outside, want{status: 403, reason: "crl_stale"}},
	}
	for _, c := range cases {
		t.Run(c.site+"/"+c.cert.Cert.Subject.CommonName, func(t *testing.T) {
			assertResponse(t, e.check(req{ext: c.site, sni: c.site, host: c.site, cert: c.cert}), c.w)
		})
	}

	// Only the certificate in partition C went unchecked, once per check,
	// on each site: its issuer's CRLs in force cover none of it.
	uncovered, scopes := map[string]float64{}, map[string]bool{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			l := labels(m)
			switch f.GetName() {
			case "mtlsgate_authz_revocation_uncovered_total":
				uncovered[l["site"]] = m.GetCounter().GetValue()
			case "mtlsgate_crl_next_update_seconds":
				scopes[l["scope"]+" "+l["partition"]] = true
			}
		}
	}
	if want := map[string]float64{"other.example.com": 1, "other-chain.example.com": 1}; !maps.Equal(uncovered, want) {
		t.Errorf("uncovered = %v, want %v", uncovered, want)
	}
	for _, k := range []string{"user ", "ca ", "all " + dpA, "all " + dpB, "user " + dpB} {
		if !scopes[k] {
			t.Errorf("no CRL series with scope and partition %q in %v", k, scopes)
		}
	}
}
