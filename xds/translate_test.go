package xds_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/envoy"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

// marshalAll encodes resources deterministically, by name.
func marshalAll[M interface {
	proto.Message
	GetName() string
}](t *testing.T, ms []M) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range ms {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[m.GetName()] = string(b)
	}
	return out
}

func translate(t *testing.T, st *store.State) *xds.Resources {
	t.Helper()
	r, err := xds.Translate(st, xds.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withSite returns st with one site replaced by edit's copy.
func withSite(st *store.State, host string, edit func(*pb.Site)) *store.State {
	var sites []*pb.Site
	for _, s := range st.Sites() {
		if s.GetHostname() == host {
			s = proto.Clone(s).(*pb.Site)
			edit(s)
		}
		sites = append(sites, s)
	}
	return store.NewState(st.Rev+1, st.CAs(), sites, st.CRLs())
}

// TestCAAndCRLChangesTouchOnlySecrets: assigning a CA to a site, or
// uploading a CRL, changes that site's client-CA secret and nothing else,
// so Envoy drains no listener and no connection.
func TestCAAndCRLChangesTouchOnlySecrets(t *testing.T) {
	before := loadState(t, filepath.Join("testdata", "in", "crl.yaml"))
	changes := map[string]*store.State{
		"assign a CA":  withSite(before, "full.example.com", func(s *pb.Site) { s.CaIds = append(s.CaIds, "ca-employees") }),
		"drop the CRL": store.NewState(before.Rev+1, before.CAs(), before.Sites(), nil),
	}
	a := translate(t, before)
	for name, after := range changes {
		t.Run(name, func(t *testing.T) {
			b := translate(t, after)
			for kind, pair := range map[string][2]map[string]string{
				"listeners": {marshalAll(t, a.Listeners), marshalAll(t, b.Listeners)},
				"routes":    {marshalAll(t, a.Routes), marshalAll(t, b.Routes)},
				"clusters":  {marshalAll(t, a.Clusters), marshalAll(t, b.Clusters)},
			} {
				for n, v := range pair[0] {
					if pair[1][n] != v {
						t.Errorf("%s %s changed", kind, n)
					}
				}
			}
			sa, sb := marshalAll(t, a.Secrets), marshalAll(t, b.Secrets)
			changed := 0
			for n := range sa {
				if sa[n] != sb[n] {
					changed++
				}
			}
			if changed == 0 {
				t.Error("no secret changed: the change did not reach Envoy")
			}
			if sa["server/full.example.com"] != sb["server/full.example.com"] {
				t.Error("a server certificate secret changed")
			}
		})
	}
}

// TestModeChangeTouchesOnlyThatSitesChain: a mode change changes the
// site's filter chain and, as its plain HTTP redirect is off, the plain
// HTTP route (checked before, refused now), and nothing else.
func TestModeChangeTouchesOnlyThatSitesChain(t *testing.T) {
	before := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	after := withSite(before, "app.example.net", func(s *pb.Site) { s.Settings.Mode = pb.Mode_MODE_ENFORCE })
	a, b := translate(t, before), translate(t, after)
	routesA, routesB := marshalAll(t, a.Routes), marshalAll(t, b.Routes)
	for n := range routesA {
		if changed := routesA[n] != routesB[n]; changed != (n == xds.HTTPRoute) {
			t.Errorf("route %s changed=%v on a mode change", n, changed)
		}
	}
	chains := func(r *xds.Resources) map[string]string {
		out := map[string]string{}
		for _, l := range r.Listeners {
			for _, c := range l.GetFilterChains() {
				b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
				out[c.GetName()] = string(b)
			}
		}
		return out
	}
	ca, cb := chains(a), chains(b)
	for n := range ca {
		if changed := ca[n] != cb[n]; changed != (n == "site/app.example.net") {
			t.Errorf("filter chain %s changed=%v", n, changed)
		}
	}
}

func TestDeterministic(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "crl.yaml"))
	first := translate(t, st)
	for range 20 {
		again := translate(t, st)
		for i := range first.Secrets {
			if !proto.Equal(first.Secrets[i], again.Secrets[i]) {
				t.Fatal("translation is not deterministic")
			}
		}
		if len(marshalAll(t, again.Listeners)) != len(first.Listeners) {
			t.Fatal("listener count changed")
		}
	}
}

// TestBrokenSiteIsLeftOut: a site that cannot be translated is reported
// and the others keep serving.
func TestBrokenSiteIsLeftOut(t *testing.T) {
	before := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	broken := withSite(before, "app.example.net", func(s *pb.Site) { s.CaIds = []string{"missing-ca"} })
	r := translate(t, broken)
	if r.SiteErrors["app.example.net"] == nil || len(r.SiteErrors) != 1 {
		t.Fatalf("SiteErrors = %v", r.SiteErrors)
	}
	routes := marshalAll(t, r.Routes)
	if _, ok := routes["https/app.example.net"]; ok {
		t.Fatal("the broken site was translated")
	}
	if _, ok := routes["https/app.example.com"]; !ok {
		t.Fatal("a healthy site was left out")
	}
}

func TestBadOptionsFail(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	for _, edit := range []func(*xds.Options){
		func(o *xds.Options) { o.HTTPSAddr = "nope" },
		func(o *xds.Options) { o.HTTPAddr = "1.2.3.4" },
	} {
		o := xds.DefaultOptions()
		edit(&o)
		if _, err := xds.Translate(st, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// TestAuthzClusterNotInCDS: the ext_authz filter names the bootstrap's
// static cluster, and no translation sends a cluster of that name (Envoy
// refuses a CDS cluster replacing a static one, and the static cluster
// carries the node's credentials, which never travel over xDS).
func TestAuthzClusterNotInCDS(t *testing.T) {
	if xds.AuthzCluster != envoy.AuthzClusterName {
		t.Fatalf("ext_authz cluster %q, the bootstrap's is %q", xds.AuthzCluster, envoy.AuthzClusterName)
	}
	st := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	o := xds.DefaultOptions()
	r, err := xds.Translate(st, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Clusters {
		if c.GetName() == envoy.AuthzClusterName || c.GetName() == envoy.XDSClusterName {
			t.Errorf("CDS sends %s", c.GetName())
		}
	}
	named := 0
	for _, l := range r.Listeners {
		js, err := protojson.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, js); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(compact.String(), `"clusterName":"`+envoy.AuthzClusterName+`"`) {
			named++
		}
	}
	if named == 0 {
		t.Error("no listener's ext_authz filter names the static ext_authz cluster")
	}
}

// TestFirstCAOfASite: an enforcing site without a CA asks for no
// certificate (ext_authz denies it all); its first CA changes its own
// filter chain and nothing else.
func TestFirstCAOfASite(t *testing.T) {
	before := loadState(t, filepath.Join("testdata", "in", "modes.yaml"))
	after := withSite(before, "new.example.com", func(s *pb.Site) { s.CaIds = []string{"ca-partners"} })
	a, b := translate(t, before), translate(t, after)
	if _, ok := marshalAll(t, a.Secrets)["client-ca/new.example.com"]; ok {
		t.Fatal("a site without CAs got a validation context")
	}
	if _, ok := marshalAll(t, b.Secrets)["client-ca/new.example.com"]; !ok {
		t.Fatal("the first CA did not give the site a validation context")
	}
	ra, rb := marshalAll(t, a.Routes), marshalAll(t, b.Routes)
	for n := range ra {
		if ra[n] != rb[n] {
			t.Errorf("route %s changed", n)
		}
	}
}
