package store

import (
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
)

// Key layout. Everything a consumer builds from lives under configPrefix;
// the audit log lives beside it so that audit writes never wake consumers.
const (
	configPrefix = "config/"
	caPrefix     = configPrefix + "ca/"
	sitePrefix   = configPrefix + "site/"
	crlPrefix    = configPrefix + "crl/"
	tokenPrefix  = configPrefix + "token/"
	nodePrefix   = configPrefix + "node/"
	// crlSourcePrefix holds the CRL distribution points learned from
	// client certificates (LearnCRLSource).
	crlSourcePrefix = configPrefix + "crlsource/"
	// internalCAKey holds the internal CA (nodes.go).
	internalCAKey = configPrefix + "internal-ca"
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
	// nodes holds node certificates by serial.
	nodes      map[string]*pb.NodeCertificate
	crlSources map[string]*pb.CRLSource
	internalCA *pb.InternalCA
	// caSites maps a CA id to the sorted hostnames of its sites. apply
	// replaces a slice that changes rather than editing it: readers of
	// older States may hold it.
	caSites map[string][]string
	// crlSlots maps a CRL slot (issuer, scope, partition) to its CRLs, and
	// crlIssuers an issuer identity to the CRLs in force of all its slots,
	// by id; both rebuilt whole when a batch changes a CRL, shared otherwise.
	crlSlots   map[crlSlot]*slotCRLs
	crlIssuers map[pki.IssuerKey][]*pb.CRL
	deny       *denySet // the denylist (deny.go); nil when empty
	ext        extState // identities, account, issuing CA, webhooks

	// next is closed when a newer State is published.
	next chan struct{}
}

