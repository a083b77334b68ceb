package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mtlsgate/mtlsgate/bench/report"
	"github.com/mtlsgate/mtlsgate/ocspcache"
	"github.com/mtlsgate/mtlsgate/outbound"
)

// fakeClock is the cache's clock (Options.Now): real time until moved.
type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// countingClient counts the answers its Client returned, and closes done
// when they reach target.
type countingClient struct {
	ocspcache.Client
	n, target atomic.Int64
	done      chan struct{}
}

func (c *countingClient) Get(ctx context.Context, url string, cond outbound.Validators, maxBytes int64) (*outbound.Response, error) {
	r, err := c.Client.Get(ctx, url, cond, maxBytes)
	if c.n.Add(1) == c.target.Load() {
		close(c.done)
	}
	return r, err
}

func (c *countingClient) Post(ctx context.Context, url, contentType string, body []byte, maxBytes int64) (*outbound.Response, error) {
	r, err := c.Client.Post(ctx, url, contentType, body, maxBytes)
	if c.n.Add(1) == c.target.Load() {
		close(c.done)
	}
	return r, err
}

// refreshMargin is how far past the fill the clock moves for the refresh
// round: past every answer's refresh time (half of its 24 h life, ±5%),
// well before its expiry, and within Idle of the lookups that mark the
// answers in use.
const refreshMargin = 14 * time.Hour

// cacheRounds makes a cache with the server's defaults, fills it with
// every answer (the first lookups, refreshConcurrency at a time), marks
// them in use at a clock moved past their refresh time, then measures one
// refresh round: Run started on that clock refreshes every answer due,
// Concurrency at a time. The round ends when the cache has recorded the
// last request's outcome (its metrics). With profile set, the round is
// profiled into that file.
func (b *refreshBench) cacheRounds(profile string) (fill, refresh report.OCSPPhase, err error) {
	client, err := newClient()
	if err != nil {
		return fill, refresh, err
	}
	defer client.Close()
	clk := &fakeClock{}
	cc := &countingClient{Client: client, done: make(chan struct{})}
	reg := prometheus.NewRegistry()
	cache, err := ocspcache.New(ocspcache.Options{Client: cc, Timeout: 5 * time.Second, Now: clk.now, Metrics: ocspcache.NewMetrics(reg)})
	if err != nil {
		return fill, refresh, err
	}
	defer cache.Close()
	qs := make([]*ocspcache.Query, len(b.serials))
	for i, s := range b.serials {
		qs[i] = ocspcache.NewQuery(s, b.issuer, b.resp.URL, false)
	}
	if fill, err = b.phase(func() error { return b.fill(cache, qs, clk) }); err != nil {
		return fill, refresh, fmt.Errorf("fill: %w", err)
	}
	clk.add(refreshMargin)
	if err := b.markInUse(cache, qs, clk); err != nil {
		return fill, refresh, err
	}
	total := int64(2 * len(qs))
	cc.target.Store(total)
	b.profile = profile
	ctx, cancel := context.WithCancel(context.Background())
	var ran sync.WaitGroup
	refresh, err = b.phase(func() error {
		ran.Go(func() { cache.Run(ctx) })
		select {
		case <-cc.done:
		case <-time.After(time.Minute):
			return fmt.Errorf("refresh round: %d of %d answers after a minute", cc.n.Load(), total)
		}
		return waitRequests(reg, float64(total), 30*time.Second)
	})
	cancel()
	ran.Wait()
	if err == nil {
		err = checkRefreshed(reg, len(qs))
	}
	return fill, refresh, err
}

// fill looks every answer up once, refreshConcurrency at a time; each
// must be good.
func (b *refreshBench) fill(cache *ocspcache.Cache, qs []*ocspcache.Query, clk *fakeClock) error {
	return b.eachAnswer(func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if r := cache.Lookup(ctx, qs[i], clk.now()); r.Status != ocspcache.Good {
			return fmt.Errorf("lookup of serial %s: %v %v", qs[i].Serial, r.Status, r.Err)
		}
		return nil
	})
}

// markInUse reads every answer once with Cached at the moved clock, as
// Checks do (an answer not looked up within Idle is not refreshed), and
// times those reads.
func (b *refreshBench) markInUse(cache *ocspcache.Cache, qs []*ocspcache.Query, clk *fakeClock) error {
	now := clk.now()
	t0 := time.Now()
	for _, q := range qs {
		if r, ok := cache.Cached(q, now); !ok || r.Status != ocspcache.Good {
			return fmt.Errorf("serial %s: no good answer cached at the refresh time", q.Serial)
		}
	}
	b.out.CachedNS = float64(time.Since(t0).Nanoseconds()) / float64(len(qs))
	return nil
}

// waitRequests waits until the cache's metrics count want requests with
// an outcome: the last verification and its entry's update are done.
func waitRequests(reg *prometheus.Registry, want float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := metricSum(reg, "mtlsgate_ocsp_requests_total", "")
		if err != nil || n >= want {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%.0f of %.0f OCSP requests done after %s", n, want, timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// checkRefreshed checks that the fill and the round each asked about
// every answer once, and every answer was good.
func checkRefreshed(reg *prometheus.Registry, n int) error {
	good, err := metricSum(reg, "mtlsgate_ocsp_requests_total", "good")
	if err != nil {
		return err
	}
	refreshes, err := metricSum(reg, "mtlsgate_ocsp_refreshes_total", "")
	if err != nil {
		return err
	}
	if good != float64(2*n) || refreshes != float64(n) {
		return fmt.Errorf("refresh round: %.0f good answers of %d, %.0f refreshes of %d", good, 2*n, refreshes, n)
	}
	return nil
}

// metricSum sums the counters called name, only those whose result label
// is result when it is set.
func metricSum(reg *prometheus.Registry, name, result string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if result != "" && !hasLabel(m.GetLabel(), "result", result) {
				continue
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum, nil
}

func hasLabel(labels []*dto.LabelPair, name, value string) bool {
	for _, l := range labels {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
