package store

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// benchSites, benchCAs and benchCAsPerSite mirror the control-plane
// benchmark's seeding (mtlsgate-bench controlplane): 10,000 sites, each
// with 5 consecutive CAs of a pool of 1,000.
const (
	benchSites      = 10_000
	benchCAs        = 1_000
	benchCAsPerSite = 5
)

// benchState returns a State holding benchSites sites and benchCAs CAs.
func benchState() *State {
	cas := make([]*pb.ClientCA, benchCAs)
	for i := range cas {
		cas[i] = &pb.ClientCA{Id: benchCAID(i), Name: benchCAID(i)}
	}
	sites := make([]*pb.Site, benchSites)
	for i := range sites {
		sites[i] = benchSite(i, 0)
	}
	return NewState(1, cas, sites, nil)
}

func benchCAID(i int) string { return fmt.Sprintf("ca%04d", i%benchCAs) }

// benchSite is site i with its CAs shifted by shift places in the pool.
func benchSite(i, shift int) *pb.Site {
	ids := make([]string, benchCAsPerSite)
	for k := range ids {
		ids[k] = benchCAID(i*benchCAsPerSite + k + shift)
	}
	return &pb.Site{
		Hostname:  fmt.Sprintf("site%05d.bench.test", i),
		OriginUrl: "http://10.0.0.1:8080",
		CaIds:     ids,
		Settings:  &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE},
	}
}

// siteEvents is the watch batch of a write that stores site: the site's
// key and the serial key every configuration transaction writes.
func siteEvents(tb testing.TB, rev int64, site *pb.Site) []Event {
	tb.Helper()
	b, err := proto.Marshal(site)
	if err != nil {
		tb.Fatal(err)
	}
	return []Event{
		{KV: KV{Key: sitePrefix + site.GetHostname(), Value: b, ModRev: rev}},
		{KV: KV{Key: serialKey, Value: []byte("t"), ModRev: rev}},
	}
}

// BenchmarkApplySiteUpdate10k applies one site update (the site moves to
// other CAs, so the CA → sites index changes) to a State of 10,000 sites:
// the State work of one API write at that size.
func BenchmarkApplySiteUpdate10k(b *testing.B) {
	st := benchState()
	batches := make([][]Event, 64)
	for i := range batches {
		batches[i] = siteEvents(b, 2, benchSite(i*151%benchSites, 1+i%3))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := st.apply(2, batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
}
