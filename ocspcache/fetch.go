package ocspcache

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/outbound"
	"github.com/mtlsgate/mtlsgate/pki/ocspcheck"
)

// maxGETRequest is the largest base64 request sent with GET: RFC 5019
// 5 asks for GET under 255 bytes, so that caches in front of responders
// can serve it; larger ones, and every request with a nonce (a fresh
// request each time), are POSTed.
const maxGETRequest = 255

// withoutNextUpdate is how long after its thisUpdate an answer without
// nextUpdate is used (at most MaxAge after it was fetched): the responder
// says newer information is always available.
const withoutNextUpdate = time.Hour

// forever is when a permanent revocation expires.
var forever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// certificateHold is the one CRLReason a revocation may be undone for
// (RFC 5280 5.3.1); every other revocation is permanent.
const certificateHold = 6

// errTooOld: a verified answer already past the time it may be used.
var errTooOld = errors.New("ocsp: the answer is too old to use")

// outcome is what one request gave: an answer, or why there is none.
type outcome struct {
	ans  *answer
	err  error
	took time.Duration
	url  string
}

// ask sends q to its responder and verifies the response.
func (c *Cache) ask(q *Query) outcome {
	ctx, cancel := context.WithTimeout(c.base, c.o.Timeout)
	defer cancel()
	start := time.Now()
	oq := &ocspcheck.Query{Serial: q.Serial, Issuer: q.Issuer}
	out := outcome{url: q.URL}
	if q.Nonce {
		if oq.Nonce, out.err = ocspcheck.NewNonce(); out.err != nil {
			return out
		}
	}
	der, err := q.request(oq)
	if err != nil {
		out.err = err
		return out
	}
	resp, err := c.send(ctx, q.URL, der, q.Nonce)
	out.took = time.Since(start)
	if err != nil {
		out.err = err
		return out
	}
	now := c.o.Now()
	a, err := oq.Verify(resp.Body, now, c.o.Skew)
	if err != nil {
		out.err = fmt.Errorf("responder %s: %w", q.URL, err)
		return out
	}
	if out.ans = c.cacheable(a, now); !now.Before(out.ans.expires) {
		out.ans, out.err = nil, fmt.Errorf("responder %s: %w (thisUpdate %s, nextUpdate %s)", q.URL, errTooOld,
			a.ThisUpdate.UTC().Format(time.RFC3339), a.NextUpdate.UTC().Format(time.RFC3339))
	}
	return out
}

// request is q's DER request: made once and kept when it has no nonce
// (every refresh sends the same bytes), made anew with each nonce.
func (q *Query) request(oq *ocspcheck.Query) ([]byte, error) {
	if oq.Nonce != nil {
		return oq.Request()
	}
	if p := q.der.Load(); p != nil {
		return *p, nil
	}
	der, err := oq.Request()
	if err == nil {
		q.der.Store(&der)
	}
	return der, err
}

// send is the HTTP exchange of RFC 6960 A.1.
func (c *Cache) send(ctx context.Context, responder string, der []byte, nonce bool) (*outbound.Response, error) {
	// A responder URL with a query cannot take the request as a path.
	if enc := base64.StdEncoding.EncodeToString(der); !nonce && len(enc) <= maxGETRequest && !strings.Contains(responder, "?") {
		seg := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(enc)
		return c.o.Client.Get(ctx, strings.TrimSuffix(responder, "/")+"/"+seg, outbound.Validators{}, c.o.MaxBytes)
	}
	return c.o.Client.Post(ctx, responder, "application/ocsp-request", der, c.o.MaxBytes)
}

