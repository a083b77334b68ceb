package server

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtlsgate/mtlsgate/ocspcache"
	"github.com/mtlsgate/mtlsgate/outbound"
)

// OCSPConfig shapes OCSP checking by ext_authz (ocspcache.Options). Sites
// choose whether to check OCSP (revocation.ocsp in their settings); this
// is how every replica asks and caches.
type OCSPConfig struct {
	// Enabled lets sites check OCSP (default true). Off, a site that
	// checks OCSP gets no usable answer (ocsp_unavailable).
	Enabled bool `yaml:"enabled"`
	// Budget is the longest a Check waits for answers not cached (default
	// 100 ms, at most half of xds.authz_timeout).
	Budget time.Duration `yaml:"budget"`
	// Timeout bounds one request to a responder (default 5 s; at most
	// revocation.outbound.timeout applies too).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAge bounds how long an answer is used (default 24 h).
	MaxAge time.Duration `yaml:"max_age"`
	// RefreshAt is when an answer in use is asked for again, as a
	// fraction of its remaining life when fetched (default 0.5).
	RefreshAt float64 `yaml:"refresh_at"`
	// MinRefresh is the least time from an answer to the next request
	// about its certificate (default 1 min).
	MinRefresh time.Duration `yaml:"min_refresh"`
	// RetryMin and RetryMax bound the backoff after a failed request
	// (defaults 5 s and 5 min).
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// Idle: answers not looked up for this long are not refreshed.
	Idle time.Duration `yaml:"idle"`
	// MaxEntries bounds the certificates cached (default 100,000).
	MaxEntries int `yaml:"max_entries"`
	// Concurrency is how many refreshes run at once (default 8).
	Concurrency int `yaml:"concurrency"`
}

func defaultOCSPConfig() OCSPConfig {
	return OCSPConfig{Enabled: true, Budget: 100 * time.Millisecond, Timeout: 5 * time.Second, MaxAge: 24 * time.Hour,
		RefreshAt: 0.5, MinRefresh: time.Minute, RetryMin: 5 * time.Second, RetryMax: 5 * time.Minute,
		Idle: time.Hour, MaxEntries: 100_000, Concurrency: 8}
}

// validate checks the section; authzTimeout is Envoy's ext_authz timeout,
// which the budget must stay well inside.
func (o OCSPConfig) validate(authzTimeout time.Duration) error {
	if o.Budget <= 0 || o.Budget > authzTimeout/2 {
		return fmt.Errorf("config: revocation.ocsp.budget: %s is not between 0 and half of xds.authz_timeout (%s)", o.Budget, authzTimeout)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", o.Timeout}, {"max_age", o.MaxAge}, {"min_refresh", o.MinRefresh}, {"idle", o.Idle}} {
		if d.v <= 0 {
			return fmt.Errorf("config: revocation.ocsp.%s: %s must be positive", d.name, d.v)
		}
	}
	if !(o.RefreshAt > 0 && o.RefreshAt < 1) { // NaN too
		return fmt.Errorf("config: revocation.ocsp.refresh_at: %v is not between 0 and 1", o.RefreshAt)
	}
	if o.RetryMin <= 0 || o.RetryMax < o.RetryMin {
		return fmt.Errorf("config: revocation.ocsp.retry_min and retry_max: want 0 < %s <= %s", o.RetryMin, o.RetryMax)
	}
	if o.MaxEntries < 1 || o.MaxEntries > 10_000_000 {
		return fmt.Errorf("config: revocation.ocsp.max_entries: %d is not between 1 and 10000000", o.MaxEntries)
	}
	if o.Concurrency < 1 || o.Concurrency > 256 {
		return fmt.Errorf("config: revocation.ocsp.concurrency: %d is not between 1 and 256", o.Concurrency)
	}
	return nil
}

// newOCSP builds the OCSP cache of the config (nil when off) and its
// client.
func newOCSP(c Config, log *slog.Logger, reg prometheus.Registerer) (*ocspcache.Cache, *outbound.Client, error) {
	o := c.Revocation.OCSP
	if !o.Enabled {
		return nil, nil, nil
	}
	p, proxy, err := c.Revocation.Outbound.policy()
	if err != nil {
		return nil, nil, err
	}
	// Refreshes and the lookups of Checks share the responders'
	// connections: keep as many idle as refreshes run at once, and more
	// for bursts of cold lookups.
	client, err := outbound.New(p, outbound.Options{Timeout: min(o.Timeout, c.Revocation.Outbound.Timeout), Proxy: proxy,
		UserAgent: "mtlsgate-ocsp", MaxIdlePerHost: max(64, o.Concurrency)})
	if err != nil {
		return nil, nil, err
	}
	cache, err := ocspcache.New(ocspcache.Options{Client: client, Timeout: o.Timeout, MaxAge: o.MaxAge, RefreshAt: o.RefreshAt,
		MinRefresh: o.MinRefresh, RetryMin: o.RetryMin, RetryMax: o.RetryMax, Idle: o.Idle, MaxEntries: o.MaxEntries,
		Concurrency: o.Concurrency, Log: log.With("part", "ocsp"), Metrics: ocspcache.NewMetrics(reg)})
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return cache, client, nil
}
