package xds

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// world is a mutable set of store objects from which States are made, as
// the store makes them: a changed object is a new message, an unchanged
// one keeps its message.
type world struct {
	t     *testing.T
	rng   *rand.Rand
	rev   int64
	cas   map[string]*pb.ClientCA
	sites map[string]*pb.Site
	crls  map[string]*pb.CRL

	// bundles are the CA bundles to pick from (one is not a certificate),
	// issuers the CA certificates CRLs can be made for.
	bundles []string
	issuers []*testpki.Cert
	server  *testpki.Cert
}

func newWorld(t *testing.T, seed uint64) *world {
	w := &world{t: t, rng: rand.New(rand.NewPCG(seed, 1)),
		cas: map[string]*pb.ClientCA{}, sites: map[string]*pb.Site{}, crls: map[string]*pb.CRL{}}
	for i := range 4 {
		root := testpki.NewRoot(t, fmt.Sprintf("CA %d", i), testpki.Options{})
		w.issuers = append(w.issuers, root)
		w.bundles = append(w.bundles, string(root.PEM()))
	}
	inter := w.issuers[0].Intermediate(t, "Intermediate", testpki.Options{})
	w.issuers = append(w.issuers, inter)
	w.bundles = append(w.bundles, string(testpki.Bundle(w.issuers[0], inter)), string(inter.PEM()), "not a certificate")
	// Other certificates of existing issuers: CA 0 renewed, CA 1
	// cross-signed by CA 2. Their CRLs are those of CA 0 and CA 1.
	renewed := w.issuers[0].Reissue(t, nil, testpki.Options{})
	cross := w.issuers[1].Reissue(t, w.issuers[2], testpki.Options{})
	w.issuers = append(w.issuers, renewed, cross)
	w.bundles = append(w.bundles, string(renewed.PEM()), string(cross.PEM()), string(testpki.Bundle(cross, w.issuers[2])))
	w.server = testpki.NewRoot(t, "Server CA", testpki.Options{}).Server(t, "site.example")
	return w
}

func (w *world) state() *store.State {
	w.rev++
	return store.NewState(w.rev, values(w.cas), values(w.sites), values(w.crls))
}

func values[T any](m map[string]T) []T {
	var out []T
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (w *world) pick(n int) int { return w.rng.IntN(n) }

func (w *world) caID() string          { return fmt.Sprintf("ca-%d", w.pick(6)) }
func (w *world) host() string          { return fmt.Sprintf("s%d.example.com", w.pick(10)) }
func (w *world) crlID() string         { return fmt.Sprintf("crl-%d", w.pick(6)) }
func (w *world) chance(p float64) bool { return w.rng.Float64() < p }

// newSite makes a site with random settings; a few cannot be translated.
func (w *world) newSite(host string) *pb.Site {
	set := &pb.ClientCertSettings{
		Mode:         []pb.Mode{pb.Mode_MODE_DISABLED, pb.Mode_MODE_PERMISSIVE, pb.Mode_MODE_ENFORCE, pb.Mode_MODE_ENFORCE}[w.pick(4)],
		HttpRedirect: proto.Bool(w.chance(0.5)),
		Revocation: &pb.Revocation{
			Crl:        []pb.CRLCheck{pb.CRLCheck_CRL_CHECK_LEAF, pb.CRLCheck_CRL_CHECK_CHAIN, pb.CRLCheck_CRL_CHECK_OFF}[w.pick(3)],
			OnStaleCrl: []pb.StaleCRLAction{pb.StaleCRLAction_STALE_CRL_ACTION_DENY, pb.StaleCRLAction_STALE_CRL_ACTION_DENY, pb.StaleCRLAction_STALE_CRL_ACTION_ALLOW}[w.pick(3)],
		},
	}
	if w.chance(0.3) {
		set.Headers = map[string]string{"subject": "x-ssl-subject", "san_email": ""}
	}
	if err := store.NormalizeSettings(set, store.Limits{}); err != nil {
		w.t.Fatal(err)
	}
	if w.chance(0.05) {
		if set.Headers == nil {
			set.Headers = map[string]string{}
		}
		set.Headers["verify"] = "Not A Token" // left out: headers
	}
	s := &pb.Site{Hostname: host, OriginUrl: fmt.Sprintf("http://10.0.0.%d:%d", w.pick(250)+1, 8000+w.pick(3)), Settings: set,
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(w.server.PEM()), PrivateKeyPem: string(w.server.KeyPEM())}}}}
	switch w.pick(20) {
	case 0:
		s.OriginUrl = "ftp://nope" // left out: origin
	case 1:
		s.OriginUrl = "https://origin.example.net"
	case 2:
		s.ServerCertificate = &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
			CertificateChainPath: "/etc/envoy/chain.pem", PrivateKeyPath: "/etc/envoy/key.pem"}}}
	case 3:
		s.ServerCertificate = nil // left out: no server certificate
	}
	for range w.pick(4) {
		if id := w.caID(); !slices.Contains(s.CaIds, id) {
			s.CaIds = append(s.CaIds, id) // may not exist: left out
		}
	}
	slices.Sort(s.CaIds)
	s.Fleets = w.fleets()
	return s
}

