package standin_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mtlsgate/mtlsgate/e2e/internal/standin"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/xds"
)

var xdsModes = []struct {
	name  string
	delta bool
}{{"sotw", false}, {"delta", true}}

// TestStandIn drives real TLS clients through the stand-in, configured
// over ADS by mtlsgate's control plane (xds.Server), to mtlsgate's authz
// and an origin.
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
			t.Run("finding 5", h.testFinding5)
			t.Run("finding 6", h.testFinding6)
			// These change the configuration: keep them last.
			t.Run("new site", h.testNewSite)
			t.Run("drain", h.testDrain)
			if n := h.cp.nacks(t); n != 0 {
				t.Errorf("mtlsgate's control plane counted %v NACKs, want none", n)
			}
			if errs := h.px.Errors(); len(errs) != 0 {
				t.Errorf("errors: %v", errs)
			}
		})
	}
}

// TestInjected serves, from go-control-plane's snapshot cache,
// configurations mtlsgate never emits: fields the stand-in does not
// implement, and a listener whose secret is missing.
func TestInjected(t *testing.T) {
	for _, m := range xdsModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{delta: m.delta, inject: true})
			t.Run("nack keeps the last good config", h.testNACK)
			t.Run("warming", h.testWarming)
			h.checkErrors(t, m.delta)
			h.checkWire(t, m.delta)
		})
	}
}

// injectedVersions are the listener versions testNACK injects: "bad"
// and the field it sets.
var injectedVersions = []string{"badtcp_backlog_size", "badserver_name"}

// injectedRejection returns the version of an injected listener that err
// rejects, and whether err is such a rejection naming the field.
func injectedRejection(err error) (string, bool) {
	if !errors.Is(err, standin.ErrRejected) {
		return "", false
	}
	for _, v := range injectedVersions {
		if strings.Contains(err.Error(), "LDS version "+strconv.Quote(v)+":") {
			return v, strings.Contains(err.Error(), strings.TrimPrefix(v, "bad"))
		}
	}
	return "", false
}

// checkErrors: the stand-in recorded nothing but the rejections of the
// injected versions, each at least once; in delta exactly once. (In
// SotW, go-control-plane resends a rejected version at once with its
// resources in random order; the stand-in's rejection names the
// resource by index, so it may record the same rejection again.)
func (h *harness) checkErrors(t *testing.T, delta bool) {
	errs := h.px.Errors()
	rejected := map[string]int{}
	for _, err := range errs {
		v, ok := injectedRejection(err)
		if !ok {
			t.Errorf("unexpected error: %v", err)
		}
		rejected[v]++
	}
	for _, v := range injectedVersions {
		if rejected[v] == 0 || (delta && rejected[v] != 1) {
			t.Errorf("version %s rejected %d times: %v", v, rejected[v], errs)
		}
	}
}

// checkWire checks the ACKs and NACKs go-control-plane's callbacks saw:
// every injected listener version NACKed with a message naming its
// field, no other NACK, and the good listener versions ACKed, no bad one.
func (h *harness) checkWire(t *testing.T, delta bool) {
	// The last listener version the stand-in had to apply: its ACK
	// follows every NACK on the stream. (Later ones may carry nothing
	// new: in SotW, 2 and 5 may be superseded before they are sent; in
	// delta, 5 changes no listener.)
	h.snap.wire.waitACK(t, standin.ListenerType, "4")
	acks, nacks, stale := h.snap.wire.counts()
	nacked := map[string]int{}
	for _, n := range nacks {
		field, bad := strings.CutPrefix(n.version, "bad")
		if n.typeURL != standin.ListenerType || !bad || !strings.Contains(n.nack, field) {
			t.Errorf("unexpected NACK of %s version %q: %s", n.typeURL, n.version, n.nack)
		}
		nacked[n.version]++
	}
	for _, v := range injectedVersions {
		// SotW: go-control-plane answers a NACK with the same version at
		// once, and the stand-in repeats its NACK (after 250 ms) until the
		// next snapshot. Delta: a rejected resource is not sent again.
		if nacked[v] == 0 || (delta && nacked[v] != 1) {
			t.Errorf("version %s NACKed %d times", v, nacked[v])
		}
	}
	lds := acks[standin.ListenerType]
	if !slices.Contains(lds, "1") || slices.ContainsFunc(lds, func(v string) bool { return strings.HasPrefix(v, "bad") }) {
		t.Errorf("listener ACKs %q, want 1 and 4 and no bad version", lds)
	}
	// Stale-nonce requests are normal in SotW ADS (a subscription update
	// crossing a push); the stand-in recovers as Envoy does.
	t.Logf("NACKs: %d; stale-nonce requests: %d", len(nacks), stale)
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
	resp, e, err := h.do(t, call{url: "http://" + permissiveSite + "/p", headers: smuggled})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("proxied: %v %v", resp, err)
	}
	if e.Headers.Get("X-Client-Cert-Verify") != "NONE" || e.Headers.Get("Client-Cert") != "" || e.Headers.Get("X-Keep") != "1" {
		t.Errorf("client certificate headers must be stripped on plain HTTP, and verify NONE set: %v", e.Headers)
	}
	if e.Headers.Get("X-Forwarded-Proto") != "http" || e.Headers.Get("X-Forwarded-For") == "" || e.Headers.Get("X-Request-Id") == "" {
		t.Errorf("use_remote_address headers missing: %v", e.Headers)
	}
	if resp, _, err := h.do(t, call{url: "http://nosuch.example.net/"}); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("unknown host: %v %v, want 403 (ext_authz: unknown site)", resp, err)
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

