package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options shape a Client.
type Options struct {
	// Timeout bounds one request, redirects and body included (default
	// 15 s).
	Timeout time.Duration
	// MaxRedirects is how many redirects a request follows (default 3).
	MaxRedirects int
	// Proxy, when set, is the HTTP proxy every request goes through. The
	// proxy's own address is not held to the policy (the operator chose
	// it); the destination is checked on the addresses mtlsgate resolves
	// its name to, since the proxy dials it.
	Proxy *url.URL
	// UserAgent is sent with every request.
	UserAgent string
	// Resolver resolves names for the destination check behind a proxy
	// (default net.DefaultResolver).
	Resolver *net.Resolver
	// MaxIdlePerHost is how many idle connections are kept per host
	// (default 2): as many as requests a client sends one host at once,
	// or each request beyond opens (and leaves behind) a connection.
	MaxIdlePerHost int
}

// Client sends GET and POST requests held to a Policy. It is safe for
// concurrent use.
type Client struct {
	policy Policy
	o      Options
	http   *http.Client
}

// New returns a Client; it checks the policy.
func New(p Policy, o Options) (*Client, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = 3
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.MaxIdlePerHost <= 0 {
		o.MaxIdlePerHost = 2
	}
	c := &Client{policy: p, o: o}
	dialer := &net.Dialer{Timeout: o.Timeout, Control: c.control}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConnsPerHost:   o.MaxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	if o.Proxy != nil {
		tr.Proxy = http.ProxyURL(o.Proxy)
	}
	c.http = &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: c.checkRedirect}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// control checks each address dialled; behind a proxy only the proxy is
// dialled, and it is the operator's choice.
func (c *Client) control(network, address string, _ syscall.RawConn) error {
	if c.o.Proxy != nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: dial %q: %v", ErrForbidden, address, err)
	}
	return c.policy.addrAllowed(ap.Addr())
}

// checkRedirect follows at most MaxRedirects redirects, each to the same
// scheme and to an allowed host.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > c.o.MaxRedirects {
		return fmt.Errorf("outbound: more than %d redirects", c.o.MaxRedirects)
	}
	if prev := via[len(via)-1]; req.URL.Scheme != prev.URL.Scheme {
		return fmt.Errorf("%w: redirect from %s to %s changes the scheme", ErrForbidden, prev.URL.Redacted(), req.URL.Redacted())
	}
	return c.checkURL(req.Context(), req.URL)
}

// checkURL holds a URL to the policy before anything is sent.
func (c *Client) checkURL(ctx context.Context, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q (http and https only)", ErrForbidden, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL", ErrForbidden)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host in %s", ErrForbidden, u.Redacted())
	}
	if strings.Contains(host, "%") {
		return fmt.Errorf("%w: host %q has a zone", ErrForbidden, host)
	}
	if err := c.policy.hostAllowed(host); err != nil {
		return err
	}
	if c.o.Proxy == nil {
		return nil // the dial checks the address
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return c.policy.addrAllowed(a)
	}
	addrs, err := c.o.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("outbound: resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if err := c.policy.addrAllowed(a); err != nil {
			return err
		}
	}
	return nil
}

// Validators are what a server said identifies the version it sent, for
// a conditional request of the next one.
type Validators struct {
	ETag         string
	LastModified string
}

// Response is a successful answer.
type Response struct {
	// Body is the whole body (nil when NotModified).
	Body []byte
	// NotModified is set when the server answered 304 to a conditional
	// request.
	NotModified bool
	// Validators of this answer (the request's, when NotModified and the
	// server sent none).
	Validators Validators
	// URL is where the answer came from, after redirects.
	URL string
}

// StatusError is an answer other than 200 (or 304 to a conditional
// request).
type StatusError struct {
	URL  string
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("outbound: %s answered %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// ErrTooLarge is wrapped when a body exceeds the limit of its request.
var ErrTooLarge = errors.New("outbound: body larger than allowed")

// Get fetches rawURL, conditionally when cond is not empty, and reads at
// most maxBytes of body.
func (c *Client) Get(ctx context.Context, rawURL string, cond Validators, maxBytes int64) (*Response, error) {
	req, err := c.newRequest(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	if cond.ETag != "" {
		req.Header.Set("If-None-Match", cond.ETag)
	}
	if cond.LastModified != "" {
		req.Header.Set("If-Modified-Since", cond.LastModified)
	}
	return c.do(req, cond, maxBytes)
}

// Post sends body with contentType to rawURL and reads at most maxBytes
// of the answer.
func (c *Client) Post(ctx context.Context, rawURL, contentType string, body []byte, maxBytes int64) (*Response, error) {
	req, err := c.newRequest(ctx, http.MethodPost, rawURL, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	return c.do(req, Validators{}, maxBytes)
}

func (c *Client) newRequest(ctx context.Context, method, rawURL string, body []byte) (*http.Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: URL %q: %v", ErrForbidden, rawURL, err)
	}
	if err := c.checkURL(ctx, u); err != nil {
		return nil, err
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, err
	}
	if c.o.UserAgent != "" {
		req.Header.Set("User-Agent", c.o.UserAgent)
	}
	return req, nil
}

// do sends req and reads the answer.
func (c *Client) do(req *http.Request, cond Validators, maxBytes int64) (*Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	final := resp.Request.URL.Redacted()
	v := Validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	switch {
	case resp.StatusCode == http.StatusNotModified && (cond.ETag != "" || cond.LastModified != ""):
		if v == (Validators{}) {
			v = cond
		}
		return &Response{NotModified: true, Validators: v, URL: final}, nil
	case resp.StatusCode != http.StatusOK:
		return nil, &StatusError{URL: final, Code: resp.StatusCode}
	}
	if resp.ContentLength > maxBytes {
		return nil, fmt.Errorf("%w: %s announced %d bytes, at most %d", ErrTooLarge, final, resp.ContentLength, maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("outbound: read %s: %w", final, err)
	}
	if int64(len(body)) > maxBytes {
		return nil, fmt.Errorf("%w: %s sent more than %s bytes", ErrTooLarge, final, strconv.FormatInt(maxBytes, 10))
	}
	return &Response{Body: body, Validators: v, URL: final}, nil
}
