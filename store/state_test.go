package store

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// putEvent is the watch event of a write of msg under key.
func putEvent(t testing.TB, key string, msg proto.Message) Event {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return Event{KV: KV{Key: key, Value: b}}
}

func putSite(t testing.TB, host string, caIDs ...string) Event {
	return putEvent(t, sitePrefix+host, &pb.Site{Hostname: host, CaIds: caIDs})
}

func delSite(host string) Event { return Event{KV: KV{Key: sitePrefix + host}, Delete: true} }

// snapshot is a deep copy of what a State's readers can see, to prove
// that apply left the State it started from untouched.
type snapshot struct {
	cas     map[string]*pb.ClientCA
	sites   map[string]*pb.Site
	crls    map[string]*pb.CRL
	tokens  map[string]*pb.Token
	caSites map[string][]string
}

func takeSnapshot(st *State) snapshot {
	idx := map[string][]string{}
	for id, hosts := range st.caSites {
		idx[id] = slices.Clone(hosts)
	}
	return snapshot{maps.Clone(st.cas), maps.Clone(st.sites), maps.Clone(st.crls), maps.Clone(st.tokens), idx}
}

func (sn snapshot) check(t *testing.T, st *State) {
	t.Helper()
	if !maps.Equal(sn.cas, st.cas) || !maps.Equal(sn.sites, st.sites) || !maps.Equal(sn.crls, st.crls) || !maps.Equal(sn.tokens, st.tokens) {
		t.Fatal("apply modified a map of the State it started from")
	}
	if !maps.EqualFunc(sn.caSites, st.caSites, slices.Equal) {
		t.Fatalf("apply modified the index of the State it started from:\nwas %v\nnow %v", sn.caSites, st.caSites)
	}
}

// checkIndex compares st's index with one built from scratch by NewState.
func checkIndex(t *testing.T, st *State) {
	t.Helper()
	want := NewState(0, nil, slices.Collect(maps.Values(st.sites)), nil).caSites
	if !maps.EqualFunc(want, st.caSites, slices.Equal) {
		t.Fatalf("index after apply:\n got %v\nwant %v", st.caSites, want)
	}
	for id, hosts := range st.caSites {
		if len(hosts) == 0 || !slices.IsSorted(hosts) || len(slices.Compact(slices.Clone(hosts))) != len(hosts) {
			t.Fatalf("SitesOfCA(%s) = %v: want a non-empty, sorted list of distinct hostnames", id, hosts)
		}
	}
}

// applyOK applies events to st, checks the result's index and that st is
// unchanged, and returns the result.
func applyOK(t *testing.T, st *State, events ...Event) *State {
	t.Helper()
	before := takeSnapshot(st)
	n, err := st.apply(st.Rev+1, events)
	if err != nil {
		t.Fatal(err)
	}
	before.check(t, st)
	checkIndex(t, n)
	return n
}

func TestApplyUpdatesIndex(t *testing.T) {
	st := NewState(1, nil, []*pb.Site{
		{Hostname: "a.test", CaIds: []string{"ca1", "ca2"}},
		{Hostname: "c.test", CaIds: []string{"ca1"}},
	}, nil)
	steps := []struct {
		name   string
		events []Event
		want   map[string][]string
	}{
		{"create between existing hosts", []Event{putSite(t, "b.test", "ca1", "ca3")},
			map[string][]string{"ca1": {"a.test", "b.test", "c.test"}, "ca2": {"a.test"}, "ca3": {"b.test"}}},
		{"reassign", []Event{putSite(t, "a.test", "ca3")},
			map[string][]string{"ca1": {"b.test", "c.test"}, "ca3": {"a.test", "b.test"}}},
		{"update without CA change", []Event{putEvent(t, sitePrefix+"c.test", &pb.Site{Hostname: "c.test", OriginUrl: "http://o", CaIds: []string{"ca1"}})},
			map[string][]string{"ca1": {"b.test", "c.test"}, "ca3": {"a.test", "b.test"}}},
		{"delete", []Event{delSite("b.test")},
			map[string][]string{"ca1": {"c.test"}, "ca3": {"a.test"}}},
		{"delete an absent site", []Event{delSite("zz.test")},
			map[string][]string{"ca1": {"c.test"}, "ca3": {"a.test"}}},
		{"duplicate CA ids count once", []Event{putSite(t, "d.test", "ca3", "ca1", "ca3")},
			map[string][]string{"ca1": {"c.test", "d.test"}, "ca3": {"a.test", "d.test"}}},
		{"delete and recreate in one batch", []Event{delSite("a.test"), putSite(t, "a.test", "ca2")},
			map[string][]string{"ca1": {"c.test", "d.test"}, "ca2": {"a.test"}, "ca3": {"d.test"}}},
		{"several changes to one site in a batch", []Event{putSite(t, "c.test", "ca9"), putSite(t, "c.test"), putSite(t, "c.test", "ca2")},
			map[string][]string{"ca1": {"d.test"}, "ca2": {"a.test", "c.test"}, "ca3": {"d.test"}}},
		{"create and delete in one batch", []Event{putSite(t, "e.test", "ca1"), delSite("e.test")},
			map[string][]string{"ca1": {"d.test"}, "ca2": {"a.test", "c.test"}, "ca3": {"d.test"}}},
		{"last sites of CAs go", []Event{delSite("d.test"), putSite(t, "a.test"), putSite(t, "c.test")},
			map[string][]string{}},
	}
	for _, step := range steps {
		st = applyOK(t, st, step.events...)
		if !maps.EqualFunc(st.caSites, step.want, slices.Equal) {
			t.Fatalf("%s: index = %v, want %v", step.name, st.caSites, step.want)
		}
	}
	if got := st.SitesOfCA("ca1"); got != nil {
		t.Fatalf("SitesOfCA of a CA without sites = %v, want nil", got)
	}
}

