package xds

import (
	"strings"
	"sync"
	"time"
)

// SiteStatus is what the data plane made of one site.
type SiteStatus struct {
	// TranslationError is why the site was left out ("" when it was not).
	TranslationError string
	// LastNack is Envoy's last rejection whose message names the site.
	LastNack     string
	LastNackAt   time.Time
	LastNackNode string
}

// statusBook keeps site statuses for the API.
type statusBook struct {
	mu     sync.Mutex
	hosts  map[string]bool // every site of the latest State
	sites  map[string]*SiteStatus
	errors map[string]error
}

func newStatusBook() *statusBook {
	return &statusBook{hosts: map[string]bool{}, sites: map[string]*SiteStatus{}, errors: map[string]error{}}
}

// setTranslation records the sites of a new State and which of them could
// not be translated; statuses of deleted sites are dropped.
func (b *statusBook) setTranslation(hosts []string, errs map[string]error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hosts = map[string]bool{}
	for _, h := range hosts {
		b.hosts[h] = true
	}
	for h := range b.sites {
		if !b.hosts[h] {
			delete(b.sites, h)
		}
	}
	b.errors = errs
}

// recordNack attributes a rejection to every known site its message
// names (Envoy's messages carry the resource names, which carry the
// hostname); one naming no site is only logged and counted.
func (b *statusBook) recordNack(node, msg string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, host := range b.hostsIn(msg) {
		st := b.entry(host)
		st.LastNack, st.LastNackAt, st.LastNackNode = msg, at, node
	}
}

// hostsIn finds the site names a message mentions in a resource name.
func (b *statusBook) hostsIn(msg string) []string {
	var out []string
	for host := range b.hosts {
		for _, name := range []string{serverSecretName(host), clientCASecretName(host), httpsRouteName(host), originClusterName(host), "site/" + host} {
			if strings.Contains(msg, name) {
				out = append(out, host)
				break
			}
		}
	}
	return out
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