// fleets picks the fleets of a site: mostly none (every fleet).
func (w *world) fleets() []string {
	if w.chance(0.5) {
		return nil
	}
	var out []string
	for _, f := range []string{"ap", "eu", "us"} {
		if w.chance(0.4) {
			out = append(out, f)
		}
	}
	return out
}

// newCRL makes a CRL for one of the CA certificates; two CRLs may name
// one issuer.
func (w *world) newCRL(id string) *pb.CRL {
	issuer := w.issuers[w.pick(len(w.issuers))]
	now := time.Now()
	// Whole CRLs most often; scoped and partitioned ones take an issuer's
	// CRLs away from Envoy while they are in force.
	scope := []testpki.CRLScope{{}, {}, {UserCerts: true}, {CACerts: true}, {URIs: []string{"http://crl.example.com/a.crl"}}}[w.pick(5)]
	der := issuer.ScopedCRL(w.t, scope, int64(w.pick(1000)), now.Add(-time.Hour), now.Add(time.Hour))
	return &pb.CRL{Id: id, Der: der, IssuerSha256Fingerprint: pki.Fingerprint(issuer.Cert.Raw)}
}

// change applies one random change and describes it.
func (w *world) change() string {
	switch op := w.pick(13); op {
	case 0, 1, 2:
		h := w.host()
		w.sites[h] = w.newSite(h)
		return "put site " + h
	case 3:
		h := w.host()
		delete(w.sites, h)
		return "delete site " + h
	case 4:
		// Assign or unassign one CA (what CreateClientCA with sites does).
		h := w.host()
		s := w.sites[h]
		if s == nil {
			return "nothing"
		}
		s = proto.Clone(s).(*pb.Site)
		if id := w.caID(); slices.Contains(s.CaIds, id) {
			s.CaIds = slices.DeleteFunc(s.CaIds, func(x string) bool { return x == id })
		} else {
			s.CaIds = append(s.CaIds, id)
			slices.Sort(s.CaIds)
		}
		w.sites[h] = s
		return "assign/unassign a CA of " + h
	case 5:
		// Rewrite a site unchanged: a new message, the same content.
		h := w.host()
		if s := w.sites[h]; s != nil {
			w.sites[h] = proto.Clone(s).(*pb.Site)
		}
		return "rewrite site " + h
	case 6, 7:
		id := w.caID()
		w.cas[id] = &pb.ClientCA{Id: id, Name: id, BundlePem: w.bundles[w.pick(len(w.bundles))]}
		return "put CA " + id
	case 8:
		id := w.caID()
		delete(w.cas, id)
		return "delete CA " + id
	case 9, 10:
		id := w.crlID()
		w.crls[id] = w.newCRL(id)
		return "put CRL " + id
	case 11:
		id := w.crlID()
		delete(w.crls, id)
		return "delete CRL " + id
	case 12:
		h := w.host()
		s := w.sites[h]
		if s == nil {
			return "nothing"
		}
		s = proto.Clone(s).(*pb.Site)
		s.Fleets = w.fleets()
		w.sites[h] = s
		return fmt.Sprintf("move %s to fleets %v", h, s.Fleets)
	}
	return "nothing"
}

