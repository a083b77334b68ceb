package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// maxResponseBody bounds what is read of a receiver's answer (then
// discarded): enough to reuse the connection, never a memory risk.
const maxResponseBody = 64 << 10

// newClient returns the HTTP client of deliveries: the connection and the
// whole request bounded by timeout, no redirect followed (a 3xx is a
// failure: the receiver's URL is the one an admin set), no proxy from the
// environment, system roots unless roots is set.
func newClient(timeout time.Duration, roots *x509.CertPool) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// outcome is what one attempt came to.
type outcome struct {
	status int    // the HTTP status; 0 when there was no answer
	err    string // why it failed; "" when delivered
	retry  bool   // worth another attempt (no answer, 5xx, 429)
}

// post makes one attempt at delivering d to w.
func (d *Dispatcher) post(ctx context.Context, w *pb.Webhook, del *pb.WebhookDelivery) outcome {
	body := []byte(del.GetBody())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.GetUrl(), bytes.NewReader(body))
	if err != nil {
		return outcome{err: "request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mtlsgate-webhook")
	req.Header.Set(HeaderEvent, del.GetEventType())
	req.Header.Set(HeaderDelivery, del.GetId())
	req.Header.Set(HeaderSignature, Sign(w.GetSecret(), d.o.Now(), body))
	resp, err := d.client.Do(req)
	if err != nil {
		var ue interface{ Timeout() bool }
		msg := err.Error()
		if errors.As(err, &ue) && ue.Timeout() {
			msg = fmt.Sprintf("no answer within %s: %v", d.o.Timeout, err)
		}
		return outcome{err: msg, retry: true}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	_ = resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return outcome{status: c}
	case c == http.StatusTooManyRequests || c >= 500:
		return outcome{status: c, err: resp.Status, retry: true}
	case c >= 300 && c < 400:
		return outcome{status: c, err: resp.Status + " (redirects are not followed)"}
	default:
		return outcome{status: c, err: resp.Status}
	}
}

// backoff is the wait before attempt n+1 after n failed attempts:
// RetryMin doubling up to RetryMax, then a random part of it taken off
// (up to half) so that receivers coming back are not hit all at once.
func (d *Dispatcher) backoff(n int) time.Duration {
	w := d.o.RetryMin
	for i := 1; i < n && w < d.o.RetryMax; i++ {
		w *= 2
	}
	w = min(w, d.o.RetryMax)
	return w - time.Duration(rand.Int64N(int64(w)/2+1))
}