// smuggled are client-sent copies of mtlsgate's headers, default and
// renamed, and one header of the client's own.
var smuggled = map[string]string{"X-Client-Cert-Verify": "SUCCESS", "X-Client-Cert-Subject": "CN=admin",
	"X-Tls-Verify": "SUCCESS", "Client-Cert": ":Zm9v:", "X-Keep": "1"}

// testFinding5 (issue 9, finding 5): on a site that renamed verify and
// turned subject off, a client's own copies of the default names and of
// the new one never reach the origin, over HTTPS and plain HTTP.
func (h *harness) testFinding5(t *testing.T) {
	p := h.pki
	for _, tc := range []struct {
		url  string
		cert *tls.Certificate
		want string // x-tls-verify the origin sees
	}{
		{"https://" + renamedSite + "/", chain(p.good, p.clientInter), "SUCCESS"},
		{"https://" + renamedSite + "/", nil, "NONE"},
		{"http://" + renamedSite + "/", nil, "NONE"},
	} {
		resp, e, err := h.do(t, call{url: tc.url, cert: tc.cert, headers: smuggled})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", tc.url, resp, err)
		}
		for _, n := range []string{"X-Client-Cert-Verify", "X-Client-Cert-Subject"} {
			if v := e.Headers.Values(n); len(v) != 0 {
				t.Errorf("%s: the origin got the client's %s: %q", tc.url, n, v)
			}
		}
		if slices.Contains(e.Headers.Values("Client-Cert"), smuggled["Client-Cert"]) {
			t.Errorf("%s: the origin got the client's Client-Cert", tc.url)
		}
		if v := e.Headers.Values("X-Tls-Verify"); !slices.Equal(v, []string{tc.want}) || e.Headers.Get("X-Keep") != "1" {
			t.Errorf("%s: x-tls-verify %q, want %q; headers %v", tc.url, v, tc.want, e.Headers)
		}
	}
}

