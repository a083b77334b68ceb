package xds

import (
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/store"
)

// SiteStatus is what the data plane made of one site.
type SiteStatus struct {
	// TranslationError is why the site was left out ("" when it was not).
	TranslationError string
	// LastNack is Envoy's last rejection whose message names the site.
	LastNack     string
	LastNackAt   time.Time
	LastNackNode string
	// Fleets are the fleets serving the site with their connected nodes
	// (Server.Fleets), and Revision the store revision served now.
	Fleets   []FleetStatus
	Revision int64
}

// statusBook keeps site statuses for the API.
type statusBook struct {
	mu     sync.Mutex
	state  *store.State // the latest State: its sites are the known ones
	sites  map[string]*SiteStatus
	errors map[string]error
}

func newStatusBook() *statusBook {
	return &statusBook{sites: map[string]*SiteStatus{}, errors: map[string]error{}}
}

// setTranslation records the latest State and which of its sites could
// not be translated; statuses of deleted sites are dropped. It does not
// walk the sites: an update costs the same with any number of them.
func (b *statusBook) setTranslation(st *store.State, errs map[string]error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state = st
	for h := range b.sites {
		if st.Site(h) == nil {
			delete(b.sites, h)
		}
	}
	b.errors = errs
}

// recordNack attributes a rejection to every known site its message
// names (Envoy's messages carry the resource names, which carry the
// hostname); one naming no site is only logged and counted.
func (b *statusBook) recordNack(node, msg string, at time.Time) {
	named := hostsNamed(msg) // outside the lock: linear, but in the peer's text
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == nil {
		return
	}
	for _, host := range named {
		if b.state.Site(host) != nil {
			st := b.entry(host)
			st.LastNack, st.LastNackAt, st.LastNackNode = msg, at, node
		}
	}
}

func (b *statusBook) entry(host string) *SiteStatus {
	st := b.sites[host]
	if st == nil {
		st = &SiteStatus{}
		b.sites[host] = st
	}
	return st
}

func (b *statusBook) get(host string) SiteStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := SiteStatus{}
	if st := b.sites[host]; st != nil {
		out = *st
	}
	if err := b.errors[host]; err != nil {
		out.TranslationError = err.Error()
	}
	return out
}