// cacheable turns a verified answer into a cache entry's: its result and
// until when it is used. That is its nextUpdate, with the clock skew
// Verify allows (an answer it accepts is never expired on arrival), or an
// hour after its thisUpdate when it has none; at most MaxAge after now. A
// permanent revocation is kept for good: no later answer can undo it, and
// a responder down must not turn a revoked certificate into an
// unavailable one that a soft-failing site lets pass.
func (c *Cache) cacheable(a *ocspcheck.Answer, now time.Time) *answer {
	res := Result{Status: Good}
	switch a.Status {
	case ocspcheck.Revoked:
		res = Result{Status: Revoked, Reason: a.Reason}
		if a.Reason != certificateHold {
			return &answer{res: res, fetched: now, expires: forever}
		}
	case ocspcheck.Unknown:
		res = Result{Status: Unknown}
	}
	expires := a.NextUpdate.Add(c.o.Skew)
	if a.NextUpdate.IsZero() {
		expires = a.ThisUpdate.Add(withoutNextUpdate + c.o.Skew)
	}
	return &answer{res: res, fetched: now, expires: minTime(expires, now.Add(c.o.MaxAge))}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// complete records the outcome of e's request cl and wakes its waiters.
// A failure keeps a previous answer while it is valid, and the waiters
// get that answer.
func (c *Cache) complete(e *entry, cl *call, out outcome) {
	now := c.o.Now()
	e.mu.Lock()
	e.call = nil
	if out.err == nil {
		e.ans.Store(out.ans)
		e.failures, e.lastErr, e.retryAt = 0, nil, time.Time{}
		cl.res = out.ans.res
		if !e.gone && out.ans.expires != forever {
			c.sched.add(e, c.refreshTime(now, out.ans.expires))
		}
	} else {
		e.failures++
		e.lastErr, e.retryAt = out.err, now.Add(c.retryAfter(e.failures))
		cl.res = Result{Status: Unavailable, Err: out.err}
		if a, ok := e.valid(now); ok {
			cl.res = a.res
			if !e.gone {
				c.sched.add(e, minTime(e.retryAt, a.expires))
			}
		}
	}
	e.mu.Unlock()
	close(cl.done)
	c.report(out)
}

// refreshTime is when an answer fetched at now and used until expires is
// asked for again: at RefreshAt of that time, ±5%, before it expires, but
// never sooner than MinRefresh (an answer that lives less than that then
// lapses, and the next lookup asks again).
func (c *Cache) refreshTime(now, expires time.Time) time.Time {
	life := expires.Sub(now)
	at := now.Add(time.Duration(c.o.RefreshAt*float64(life) + (c.o.Rand()-0.5)*0.1*float64(life)))
	at = minTime(at, expires)
	if floor := now.Add(c.o.MinRefresh); at.Before(floor) {
		at = floor
	}
	return at
}

// retryAfter is the backoff after the n-th failure in a row.
func (c *Cache) retryAfter(n int) time.Duration {
	d := c.o.RetryMin
	for i := 1; i < n && d < c.o.RetryMax; i++ {
		d *= 2
	}
	d = min(d, c.o.RetryMax)
	return d/2 + time.Duration(c.o.Rand()*float64(d/2))
}

// report records a request in the metrics, and logs a failure: at warn at
// most once a minute (a dead responder fails every certificate), else at
// debug.
func (c *Cache) report(out outcome) {
	c.o.Metrics.request(out.url, requestResult(out), out.took)
	if out.err == nil {
		return
	}
	level, now := c.o.Log.Debug, time.Now().Unix()
	if last := c.warned.Load(); now-last >= 60 && c.warned.CompareAndSwap(last, now) {
		level = c.o.Log.Warn
	}
	level("OCSP request failed; certificates without a cached answer are unavailable until the backoff ends",
		"responder", out.url, "err", out.err)
}

// requestResult is the metric label of a request's outcome.
func requestResult(out outcome) string {
	var se *outbound.StatusError
	switch err := out.err; {
	case err == nil:
		return out.ans.res.Status.String()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled" // the cache closed
	case errors.Is(err, errTooOld):
		return "invalid"
	case errors.As(err, &se), errors.Is(err, outbound.ErrTooLarge):
		return "http_error"
	case errors.Is(err, outbound.ErrForbidden):
		return "forbidden"
	case errors.Is(err, ocspcheck.ErrResponder):
		return "responder_error"
	case errors.Is(err, ocspcheck.ErrMalformed), errors.Is(err, ocspcheck.ErrSignature), errors.Is(err, ocspcheck.ErrDelegate),
		errors.Is(err, ocspcheck.ErrWrongCertificate), errors.Is(err, ocspcheck.ErrNotYetValid),
		errors.Is(err, ocspcheck.ErrStale), errors.Is(err, ocspcheck.ErrNonce):
		return "invalid"
	}
	return "network_error"
}