// TestIncrementalIsTranslate: after any sequence of changes, a Translator
// that translated every State gives exactly what a fresh one gives (the
// pure Translate): the same resources, site errors and versions. Its
// cache holds exactly the current objects.
func TestIncrementalIsTranslate(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			w := newWorld(t, seed)
			tr := NewTranslator(DefaultOptions())
			var m *model.Model
			for step := range 150 {
				what := w.change()
				st := w.state()
				m = model.Compile(st, m)
				got, err := tr.Translate(m)
				if err != nil {
					t.Fatalf("step %d (%s): %v", step, what, err)
				}
				want, err := Translate(st, DefaultOptions())
				if err != nil {
					t.Fatal(err)
				}
				if diff := sameTranslation(t, got, want); diff != "" {
					t.Fatalf("step %d (%s): incremental differs from Translate: %s", step, what, diff)
				}
				if len(tr.views) != len(got.Fleets)+1 {
					t.Fatalf("step %d (%s): %d fleet views cached for %d fleets", step, what, len(tr.views), len(got.Fleets))
				}
				checkFleets(t, st, got)
				if len(tr.sites) != len(st.Sites()) {
					t.Fatalf("step %d (%s): cache holds %d sites; the State %d", step, what, len(tr.sites), len(st.Sites()))
				}
			}
		})
	}
}

// sameTranslation compares two translations, snapshots included, and
// says how they differ ("" when they do not).
func sameTranslation(t *testing.T, a, b *Resources) string {
	t.Helper()
	if fmt.Sprint(a.SiteErrors) != fmt.Sprint(b.SiteErrors) {
		return fmt.Sprintf("site errors %v, want %v", a.SiteErrors, b.SiteErrors)
	}
	if d := sameFleet(t, &a.FleetResources, &b.FleetResources); d != "" {
		return "every fleet: " + d
	}
	if len(a.Fleets) != len(b.Fleets) {
		return fmt.Sprintf("%d fleets, want %d", len(a.Fleets), len(b.Fleets))
	}
	for f, fa := range a.Fleets {
		fb := b.Fleets[f]
		if fb == nil {
			return "fleet " + f + " is not wanted"
		}
		if d := sameFleet(t, fa, fb); d != "" {
			return "fleet " + f + ": " + d
		}
	}
	return ""
}

// sameFleet compares the resources of one fleet, snapshots included.
func sameFleet(t *testing.T, a, b *FleetResources) string {
	t.Helper()
	if d := sameMessages(a.Listeners, b.Listeners); d != "" {
		return "listeners: " + d
	}
	if d := sameMessages(a.Routes, b.Routes); d != "" {
		return "routes: " + d
	}
	if d := sameMessages(a.Clusters, b.Clusters); d != "" {
		return "clusters: " + d
	}
	if d := sameMessages(a.Secrets, b.Secrets); d != "" {
		return "secrets: " + d
	}
	sa, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for typ := range sa.Resources {
		if sa.Resources[typ].Version != sb.Resources[typ].Version {
			return fmt.Sprintf("type %d version %s, want %s", typ, sa.Resources[typ].Version, sb.Resources[typ].Version)
		}
	}
	if fmt.Sprint(sa.VersionMap) != fmt.Sprint(sb.VersionMap) {
		return "per-resource versions differ"
	}
	// And the versions are those go-control-plane computes, for delta
	// responses among others.
	theirs := &cachev3.Snapshot{Resources: sa.Resources}
	if err := theirs.ConstructVersionMap(); err != nil {
		t.Fatal(err)
	}
	for typeURL, versions := range sa.VersionMap {
		if fmt.Sprint(versions) != fmt.Sprint(theirs.VersionMap[typeURL]) {
			return "per-resource versions are not go-control-plane's for " + typeURL
		}
	}
	// Resources not made by Translate get the same versions.
	fresh, err := (&FleetResources{Listeners: a.Listeners, Routes: a.Routes, Clusters: a.Clusters, Secrets: a.Secrets}).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(fresh.VersionMap) != fmt.Sprint(sa.VersionMap) {
		return "per-resource versions differ from those of the same resources' snapshot"
	}
	return ""
}

