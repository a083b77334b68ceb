package xds_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

// benchCAs and benchSitesPerCA mirror the harness (docs/performance.md):
// a pool of client CAs, five assigned to each site.
const (
	benchCAs        = 1000
	benchCAsPerSite = 5
)

var benchStates = struct {
	sync.Mutex
	m map[int]*store.State
}{m: map[int]*store.State{}}

// benchState is a State of n sites shaped like the harness's: five client
// CAs per site from a pool of 1,000, four in five enforce, one permissive,
// an inline server certificate each, settings normalised. It is made once
// per size.
func benchState(b *testing.B, n int) *store.State {
	b.Helper()
	benchStates.Lock()
	defer benchStates.Unlock()
	if st := benchStates.m[n]; st != nil {
		return st
	}
	cas := make([]*pb.ClientCA, benchCAs)
	for i := range cas {
		root := testpki.NewRoot(b, fmt.Sprintf("Bench Client CA %04d", i), testpki.Options{})
		cas[i] = &pb.ClientCA{Id: fmt.Sprintf("ca%04d", i), Name: fmt.Sprintf("client-ca-%04d", i), BundlePem: string(root.PEM())}
	}
	srvCA := testpki.NewRoot(b, "Bench Server CA", testpki.Options{})
	sites := make([]*pb.Site, n)
	for i := range sites {
		host := fmt.Sprintf("s%05d.bench.test", i)
		srv := srvCA.Server(b, host)
		var ids []string
		for k := range benchCAsPerSite {
			ids = append(ids, cas[(i*benchCAsPerSite+k)%benchCAs].GetId())
		}
		slices.Sort(ids)
		mode := pb.Mode_MODE_ENFORCE
		if i%5 == 4 {
			mode = pb.Mode_MODE_PERMISSIVE
		}
		set := &pb.ClientCertSettings{Mode: mode}
		if err := store.NormalizeSettings(set, store.DefaultLimits()); err != nil {
			b.Fatal(err)
		}
		sites[i] = &pb.Site{
			Hostname: host, OriginUrl: fmt.Sprintf("http://10.0.%d.%d:8080", i>>8&255, i&255), CaIds: ids, Settings: set,
			ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
				CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM())}}},
		}
	}
	st := store.NewState(1, cas, sites, nil)
	benchStates.m[n] = st
	return st
}

// withOrigin returns st with one site's origin port changed.
func withOrigin(st *store.State, host string, port int) *store.State {
	var sites []*pb.Site
	for _, s := range st.Sites() {
		if s.GetHostname() == host {
			s = proto.Clone(s).(*pb.Site)
			s.OriginUrl = fmt.Sprintf("http://10.9.9.9:%d", port)
		}
		sites = append(sites, s)
	}
	return store.NewState(st.Rev+1, st.CAs(), sites, st.CRLs())
}

// onFleets returns st with its sites spread over four fleets: one site
// in five on every fleet, the others on one fleet each.
func onFleets(st *store.State) *store.State {
	var sites []*pb.Site
	for i, s := range st.Sites() {
		if i%5 != 0 {
			s = proto.Clone(s).(*pb.Site)
			s.Fleets = []string{fmt.Sprintf("fleet-%d", i%4)}
		}
		sites = append(sites, s)
	}
	return store.NewState(st.Rev+1, st.CAs(), sites, st.CRLs())
}

// BenchmarkTranslate measures a full translation and its snapshots from
// nothing, as after a restart (cold: a new Translator each time), and the
// translation and snapshots of a State where one site's origin changed
// (one-site-change: a Translator that translated the previous State);
// with every site on every fleet, and with sites spread over four fleets
// (fleets=4: five assemblies, one per fleet and one for the others).
func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{1000} {
		for _, fleets := range []bool{false, true} {
			name := fmt.Sprintf("sites=%d", n)
			if fleets {
				name += "/fleets=4"
			}
			state := func(b *testing.B) *store.State {
				if fleets {
					return onFleets(benchState(b, n))
				}
				return benchState(b, n)
			}
			b.Run("cold/"+name, func(b *testing.B) {
				st := state(b)
				b.ReportAllocs()
				for b.Loop() {
					translateSnapshot(b, xds.NewTranslator(xds.DefaultOptions()), nil, st)
				}
			})
			b.Run("one-site-change/"+name, func(b *testing.B) {
				st := state(b)
				host := st.Sites()[n/2].GetHostname()
				states := [2]*store.State{withOrigin(st, host, 8081), withOrigin(st, host, 8082)}
				tr := xds.NewTranslator(xds.DefaultOptions())
				m := translateSnapshot(b, tr, nil, st)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					m = translateSnapshot(b, tr, m, states[i%2])
					i++
				}
			})
		}
	}
}

// translateSnapshot compiles st's model from prev, translates it and
// makes its snapshots; it returns the model.
func translateSnapshot(b *testing.B, tr *xds.Translator, prev *model.Model, st *store.State) *model.Model {
	m := model.Compile(st, prev)
	r, err := tr.Translate(m)
	if err != nil {
		b.Fatal(err)
	}
	if len(r.SiteErrors) > 0 {
		b.Fatalf("sites left out: %v", r.SiteErrors)
	}
	if _, err := r.Snapshot(); err != nil {
		b.Fatal(err)
	}
	for _, fr := range r.Fleets {
		if _, err := fr.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
	return m
}
