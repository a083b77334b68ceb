package authz_test

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// optInHeaders turns every opt-in origin header field on (issue 15).
var optInHeaders = map[string]string{
	"subject_cn": "x-cn", "subject_o": "x-o", "subject_ou": "x-ou", "issuer_cn": "x-issuer-cn",
	"san_ip": "x-san-ip", "days_left": "x-days-left", "fingerprint_sha1": "x-sha1",
	"subject_oid.2.5.4.5": "x-subject-serial", "subject_oid.1.3.6.1.4.1.99999.7": "x-tenant",
}

// issueLeaf signs a client certificate with subject and IP SANs of its own.
func issueLeaf(t *testing.T, by *testpki.Cert, subject pkix.Name, ips []net.IP, notAfter time.Time) *testpki.Cert {
	t.Helper()
	key := testpki.NewRoot(t, "throwaway", testpki.Options{}).Key
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: subject, IPAddresses: ips,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, by.Cert, key.Public(), by.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testpki.Cert{Cert: c, Key: key}
}

// TestOptInOriginHeaders: through the Service, a site with the opt-in
// fields on sends them for a verified certificate (and removes the names
// of those the certificate lacks, and of all of them without one); a site
// without them neither sends nor owns them; a client's copies never pass.
func TestOptInOriginHeaders(t *testing.T) {
	e := newEnv(t, authz.Options{DecisionLog: authz.LogOff})
	p := e.pki
	ca := e.ca("ecdsa", p.root, p.inter)
	e.site("opt.example.com", &pb.ClientCertSettings{Mode: permissive, Headers: optInHeaders}, ca)
	e.site("expired.example.com", &pb.ClientCertSettings{Mode: enforce, AllowExpired: true, Headers: optInHeaders}, ca)
	e.site("plain.example.com", &pb.ClientCertSettings{Mode: permissive}, ca)
	e.waitLoaded()
	leaf := issueLeaf(t, p.inter, pkix.Name{CommonName: "alice", Organization: []string{"Acme, Inc."},
		OrganizationalUnit: []string{"ops"}, SerialNumber: "EMP-0042"},
		[]net.IP{net.ParseIP("192.0.2.10"), net.ParseIP("2001:db8::10")}, time.Now().Add(10*24*time.Hour+time.Hour))
	sha := sha1.Sum(leaf.Cert.Raw)
	forged := map[string]string{}
	for _, name := range optInHeaders {
		forged[name] = "forged"
	}
	check := func(host string, cert *testpki.Cert) (map[string]string, []string) {
		t.Helper()
		resp := e.check(req{ext: host, sni: host, host: host, cert: cert, headers: forged})
		ok := resp.GetOkResponse()
		if ok == nil {
			t.Fatalf("%s: denied: %v", host, resp.GetDeniedResponse())
		}
		set := setHeaders(t, ok)
		for _, name := range optInHeaders { // overwritten or removed: never the client's
			if set[name] == "forged" || set[name] == "" && !slices.Contains(ok.GetHeadersToRemove(), name) && host != "plain.example.com" {
				t.Errorf("%s: a client's %s would reach the origin (set %q)", host, name, set[name])
			}
		}
		return set, ok.GetHeadersToRemove()
	}

	set, _ := check("opt.example.com", leaf)
	for name, want := range map[string]string{
		"x-cn": "alice", "x-o": "Acme%2C%20Inc.", "x-ou": "ops", "x-issuer-cn": "Client%20Issuing",
		"x-san-ip": "192.0.2.10,2001:db8::10", "x-days-left": "10", "x-sha1": hex.EncodeToString(sha[:]),
		"x-subject-serial": "EMP-0042", "x-client-cert-verify": "SUCCESS",
	} {
		if set[name] != want {
			t.Errorf("%s = %q, want %q", name, set[name], want)
		}
	}
	if _, sent := set["x-tenant"]; sent {
		t.Error("x-tenant sent for a subject without that attribute")
	}
	// A certificate without OU, IP SANs or serialNumber: those names are removed.
	set, removed := check("opt.example.com", p.good)
	for _, name := range []string{"x-ou", "x-san-ip", "x-subject-serial", "x-tenant"} {
		if _, sent := set[name]; sent || !slices.Contains(removed, name) {
			t.Errorf("%s: sent %v, removed %v", name, sent, removed)
		}
	}
	// No certificate: only verify; every opt-in name removed.
	if set, _ := check("opt.example.com", nil); len(set) != 1 {
		t.Errorf("without a certificate: %v", set)
	}
	// allow_expired: an expired certificate has 0 days left.
	if set, _ := check("expired.example.com", p.expired); set["x-days-left"] != "0" || set["x-cn"] != "expired" {
		t.Errorf("expired certificate: %v", set)
	}
	// A site without the opt-in fields sends none, and does not own the names.
	set, removed = check("plain.example.com", leaf)
	for _, name := range optInHeaders {
		if _, sent := set[name]; sent || slices.Contains(removed, name) {
			t.Errorf("plain site: %s sent %v or removed", name, sent)
		}
	}
	if set["x-client-cert-subject"] == "" {
		t.Error("plain site: default fields not sent")
	}
}

// TestDaysLeftFollowsTheClock: the answer shared by a verified
// certificate's requests is built again once its days_left has changed.
func TestDaysLeftFollowsTheClock(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	e := newEnv(t, authz.Options{DecisionLog: authz.LogOff, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	p := e.pki
	e.site("opt.example.com", &pb.ClientCertSettings{Mode: enforce, Headers: map[string]string{"days_left": "x-days-left"}},
		e.ca("ecdsa", p.root, p.inter))
	e.waitLoaded()
	leaf := issueLeaf(t, p.inter, pkix.Name{CommonName: "bob"}, nil, time.Now().Add(5*24*time.Hour+time.Hour))
	days := func() string {
		t.Helper()
		r := req{ext: "opt.example.com", sni: "opt.example.com", host: "opt.example.com", cert: leaf}
		return setHeaders(t, e.check(r).GetOkResponse())["x-days-left"]
	}
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{0, "5"}, {time.Minute, "5"}, {2 * time.Hour, "4"}, {3 * 24 * time.Hour, "1"}, {23*time.Hour + 30*time.Minute, "0"}} {
		clock.Add(int64(step.advance))
		if got := days(); got != step.want {
			t.Fatalf("after %v more: days_left %q, want %q", step.advance, got, step.want)
		}
	}
}