func sameMessages[M namedResource](a, b []M) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d resources, want %d", len(a), len(b))
	}
	if !slices.IsSortedFunc(a, func(x, y M) int { return strings.Compare(x.GetName(), y.GetName()) }) {
		return "not sorted by name"
	}
	for i := range a {
		ba, err := proto.MarshalOptions{Deterministic: true}.Marshal(a[i])
		if err != nil {
			return err.Error()
		}
		bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(b[i])
		if err != nil {
			return err.Error()
		}
		if string(ba) != string(bb) {
			return fmt.Sprintf("%s differs (want %s)", a[i].GetName(), b[i].GetName())
		}
	}
	return ""
}

// TestIncrementalRebuildsOnlyTheChangedSite: a change to one site's origin
// rebuilds that site only; everything else, the listeners included, is
// the previous translation's very messages.
func TestIncrementalRebuildsOnlyTheChangedSite(t *testing.T) {
	w := newWorld(t, 7)
	w.cas["ca-0"] = &pb.ClientCA{Id: "ca-0", Name: "ca-0", BundlePem: w.bundles[0]}
	for i := range 5 {
		h := fmt.Sprintf("s%d.example.com", i)
		s := w.newSite(h)
		s.OriginUrl, s.CaIds = "http://10.0.0.1:8080", []string{"ca-0"}
		s.ServerCertificate = &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
			CertificateChainPath: "/c", PrivateKeyPath: "/k"}}}
		s.Settings.Headers = nil
		w.sites[h] = s
	}
	tr := NewTranslator(DefaultOptions())
	m := model.Compile(w.state(), nil)
	before, err := tr.Translate(m)
	if err != nil || len(before.SiteErrors) > 0 {
		t.Fatal(err, before.SiteErrors)
	}
	s := proto.Clone(w.sites["s2.example.com"]).(*pb.Site)
	s.OriginUrl = "http://10.0.0.1:9090"
	w.sites[s.Hostname] = s
	after, err := tr.Translate(model.Compile(w.state(), m))
	if err != nil {
		t.Fatal(err)
	}
	for i := range before.Listeners {
		if before.Listeners[i] != after.Listeners[i] {
			t.Errorf("listener %s was rebuilt", before.Listeners[i].GetName())
		}
	}
	for i := range before.Routes {
		if before.Routes[i] != after.Routes[i] {
			t.Errorf("route %s was rebuilt", before.Routes[i].GetName())
		}
	}
	for i := range before.Secrets {
		if before.Secrets[i] != after.Secrets[i] {
			t.Errorf("secret %s was rebuilt", before.Secrets[i].GetName())
		}
	}
	for i, c := range after.Clusters {
		if changed := c != before.Clusters[i]; changed != (c.GetName() == "origin/s2.example.com") {
			t.Errorf("cluster %s rebuilt: %v", c.GetName(), changed)
		}
	}
}

// TestNoAuthzTimeoutFailsClosed: without a positive ext_authz timeout
// there would be no ext_authz filter; translation refuses instead.
func TestNoAuthzTimeoutFailsClosed(t *testing.T) {
	for _, timeout := range []time.Duration{0, -time.Second} {
		o := DefaultOptions()
		o.AuthzTimeout = timeout
		if _, err := Translate(store.NewState(1, nil, nil, nil), o); err == nil || !strings.Contains(err.Error(), "ext_authz timeout") {
			t.Errorf("timeout %s: err = %v, want one about the ext_authz timeout", timeout, err)
		}
	}
}

