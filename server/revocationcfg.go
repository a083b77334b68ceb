package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/crlfetch"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/ocspcache"
	"github.com/mtlsgate/mtlsgate/outbound"
	"github.com/mtlsgate/mtlsgate/store"
)

// RevocationConfig is how mtlsgate keeps revocation data current by
// itself (docs/revocation.md).
type RevocationConfig struct {
	// Fetch is CRL fetching from distribution points.
	Fetch CRLFetchConfig `yaml:"fetch"`
	// OCSP is OCSP checking by ext_authz.
	OCSP OCSPConfig `yaml:"ocsp"`
	// Outbound holds every request mtlsgate sends on its own to a policy.
	Outbound OutboundConfig `yaml:"outbound"`
}

// CRLFetchConfig shapes the CRL fetcher (crlfetch.Options).
type CRLFetchConfig struct {
	// Enabled fetches the CRLs named by the uploaded CA certificates'
	// cRLDistributionPoints (default true).
	Enabled bool `yaml:"enabled"`
	// RefreshAt is when a CRL is fetched again, as a fraction of its
	// lifetime (default 0.5).
	RefreshAt   float64       `yaml:"refresh_at"`
	MinInterval time.Duration `yaml:"min_interval"`
	MaxInterval time.Duration `yaml:"max_interval"`
	RetryMin    time.Duration `yaml:"retry_min"`
	RetryMax    time.Duration `yaml:"retry_max"`
	Concurrency int           `yaml:"concurrency"`
}

// OutboundConfig is the policy of outbound requests (outbound.Policy).
type OutboundConfig struct {
	// Timeout bounds one request (default 15 s).
	Timeout time.Duration `yaml:"timeout"`
	// Proxy is an http:// or https:// proxy URL for every request.
	Proxy string `yaml:"proxy"`
	// AllowHosts, when set, are the only hosts requests may go to.
	AllowHosts []string `yaml:"allow_hosts"`
	// AllowNets are ranges allowed despite the default deny list.
	AllowNets []string `yaml:"allow_nets"`
	// DenyNets are more ranges denied; they win over AllowNets.
	DenyNets []string `yaml:"deny_nets"`
}

func defaultRevocationConfig() RevocationConfig {
	return RevocationConfig{
		Fetch: CRLFetchConfig{Enabled: true, RefreshAt: 0.5, MinInterval: time.Minute, MaxInterval: 24 * time.Hour,
			RetryMin: 30 * time.Second, RetryMax: 30 * time.Minute, Concurrency: 4},
		OCSP:     defaultOCSPConfig(),
		Outbound: OutboundConfig{Timeout: 15 * time.Second},
	}
}

// validate checks the section; authzTimeout is xds.authz_timeout.
func (r RevocationConfig) validate(authzTimeout time.Duration) error {
	if err := r.OCSP.validate(authzTimeout); err != nil {
		return err
	}
	f := r.Fetch
	if !(f.RefreshAt > 0 && f.RefreshAt < 1) { // NaN too
		return fmt.Errorf("config: revocation.fetch.refresh_at: %v is not between 0 and 1", f.RefreshAt)
	}
	if f.MinInterval <= 0 || f.MaxInterval < f.MinInterval {
		return fmt.Errorf("config: revocation.fetch.min_interval and max_interval: want 0 < %s <= %s", f.MinInterval, f.MaxInterval)
	}
	if f.RetryMin <= 0 || f.RetryMax < f.RetryMin {
		return fmt.Errorf("config: revocation.fetch.retry_min and retry_max: want 0 < %s <= %s", f.RetryMin, f.RetryMax)
	}
	if f.Concurrency < 1 || f.Concurrency > 64 {
		return fmt.Errorf("config: revocation.fetch.concurrency: %d is not between 1 and 64", f.Concurrency)
	}
	if t := r.Outbound.Timeout; t <= 0 || t > 5*time.Minute {
		return fmt.Errorf("config: revocation.outbound.timeout: %s is not between 0 and 5m", t)
	}
	_, _, err := r.Outbound.policy()
	return err
}

