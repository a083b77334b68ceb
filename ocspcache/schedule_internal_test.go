package ocspcache

import (
	"context"
	"math/big"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ocsptest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/outbound"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeTimeCache is a cache on a settable clock whose answers last an hour
// (MaxAge: the responder's clock is real and its answers last a day).
func fakeTimeCache(t *testing.T, o Options) (*Cache, *clock, *ocsptest.Responder, *testpki.Cert) {
	t.Helper()
	root := testpki.NewRoot(t, "Schedule Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	r.Validity = 24 * time.Hour
	client, err := outbound.New(outbound.Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, outbound.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	clk := &clock{t: time.Now()}
	o.Client, o.Now, o.Rand, o.MaxAge = client, clk.now, func() float64 { return 0.5 }, time.Hour
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, clk, r, root
}

func (c *Cache) mustLookup(t *testing.T, q *Query) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res := c.Lookup(ctx, q, c.o.Now()); res.Status != Good {
		t.Fatalf("%+v", res)
	}
}

// waitRefreshes waits for the refreshes started to end.
func (c *Cache) waitRefreshes(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.refreshing.Load() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("refresh never ended")
		}
	}
}

// TestRefreshSchedule: a refresh is due at RefreshAt of the answer's
// life; an answer looked up within Idle is refreshed then, one not looked
// up is not, and is swept once expired.
func TestRefreshSchedule(t *testing.T) {
	c, clk, r, root := fakeTimeCache(t, Options{Idle: 10 * time.Minute})
	used := NewQuery(big.NewInt(1), root.Cert, r.URL, false)
	idle := NewQuery(big.NewInt(2), root.Cert, r.URL, false)
	c.mustLookup(t, used)
	c.mustLookup(t, idle)
	// Answers last an hour: refreshes are due at half of it.
	clk.add(29 * time.Minute)
	c.refreshDue(clk.now())
	if n := r.Requests.Load(); n != 2 {
		t.Fatalf("%d requests before the refresh time, want 2", n)
	}
	c.Cached(used, clk.now()) // looked up again within Idle
	clk.add(2 * time.Minute)
	c.refreshDue(clk.now())
	c.waitRefreshes(t)
	if n := r.Requests.Load(); n != 3 {
		t.Fatalf("%d requests after the refresh time, want 3 (only the answer in use refreshed)", n)
	}
	clk.add(31 * time.Minute) // the idle answer has expired
	c.sweep(clk.now())
	if _, ok := c.entries.Load(idle.key); ok {
		t.Fatal("an expired idle entry was kept")
	}
	if _, ok := c.entries.Load(used.key); !ok || c.Len() != 1 {
		t.Fatalf("the refreshed entry was swept (len %d)", c.Len())
	}
}

// TestTrim: past MaxEntries, a sweep drops the least recently looked up
// entries down to nine tenths of it.
func TestTrim(t *testing.T) {
	c, clk, r, root := fakeTimeCache(t, Options{MaxEntries: 10})
	var qs []*Query
	for i := range 12 {
		q := NewQuery(big.NewInt(int64(100+i)), root.Cert, r.URL, false)
		c.mustLookup(t, q)
		qs = append(qs, q)
		clk.add(time.Second)
	}
	select {
	case <-c.trim:
	default:
		t.Fatal("passing MaxEntries did not ask for a trim")
	}
	c.sweep(clk.now())
	if c.Len() != 9 {
		t.Fatalf("%d entries after the trim, want 9", c.Len())
	}
	for i, q := range qs {
		_, ok := c.entries.Load(q.key)
		if want := i >= 3; ok != want {
			t.Errorf("entry %d kept %t, want %t (least recently used first)", i, ok, want)
		}
	}
}

// TestFailedRefreshKeepsAnswer: a refresh that fails keeps the answer held
// until it expires and is retried after the backoff; a sweep keeps the
// entry through its backoff.
func TestFailedRefreshKeepsAnswer(t *testing.T) {
	c, clk, r, root := fakeTimeCache(t, Options{RetryMin: time.Hour, RetryMax: time.Hour})
	q := NewQuery(big.NewInt(7), root.Cert, r.URL, false)
	c.mustLookup(t, q)
	r.Lock()
	r.FailWith = 500
	r.Unlock()
	clk.add(31 * time.Minute)
	c.Cached(q, clk.now())
	c.refreshDue(clk.now())
	c.waitRefreshes(t)
	if res, ok := c.Cached(q, clk.now()); !ok || res.Status != Good || r.Requests.Load() != 2 {
		t.Fatalf("after a failed refresh: %+v %t, %d requests", res, ok, r.Requests.Load())
	}
	clk.add(40 * time.Minute) // expired, failing
	c.sweep(clk.now())
	if c.Len() != 1 {
		t.Fatal("an entry in its backoff was swept")
	}
	clk.add(2 * time.Hour) // past the backoff and RetryMax
	c.sweep(clk.now())
	if c.Len() != 0 {
		t.Fatal("an expired entry past its backoff was kept")
	}
}

// TestResponderChangeFollowed: a cached certificate whose CA now names
// another responder (a new query for it) is refreshed there.
func TestResponderChangeFollowed(t *testing.T) {
	c, clk, a, root := fakeTimeCache(t, Options{})
	b := ocsptest.Start(t, root)
	b.Validity = 24 * time.Hour
	c.mustLookup(t, NewQuery(big.NewInt(8), root.Cert, a.URL, false))
	moved := NewQuery(big.NewInt(8), root.Cert, b.URL, true)
	clk.add(31 * time.Minute)
	if _, ok := c.Cached(moved, clk.now()); !ok {
		t.Fatal("the answer was dropped")
	}
	c.refreshDue(clk.now())
	c.waitRefreshes(t)
	if a.Requests.Load() != 1 || b.Requests.Load() != 1 || b.GETs.Load() != 0 {
		t.Fatalf("requests: old responder %d, new %d (%d GETs), want 1, 1 (a POST with a nonce)", a.Requests.Load(), b.Requests.Load(), b.GETs.Load())
	}
}
