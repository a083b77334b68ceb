// Package ocspcache answers ext_authz's question "is this certificate
// revoked?" from OCSP responders (RFC 6960) without putting a responder on
// the path of a hot Check.
//
// Answers are cached by certificate (issuer identity and serial) until
// their nextUpdate, bounded by Options.MaxAge. A Check whose answer is
// cached reads it with two atomic loads and no lock. A Check that finds no
// answer starts one request and waits for it at most as long as its
// context allows (ext_authz gives it a budget well inside Envoy's
// timeout); every other Check of the same certificate meanwhile waits for
// that request instead of sending its own. Answers still in use are asked
// for again before they expire (Run), so a certificate seen regularly is
// never looked up cold twice. A failed request is remembered for a
// backoff, so a dead responder costs one request per certificate per
// backoff, not one per Check.
//
// Requests go through an outbound client (package outbound: the address
// rules that keep a URL named in a certificate from reaching the
// operator's network) and answers are verified by package ocspcheck.
package ocspcache

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/outbound"
)

// Client sends the requests; *outbound.Client is one.
type Client interface {
	Get(ctx context.Context, url string, cond outbound.Validators, maxBytes int64) (*outbound.Response, error)
	Post(ctx context.Context, url, contentType string, body []byte, maxBytes int64) (*outbound.Response, error)
}

// Status is what a lookup found.
type Status uint8

// Statuses. Unavailable: no usable answer (the responder is unreachable,
// refused, answered something that failed verification, or did not
// answer within the caller's budget).
const (
	Good Status = iota
	Revoked
	Unknown
	Unavailable
)

// String is the status as a metric label and in messages.
func (s Status) String() string {
	return [...]string{"good", "revoked", "unknown", "unavailable"}[s]
}

// Result is the answer to one lookup.
type Result struct {
	Status Status
	// Reason is the RFC 5280 CRLReason code of a Revoked answer.
	Reason int
	// Err says why, when Unavailable.
	Err error
}

// Errors of Unavailable results a caller may tell apart.
var (
	// ErrBudget: the caller's context ended before the answer came (the
	// request goes on, and its answer is cached for the next Check).
	ErrBudget = errors.New("ocsp: no answer within the check's budget")
	// ErrOverloaded: too many requests are in flight already.
	ErrOverloaded = errors.New("ocsp: too many responder requests in flight")
	// ErrClosed: the cache is closed.
	ErrClosed = errors.New("ocsp: cache closed")
)

// Query is one certificate to look up. Build it with NewQuery, once per
// certificate and configuration, and reuse it: it carries its cache key.
type Query struct {
	Serial *big.Int
	Issuer *x509.Certificate
	// URL is the responder's.
	URL string
	// Nonce: send a nonce and require it back.
	Nonce bool

	key any                    // id, boxed once so that lookups do not allocate
	der atomic.Pointer[[]byte] // the request without a nonce, once made
}

// id is a certificate's cache key: SHA-256 over its issuer's subject and
// public key and its serial, each length-prefixed.
type id [sha256.Size]byte

// NewQuery returns the query for the certificate with serial issued by
// issuer, asked of the responder at url.
func NewQuery(serial *big.Int, issuer *x509.Certificate, url string, nonce bool) *Query {
	h := sha256.New()
	for _, part := range [][]byte{issuer.RawSubject, issuer.RawSubjectPublicKeyInfo, serial.Bytes()} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var k id
	h.Sum(k[:0])
	return &Query{Serial: serial, Issuer: issuer, URL: url, Nonce: nonce, key: k}
}

// Options shape a Cache. Zero values take the defaults.
type Options struct {
	Client Client
	// Timeout bounds one request to a responder (default 5 s).
	Timeout time.Duration
	// MaxAge bounds how long an answer is used, whatever its nextUpdate
	// (default 24 h). An answer without nextUpdate is used for an hour, or
	// MaxAge when shorter.
	MaxAge time.Duration
	// RefreshAt is when an answer in use is asked for again, as a fraction
	// of the time from its fetch to its expiry (default 0.5), moved by up
	// to ±5% of that time so that answers fetched together spread out.
	RefreshAt float64
	// MinRefresh is the least time between two requests about one
	// certificate (default 1 min).
	MinRefresh time.Duration
	// RetryMin and RetryMax bound the backoff after a failed request:
	// RetryMin after the first, doubling up to RetryMax, each drawn from
	// its upper half (defaults 5 s and 5 min). Until it ends, lookups of
	// that certificate without a valid answer are Unavailable at once.
	RetryMin, RetryMax time.Duration
	// Idle: an answer not looked up for this long is not refreshed, and is
	// dropped once expired (default 1 h).
	Idle time.Duration
	// MaxEntries bounds the certificates cached (default 100,000); past
	// it, the least recently used go first.
	MaxEntries int
	// Concurrency is how many refreshes run at once (default 8);
	// MaxInflight how many requests for lookups that wait (default 256).
	Concurrency, MaxInflight int
	// Skew is the clock difference allowed with responders (default 1 min).
	Skew time.Duration
	// MaxBytes bounds a response body (default 64 KiB).
	MaxBytes int64
	Log      *slog.Logger
	Metrics  *Metrics
	// Now and Rand (in [0, 1)) are the clock and the jitter.
	Now  func() time.Time
	Rand func() float64
}

func (o *Options) defaults() {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.Timeout, 5 * time.Second}, {&o.MaxAge, 24 * time.Hour}, {&o.MinRefresh, time.Minute},
		{&o.RetryMin, 5 * time.Second}, {&o.RetryMax, 5 * time.Minute}, {&o.Idle, time.Hour}, {&o.Skew, time.Minute}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if !(o.RefreshAt > 0 && o.RefreshAt < 1) { // NaN too
		o.RefreshAt = 0.5
	}
	o.MaxEntries = positive(o.MaxEntries, 100_000)
	o.Concurrency = positive(o.Concurrency, 8)
	o.MaxInflight = positive(o.MaxInflight, 256)
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 10
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
}

func positive(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Cache is the OCSP answer cache. It is safe for concurrent use. Run
// refreshes and trims it; Close (or Run's return) stops every request.
type Cache struct {
	o       Options
	entries sync.Map // id → *entry
	count   atomic.Int64
	sched   schedule
	// trim asks Run to trim now: MaxEntries was passed. Capacity 1.
	trim chan struct{}

	inflight   atomic.Int64 // requests for waiting lookups
	refreshing atomic.Int64
	base       context.Context // every request's; cancelled by Close
	cancel     context.CancelFunc
	life       sync.RWMutex // guards closed against wg.Add
	closed     bool
	wg         sync.WaitGroup
	warned     atomic.Int64 // unix seconds of the last failure logged at warn
}

// New returns an empty Cache.
func New(o Options) (*Cache, error) {
	o.defaults()
	if o.Client == nil {
		return nil, fmt.Errorf("ocspcache: no client")
	}
	c := &Cache{o: o, trim: make(chan struct{}, 1)}
	c.sched.wake = make(chan struct{}, 1)
	c.base, c.cancel = context.WithCancel(context.Background())
	o.Metrics.track(c.count.Load)
	return c, nil
}

// Close stops every request in flight and waits for them; lookups then
// answer Unavailable (ErrClosed) unless cached. It is idempotent.
func (c *Cache) Close() {
	c.life.Lock()
	c.closed = true
	c.life.Unlock()
	c.cancel()
	c.wg.Wait()
}

// Len is the number of certificates cached.
func (c *Cache) Len() int { return int(c.count.Load()) }