// policy parses the outbound section.
func (o OutboundConfig) policy() (outbound.Policy, *url.URL, error) {
	p := outbound.Policy{AllowHosts: o.AllowHosts}
	for _, l := range []struct {
		name string
		in   []string
		out  *[]netip.Prefix
	}{{"allow_nets", o.AllowNets, &p.AllowNets}, {"deny_nets", o.DenyNets, &p.DenyNets}} {
		for _, s := range l.in {
			n, err := netip.ParsePrefix(s)
			if err != nil {
				return p, nil, fmt.Errorf("config: revocation.outbound.%s: %q is not an address range like 10.0.0.0/8", l.name, s)
			}
			*l.out = append(*l.out, outbound.UnmapPrefix(n))
		}
	}
	if err := p.Validate(); err != nil {
		return p, nil, fmt.Errorf("config: revocation.outbound.allow_hosts: %w", err)
	}
	if o.Proxy == "" {
		return p, nil, nil
	}
	u, err := url.Parse(o.Proxy)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return p, nil, fmt.Errorf("config: revocation.outbound.proxy: %q is not an http:// or https:// URL", o.Proxy)
	}
	return p, u, nil
}

// revocation is the server's CRL fetching (the fetcher, its HTTP client
// and the learner of distribution points; nil when off) and its OCSP
// cache and client (nil when off).
type revocation struct {
	fetcher    *crlfetch.Fetcher
	client     *outbound.Client
	learner    *crlfetch.Learner
	ocsp       *ocspcache.Cache
	ocspClient *outbound.Client
}

// newRevocation builds the CRL fetching and the OCSP cache of the config.
func newRevocation(c Config, st *store.Store, log *slog.Logger, reg prometheus.Registerer) (r revocation, err error) {
	if r.ocsp, r.ocspClient, err = newOCSP(c, log, reg); err != nil || !c.Revocation.Fetch.Enabled {
		return r, err
	}
	p, proxy, err := c.Revocation.Outbound.policy()
	if err != nil {
		return r, err
	}
	if r.client, err = outbound.New(p, outbound.Options{Timeout: c.Revocation.Outbound.Timeout, Proxy: proxy, UserAgent: "mtlsgate-crl-fetcher"}); err != nil {
		return r, err
	}
	f := c.Revocation.Fetch
	r.fetcher = crlfetch.New(crlfetch.Options{Client: r.client, Store: st, MaxBytes: int64(c.Limits.MaxCRLBytes),
		RefreshAt: f.RefreshAt, MinInterval: f.MinInterval, MaxInterval: f.MaxInterval, RetryMin: f.RetryMin, RetryMax: f.RetryMax,
		Concurrency: f.Concurrency, Log: log.With("part", "crl-fetcher"), Metrics: crlfetch.NewMetrics(reg), Statuses: st})
	r.learner = crlfetch.NewLearner(st, log.With("part", "crl-learner"))
	return r, nil
}

// configure gives ext_authz the learner and the OCSP cache.
func (r revocation) configure(o *authz.Options, c OCSPConfig) {
	if r.learner != nil {
		o.LearnDistributionPoints = r.learner.Offer
	}
	if r.ocsp != nil { // never a nil *Cache in the interface
		o.OCSP, o.OCSPBudget = r.ocsp, c.Budget
	}
}

// start runs, on workers until ctx ends, the OCSP cache's refreshes
// (every replica: each has its own cache), the learner (every replica
// records what its Checks learn) and the fetcher (one replica, elected),
// and returns the fetcher's model consumer (none when fetching is off).
func (r revocation) start(ctx context.Context, st *store.Store, first *model.Model, workers *sync.WaitGroup) []func(*model.Model) {
	if r.ocsp != nil {
		workers.Go(func() { r.ocsp.Run(ctx) })
	}
	if r.fetcher == nil {
		return nil
	}
	r.fetcher.Load(first)
	workers.Go(func() { st.Lead(ctx, "crl-fetch", r.fetcher.Run) })
	workers.Go(func() { r.learner.Run(ctx) })
	return []func(*model.Model){r.fetcher.Load}
}

// close stops the OCSP requests (Run has when it ran) and releases the
// HTTP clients' idle connections, once the workers have ended.
func (r revocation) close() {
	if r.ocsp != nil {
		r.ocsp.Close()
		r.ocspClient.Close()
	}
	if r.client != nil {
		r.client.Close()
	}
}
