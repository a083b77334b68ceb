package ocspcache_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/ocsptest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/ocspcache"
	"github.com/mtlsgate/mtlsgate/outbound"
	"github.com/mtlsgate/mtlsgate/pki/ocspcheck"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newCache returns a cache whose client may reach loopback, closed when
// the test ends.
func newCache(t *testing.T, o ocspcache.Options) *ocspcache.Cache {
	t.Helper()
	client, err := outbound.New(outbound.Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		outbound.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	o.Client = client
	c, err := ocspcache.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// run runs c's refreshes until the test ends.
func run(t *testing.T, c *ocspcache.Cache) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func query(leaf, issuer *testpki.Cert, url string, nonce bool) *ocspcache.Query {
	return ocspcache.NewQuery(leaf.Cert.SerialNumber, issuer.Cert, url, nonce)
}

func within(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	_ = cancel // released by the timeout
	return ctx
}

// TestLookup: answers from a loopback responder, by GET without a nonce
// and by POST with one; the revocation reason comes through; a second
// lookup is served from the cache.
func TestLookup(t *testing.T) {
	root := testpki.NewRoot(t, "Lookup Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	good, revoked, unknown := root.Leaf(t, "good", testpki.Options{}), root.Leaf(t, "revoked", testpki.Options{}), root.Leaf(t, "unknown", testpki.Options{})
	r.Set(revoked.Cert.SerialNumber, ocsp.Revoked)
	r.Set(unknown.Cert.SerialNumber, ocsp.Unknown)
	c := newCache(t, ocspcache.Options{})
	for _, tc := range []struct {
		leaf   *testpki.Cert
		nonce  bool
		status ocspcache.Status
		gets   int64
	}{
		{good, false, ocspcache.Good, 1},
		{revoked, false, ocspcache.Revoked, 2},
		{unknown, true, ocspcache.Unknown, 2},
	} {
		q := query(tc.leaf, root, r.URL, tc.nonce)
		res := c.Lookup(within(5*time.Second), q, time.Now())
		if res.Status != tc.status || res.Err != nil {
			t.Fatalf("%s: %+v, want %s", tc.leaf.Cert.Subject.CommonName, res, tc.status)
		}
		if tc.status == ocspcache.Revoked && res.Reason != ocsp.KeyCompromise {
			t.Errorf("revocation reason %d, want keyCompromise", res.Reason)
		}
		if got := r.GETs.Load(); got != tc.gets {
			t.Errorf("%s: %d GETs so far, want %d (nonce requests are POSTed)", tc.leaf.Cert.Subject.CommonName, got, tc.gets)
		}
		if again, ok := c.Cached(q, time.Now()); !ok || again.Status != tc.status {
			t.Fatalf("not cached: %+v %t", again, ok)
		}
	}
	if n := r.Requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3 (one per certificate)", n)
	}
}

// TestCoalescing: a burst of lookups of one certificate sends one request,
// and every lookup gets its answer.
func TestCoalescing(t *testing.T) {
	root := testpki.NewRoot(t, "Burst Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	r.Lock()
	r.Delay = 200 * time.Millisecond
	r.Unlock()
	leaf := root.Leaf(t, "burst", testpki.Options{})
	c := newCache(t, ocspcache.Options{})
	var wg sync.WaitGroup
	results := make([]ocspcache.Result, 64)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.Lookup(within(5*time.Second), query(leaf, root, r.URL, false), time.Now())
		}()
	}
	wg.Wait()
	for i, res := range results {
		if res.Status != ocspcache.Good {
			t.Fatalf("lookup %d: %+v", i, res)
		}
	}
	if n := r.Requests.Load(); n != 1 {
		t.Fatalf("%d requests for a burst of %d lookups, want 1", n, len(results))
	}
}

// TestFailures: every way a responder can fail leaves the certificate
// Unavailable, with an error that says why, and a failure is remembered
// for the backoff (no second request). (A cached answer outliving a
// failed refresh: TestFailedRefreshKeepsAnswer.)
func TestFailures(t *testing.T) {
	root := testpki.NewRoot(t, "Failing Root", testpki.Options{})
	other := testpki.NewRoot(t, "Other Root", testpki.Options{})
	delegate := root.Leaf(t, "responder", testpki.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
	for _, tc := range []struct {
		name  string
		set   func(r *ocsptest.Responder)
		nonce bool
		want  error
	}{
		{"responder down (HTTP 503)", func(r *ocsptest.Responder) { r.FailWith = 503 }, false, &outbound.StatusError{}},
		{"answer about another certificate", func(r *ocsptest.Responder) { r.SerialOffset = 1 }, false, ocspcheck.ErrWrongCertificate},
		{"expired answer", func(r *ocsptest.Responder) { r.Age = 2 * time.Hour }, false, ocspcheck.ErrStale},
		{"signed by another CA", func(r *ocsptest.Responder) { r.Signer = other }, false, ocspcheck.ErrSignature},
		{"nonce not sent back", func(r *ocsptest.Responder) { r.NoNonce = true }, true, ocspcheck.ErrNonce},
		{"no nextUpdate, produced two hours ago", func(r *ocsptest.Responder) { r.Validity, r.Age = 0, 2*time.Hour }, false, errors.New("too old")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ocsptest.Start(t, root)
			r.Lock()
			tc.set(r)
			r.Unlock()
			c := newCache(t, ocspcache.Options{RetryMin: time.Hour})
			q := query(root.Leaf(t, "alice", testpki.Options{}), root, r.URL, tc.nonce)
			res := c.Lookup(within(5*time.Second), q, time.Now())
			var se *outbound.StatusError
			matches := errors.Is(res.Err, tc.want) || errors.As(res.Err, &se) && errors.As(tc.want, &se) ||
				res.Err != nil && strings.Contains(res.Err.Error(), tc.want.Error())
			if res.Status != ocspcache.Unavailable || !matches {
				t.Fatalf("%+v, want unavailable with %v", res, tc.want)
			}
			if again := c.Lookup(within(5*time.Second), q, time.Now()); again.Status != ocspcache.Unavailable || r.Requests.Load() != 1 {
				t.Fatalf("within the backoff: %+v after %d requests, want unavailable after 1", again, r.Requests.Load())
			}
		})
	}
	t.Run("delegated responder", func(t *testing.T) {
		r := ocsptest.Start(t, root)
		r.Lock()
		r.Signer = delegate
		r.Unlock()
		c := newCache(t, ocspcache.Options{})
		if res := c.Lookup(within(5*time.Second), query(root.Leaf(t, "bob", testpki.Options{}), root, r.URL, true), time.Now()); res.Status != ocspcache.Good {
			t.Fatalf("%+v, want good", res)
		}
	})
}

// TestBudget: a lookup waits no longer than its context; the request goes
// on, and its answer serves the next lookup from the cache.
func TestBudget(t *testing.T) {
	root := testpki.NewRoot(t, "Slow Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	r.Lock()
	r.Delay = 300 * time.Millisecond
	r.Unlock()
	c := newCache(t, ocspcache.Options{})
	q := query(root.Leaf(t, "slow", testpki.Options{}), root, r.URL, false)
	if res := c.Lookup(within(20*time.Millisecond), q, time.Now()); res.Status != ocspcache.Unavailable || !errors.Is(res.Err, ocspcache.ErrBudget) {
		t.Fatalf("%+v, want unavailable (budget)", res)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if res, ok := c.Cached(q, time.Now()); ok {
			if res.Status != ocspcache.Good {
				t.Fatalf("%+v", res)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the answer never reached the cache")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := r.Requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// TestRefreshAhead: with Run, an answer in use is asked for again before
// it expires, so the certificate never leaves the cache, and a revocation
// at the responder is seen within one refresh.
func TestRefreshAhead(t *testing.T) {
	root := testpki.NewRoot(t, "Refresh Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	r.Lock()
	r.Validity = 6 * time.Second
	r.Unlock()
	leaf := root.Leaf(t, "refreshed", testpki.Options{})
	c := newCache(t, ocspcache.Options{MinRefresh: 100 * time.Millisecond, Skew: 100 * time.Millisecond})
	run(t, c)
	q := query(leaf, root, r.URL, false)
	if res := c.Lookup(within(5*time.Second), q, time.Now()); res.Status != ocspcache.Good {
		t.Fatalf("%+v", res)
	}
	r.Set(leaf.Cert.SerialNumber, ocsp.Revoked)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, ok := c.Cached(q, time.Now())
		if !ok {
			t.Fatalf("the answer expired before its refresh (after %d requests)", r.Requests.Load())
		}
		if res.Status == ocspcache.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation was never seen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := r.Requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (the first and one refresh)", n)
	}
}

// TestAnswerNearItsNextUpdate: an answer whose nextUpdate has just passed
// (within the clock skew allowed) is used until then and not asked for
// again at once: one request, however many lookups.
func TestAnswerNearItsNextUpdate(t *testing.T) {
	root := testpki.NewRoot(t, "Late Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	r.Lock()
	r.Validity, r.Age = time.Hour, time.Hour+30*time.Second // nextUpdate 30 s ago
	r.Unlock()
	c := newCache(t, ocspcache.Options{})
	run(t, c)
	q := query(root.Leaf(t, "late", testpki.Options{}), root, r.URL, false)
	for range 200 {
		if res := c.Lookup(within(5*time.Second), q, time.Now()); res.Status != ocspcache.Good {
			t.Fatalf("%+v", res)
		}
		time.Sleep(time.Millisecond)
	}
	if n := r.Requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// TestPermanentRevocation: a revocation is kept past max_age and whatever
// the responder does next; a certificateHold is not.
func TestPermanentRevocation(t *testing.T) {
	root := testpki.NewRoot(t, "Revoking Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	revoked := root.Leaf(t, "revoked", testpki.Options{})
	r.Set(revoked.Cert.SerialNumber, ocsp.Revoked)
	c := newCache(t, ocspcache.Options{MaxAge: time.Minute})
	q := query(revoked, root, r.URL, false)
	if res := c.Lookup(within(5*time.Second), q, time.Now()); res.Status != ocspcache.Revoked {
		t.Fatalf("%+v", res)
	}
	r.Lock()
	r.FailWith = 503
	r.Unlock()
	if res, ok := c.Cached(q, time.Now().Add(30*24*time.Hour)); !ok || res.Status != ocspcache.Revoked {
		t.Fatalf("a month later: %+v %t, want revoked", res, ok)
	}
}

// TestOverloadedAndClosed: past MaxInflight a lookup is Unavailable at
// once; Close releases the lookups waiting and refuses new requests.
func TestOverloadedAndClosed(t *testing.T) {
	root := testpki.NewRoot(t, "Busy Root", testpki.Options{})
	r := ocsptest.Start(t, root)
	r.Lock()
	r.Delay = 10 * time.Second
	r.Unlock()
	c := newCache(t, ocspcache.Options{MaxInflight: 1})
	waiting := make(chan ocspcache.Result, 1)
	go func() {
		waiting <- c.Lookup(context.Background(), query(root.Leaf(t, "first", testpki.Options{}), root, r.URL, false), time.Now())
	}()
	for deadline := time.Now().Add(5 * time.Second); r.Requests.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first request never reached the responder")
		}
	}
	if res := c.Lookup(within(5*time.Second), query(root.Leaf(t, "second", testpki.Options{}), root, r.URL, false), time.Now()); !errors.Is(res.Err, ocspcache.ErrOverloaded) {
		t.Fatalf("%+v, want overloaded", res)
	}
	c.Close()
	if res := <-waiting; res.Status != ocspcache.Unavailable {
		t.Fatalf("the waiting lookup after Close: %+v", res)
	}
	if res := c.Lookup(within(5*time.Second), query(root.Leaf(t, "third", testpki.Options{}), root, r.URL, false), time.Now()); !errors.Is(res.Err, ocspcache.ErrClosed) {
		t.Fatalf("%+v, want closed", res)
	}
}