// TestHTTPSManagersAreTyped: a chain's connection manager, spliced into
// the template's encoding, is byte for byte what packing it whole gives.
func TestHTTPSManagersAreTyped(t *testing.T) {
	for _, timeout := range []time.Duration{time.Millisecond, 250 * time.Millisecond, 3 * time.Second} {
		f, err := newHTTPFilters(timeout)
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range []string{"a.example", "*.wild.example.com", strings.Repeat("long-label.", 20) + "example"} {
			want, err := typed(connectionManagerConfig("https_"+statName(host), httpsRouteName(host), f.https(), f.logs.requests))
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.httpsManagers.filter("https_"+statName(host), httpsRouteName(host))
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got.GetTypedConfig(), want) {
				t.Errorf("timeout %s, host %s: the spliced connection manager differs from the packed one", timeout, host)
			}
		}
	}
}

// TestSnapshotChecksReferences: resources whose listeners name a missing
// secret, or do not name one, make no snapshot.
func TestSnapshotChecksReferences(t *testing.T) {
	w := newWorld(t, 1)
	w.cas["ca-0"] = &pb.ClientCA{Id: "ca-0", Name: "ca-0", BundlePem: w.bundles[0]}
	s := w.newSite("a.example.com")
	s.OriginUrl, s.CaIds, s.Settings.Headers = "http://10.0.0.1:80", []string{"ca-0"}, nil
	s.Settings.Mode = pb.Mode_MODE_ENFORCE
	w.sites[s.Hostname] = s
	r, err := Translate(w.state(), DefaultOptions())
	if err != nil || len(r.SiteErrors) > 0 || len(r.Secrets) != 2 {
		t.Fatalf("%v %v %d secrets", err, r.SiteErrors, len(r.Secrets))
	}
	if _, err := (&FleetResources{Listeners: r.Listeners, Routes: r.Routes, Clusters: r.Clusters, Secrets: r.Secrets}).Snapshot(); err != nil {
		t.Fatalf("consistent resources: %v", err)
	}
	for name, secrets := range map[string][]*tlsv3.Secret{
		"missing":      r.Secrets[1:],
		"unreferenced": append(slices.Clone(r.Secrets), &tlsv3.Secret{Name: "server/other.example.com"}),
	} {
		if _, err := (&FleetResources{Listeners: r.Listeners, Routes: r.Routes, Clusters: r.Clusters, Secrets: secrets}).Snapshot(); err == nil {
			t.Errorf("%s secret: snapshot made", name)
		}
	}
	if _, err := (&FleetResources{Listeners: r.Listeners, Routes: r.Routes[1:], Clusters: r.Clusters, Secrets: r.Secrets}).Snapshot(); err == nil {
		t.Error("missing route: snapshot made")
	}
}

// checkFleets checks that each fleet's resources hold exactly the
// translated sites placed on it (or on every fleet): their chains, and
// their server secrets, whose private keys must go nowhere else.
func checkFleets(t *testing.T, st *store.State, r *Resources) {
	t.Helper()
	for _, fleet := range []string{"ap", "eu", "us", "other"} {
		fr := r.For(fleet)
		var want []string
		for _, s := range st.Sites() {
			if r.SiteErrors[s.GetHostname()] == nil && (len(s.GetFleets()) == 0 || slices.Contains(s.GetFleets(), fleet)) {
				want = append(want, serverSecretName(s.GetHostname()))
			}
		}
		var got, chains []string
		for _, sec := range fr.Secrets {
			if strings.HasPrefix(sec.GetName(), "server/") {
				got = append(got, sec.GetName())
			}
		}
		for _, l := range fr.Listeners {
			if l.GetName() == HTTPSListener {
				for _, c := range l.GetFilterChains() {
					chains = append(chains, "server/"+strings.TrimPrefix(c.GetName(), "site/"))
				}
			}
		}
		if !slices.Equal(got, want) || !slices.Equal(chains, want) {
			t.Fatalf("fleet %s: server secrets %v, chains %v; want %v", fleet, got, chains, want)
		}
	}
}
