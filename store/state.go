package store

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Key layout. Everything a consumer builds from lives under configPrefix;
// the audit log lives beside it so that audit writes never wake consumers.
const (
	configPrefix = "config/"
	caPrefix     = configPrefix + "ca/"
	sitePrefix   = configPrefix + "site/"
	crlPrefix    = configPrefix + "crl/"
	tokenPrefix  = configPrefix + "token/"
	// serialKey is written by every configuration transaction and compared
	// by the next one, which serialises writers across processes (etcd) the
	// way bbolt's single writer does in one.
	serialKey   = configPrefix + "serial"
	auditPrefix = "audit/"
)

// State is an immutable, revisioned view of the whole configuration. The
// messages it hands out are shared: callers must not modify them (clone with
// proto.Clone first).
type State struct {
	// Rev is the backend revision this State reflects.
	Rev int64

	serialRev int64
	cas       map[string]*pb.ClientCA
	sites     map[string]*pb.Site
	crls      map[string]*pb.CRL
	tokens    map[string]*pb.Token
	caSites   map[string][]string // CA id → sorted hostnames

	// next is closed when a newer State is published.
	next chan struct{}
}

func emptyState() *State {
	return &State{
		cas:     map[string]*pb.ClientCA{},
		sites:   map[string]*pb.Site{},
		crls:    map[string]*pb.CRL{},
		tokens:  map[string]*pb.Token{},
		caSites: map[string][]string{},
		next:    make(chan struct{}),
	}
}

// CA returns the client CA with id, or nil.
func (s *State) CA(id string) *pb.ClientCA { return s.cas[id] }

// Site returns the site with hostname, or nil.
func (s *State) Site(hostname string) *pb.Site { return s.sites[hostname] }

// CRL returns the CRL with id, or nil.
func (s *State) CRL(id string) *pb.CRL { return s.crls[id] }

// Token returns the token with id, or nil.
func (s *State) Token(id string) *pb.Token { return s.tokens[id] }

// CAs returns every client CA, sorted by id.
func (s *State) CAs() []*pb.ClientCA { return sortedValues(s.cas) }

// Sites returns every site, sorted by hostname.
func (s *State) Sites() []*pb.Site { return sortedValues(s.sites) }

// CRLs returns every CRL, sorted by id.
func (s *State) CRLs() []*pb.CRL { return sortedValues(s.crls) }

// Tokens returns every token, sorted by id.
func (s *State) Tokens() []*pb.Token { return sortedValues(s.tokens) }

// SitesOfCA returns the sorted hostnames of the sites a CA is assigned to.
func (s *State) SitesOfCA(id string) []string { return s.caSites[id] }

func sortedValues[T any](m map[string]T) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]T, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// apply returns a new State with the events of one transaction applied.
// The maps are copied (the old State stays valid for its readers); the
// messages, which are never modified, are shared.
func (s *State) apply(rev int64, events []Event) (*State, error) {
	n := &State{
		Rev:       rev,
		serialRev: s.serialRev,
		cas:       cloneMap(s.cas),
		sites:     cloneMap(s.sites),
		crls:      cloneMap(s.crls),
		tokens:    cloneMap(s.tokens),
		next:      make(chan struct{}),
	}
	for _, ev := range events {
		if err := n.set(ev.KV, ev.Delete); err != nil {
			return nil, err
		}
	}
	n.index()
	return n, nil
}

func cloneMap[T any](m map[string]T) map[string]T {
	c := make(map[string]T, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// with returns a scratch copy of s that also holds ca, for validating a
// write that creates ca and refers to it in the same transaction.
func (s *State) with(ca *pb.ClientCA) *State {
	n := *s
	n.cas = cloneMap(s.cas)
	n.cas[ca.GetId()] = ca
	return &n
}

// set applies one key to the State's maps.
func (s *State) set(kv KV, del bool) error {
	if kv.Key == serialKey {
		s.serialRev = kv.ModRev
		return nil
	}
	switch {
	case strings.HasPrefix(kv.Key, caPrefix):
		return setMsg(s.cas, kv, del, caPrefix, func() *pb.ClientCA { return new(pb.ClientCA) })
	case strings.HasPrefix(kv.Key, sitePrefix):
		return setMsg(s.sites, kv, del, sitePrefix, func() *pb.Site { return new(pb.Site) })
	case strings.HasPrefix(kv.Key, crlPrefix):
		return setMsg(s.crls, kv, del, crlPrefix, func() *pb.CRL { return new(pb.CRL) })
	case strings.HasPrefix(kv.Key, tokenPrefix):
		return setMsg(s.tokens, kv, del, tokenPrefix, func() *pb.Token { return new(pb.Token) })
	}
	return nil // a key this version does not know: ignore, a newer writer may use it
}

func setMsg[T proto.Message](m map[string]T, kv KV, del bool, prefix string, mk func() T) error {
	id := strings.TrimPrefix(kv.Key, prefix)
	if del {
		delete(m, id)
		return nil
	}
	msg := mk()
	if err := proto.Unmarshal(kv.Value, msg); err != nil {
		return fmt.Errorf("store: decode %s (rev %d): %w", kv.Key, kv.ModRev, err)
	}
	m[id] = msg
	return nil
}

// index rebuilds the derived lookups.
func (s *State) index() {
	s.caSites = map[string][]string{}
	for host, site := range s.sites {
		for _, id := range site.GetCaIds() {
			s.caSites[id] = append(s.caSites[id], host)
		}
	}
	for _, hosts := range s.caSites {
		slices.Sort(hosts)
	}
}

// NewState builds a State from objects directly, for tests and tools that
// need a State without a backend (the xDS golden fixtures). The objects
// are used as given: nothing is validated.
func NewState(rev int64, cas []*pb.ClientCA, sites []*pb.Site, crls []*pb.CRL) *State {
	st := emptyState()
	st.Rev = rev
	for _, ca := range cas {
		st.cas[ca.GetId()] = ca
	}
	for _, s := range sites {
		st.sites[s.GetHostname()] = s
	}
	for _, c := range crls {
		st.crls[c.GetId()] = c
	}
	st.index()
	return st
}