func emptyState() *State {
	return &State{
		cas:     map[string]*pb.ClientCA{},
		sites:   map[string]*pb.Site{},
		crls:    map[string]*pb.CRL{},
		tokens:  map[string]*pb.Token{},
		nodes:   map[string]*pb.NodeCertificate{},
		caSites: map[string][]string{},
		// crlSources starts nil: own makes it on the first learned source.
		next: make(chan struct{}),
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

// CRLSources returns the CRL distribution points learned from client
// certificates, sorted by id.
func (s *State) CRLSources() []*pb.CRLSource { return sortedValues(s.crlSources) }

// Tokens returns every token, sorted by id.
func (s *State) Tokens() []*pb.Token { return sortedValues(s.tokens) }

// SitesOfCA returns the sorted hostnames of the sites a CA is assigned to.
// The slice is shared: callers must not modify it.
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
// The old State stays valid for its readers: a map is copied only when an
// event of the batch changes it, the others are shared, and so are the
// messages (never modified) and the caSites slices (replaced, never
// edited). The work is proportional to the change plus one copy of each
// map the batch touches (see BenchmarkApplySiteUpdate10k).
func (s *State) apply(rev int64, events []Event) (*State, error) {
	st, _, err := s.applyWith(rev, events, nil)
	return st, err
}

// applyWith is apply with the keyring that opens the secret fields of the
// records (nil: none may be sealed). It also returns the keys of the
// records that hold a plaintext secret, written before sealing existed.
func (s *State) applyWith(rev int64, events []Event, ring *seal.Keyring) (*State, []string, error) {
	b := &builder{ring: ring, st: &State{
		Rev:        rev,
		serialRev:  s.serialRev,
		cas:        s.cas,
		sites:      s.sites,
		crls:       s.crls,
		tokens:     s.tokens,
		nodes:      s.nodes,
		crlSources: s.crlSources,
		internalCA: s.internalCA,
		caSites:    s.caSites,
		crlSlots:   s.crlSlots,
		crlIssuers: s.crlIssuers,
		deny:       s.deny,
		ext:        s.ext,
		next:       make(chan struct{}),
	}}
	for _, ev := range events {
		if err := b.set(ev.KV, ev.Delete); err != nil {
			return nil, nil, err
		}
	}
	b.reindex()
	b.finishDeny()
	if b.owned.crls {
		completeLegacyCRLs(b.st, b.freshCRLs)
		b.st.indexCRLs()
	}
	return b.st, b.plain, nil
}

// builder applies keys to a State under construction. Maps the State
// shares with its predecessor are cloned on their first change (owned
// records which are already private); changed sites are remembered for
// updating the index.
type builder struct {
	st      *State
	ring    *seal.Keyring
	plain   []string // keys of records holding a plaintext secret
	owned   struct{ cas, sites, crls, tokens, nodes, crlSources bool }
	ownDeny bool // st.deny is the batch's own copy
	oext    extOwned
	// oldSites maps each hostname the batch wrote or deleted to the site it
	// had before the batch (nil when it had none).
	oldSites map[string]*pb.Site
	// freshCRLs are the CRL messages the batch decoded: private until the
	// State is published, so that completeLegacyCRLs may complete them.
	freshCRLs []*pb.CRL
}

// set applies one key to the State's maps.
func (b *builder) set(kv KV, del bool) error {
	st := b.st
	if kv.Key == serialKey {
		st.serialRev = kv.ModRev
		return nil
	}
	switch {
	case strings.HasPrefix(kv.Key, caPrefix):
		return setMsg(b, &st.cas, &b.owned.cas, kv, del, caPrefix, func() *pb.ClientCA { return new(pb.ClientCA) })
	case strings.HasPrefix(kv.Key, sitePrefix):
		b.noteSite(strings.TrimPrefix(kv.Key, sitePrefix))
		return setMsg(b, &st.sites, &b.owned.sites, kv, del, sitePrefix, func() *pb.Site { return new(pb.Site) })
	case strings.HasPrefix(kv.Key, crlPrefix):
		return setMsg(b, &st.crls, &b.owned.crls, kv, del, crlPrefix, func() *pb.CRL {
			c := new(pb.CRL)
			b.freshCRLs = append(b.freshCRLs, c)
			return c
		})
	case strings.HasPrefix(kv.Key, tokenPrefix):
		return setMsg(b, &st.tokens, &b.owned.tokens, kv, del, tokenPrefix, func() *pb.Token { return new(pb.Token) })
	case strings.HasPrefix(kv.Key, nodePrefix):
		return setMsg(b, &st.nodes, &b.owned.nodes, kv, del, nodePrefix, func() *pb.NodeCertificate { return new(pb.NodeCertificate) })
	case strings.HasPrefix(kv.Key, crlSourcePrefix):
		return setMsg(b, &st.crlSources, &b.owned.crlSources, kv, del, crlSourcePrefix, func() *pb.CRLSource { return new(pb.CRLSource) })
	case strings.HasPrefix(kv.Key, denyPrefix):
		return b.setDeny(kv, del)
	case kv.Key == internalCAKey:
		return b.setInternalCA(kv, del)
	}
	return b.setExt(kv, del)
}

// noteSite remembers host's site as it was before the batch, the first
// time the batch changes it.
func (b *builder) noteSite(host string) {
	if _, seen := b.oldSites[host]; seen {
		return
	}
	if b.oldSites == nil {
		b.oldSites = map[string]*pb.Site{}
	}
	b.oldSites[host] = b.st.sites[host]
}

// setMsg applies one key to *m, first replacing *m with a private copy
// unless *owned says it is one already.
func setMsg[T proto.Message](b *builder, m *map[string]T, owned *bool, kv KV, del bool, prefix string, mk func() T) error {
	id := strings.TrimPrefix(kv.Key, prefix)
	if del {
		if _, ok := (*m)[id]; ok {
			own(m, owned)
			delete(*m, id)
		}
		return nil
	}
	msg := mk()
	keyIDs, err := decodeRecord(b.ring, kv, msg)
	if err != nil {
		return err
	}
	if slices.Contains(keyIDs, "") {
		b.plain = append(b.plain, kv.Key)
	}
	own(m, owned)
	(*m)[id] = msg
	return nil
}

// own replaces *m with a copy the builder may modify, once.
func own[T any](m *map[string]T, owned *bool) {
	if *owned {
		return
	}
	*m = maps.Clone(*m)
	if *m == nil {
		*m = map[string]T{}
	}
	*owned = true
}

// reindex updates caSites for the sites the batch changed: each CA that
// gained or lost one of them gets a new sorted slice, merged from its old
// one; the map is copied once, and only if a CA's list changed.
func (b *builder) reindex() {
	if len(b.oldSites) == 0 {
		return
	}
	changes := map[string]*hostChange{}
	change := func(id string) *hostChange {
		c := changes[id]
		if c == nil {
			c = &hostChange{}
			changes[id] = c
		}
		return c
	}
	for host, old := range b.oldSites {
		before, after := caIDSet(old), caIDSet(b.st.sites[host])
		for _, id := range before {
			if _, found := slices.BinarySearch(after, id); !found {
				c := change(id)
				c.lost = append(c.lost, host)
			}
		}
		for _, id := range after {
			if _, found := slices.BinarySearch(before, id); !found {
				c := change(id)
				c.gained = append(c.gained, host)
			}
		}
	}
	if len(changes) == 0 {
		return
	}
	idx := maps.Clone(b.st.caSites)
	if idx == nil {
		idx = map[string][]string{}
	}
	for id, c := range changes {
		slices.Sort(c.lost)
		slices.Sort(c.gained)
		if hosts := editSorted(idx[id], c.lost, c.gained); len(hosts) > 0 {
			idx[id] = hosts
		} else {
			delete(idx, id)
		}
	}
	b.st.caSites = idx
}

// hostChange is how one CA's site list changes in a batch.
type hostChange struct{ lost, gained []string }

// caIDSet returns the distinct CA ids of site (nil for a nil site), sorted.
func caIDSet(site *pb.Site) []string {
	ids := slices.Clone(site.GetCaIds())
	slices.Sort(ids)
	return slices.Compact(ids)
}

// editSorted returns a new sorted slice holding hosts (sorted, distinct)
// without remove and with add (both sorted). hosts is not modified: a
// published State may hold it.
func editSorted(hosts, remove, add []string) []string {
	out := make([]string, 0, len(hosts)+len(add))
	for _, h := range hosts {
		for len(remove) > 0 && remove[0] < h {
			remove = remove[1:]
		}
		if len(remove) > 0 && remove[0] == h {
			continue
		}
		for len(add) > 0 && add[0] <= h {
			if add[0] < h {
				out = append(out, add[0])
			}
			add = add[1:]
		}
		out = append(out, h)
	}
	return append(out, add...)
}

// index builds the derived lookups from scratch (apply updates them
// incrementally instead).
func (s *State) index() {
	s.caSites = map[string][]string{}
	for host, site := range s.sites {
		for _, id := range caIDSet(site) {
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
	var fresh []*pb.CRL
	for _, c := range crls {
		if CRLIssuerKey(c).IsZero() || c.GetScope() == pb.CRLScope_CRL_SCOPE_UNSPECIFIED {
			c = proto.Clone(c).(*pb.CRL) // completed below; the caller's stays as given
			fresh = append(fresh, c)
		}
		st.crls[c.GetId()] = c
	}
	st.index()
	completeLegacyCRLs(st, fresh)
	st.indexCRLs()
	return st
}
