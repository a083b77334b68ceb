package standin_test

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mtlsgate/mtlsgate/e2e/standin"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/xds"
)

var xdsModes = []struct {
	name  string
	delta bool
}{{"sotw", false}, {"delta", true}}

// TestStandIn drives real TLS clients through the stand-in, configured
// by a real translation over ADS, to mtlsgate's authz and an origin.
func TestStandIn(t *testing.T) {
	for _, m := range xdsModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{delta: m.delta})
			t.Run("enforce", h.testEnforce)
			t.Run("permissive", h.testPermissive)
			t.Run("disabled", h.testDisabled)
			t.Run("sni", h.testSNI)
			t.Run("http", h.testHTTP)
			// These change the configuration: keep them last.
			t.Run("nack keeps the last good config", h.testNACK)
			t.Run("new site", h.testNewSite)
			t.Run("warming", h.testWarming)
			t.Run("drain", h.testDrain)
			// Stale-nonce requests are normal in SotW ADS (a subscription
			// update crossing a push); the stand-in recovers as Envoy does.
			nacks, stale, acks := h.cp.counts()
			if len(nacks) != 2 || len(acks[standin.ListenerType]) == 0 {
				t.Errorf("control plane saw NACKs %q and ACKs %v; want the 2 injected", nacks, acks)
			}
			t.Logf("stale-nonce requests: %d", stale)
		})
	}
}

// verifyHeader is the x-client-cert-verify the origin received.
func verifyHeader(t *testing.T, e *echoed) string {
	t.Helper()
	if e == nil {
		t.Fatal("the origin was not reached")
	}
	vs := e.Headers.Values("X-Client-Cert-Verify")
	if len(vs) > 1 {
		t.Fatalf("x-client-cert-verify sent %d times: %q", len(vs), vs)
	}
	return strings.Join(vs, "")
}

func (h *harness) testEnforce(t *testing.T) {
	p := h.pki
	if _, _, err := h.do(t, call{url: "https://" + enforceSite + "/"}); err == nil {
		t.Error("no client certificate: the handshake should fail")
	}
	for _, h2 := range []bool{false, true} {
		resp, e, err := h.do(t, call{url: "https://" + enforceSite + "/a/./b/../c//d?q=1", cert: chain(p.good, p.clientInter), h2: h2,
			headers: map[string]string{"X-Client-Cert-Verify": "SUCCESS", "X-Forwarded-Client-Cert": "By=spoofed"}})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("h2=%v: valid certificate: %v %v", h2, resp, err)
		}
		if resp.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
			t.Errorf("h2=%v: served over %s", h2, resp.Proto)
		}
		if v := verifyHeader(t, e); v != "SUCCESS" {
			t.Errorf("x-client-cert-verify = %q, want SUCCESS", v)
		}
		if e.Headers.Get("X-Forwarded-Client-Cert") != "" || e.URI != "/a/c/d?q=1" || e.Host != enforceSite ||
			e.Headers.Get("X-Forwarded-Proto") != "https" {
			t.Errorf("origin saw %+v", e)
		}
	}
	for name, cert := range map[string]*testCert{"untrusted": {p.untrusted, nil}, "revoked": {p.revoked, []*testpki.Cert{p.clientInter}}} {
		if _, _, err := h.do(t, call{url: "https://" + enforceSite + "/", cert: chain(cert.leaf, cert.issuers...)}); err == nil {
			t.Errorf("%s certificate: the handshake should fail", name)
		}
	}
}

func (h *harness) testPermissive(t *testing.T) {
	p := h.pki
	for _, tc := range []struct {
		cert *testCert
		want string
	}{
		{&testCert{p.untrusted, nil}, "FAILED:untrusted"},
		{&testCert{p.revoked, []*testpki.Cert{p.clientInter}}, "FAILED:revoked"},
		{&testCert{p.good, []*testpki.Cert{p.clientInter}}, "SUCCESS"},
		{nil, "NONE"},
	} {
		c := call{url: "https://" + permissiveSite + "/", headers: map[string]string{"X-Client-Cert-Verify": "SUCCESS"}}
		if tc.cert != nil {
			c.cert = chain(tc.cert.leaf, tc.cert.issuers...)
		}
		resp, e, err := h.do(t, c)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", tc.want, resp, err)
		}
		if v := verifyHeader(t, e); v != tc.want {
			t.Errorf("x-client-cert-verify = %q, want %q", v, tc.want)
		}
	}
}