// TestApplyRandomSequences applies random batches of creates, updates,
// reassignments and deletes of sites (and of other objects) and compares
// the index with one built from scratch after every batch.
func TestApplyRandomSequences(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			st := emptyState()
			model := map[string][]string{} // hostname → CA ids
			for range 200 {
				var events []Event
				for range 1 + rng.IntN(5) {
					events = append(events, randomEvent(t, rng, model))
				}
				st = applyOK(t, st, events...)
				if len(st.sites) != len(model) {
					t.Fatalf("%d sites, want %d", len(st.sites), len(model))
				}
				for host, ids := range model {
					if got := st.Site(host).GetCaIds(); !slices.Equal(got, ids) {
						t.Fatalf("site %s has CAs %v, want %v", host, got, ids)
					}
				}
			}
		})
	}
}

// randomEvent returns a random write or delete, mostly of sites, and
// records its effect on sites in model.
func randomEvent(t *testing.T, rng *rand.Rand, model map[string][]string) Event {
	host := fmt.Sprintf("h%02d.test", rng.IntN(30))
	switch r := rng.IntN(10); {
	case r < 2:
		delete(model, host)
		return delSite(host)
	case r < 8:
		ids := make([]string, rng.IntN(4))
		for i := range ids {
			ids[i] = fmt.Sprintf("ca%d", rng.IntN(8))
		}
		model[host] = ids
		return putSite(t, host, ids...)
	case r < 9:
		id := fmt.Sprintf("ca%d", rng.IntN(8))
		if rng.IntN(2) == 0 {
			return Event{KV: KV{Key: caPrefix + id}, Delete: true}
		}
		return putEvent(t, caPrefix+id, &pb.ClientCA{Id: id})
	default:
		return putEvent(t, tokenPrefix+"t1", &pb.Token{Id: "t1", Name: strings.Repeat("x", rng.IntN(3))})
	}
}

// TestApplySharesUnchangedMaps: a batch copies only the maps it changes.
func TestApplySharesUnchangedMaps(t *testing.T) {
	st := NewState(1, []*pb.ClientCA{{Id: "ca1"}}, []*pb.Site{{Hostname: "a.test", CaIds: []string{"ca1"}}},
		[]*pb.CRL{{Id: "crl1"}})
	same := func(a, b any) bool { return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() }

	n := applyOK(t, st, putEvent(t, sitePrefix+"a.test", &pb.Site{Hostname: "a.test", OriginUrl: "http://o", CaIds: []string{"ca1"}}))
	if same(n.sites, st.sites) {
		t.Error("sites map shared although a site changed")
	}
	if !same(n.cas, st.cas) || !same(n.crls, st.crls) || !same(n.tokens, st.tokens) {
		t.Error("a site update copied the CA, CRL or token map")
	}
	if !same(n.caSites, st.caSites) {
		t.Error("a site update that keeps its CAs copied the index")
	}

	n = applyOK(t, st, putEvent(t, tokenPrefix+"t1", &pb.Token{Id: "t1"}), Event{KV: KV{Key: serialKey, ModRev: 9}})
	if !same(n.sites, st.sites) || !same(n.caSites, st.caSites) || !same(n.cas, st.cas) || same(n.tokens, st.tokens) {
		t.Error("a token write copied a map other than the token map, or did not copy it")
	}
	if n.serialRev != 9 || n.Rev != st.Rev+1 {
		t.Errorf("serialRev = %d, Rev = %d", n.serialRev, n.Rev)
	}

	n = applyOK(t, st, Event{KV: KV{Key: crlPrefix + "nope"}, Delete: true})
	if !same(n.crls, st.crls) {
		t.Error("deleting an absent CRL copied the CRL map")
	}
}

func TestApplyRefusesUndecodableValue(t *testing.T) {
	st := NewState(1, nil, []*pb.Site{{Hostname: "a.test", CaIds: []string{"ca1"}}}, nil)
	before := takeSnapshot(st)
	_, err := st.apply(2, []Event{putSite(t, "b.test", "ca1"), {KV: KV{Key: sitePrefix + "a.test", Value: []byte{0xff}, ModRev: 2}}})
	if err == nil || !strings.Contains(err.Error(), sitePrefix+"a.test") {
		t.Fatalf("err = %v, want a decode error naming the key", err)
	}
	before.check(t, st)
}