// testFinding6 (issue 9, finding 6): plain HTTP to a site that is not
// disabled is redirected by default; with the redirect off, an enforcing
// site's requests are refused and never reach the origin, a permissive
// site's are checked (verify NONE), a disabled site's are proxied with
// every client-certificate header removed.
func (h *harness) testFinding6(t *testing.T) {
	before := h.originHits.Load()
	resp, e, err := h.do(t, call{url: "http://a.wild.example.org/admin", headers: smuggled})
	if err != nil || resp.StatusCode != http.StatusForbidden || e != nil {
		t.Fatalf("enforcing site over plain HTTP: %v %v, want 403", resp, err)
	}
	if h.originHits.Load() != before {
		t.Error("a plain HTTP request to an enforcing site reached the origin")
	}
	if resp, _, err := h.do(t, call{url: "http://" + wildExactSite + "/x"}); err != nil || resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("default redirect: %v %v, want 301", resp, err)
	}
	resp, e, err = h.do(t, call{url: "http://" + plainSite + "/x", headers: smuggled})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("disabled site over plain HTTP: %v %v", resp, err)
	}
	for _, n := range []string{"X-Client-Cert-Verify", "X-Client-Cert-Subject", "Client-Cert"} {
		if v := e.Headers.Values(n); len(v) != 0 {
			t.Errorf("disabled site: the origin got the client's %s: %q", n, v)
		}
	}
	resp, e, err = h.do(t, call{url: "http://" + permissiveSite + "/x", headers: smuggled})
	if err != nil || resp.StatusCode != http.StatusOK || !slices.Equal(e.Headers.Values("X-Client-Cert-Verify"), []string{"NONE"}) {
		t.Errorf("permissive site over plain HTTP: %v %v %v, want verify NONE", resp, err, e)
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
		{"tcp_backlog_size", func(l *listenerv3.Listener) {
			l.TcpBacklogSize = wrapperspb.UInt32(1 << 10)
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
		version, errsBefore := "bad"+inj.field, len(h.px.Errors())
		h.inject(t, version, func(res map[string]map[string]proto.Message) {
			l := proto.Clone(res[standin.ListenerType]["http"]).(*listenerv3.Listener)
			inj.mutate(l)
			res[standin.ListenerType]["http"] = l
		})
		rejected := func() bool {
			return slices.ContainsFunc(h.px.Errors()[errsBefore:], func(err error) bool {
				v, _ := injectedRejection(err)
				return v == version
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.px.WaitFor(ctx, func(*standin.State) bool { return rejected() })
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// Each a rejection naming its field (the previous injection's
		// may still come in: see checkErrors).
		for _, err := range h.px.Errors()[errsBefore:] {
			if _, ok := injectedRejection(err); !ok {
				t.Fatalf("injection %d: error %v, want a rejection naming %s", i, err, inj.field)
			}
		}
		if v := h.px.State().Version(standin.ListenerType); v != "1" {
			t.Errorf("listeners at version %q after a NACK, want 1", v)
		}
		if resp, _, err := h.do(t, call{url: "http://" + enforceSite + "/"}); err != nil || resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("the last good configuration should keep serving: %v %v", resp, err)
		}
	}
	h.inject(t, "2", nil)
	h.waitSynced(t)
}

// testNewSite adds a site: new listener chain, route and secrets, which
// the stand-in must subscribe to by name.
func (h *harness) testNewSite(t *testing.T) {
	const host = "new.example.com"
	h.addSite(t, host, &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}, h.caID)
	h.publish(t)
	h.waitSynced(t)
	resp, e, err := h.do(t, call{url: "https://" + host + "/", cert: chain(h.pki.good, h.pki.clientInter), h2: true})
	if err != nil || resp.StatusCode != http.StatusOK || verifyHeader(t, e) != "SUCCESS" {
		t.Fatalf("new site: %v %v", resp, err)
	}
	if errs := h.px.Errors(); len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
}

// testWarming: a listener whose secrets have not arrived is not served;
// the previous version keeps serving until they do. (mtlsgate never
// serves a listener without its secrets: the snapshot is injected.)
func (h *harness) testWarming(t *testing.T) {
	const host = "warm.example.com"
	h.addSite(t, host, &pb.ClientCertSettings{Mode: pb.Mode_MODE_DISABLED})
	h.inject(t, "4", func(res map[string]map[string]proto.Message) {
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
	h.inject(t, "5", nil)
	h.waitSynced(t)
	if resp, _, err := h.do(t, call{url: "https://" + host + "/"}); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("warmed: %v %v", resp, err)
	}
}

// closeWatch is a client connection that reports when the client closes
// it (net/http does once the server has closed it, after marking it
// broken so that it is never reused).
type closeWatch struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *closeWatch) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// testDrain: a secret update (a new CRL) keeps connections; a filter
// chain change (the site's mode) drains that chain's connections.
func (h *harness) testDrain(t *testing.T) {
	c := h.client(call{url: "https://" + permissiveSite + "/", sni: permissiveSite, cert: chain(h.pki.good, h.pki.clientInter)})
	tr := c.Transport.(*http.Transport)
	tr.DisableKeepAlives = false
	conns, dial := make(chan *closeWatch, 4), tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		w := &closeWatch{Conn: conn, closed: make(chan struct{})}
		conns <- w
		return w, nil
	}
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
	first := <-conns
	now := time.Now()
	if _, err := h.st.CreateCRL(context.Background(), admin, h.pki.clientInter.CRL(t, 10, now, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	h.publish(t)
	h.waitSynced(t)
	if !get() {
		t.Error("a secret update should not drop the connection")
	}
	set := &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}
	if _, err := h.st.UpdateSettings(context.Background(), admin, permissiveSite, set, []string{"mode"}); err != nil {
		t.Fatal(err)
	}
	h.publish(t)
	h.waitSynced(t)
	// The drain is asynchronous (as in Envoy): the idle connection is
	// closed soon after the new listener version serves.
	select {
	case <-first.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("a filter chain change should drain the chain's connections")
	}
	if get() {
		t.Error("a drained connection was reused")
	}
}

// TestReconnect restarts mtlsgate's control plane: the stand-in keeps
// serving its configuration meanwhile, reconnects, and applies what the
// new server (a new xds.Server on the same address) sends.
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
			h.publish(t)
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
	origin := httptest.NewTLSServer(http.HandlerFunc(echo))
	t.Cleanup(origin.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: origin.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{upstreamCAFile: caFile})
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
	h.publish(t)
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