func (h *harness) testDisabled(t *testing.T) {
	resp, e, err := h.do(t, call{url: "https://" + plainSite + "/", headers: map[string]string{"X-Client-Cert-Verify": "SUCCESS"}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%v %v", resp, err)
	}
	if v := verifyHeader(t, e); v != "" {
		t.Errorf("a disabled site passed x-client-cert-verify %q to the origin", v)
	}
}

func (h *harness) testSNI(t *testing.T) {
	if _, _, err := h.do(t, call{url: "https://nosuch.example.net/"}); err == nil {
		t.Error("an SNI without a filter chain should be refused")
	}
	good := chain(h.pki.good, h.pki.clientInter)
	for sni, want := range map[string]string{
		"one.wild.example.org":   wildSite,      // wildcard
		"a.b.wild.example.org":   wildSite,      // a wildcard matches several labels in Envoy
		"api.wild.example.org":   wildExactSite, // exact before wildcard
		"API.Wild.Example.ORG":   wildExactSite,
		"x.api.wild.example.org": wildSite,
	} {
		resp, _, err := h.do(t, call{url: "https://" + strings.ToLower(sni) + "/", sni: sni, cert: good, insecure: true})
		if err != nil {
			t.Errorf("%s: %v", sni, err)
			continue
		}
		if got := resp.TLS.PeerCertificates[0].DNSNames; !slices.Equal(got, []string{want}) {
			t.Errorf("SNI %s got the certificate of %v, want %s", sni, got, want)
		}
	}
}

func (h *harness) testHTTP(t *testing.T) {
	resp, _, err := h.do(t, call{url: "http://" + enforceSite + ":10080/x/../y%2Fz?q=/../1"})
	if err != nil || resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("redirect: %v %v", resp, err)
	}
	if loc, want := resp.Header.Get("Location"), "https://"+enforceSite+":8443/y/z?q=/../1"; loc != want {
		t.Errorf("Location = %q, want %q", loc, want)
	}
	resp, e, err := h.do(t, call{url: "http://" + permissiveSite + "/p", headers: map[string]string{
		"X-Client-Cert-Verify": "SUCCESS", "Client-Cert": ":Zm9v:", "X-Keep": "1"}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("proxied: %v %v", resp, err)
	}
	if e.Headers.Get("X-Client-Cert-Verify") != "" || e.Headers.Get("Client-Cert") != "" || e.Headers.Get("X-Keep") != "1" {
		t.Errorf("client certificate headers must be stripped on plain HTTP: %v", e.Headers)
	}
	if e.Headers.Get("X-Forwarded-Proto") != "http" || e.Headers.Get("X-Forwarded-For") == "" || e.Headers.Get("X-Request-Id") == "" {
		t.Errorf("use_remote_address headers missing: %v", e.Headers)
	}
	if resp, _, err := h.do(t, call{url: "http://nosuch.example.net/"}); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown host: %v %v, want 404", resp, err)
	}
	// codec AUTO: prior-knowledge HTTP/2 on the plain listener.
	c := h.client(call{url: "http://" + permissiveSite + "/"})
	c.Transport.(*http.Transport).Protocols = new(http.Protocols)
	c.Transport.(*http.Transport).Protocols.SetUnencryptedHTTP2(true)
	if resp, err := c.Get("http://" + permissiveSite + "/h2c"); err != nil || resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("h2c: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// testNACK injects fields the stand-in does not implement, at the top of
// a listener and inside a typed config: both are NACKed, reported, and
// the previous configuration keeps serving.
func (h *harness) testNACK(t *testing.T) {
	injections := []struct {
		field  string
		mutate func(*listenerv3.Listener)
	}{
		{"per_connection_buffer_limit_bytes", func(l *listenerv3.Listener) {
			l.PerConnectionBufferLimitBytes = wrapperspb.UInt32(1 << 20)
		}},
		{"server_name", func(l *listenerv3.Listener) {
			f := l.GetFilterChains()[0].GetFilters()[0]
			hcm := &hcmv3.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
				t.Fatal(err)
			}
			hcm.ServerName = "not-envoy"
			a, err := anypb.New(hcm)
			if err != nil {
				t.Fatal(err)
			}
			f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
		}},
	}
	for i, inj := range injections {
		before, errsBefore := h.px.State().Rejections(), len(h.px.Errors())
		h.publish(t, "bad"+inj.field, func(res map[string]map[string]proto.Message) {
			l := proto.Clone(res[standin.ListenerType]["http"]).(*listenerv3.Listener)
			inj.mutate(l)
			res[standin.ListenerType]["http"] = l
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.px.WaitFor(ctx, func(s *standin.State) bool { return s.Rejections() > before })
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		errs := h.px.Errors()
		if len(errs) != errsBefore+1 || !errors.Is(errs[len(errs)-1], standin.ErrRejected) ||
			!strings.Contains(errs[len(errs)-1].Error(), inj.field) {
			t.Fatalf("injection %d: errors %v, want one rejection naming %s", i, errs[errsBefore:], inj.field)
		}
		if v := h.px.State().Version(standin.ListenerType); v != "1" {
			t.Errorf("listeners at version %q after a NACK, want 1", v)
		}
		if resp, _, err := h.do(t, call{url: "http://" + enforceSite + "/"}); err != nil || resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("the last good configuration should keep serving: %v %v", resp, err)
		}
	}
	h.publish(t, "2", nil)
	h.waitSynced(t)
}

// testNewSite adds a site: new listener chain, route and secrets, which
// the stand-in must subscribe to by name.
func (h *harness) testNewSite(t *testing.T) {
	const host = "new.example.com"
	h.addSite(t, host, &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}, h.caID)
	h.publish(t, "3", nil)
	h.waitSynced(t)
	resp, e, err := h.do(t, call{url: "https://" + host + "/", cert: chain(h.pki.good, h.pki.clientInter), h2: true})
	if err != nil || resp.StatusCode != http.StatusOK || verifyHeader(t, e) != "SUCCESS" {
		t.Fatalf("new site: %v %v", resp, err)
	}
	if errs := h.px.Errors(); len(errs) != 2 {
		t.Errorf("errors: %v, want only the 2 injected rejections", errs)
	}
}

// testWarming: a listener whose secrets have not arrived is not served;
// the previous version keeps serving until they do.
func (h *harness) testWarming(t *testing.T) {
	const host = "warm.example.com"
	h.addSite(t, host, &pb.ClientCertSettings{Mode: pb.Mode_MODE_DISABLED})
	h.publish(t, "4", func(res map[string]map[string]proto.Message) {
		delete(res[standin.SecretType], "server/"+host)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := h.px.WaitFor(ctx, func(s *standin.State) bool {
		l, _ := s.Resource(standin.ListenerType, xds.HTTPSListener).(*listenerv3.Listener)
		return s.Resource(standin.RouteType, "https/"+host) != nil &&
			slices.ContainsFunc(l.GetFilterChains(), func(fc *listenerv3.FilterChain) bool { return fc.GetName() == "site/"+host })
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := h.px.State(); st.Serving(xds.HTTPSListener) || !st.Serving(xds.HTTPListener) {
		t.Fatalf("https should be warming and http serving: %v", st)
	}
	if _, _, err := h.do(t, call{url: "https://" + host + "/"}); err == nil {
		t.Error("a warming chain should not serve")
	}
	if resp, _, err := h.do(t, call{url: "https://" + plainSite + "/"}); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the previous version should keep serving: %v %v", resp, err)
	}
	h.publish(t, "5", nil)
	h.waitSynced(t)
	if resp, _, err := h.do(t, call{url: "https://" + host + "/"}); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("warmed: %v %v", resp, err)
	}
}

// testDrain: a secret update (a new CRL) keeps connections; a filter
// chain change (the site's mode) drains that chain's connections.
func (h *harness) testDrain(t *testing.T) {
	c := h.client(call{url: "https://" + permissiveSite + "/", sni: permissiveSite, cert: chain(h.pki.good, h.pki.clientInter)})
	c.Transport.(*http.Transport).DisableKeepAlives = false
	get := func() (reused bool) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+permissiveSite+"/", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return reused
	}
	get()
	now := time.Now()
	if _, err := h.st.CreateCRL(context.Background(), admin, h.pki.clientInter.CRL(t, 10, now, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	h.publish(t, "6", nil)
	h.waitSynced(t)
	if !get() {
		t.Error("a secret update should not drop the connection")
	}
	set := &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}
	if _, err := h.st.UpdateSettings(context.Background(), admin, permissiveSite, set, []string{"mode"}); err != nil {
		t.Fatal(err)
	}
	h.publish(t, "7", nil)
	h.waitSynced(t)
	if get() {
		t.Error("a filter chain change should drain the chain's connections")
	}
}

// TestReconnect restarts the control plane: the stand-in keeps serving
// its configuration meanwhile, reconnects, and applies what the new
// server sends.
func TestReconnect(t *testing.T) {
	for _, m := range xdsModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{delta: m.delta})
			good := chain(h.pki.good, h.pki.clientInter)
			h.cp.stop()
			if resp, _, err := h.do(t, call{url: "https://" + enforceSite + "/", cert: good}); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("during the outage: %v %v", resp, err)
			}
			h.addSite(t, "later.example.com", &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE}, h.caID)
			h.cp.start(h.cp.addr)
			h.publish(t, "2", nil)
			h.waitSynced(t)
			resp, e, err := h.do(t, call{url: "https://later.example.com/", cert: good})
			if err != nil || resp.StatusCode != http.StatusOK || verifyHeader(t, e) != "SUCCESS" {
				t.Fatalf("after reconnecting: %v %v", resp, err)
			}
			if errs := h.px.Errors(); len(errs) != 0 {
				t.Errorf("errors: %v", errs)
			}
		})
	}
}

