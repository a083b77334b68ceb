package authz_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/internal/ocsptest"
	"github.com/mtlsgate/mtlsgate/internal/promtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/ocspcache"
	"github.com/mtlsgate/mtlsgate/outbound"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// newOCSPCache is a cache that may reach loopback responders.
func newOCSPCache(t *testing.T) *ocspcache.Cache {
	t.Helper()
	client, err := outbound.New(outbound.Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, outbound.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	c, err := ocspcache.New(ocspcache.Options{Client: client, RetryMin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ocspSettings(mode pb.Mode, check pb.OCSPCheck, unavailable, unknown pb.OCSPFailureAction) *pb.ClientCertSettings {
	return &pb.ClientCertSettings{Mode: mode, Revocation: &pb.Revocation{Ocsp: check, OnOcspUnavailable: unavailable, OnOcspUnknown: unknown}}
}

const (
	deny  = pb.OCSPFailureAction_OCSP_FAILURE_ACTION_DENY
	allow = pb.OCSPFailureAction_OCSP_FAILURE_ACTION_ALLOW
	leaf  = pb.OCSPCheck_OCSP_CHECK_LEAF
	chain = pb.OCSPCheck_OCSP_CHECK_CHAIN
	off   = pb.OCSPCheck_OCSP_CHECK_OFF
)

// TestOCSP: Check asks the responder each certificate names (or its CA
// sets) and applies the site's choices: revoked denies, as a CRL would;
// unknown and unavailable deny, or pass as soft failures reported in the
// verify header, also under access rules; chain mode asks about the
// intermediate too; a certificate that names no responder has no usable
// answer, and is counted.
func TestOCSP(t *testing.T) {
	root := testpki.NewRoot(t, "OCSP Root", testpki.Options{})
	rootResponder := ocsptest.Start(t, root)
	inter := root.Intermediate(t, "OCSP Issuing", testpki.Options{OCSP: []string{rootResponder.URL}})
	responder, down := ocsptest.Start(t, inter), ocsptest.Start(t, inter)
	down.Lock()
	down.FailWith = 503
	down.Unlock()
	at := func(url string) testpki.Options { return testpki.Options{OCSP: []string{url}} }
	good, revoked, unknown := inter.Leaf(t, "good", at(responder.URL)), inter.Leaf(t, "revoked", at(responder.URL)), inter.Leaf(t, "unknown", at(responder.URL))
	unreachable, silent := inter.Leaf(t, "unreachable", at(down.URL)), inter.Leaf(t, "no responder", testpki.Options{})
	responder.Set(revoked.Cert.SerialNumber, ocsp.Revoked)
	responder.Set(unknown.Cert.SerialNumber, ocsp.Unknown)
	reg := prometheus.NewRegistry()
	e := newEnv(t, authz.Options{OCSP: newOCSPCache(t), Metrics: authz.NewMetrics(reg)})
	ca := e.ca("ocsp", inter, root)
	sites := map[string]*pb.ClientCertSettings{
		"leaf.example.com":       ocspSettings(enforce, leaf, deny, deny),
		"soft.example.com":       ocspSettings(enforce, leaf, allow, allow),
		"chain.example.com":      ocspSettings(enforce, chain, deny, deny),
		"permissive.example.com": ocspSettings(permissive, leaf, deny, deny),
		"off.example.com":        ocspSettings(enforce, off, deny, deny),
		"rules.example.com":      ocspSettings(enforce, leaf, allow, allow),
	}
	sites["rules.example.com"].AccessRules = []*pb.AccessRule{{PathPrefix: "/admin", Subjects: []string{"CN=unreachable,O=mtlsgate test"}}}
	for host, set := range sites {
		e.site(host, set, ca)
	}
	e.waitLoaded()
	cases := []struct {
		site string
		cert *testpki.Cert
		want want
	}{
		{"leaf.example.com", good, want{allow: true, verify: "SUCCESS"}},
		{"leaf.example.com", revoked, want{status: 403, reason: "revoked"}},
		{"leaf.example.com", unknown, want{status: 403, reason: "ocsp_unknown"}},
		{"leaf.example.com", unreachable, want{status: 403, reason: "ocsp_unavailable"}},
		{"leaf.example.com", silent, want{status: 403, reason: "ocsp_unavailable"}},
		{"soft.example.com", silent, want{allow: true, verify: "FAILED:ocsp_unavailable"}},
		{"chain.example.com", good, want{allow: true, verify: "SUCCESS"}},
		{"soft.example.com", revoked, want{status: 403, reason: "revoked"}},
		{"soft.example.com", unknown, want{allow: true, verify: "FAILED:ocsp_unknown"}},
		{"soft.example.com", unreachable, want{allow: true, verify: "FAILED:ocsp_unavailable"}},
		{"permissive.example.com", revoked, want{allow: true, verify: "FAILED:revoked"}},
		{"off.example.com", revoked, want{allow: true, verify: "SUCCESS"}},
	}
	for _, tc := range cases {
		t.Run(tc.site+"/"+tc.cert.Cert.Subject.CommonName, func(t *testing.T) {
			assertResponse(t, e.check(req{sni: tc.site, host: tc.site, cert: tc.cert}), tc.want)
		})
	}
	admin := func(c *testpki.Cert) req {
		return req{sni: "rules.example.com", host: "rules.example.com", path: "/admin/x", cert: c}
	}
	assertResponse(t, e.check(admin(unreachable)), want{allow: true, verify: "FAILED:ocsp_unavailable"})
	assertResponse(t, e.check(admin(unknown)), want{status: 403, reason: "not_allowed"})
	if n := promtest.Value(t, reg, "mtlsgate_authz_ocsp_unchecked_total", map[string]string{"site": "chain.example.com"}); n != 0 {
		t.Errorf("chain checks counted as unchecked: %v (a root is not asked about itself)", n)
	}
	// The intermediate revoked at its issuer's responder: a chain site with
	// nothing cached yet denies, a leaf site does not care.
	rootResponder.Set(inter.Cert.SerialNumber, ocsp.Revoked)
	fresh := newEnvPKI(t, authz.Options{OCSP: newOCSPCache(t)}, e.pki)
	freshCA := fresh.ca("ocsp", inter, root)
	fresh.site("chain.example.com", ocspSettings(enforce, chain, deny, deny), freshCA)
	fresh.site("leaf.example.com", ocspSettings(enforce, leaf, deny, deny), freshCA)
	fresh.waitLoaded()
	assertResponse(t, fresh.check(req{sni: "chain.example.com", host: "chain.example.com", cert: good}), want{status: 403, reason: "revoked"})
	assertResponse(t, fresh.check(req{sni: "leaf.example.com", host: "leaf.example.com", cert: good}), want{allow: true, verify: "SUCCESS"})
	assertResponse(t, e.check(req{sni: "leaf.example.com", host: "leaf.example.com", cert: good}), want{allow: true, verify: "SUCCESS"})
	if n := promtest.Value(t, reg, "mtlsgate_authz_ocsp_unchecked_total", map[string]string{"site": "leaf.example.com"}); n != 1 {
		t.Errorf("unchecked count %v, want 1 (the certificate naming no responder)", n)
	}
	if n := promtest.Value(t, reg, "mtlsgate_authz_decisions_total", map[string]string{"site": "soft.example.com", "result": "allow", "reason": "ocsp_unavailable"}); n != 2 {
		t.Errorf("soft failures counted %v, want 2 (a responder down, none named)", n)
	}
}

// TestOCSPResponderSetOnCA: a responder set on the CA is asked instead of
// the one the certificate names; without OCSP configured on the server, a
// site checking OCSP gets no usable answer.
func TestOCSPResponderSetOnCA(t *testing.T) {
	root := testpki.NewRoot(t, "CA Responder Root", testpki.Options{})
	down, up := ocsptest.Start(t, root), ocsptest.Start(t, root)
	down.Lock()
	down.FailWith = 500
	down.Unlock()
	alice := root.Leaf(t, "alice", testpki.Options{OCSP: []string{down.URL}})
	var logs lockedBuffer
	e := newEnv(t, authz.Options{OCSP: newOCSPCache(t), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ca := e.ca("root", root)
	e.site("a.example.com", ocspSettings(enforce, leaf, deny, deny), ca)
	e.waitLoaded()
	r := req{sni: "a.example.com", host: "a.example.com", cert: alice}
	assertResponse(t, e.check(r), want{status: 403, reason: "ocsp_unavailable"})
	if l := logs.String(); !strings.Contains(l, "reason=ocsp_unavailable") || !strings.Contains(l, "500 Internal Server Error") {
		t.Errorf("the decision log does not say why OCSP had no answer:\n%s", l)
	}
	if _, err := e.st.UpdateCA(context.Background(), admin, ca, &pb.ClientCA{OcspUrl: up.URL, OcspNonce: true}, []string{"ocsp_url", "ocsp_nonce"}); err != nil {
		t.Fatal(err)
	}
	e.waitLoaded()
	assertResponse(t, e.check(r), want{allow: true, verify: "SUCCESS"})
	if up.Requests.Load() != 1 || up.GETs.Load() != 0 {
		t.Fatalf("the CA's responder got %d requests (%d GETs), want 1 POST (with a nonce)", up.Requests.Load(), up.GETs.Load())
	}

	bare := newEnv(t, authz.Options{})
	bare.site("a.example.com", ocspSettings(enforce, leaf, deny, deny), bare.ca("root", root))
	bare.waitLoaded()
	assertResponse(t, bare.check(r), want{status: 403, reason: "ocsp_unavailable"})
}

// TestOCSPBudget: a Check waits for an answer no longer than the budget;
// the answer arrives in the cache meanwhile, and later Checks read it
// without asking again.
func TestOCSPBudget(t *testing.T) {
	root := testpki.NewRoot(t, "Budget Root", testpki.Options{})
	slow := ocsptest.Start(t, root)
	slow.Lock()
	slow.Delay = 300 * time.Millisecond
	slow.Unlock()
	alice := root.Leaf(t, "alice", testpki.Options{OCSP: []string{slow.URL}})
	e := newEnv(t, authz.Options{OCSP: newOCSPCache(t), OCSPBudget: 20 * time.Millisecond})
	e.site("a.example.com", ocspSettings(enforce, leaf, deny, deny), e.ca("root", root))
	e.waitLoaded()
	r := req{sni: "a.example.com", host: "a.example.com", cert: alice}
	assertResponse(t, e.check(r), want{status: 403, reason: "ocsp_unavailable"})
	deadline := time.Now().Add(5 * time.Second)
	for e.check(r).GetOkResponse() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the answer never reached the cache")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := slow.Requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// TestOCSPBurstCoalesced: a burst of concurrent Checks of one certificate
// not cached yet sends the responder one request, and every Check gets
// its answer.
func TestOCSPBurstCoalesced(t *testing.T) {
	root := testpki.NewRoot(t, "Burst Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	r.Lock()
	r.Delay = 50 * time.Millisecond
	r.Unlock()
	alice := root.Leaf(t, "alice", testpki.Options{OCSP: []string{r.URL}})
	e := newEnv(t, authz.Options{OCSP: newOCSPCache(t), OCSPBudget: 2 * time.Second})
	e.site("a.example.com", ocspSettings(enforce, leaf, deny, deny), e.ca("root", root))
	e.waitLoaded()
	var wg sync.WaitGroup
	allowed := make([]bool, 32)
	for i := range allowed {
		wg.Go(func() {
			resp, err := e.client.Check(context.Background(), envoyRequest(req{sni: "a.example.com", host: "a.example.com", cert: alice}))
			allowed[i] = err == nil && resp.GetOkResponse() != nil
		})
	}
	wg.Wait()
	for i, ok := range allowed {
		if !ok {
			t.Fatalf("Check %d denied", i)
		}
	}
	if n := r.Requests.Load(); n != 1 {
		t.Fatalf("%d responder requests for a burst of %d Checks, want 1", n, len(allowed))
	}
}

// lockedBuffer is a log destination safe for the handlers' goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestOCSPHotCheckAllocatesNothingMore: a Check whose OCSP answer is
// cached allocates no more than the same Check on a site without OCSP.
func TestOCSPHotCheckAllocatesNothingMore(t *testing.T) {
	root := testpki.NewRoot(t, "Alloc Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	alice := root.Leaf(t, "alice", testpki.Options{OCSP: []string{r.URL}})
	e := newEnv(t, authz.Options{OCSP: newOCSPCache(t), DecisionLog: authz.LogOff})
	ca := e.ca("root", root)
	e.site("ocsp.example.com", ocspSettings(enforce, leaf, deny, deny), ca)
	e.site("plain.example.com", ocspSettings(enforce, off, deny, deny), ca)
	e.waitLoaded()
	allocs := func(host string) float64 {
		cr := envoyRequest(req{sni: host, host: host, cert: alice, newEnc: true})
		if resp, _ := e.svc.Check(context.Background(), cr); resp.GetOkResponse() == nil {
			t.Fatalf("%s: %v", host, resp)
		}
		return testing.AllocsPerRun(200, func() { _, _ = e.svc.Check(context.Background(), cr) })
	}
	if with, without := allocs("ocsp.example.com"), allocs("plain.example.com"); with > without {
		t.Fatalf("a hot Check allocates %v times with OCSP, %v without", with, without)
	}
}