// TestUpstreamTLS: https origins are verified for real, against
// trusted_ca and the SAN matcher (an IP literal: STATIC with an IP SAN;
// a name: STRICT_DNS with a DNS SAN).
func TestUpstreamTLS(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	origin := httptest.NewTLSServer(http.HandlerFunc(echo))
	t.Cleanup(origin.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: origin.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	h.xdsOpts.UpstreamCAFile = caFile
	u, _ := url.Parse(origin.URL)
	for host, originURL := range map[string]string{
		"tls-ip.example.com":   origin.URL,                      // IP SAN 127.0.0.1: verified
		"tls-name.example.com": "https://localhost:" + u.Port(), // no DNS SAN localhost: refused
	} {
		h.addSite(t, host, &pb.ClientCertSettings{Mode: pb.Mode_MODE_DISABLED})
		if _, err := h.st.UpdateSite(context.Background(), admin, &pb.Site{Hostname: host, OriginUrl: originURL}, []string{"origin_url"}); err != nil {
			t.Fatal(err)
		}
	}
	h.publish(t, "2", nil)
	h.waitSynced(t)
	resp, e, err := h.do(t, call{url: "https://tls-ip.example.com/x"})
	if err != nil || resp.StatusCode != http.StatusOK || e.Host != "tls-ip.example.com" {
		t.Fatalf("verified TLS origin: %v %v %+v", resp, err, e)
	}
	resp, _, err = h.do(t, call{url: "https://tls-name.example.com/x"})
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("origin certificate without the SAN: %v %v, want 503", resp, err)
	}
	if errs := h.px.Errors(); len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
}
